package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
)

func forwardCfg(r *config.Raw) {
	r.UpstreamAccessTokenHeader = sp("authorization:bearer")
	r.UpstreamIDTokenHeader = sp("x-id-token")
	r.BearerTokenParamType = []string{"header", "query"}
}

// TestSessionForwardsItsTokens: after browser login the upstream gets
// Authorization: Bearer <the session's access token> and the ID token;
// after a refresh, the new access token. A client-sent X-Id-Token never
// reaches the upstream.
func TestSessionForwardsItsTokens(t *testing.T) {
	e := newEnv(t, forwardCfg)
	set, _ := e.loginTTL(5*time.Minute, "alice", "kong_group")
	h := cookieHeader(set)
	h.Set("X-Id-Token", "forged")
	d := e.decide(request("GET", "/web/page", h, nil))
	wantPass(t, d)
	at := d.Upstream["Authorization"]
	if len(at) != 1 || len(at[0]) < 20 || at[0][:7] != "Bearer " || displayClaims(at[0][7:]).String("sub") != "alice" {
		t.Fatalf("Authorization upstream = %q", at)
	}
	id := d.Upstream["X-Id-Token"]
	if len(id) != 1 || displayClaims(id[0]).String("aud") != "kong-web" {
		t.Fatalf("X-Id-Token upstream = %q", id)
	}

	e.clock.Add(6 * time.Minute) // the access token expired: refreshed
	d = e.decide(request("GET", "/web/page", cookieHeader(set), nil))
	wantPass(t, d)
	renewed := d.Upstream["Authorization"]
	if len(renewed) != 1 || renewed[0] == at[0] || displayClaims(renewed[0][7:]).String("sub") != "alice" {
		t.Fatalf("after refresh, Authorization upstream = %q (before %q)", renewed, at)
	}
}

// TestBearerForwardsOnlyTheVerifiedToken: on a bearer pass the same key
// carries the verified token (also one taken from the query), hide
// credentials or not; the ID token header, which a bearer request has no
// verified value for, is cleared.
func TestBearerForwardsOnlyTheVerifiedToken(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) {
		forwardCfg(r)
		r.HideCredentials = bp(true)
		r.UpstreamAccessTokenHeader = sp("x-access-token")
	})
	tok := e.iss.Mint(t, e.atClaims("alice", time.Hour, "kong_group"))
	r := NewRequest(map[string][]string{"authorization": {"Bearer " + tok}, "x-id-token": {"forged"}, "x_access_token": {"forged"}},
		func() (string, error) { return "GET", nil }, func() (string, error) { return "/api", nil })
	d := e.decide(r)
	wantPass(t, d)
	if got := d.Upstream["X-Access-Token"]; len(got) != 1 || got[0] != tok {
		t.Fatalf("X-Access-Token upstream = %q", got)
	}
	if got, ok := d.Upstream["X-Id-Token"]; !ok || len(got) != 0 {
		t.Fatalf("X-Id-Token upstream = %q, want cleared", got)
	}
	if got, ok := d.Upstream["Authorization"]; !ok || len(got) != 0 {
		t.Fatalf("hide_credentials: Authorization upstream = %q, want cleared", got)
	}
	if got, ok := d.Upstream["x_access_token"]; !ok || len(got) != 0 {
		t.Fatalf("x_access_token upstream = %q, want cleared", got)
	}
	// Refused tokens are never forwarded: there is no pass.
	wantStatus(t, e.decide(request("GET", "/api", bearer(tok+"x"), nil)), http.StatusUnauthorized)
	// From the query too.
	d = e.decide(request("GET", "/api?access_token="+tok, http.Header{}, nil))
	wantPass(t, d)
	if got := d.Upstream["X-Access-Token"]; len(got) != 1 || got[0] != tok {
		t.Fatalf("query token: X-Access-Token upstream = %q", got)
	}
}

func TestTokenHeaderConfig(t *testing.T) {
	for _, c := range []struct {
		access, id string
		ok         bool
	}{
		{"authorization:bearer", "x-id-token", true},
		{"x-token", "", true},
		{"cookie", "", false},
		{"bad header:bearer", "", false},
		{"x-token", "X_Token", false},
		{"x-authenticated-userid", "", false},
	} {
		_, err := config.Parse(&config.Raw{Issuer: sp("https://idp.example"), AuthMethods: []string{"bearer"},
			UpstreamAccessTokenHeader: sp(c.access), UpstreamIDTokenHeader: sp(c.id)})
		if (err == nil) != c.ok {
			t.Errorf("%q/%q: err = %v", c.access, c.id, err)
		}
	}
}
