// Package faults runs the real plugin server behind the dev gateway against
// the real OpenID provider with a fault proxy between them: the provider
// listens on its own port, the proxy on the issuer's (127.0.0.1:9400), and
// each test breaks the IdP in one way and checks that the plugin fails
// closed, answers within its timeout and recovers by itself.
//
// It needs the local stack (it stops and restarts processes), so it skips
// when GATEWAY_URL points at an external gateway.
package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/test/faultproxy"
	"github.com/okta-oidc/okta-oidc/test/stack"
)

// Settings of the generated kong.yml (the repository's, plus these).
const (
	idpTimeout = 2 * time.Second // timeout, every route
	// jwks_min_refresh_interval of /strict (the rotation tests' route);
	// the others keep the default, 30 s, as in the measurement.
	minRefresh  = 2 * time.Second
	webTokenTTL = 3 * time.Second // the web client's access tokens (leeway 0 on /web)
	// providerPort is where the provider really listens.
	providerPort = 9405
)

var env struct {
	stack *stack.Stack
	proxy *faultproxy.Proxy
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Getenv("GATEWAY_URL") != "" {
		fmt.Println("SKIPPED SUITE: faults: needs the local stack (a fault proxy in front of the provider), GATEWAY_URL is set")
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "okta-oidc-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	kongYML, err := writeKongYML(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	opts := stack.Options{KongYML: kongYML, ProviderPort: providerPort, AccessTokenTTL: webTokenTTL}
	if os.Getenv("STACK_LOG") != "" {
		opts.Log = os.Stderr
	}
	s, err := stack.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults: starting the local stack:", err)
		return 1
	}
	defer s.Stop()
	p, err := faultproxy.Start(faultproxy.Options{
		Addr: fmt.Sprintf("127.0.0.1:%d", stack.IdPPort), Target: s.ProviderURL, MaxLifetime: 5 * time.Minute,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer p.Close()
	env.stack, env.proxy = s, p
	return m.Run()
}

// writeKongYML writes the repository's kong.yml with a short IdP timeout on
// every route, a short refetch interval on /strict, and no leeway on the
// login routes (so that a refresh comes seconds after login).
func writeKongYML(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(stack.Root(), "kong.yml"))
	if err != nil {
		return "", err
	}
	y := string(b)
	const issuer = "        issuer: http://127.0.0.1:9400/oauth2/default\n"
	const strictLeeway = "        leeway: 0\n" // only /strict sets it
	if strings.Count(y, issuer) < 5 || strings.Count(y, strictLeeway) != 1 || !strings.Contains(y, "        logout_path: /web/logout\n") {
		return "", fmt.Errorf("kong.yml has changed shape: update writeKongYML")
	}
	y = strings.ReplaceAll(y, issuer, issuer+fmt.Sprintf("        timeout: %d\n", idpTimeout.Milliseconds()))
	y = strings.Replace(y, strictLeeway, strictLeeway+fmt.Sprintf("        jwks_min_refresh_interval: %d\n", int(minRefresh.Seconds())), 1)
	y = strings.ReplaceAll(y, "        logout_path: /web/logout\n", "        logout_path: /web/logout\n        leeway: 0\n")
	if !strings.Contains(y, "        logout_path: /webr/logout\n") {
		return "", fmt.Errorf("kong.yml has no /webr route: update writeKongYML")
	}
	y = strings.ReplaceAll(y, "        logout_path: /webr/logout\n", "        logout_path: /webr/logout\n        leeway: 0\n")
	p := filepath.Join(dir, "kong.yml")
	return p, os.WriteFile(p, []byte(y), 0o600)
}
