package doctor

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

var now = time.Unix(1_800_000_000, 0)

// yml is a kong.yml with one bearer route (api) and one login route (web)
// on the issuer ISSUER; each test edits it.
const yml = `_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9402
  routes:
  - name: api
    paths: [/api]
    plugins:
    - name: okta-oidc
      config:
        issuer: ISSUER
        auth_methods: [bearer]
        audience_required: [api://default]
        scopes_required: [kong.read]
        groups_required: [kong_group]
  - name: web
    paths: [/web]
    plugins:
    - name: okta-oidc
      config:
        issuer: ISSUER
        client_id: kong-web
        client_secret: kong-web-secret
        redirect_uri: https://gw.example/web/callback
        session_secret: 3q2+7w8fQk1cZ0r9Xy4LmN6pV5tB2hJeWsKdUaGoRiE=
        logout_redirect_uri: https://gw.example/web/signed-out
`

type env struct {
	iss   *testissuer.Issuer
	token string
}

func newEnv(t *testing.T) *env {
	iss := testissuer.New(t)
	return &env{iss: iss, token: iss.Mint(t, iss.Claims(now))}
}

func (e *env) run(t *testing.T, y string, o Options) []Finding {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	fs, err := Run(context.Background(), []byte(strings.ReplaceAll(y, "ISSUER", e.iss.URL)), o)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func has(fs []Finding, check string, sev Severity) bool {
	for _, f := range fs {
		if f.Check == check && f.Severity == sev {
			return true
		}
	}
	return false
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Check + " | " + f.String() + "\n")
	}
	return b.String()
}

// TestGoodConfig: a right config and token give no error and no warning but
// the loopback http issuer (the test issuer is http on 127.0.0.1).
func TestGoodConfig(t *testing.T) {
	e := newEnv(t)
	fs := e.run(t, yml, Options{Token: e.token})
	if Failed(fs) {
		t.Fatalf("errors on a good config:\n%s", dump(fs))
	}
	for _, f := range fs {
		if f.Severity != OK && f.Check != "http-issuer" {
			t.Errorf("unexpected finding: %s", f)
		}
	}
}

