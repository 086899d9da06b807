// Command demo starts the whole okta-oidc stack on 127.0.0.1 without Docker:
// the dev gateway with the real plugin and kong.yml, the OpenID provider
// standing in for Okta, and go-httpbin. Ctrl-C, SIGTERM or SIGHUP stops it
// and removes its temp folder (KEEP_STACK=1 keeps it).
//
// make demo builds it and runs the binary (not go run, which does not pass
// a signal on): killing make's PID or this process's PID stops everything.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/okta-oidc/okta-oidc/test/idp"
	"github.com/okta-oidc/okta-oidc/test/stack"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	fmt.Println("building and starting the stack (first run installs npm packages and compiles)...")
	// Another stack (a demo, a test suite) holding the ports: say so at
	// once, unless DEMO_WAIT=1 asks to wait for it (the demo's own tests,
	// which share the machine with other suites).
	opts := stack.Options{NoWait: os.Getenv("DEMO_WAIT") != "1"}
	if os.Getenv("DEMO_VERBOSE") != "" {
		opts.Log = os.Stderr
	}
	s, err := stack.Start(ctx, opts)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "demo: stopped before the stack was up")
		} else {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		return 1
	}
	defer func() {
		s.Stop()
		if s.Kept() {
			fmt.Printf("stopped; stack files kept in %s\n", s.Dir)
		} else {
			fmt.Println("stopped; nothing left running, temp folder removed")
		}
	}()
	keep := "removed on exit; KEEP_STACK=1 keeps them"
	if s.Kept() {
		keep = "kept on exit"
	}
	fmt.Printf(`
okta-oidc demo is up (pid %d; stack files in %s, %s)

  gateway      %s
  provider     %s   (stands in for Okta)
  upstream     %s   (go-httpbin)

Browser: open %s/web/anything and sign in as
  %s / %s   (in kong_group: sees httpbin's echo with X-Authenticated-* headers)
  %s   / %s   (not in kong_group: gets the 403 page)
  %s/admin/anything needs kong_admins: everybody gets 403.
  %s/web/logout signs out at the provider and lands on %s/web/signed-out.

curl:
  curl -i %s/api/anything                      # 401 with a Bearer challenge
  TOKEN=$(curl -s -u %s:%s -d grant_type=client_credentials \
    -d scope=kong.read %s/v1/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -i -H "Authorization: Bearer $TOKEN" %s/api/anything   # 200

Set DEMO_VERBOSE=1 to see every process's log.
Ctrl-C (or kill %d, or kill make's pid) stops everything.
`, os.Getpid(), s.Dir, keep, s.GatewayURL, s.Issuer, s.HTTPBinURL, s.GatewayURL,
		idp.Alice, idp.Password, idp.Bob, idp.Password, s.GatewayURL, s.GatewayURL, s.GatewayURL,
		s.GatewayURL, idp.M2MClientID, idp.M2MClientSecret, s.Issuer, s.GatewayURL, os.Getpid())
	<-ctx.Done()
	fmt.Println("\nstopping...")
	return 0
}
