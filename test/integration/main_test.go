// Package integration is the end-to-end suite over HTTP. With GATEWAY_URL
// unset it starts the local stack itself (dev gateway + the real plugin
// binary + the OpenID provider + httpbin); with GATEWAY_URL, IDP_ISSUER and
// OTHER_ISSUER set (docker-compose.yml) the same tests run against real
// Kong.
package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/test/idp"
	"github.com/okta-oidc/okta-oidc/test/stack"
)

// env is what the tests talk to.
var env struct {
	gateway     string // e.g. http://127.0.0.1:8000
	issuer      string // the provider Kong trusts
	otherIssuer string // a second, untrusted provider
	local       *stack.Stack
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env.gateway = os.Getenv("GATEWAY_URL")
	env.issuer = os.Getenv("IDP_ISSUER")
	env.otherIssuer = os.Getenv("OTHER_ISSUER")
	if env.gateway == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var logw *os.File
		if os.Getenv("STACK_LOG") != "" {
			logw = os.Stderr
		}
		// Two Kong nodes sharing one Redis (kong.yml's /webr route).
		opts := stack.Options{SecondGateway: true}
		if logw != nil {
			opts.Log = logw
		}
		s, err := stack.Start(ctx, opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration: starting the local stack:", err)
			return 1
		}
		defer s.Stop()
		other, err := idp.Start(ctx, idp.Options{Port: 9410})
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration: starting the second provider:", err)
			return 1
		}
		defer func() { _ = other.Stop() }()
		env.local, env.gateway, env.issuer, env.otherIssuer = s, s.GatewayURL, s.Issuer, other.Issuer
	}
	if env.issuer == "" || env.otherIssuer == "" {
		fmt.Fprintln(os.Stderr, "integration: GATEWAY_URL needs IDP_ISSUER and OTHER_ISSUER")
		return 2
	}
	return m.Run()
}