func TestFindings(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(y string) string
		claims func(c map[string]any) // nil: the issuer's typical claims
		setup  func(t *testing.T, e *env)
		token  func(t *testing.T, e *env) string
		check  string
		sev    Severity
	}{
		{name: "org authorization server", edit: func(y string) string { return strings.ReplaceAll(y, "ISSUER", "ISSUER_ORG") },
			setup: nil, check: "org-authorization-server", sev: Error},
		{name: "discovery unreachable", edit: func(y string) string {
			return strings.ReplaceAll(y, "ISSUER", "http://127.0.0.1:1/oauth2/default")
		}, check: "discovery", sev: Error},
		{name: "issuer differs from discovery (trailing slash)", edit: func(y string) string { return strings.ReplaceAll(y, "ISSUER", "ISSUER/") },
			check: "discovery-issuer", sev: Error},
		{name: "http issuer off loopback", edit: func(y string) string {
			return strings.ReplaceAll(y, "ISSUER", "http://idp.invalid/oauth2/default")
		}, check: "http-issuer", sev: Error},
		{name: "ssl_verify false", edit: swap("auth_methods: [bearer]", "auth_methods: [bearer]\n        ssl_verify: false"), check: "ssl-verify", sev: Warn},
		{name: "empty key set", setup: func(t *testing.T, e *env) { e.iss.SetJWKSBody([]byte(`{"keys":[]}`)) }, check: "jwks-empty", sev: Error},
		{name: "weak RSA key", setup: func(t *testing.T, e *env) {
			k, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			e.iss.SetKeys(testissuer.Key{ID: "weak", Alg: jose.RS256, Priv: k})
		}, check: "jwks-weak-key", sev: Error},
		{name: "signing_algs match no key", edit: swap("auth_methods: [bearer]", "auth_methods: [bearer]\n        signing_algs: [ES256]"), check: "jwks-algs", sev: Error},
		{name: "redirect_uri plain http off loopback", edit: swap("redirect_uri: https://gw.example", "redirect_uri: http://gw.example"), check: "redirect-scheme", sev: Error},
		{name: "redirect_uri not under the route", edit: swap("redirect_uri: https://gw.example/web/callback", "redirect_uri: https://gw.example/callback"), check: "redirect-not-routed", sev: Error},
		{name: "insecure cookie off loopback", edit: swap("client_id: kong-web", "client_id: kong-web\n        session_cookie_secure: false"), check: "cookie-insecure", sev: Error},
		{name: "demo session secret", edit: swap("3q2+7w8fQk1cZ0r9Xy4LmN6pV5tB2hJeWsKdUaGoRiE=", "demo-only-session-secret-change-me-0123456789"), check: "secret-demo", sev: Error},
		{name: "typed session secret", edit: swap("3q2+7w8fQk1cZ0r9Xy4LmN6pV5tB2hJeWsKdUaGoRiE=", "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb"), check: "secret-weak", sev: Warn},
		{name: "scope instead of scp", edit: swap("scopes_required: [kong.read]", "scopes_required: [kong.read]\n        scopes_claim: [scope]"), check: "scopes-claim", sev: Error},
		{name: "scopes missing", claims: func(c map[string]any) { c["scp"] = []string{"openid"} }, check: "scopes-missing", sev: Warn},
		{name: "scopes wrong shape", claims: func(c map[string]any) { c["scp"] = 3 }, check: "scopes-shape", sev: Error},
		{name: "groups only in the ID token", claims: func(c map[string]any) { delete(c, "groups") }, check: "groups-claim", sev: Error},
		{name: "no groups in a client_credentials token", claims: func(c map[string]any) { delete(c, "groups"); c["sub"] = c["cid"] },
			check: "groups-claim", sev: Warn},
		{name: "groups wrong shape", claims: func(c map[string]any) { c["groups"] = map[string]any{"kong_group": true} }, check: "groups-shape", sev: Error},
		{name: "groups_claim path wrong", edit: swap("groups_required: [kong_group]", "groups_required: [kong_group]\n        groups_claim: [realm, groups]"), check: "groups-claim", sev: Error},
		{name: "not in the group", claims: func(c map[string]any) { c["groups"] = []string{"everyone"} }, check: "groups-missing", sev: Warn},
		{name: "wrong audience", claims: func(c map[string]any) { c["aud"] = "api://other" }, check: "audience", sev: Error},
		{name: "token of another issuer", token: func(t *testing.T, e *env) string {
			return testissuer.Sign(t, testissuer.NewRSAKey(t, "k1"), e.iss.Claims(now), nil)
		}, check: "token-signature", sev: Error},
		{name: "token iss differs", claims: func(c map[string]any) { c["iss"] = "https://dev-1.okta.com" }, check: "token-issuer", sev: Error},
		{name: "opaque token", token: func(*testing.T, *env) string { return "opaque-reference-token" }, check: "token-opaque", sev: Error},
		{name: "ID token", claims: func(c map[string]any) { c["nonce"] = "n" }, check: "token-is-id-token", sev: Error},
		{name: "expired token", claims: func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }, check: "token-expired", sev: Warn},
		{name: "config refused", edit: func(y string) string {
			return strings.Replace(y, "auth_methods: [bearer]", "auth_methods: [bearer]\n        leway: 3", 1)
		},
			check: "config-invalid", sev: Error},
		{name: "no okta-oidc entry", edit: func(y string) string { return strings.ReplaceAll(y, "name: okta-oidc", "name: okta_oidc") },
			check: "no-entry", sev: Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			tok := e.token
			if tt.claims != nil {
				c := e.iss.Claims(now)
				tt.claims(c)
				tok = e.iss.Mint(t, c)
			}
			if tt.token != nil {
				tok = tt.token(t, e)
			}
			y := yml
			if tt.edit != nil {
				y = tt.edit(y)
			}
			y = strings.ReplaceAll(y, "ISSUER_ORG", strings.TrimSuffix(e.iss.URL, "/oauth2/default"))
			fs := e.run(t, y, Options{Token: tok})
			if !has(fs, tt.check, tt.sev) {
				t.Fatalf("want %s %s; got:\n%s", tt.sev, tt.check, dump(fs))
			}
			if Failed(fs) != (tt.sev == Error) {
				t.Errorf("Failed = %v for a %s", Failed(fs), tt.sev)
			}
			for _, f := range fs {
				if f.Check == tt.check && f.Severity != OK && f.Check != "token-expired" && !strings.Contains(f.String(), "fix: ") {
					t.Errorf("no fix in %q", f)
				}
				if strings.Contains(f.String(), tok) && len(tok) > 20 {
					t.Errorf("a finding prints the token: %q", f)
				}
			}
		})
	}
}

