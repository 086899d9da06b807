// Command okta-idp runs the test Okta stand-in (test/idp) in the foreground until SIGINT or
// SIGTERM, e.g. for "make demo":
//
//	go run ./test/idp/cmd/okta-idp -port 9400 \
//	    -redirect-uri http://127.0.0.1:8000/web/callback \
//	    -post-logout-redirect-uri http://127.0.0.1:8000/
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

// listFlag collects a repeatable, comma-separable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func main() {
	var (
		port           = flag.Int("port", idp.DefaultPort, "port to listen on (127.0.0.1); 0 picks a free one")
		accessTokenTTL = flag.Duration("access-token-ttl", idp.DefaultAccessTokenTTL, "lifetime of kong-web access tokens")
		shortTTL       = flag.Duration("short-ttl", idp.DefaultShortTTL, "lifetime of kong-m2m-short access tokens")
		quiet          = flag.Bool("quiet", false, "don't show the provider's own stderr output")
		redirectURIs   listFlag
		postLogoutURIs listFlag
		env            listFlag
	)
	flag.Var(&redirectURIs, "redirect-uri", "redirect_uri of kong-web (repeatable or comma-separated; default "+idp.DefaultRedirectURI+")")
	flag.Var(&postLogoutURIs, "post-logout-redirect-uri", "post_logout_redirect_uri of kong-web (repeatable or comma-separated; default "+idp.DefaultPostLogoutRedirectURI+")")
	flag.Var(&env, "env", "extra KEY=value for server.mjs, e.g. SKIP_CONSENT=0 (repeatable)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opt := idp.Options{
		Port:                   *port,
		RedirectURIs:           redirectURIs,
		PostLogoutRedirectURIs: postLogoutURIs,
		AccessTokenTTL:         *accessTokenTTL,
		ShortTTL:               *shortTTL,
		Env:                    env,
	}
	if !*quiet {
		opt.Stderr = os.Stderr
	}
	// The server gets its own context: Ctrl-C is handled below with an orderly Stop.
	srv, err := idp.Start(context.Background(), opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	redir := redirectURIs
	if len(redir) == 0 {
		redir = []string{idp.DefaultRedirectURI}
	}
	post := postLogoutURIs
	if len(post) == 0 {
		post = []string{idp.DefaultPostLogoutRedirectURI}
	}
	fmt.Printf(`Okta stand-in (node-oidc-provider) is running.
  issuer:    %[1]s
  discovery: %[1]s/.well-known/openid-configuration
  users:     %[2]s (groups %[4]s, %[5]s), %[3]s (groups %[5]s); password %[6]q
  clients:   %[7]s / %[8]s  (authorization_code + PKCE, refresh_token)
               redirect_uris: %[9]s
               post_logout_redirect_uris: %[10]s
             %[11]s / %[12]s  (client_credentials, scope "kong.read kong.write")
             %[13]s / %[14]s  (client_credentials, tokens live %[15]s)
             %[16]s / %[17]s  (introspection)
  access tokens: RS256 JWT, aud %[18]q (or %[19]q with resource=%[19]s)
Press Ctrl-C to stop.
`,
		srv.Issuer, idp.Alice, idp.Bob, idp.GroupKong, idp.GroupEveryone, idp.Password,
		idp.WebClientID, idp.WebClientSecret, strings.Join(redir, " "), strings.Join(post, " "),
		idp.M2MClientID, idp.M2MClientSecret,
		idp.M2MShortClientID, idp.M2MShortClientSecret, shortTTL.Round(time.Second),
		idp.IntrospectClientID, idp.IntrospectClientSecret,
		idp.DefaultAudience, idp.OtherAudience)

	select {
	case <-ctx.Done():
	case <-srv.Done():
		fmt.Fprintln(os.Stderr, "okta-idp: server exited unexpectedly")
	}
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
