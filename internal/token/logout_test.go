package token

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

func (e *env) logoutClaims() map[string]any {
	return map[string]any{
		"iss": e.ti.URL, "aud": "kong-web", "iat": t0.Unix(), "exp": t0.Add(2 * time.Minute).Unix(),
		"jti": "j1", "sid": "s1", "sub": "alice",
		"events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
}

// TestLogoutTokens: only a back-channel logout token of the issuer for
// this client verifies as one; an access or ID token never does, and a
// logout token never passes as an access token or an ID token.
func TestLogoutTokens(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Kind, cfg.Audiences = Logout, []string{"kong-web"}
	v := NewVerifier(e.iss, cfg)
	typ := func(t string) map[jose.HeaderKey]any { return map[jose.HeaderKey]any{"typ": t} }
	lc := e.logoutClaims()
	cases := []struct {
		name   string
		claims map[string]any
		header map[jose.HeaderKey]any
		ok     bool
	}{
		{"valid", lc, typ("logout+jwt"), true},
		{"valid, typ jwt", lc, typ("JWT"), true},
		{"valid, sid only", with(lc, "sub", nil), nil, true},
		{"valid, sub only", with(lc, "sid", nil), nil, true},
		{"typ at+jwt", lc, typ("at+jwt"), false},
		{"nonce", with(lc, "nonce", "n"), nil, false},
		{"no events", with(lc, "events", nil), nil, false},
		{"events not an object", with(lc, "events", BackchannelLogoutEvent), nil, false},
		{"event not an object", with(lc, "events", map[string]any{BackchannelLogoutEvent: "x"}), nil, false},
		{"no jti", with(lc, "jti", nil), nil, false},
		{"neither sub nor sid", with(lc, "sub", nil, "sid", nil), nil, false},
		{"sid not a string", with(lc, "sid", 7), nil, false},
		{"no iat", with(lc, "iat", nil), nil, false},
		{"iat too old", with(lc, "iat", t0.Add(-5*time.Minute).Unix()), nil, false},
		{"no exp", with(lc, "exp", nil), nil, false},
		{"other aud", with(lc, "aud", "api://default"), nil, false},
		{"other iss", with(lc, "iss", "https://evil.example"), nil, false},
		{"access token", e.claims(), nil, false},
	}
	for _, c := range cases {
		tok := testissuer.Sign(t, e.rsa, c.claims, c.header)
		_, err := v.Verify(context.Background(), tok)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok %v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v does not wrap ErrInvalid", c.name, err)
		}
	}

	// Refused whatever the claims say: a signature by a key the issuer
	// never published (under its own kid, and under a new one), a
	// tampered signature, and an expired token whose iat is still inside
	// the max-age window (exp is checked, not only iat).
	foreignSameKid := testissuer.NewRSAKey(t, e.rsa.ID)
	foreignNewKid := testissuer.NewRSAKey(t, "foreign")
	genuine := testissuer.Sign(t, e.rsa, lc, typ("logout+jwt"))
	expired := with(lc, "iat", t0.Add(-150*time.Second).Unix(), "exp", t0.Add(-2*time.Minute).Unix())
	for _, c := range []struct{ name, tok string }{
		{"foreign key, issuer's kid", testissuer.Sign(t, foreignSameKid, lc, typ("logout+jwt"))},
		{"foreign key, unknown kid", testissuer.Sign(t, foreignNewKid, lc, typ("logout+jwt"))},
		{"tampered signature", resegment(t, genuine, 2, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })},
		{"claims changed after signing", resegment(t, genuine, 1, func([]byte) []byte { return mustJSON(t, with(lc, "sub", "bob")) })},
		{"exp past, iat inside the window", testissuer.Sign(t, e.rsa, expired, typ("logout+jwt"))},
	} {
		if _, err := v.Verify(context.Background(), c.tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", c.name, err)
		}
	}
	if _, err := v.Verify(context.Background(), genuine); err != nil {
		t.Fatalf("the genuine logout token no longer verifies: %v", err)
	}

	logout := testissuer.Sign(t, e.rsa, lc, typ("logout+jwt"))
	access := NewVerifier(e.iss, Config{Issuer: e.ti.URL, Audiences: []string{"kong-web"}, Algs: []string{"RS256"}, Leeway: testLeeway, Kind: Access, Now: e.clk.Now})
	if _, err := access.Verify(context.Background(), logout); err == nil {
		t.Error("a logout token passed as an access token")
	}
	id := NewVerifier(e.iss, Config{Issuer: e.ti.URL, Audiences: []string{"kong-web"}, Algs: []string{"RS256"}, Leeway: testLeeway, Kind: ID, Now: e.clk.Now})
	if _, err := id.Verify(context.Background(), logout); err == nil {
		t.Error("a logout token passed ID token verification")
	}
}

// FuzzLogoutToken: no input panics, every refusal is ErrInvalid, and only
// the genuine logout token verifies as one: no other string, and none of
// the seeds' access tokens, ID tokens or logout tokens for another client.
func FuzzLogoutToken(f *testing.F) {
	e := newEnv(f)
	cfg := e.config()
	cfg.Kind, cfg.Audiences = Logout, []string{"kong-web"}
	v := NewVerifier(e.iss, cfg)
	genuine := testissuer.Sign(f, e.rsa, e.logoutClaims(), map[jose.HeaderKey]any{"typ": "logout+jwt"})
	if _, err := v.Verify(context.Background(), genuine); err != nil {
		f.Fatalf("genuine logout token: %v", err)
	}
	f.Add(genuine)
	f.Add(genuine + ".")
	f.Add(testissuer.Sign(f, e.rsa, e.claims(), nil))
	f.Add(testissuer.Sign(f, e.rsa, with(e.logoutClaims(), "nonce", "n"), nil))
	f.Add(testissuer.Sign(f, e.rsa, with(e.logoutClaims(), "aud", "other"), nil))
	f.Add(testissuer.Unsigned(map[string]any{"alg": "none", "kid": "k1"}, e.logoutClaims(), nil))
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := v.Verify(context.Background(), raw)
		if err == nil && raw != genuine {
			t.Fatalf("a token other than the genuine one verified as a logout token: %q", raw)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("refusal %v is not ErrInvalid", err)
		}
	})
}
