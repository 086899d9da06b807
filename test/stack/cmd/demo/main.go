// Command demo starts the whole okta-oidc stack on 127.0.0.1 without Docker:
// the dev gateway with the real plugin and kong.yml, the OpenID provider
// standing in for Okta, and go-httpbin. Ctrl-C stops it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/okta-oidc/okta-oidc/test/idp"
	"github.com/okta-oidc/okta-oidc/test/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println("building and starting the stack (first run installs npm packages and compiles)...")
	var log *os.File
	if os.Getenv("DEMO_VERBOSE") != "" {
		log = os.Stderr
	}
	opts := stack.Options{}
	if log != nil {
		opts.Log = log
	}
	s, err := stack.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	defer s.Stop()
	fmt.Printf(`
okta-oidc demo is up (stack files in %s)

  gateway      %s
  provider     %s   (stands in for Okta)
  upstream     %s   (go-httpbin)

Browser: open %s/web/anything and sign in as
  %s / %s   (in kong_group: sees httpbin's echo with X-Authenticated-* headers)
  %s   / %s   (not in kong_group: gets the 403 page)
  %s/admin/anything needs kong_admins: everybody gets 403; %s/web/logout signs out.

curl:
  curl -i %s/api/anything                      # 401 with a Bearer challenge
  TOKEN=$(curl -s -u %s:%s -d grant_type=client_credentials \
    -d scope=kong.read %s/v1/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -i -H "Authorization: Bearer $TOKEN" %s/api/anything   # 200

Set DEMO_VERBOSE=1 to see every process's log. Ctrl-C stops everything.
`, s.Dir, s.GatewayURL, s.Issuer, s.HTTPBinURL, s.GatewayURL,
		idp.Alice, idp.Password, idp.Bob, idp.Password, s.GatewayURL, s.GatewayURL,
		s.GatewayURL, idp.M2MClientID, idp.M2MClientSecret, s.Issuer, s.GatewayURL)
	<-ctx.Done()
	fmt.Println("\nstopping...")
}