// TestClientCredentials: without a token the doctor gets one from the
// token endpoint with the given client; a refused client is a finding.
func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	var gotScope, gotUser string
	e.iss.SetTokenHandler(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		gotUser, gotScope = u, r.PostFormValue("scope")
		if u != "kong-m2m" || p != "s3cret" || r.PostFormValue("grant_type") != "client_credentials" {
			// A careless IdP echoes what it was sent.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_ = json.NewEncoder(w).Encode(map[string]string{
				"error": "invalid_client", "error_description": "client_secret " + p + " is not valid for " + u,
			})
			return
		}
		c := e.iss.Claims(now)
		delete(c, "groups")
		c["sub"] = c["cid"]
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": e.iss.Mint(t, c), "token_type": "Bearer"})
	})
	fs := e.run(t, yml, Options{ClientID: "kong-m2m", ClientSecret: "s3cret", Scope: "kong.read"})
	if gotUser != "kong-m2m" || gotScope != "kong.read" {
		t.Fatalf("token request by %q for %q", gotUser, gotScope)
	}
	if Failed(fs) || !has(fs, "groups-claim", Warn) {
		t.Fatalf("want only the client_credentials groups warning:\n%s", dump(fs))
	}
	const wrong = "Wr0ng-S3cret-q7Zx"
	fs = e.run(t, yml, Options{ClientID: "kong-m2m", ClientSecret: wrong})
	if !has(fs, "token-request", Error) {
		t.Fatalf("refused client not reported:\n%s", dump(fs))
	}
	for _, f := range fs {
		if strings.Contains(fmt.Sprintf("%s %+v", f, f), wrong) {
			t.Errorf("a finding prints the client secret (the IdP echoed it): %s", f)
		}
	}
}

func TestEntropy(t *testing.T) {
	if b := entropyBits("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); b != 0 {
		t.Errorf("one repeated char: %v bits", b)
	}
	if b := entropyBits("3q2+7w8fQk1cZ0r9Xy4LmN6pV5tB2hJeWsKdUaGoRiE="); b < 128 {
		t.Errorf("a generated secret: %v bits", b)
	}
}

// TestTokenCheckedAgainstItsIssuerOnly: in a file with two issuers, a token
// is checked against the entries of its own issuer, not reported as foreign
// on the other's.
func TestTokenCheckedAgainstItsIssuerOnly(t *testing.T) {
	e := newEnv(t)
	other := testissuer.New(t)
	y := yml + strings.ReplaceAll(`  - name: other
    paths: [/other]
    plugins:
    - name: okta-oidc
      config: {issuer: OTHER, auth_methods: [bearer], audience_required: [api://default]}
`, "OTHER", other.URL)
	fs := e.run(t, y, Options{Token: e.token})
	if Failed(fs) {
		t.Fatalf("errors:\n%s", dump(fs))
	}
	bad := e.iss.Claims(now)
	bad["aud"] = "api://nope"
	fs = e.run(t, y, Options{Token: e.iss.Mint(t, bad)})
	for _, f := range fs {
		if f.Check == "audience" && strings.Contains(f.Where, "route other") {
			t.Errorf("token of the first issuer checked on the other's entry: %s", f)
		}
	}
	if !has(fs, "audience", Error) {
		t.Fatalf("audience not reported on its own issuer's entry:\n%s", dump(fs))
	}
}

// TestSharedCallbackIsRouted: a route may log in through another route's
// callback (same issuer and client): its redirect_uri is routed.
func TestSharedCallbackIsRouted(t *testing.T) {
	e := newEnv(t)
	y := yml + `  - name: admin
    paths: [/admin]
    plugins:
    - name: okta-oidc
      config:
        issuer: ISSUER
        client_id: kong-web
        client_secret: kong-web-secret
        redirect_uri: https://gw.example/web/callback
        session_secret: 3q2+7w8fQk1cZ0r9Xy4LmN6pV5tB2hJeWsKdUaGoRiE=
`
	fs := e.run(t, y, Options{Token: e.token})
	if has(fs, "redirect-not-routed", Error) {
		t.Fatalf("shared callback reported:\n%s", dump(fs))
	}
	// Another client: the web route's callback does not serve it.
	lastClient := strings.LastIndex(y, "client_id: kong-web")
	y = y[:lastClient] + "client_id: kong-admin" + y[lastClient+len("client_id: kong-web"):]
	fs = e.run(t, y, Options{Token: e.token})
	if !has(fs, "redirect-not-routed", Error) {
		t.Fatalf("a callback of another client not reported:\n%s", dump(fs))
	}
}

// swap returns an edit of the test kong.yml replacing the first old with
// new.
func swap(old, new string) func(string) string {
	return func(y string) string { return strings.Replace(y, old, new, 1) }
}
