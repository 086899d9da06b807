package introspect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/token"
)

type idp struct {
	*httptest.Server
	calls   atomic.Int64
	answers map[string]string // token -> JSON answer
	status  int
	header  http.Header      // added to the answer
	hook    func(tok string) // runs before answering
}

func newIDP(t *testing.T) *idp {
	d := &idp{answers: map[string]string{}, status: 200}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.calls.Add(1)
		user, pass, ok := r.BasicAuth()
		if !ok || user != "kong-introspect" || pass != "s3cret" || r.Method != http.MethodPost {
			w.WriteHeader(401)
			return
		}
		_ = r.ParseForm()
		if d.hook != nil {
			d.hook(r.PostForm.Get("token"))
		}
		for k, v := range d.header {
			w.Header()[k] = v
		}
		if d.status != 200 {
			w.WriteHeader(d.status)
			return
		}
		a, found := d.answers[r.PostForm.Get("token")]
		if !found {
			a = `{"active":false}`
		}
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(d.Close)
	return d
}

// opaque makes a well-shaped opaque token out of a name.
func opaque(name string) string { return name + "_" + strings.Repeat("a", 24) }

const issuer = "https://dev-1.okta.com/oauth2/default"

func client(d *idp, now *time.Time, mod func(*Config)) *Client {
	cfg := Config{
		Endpoint: func(context.Context) (string, error) { return d.URL, nil },
		ClientID: "kong-introspect", ClientSecret: "s3cret",
		Issuer: issuer, Audiences: []string{"api://default"}, Leeway: 30 * time.Second,
		CacheTTL: time.Minute, HTTP: d.Client(), Cache: token.NewCache(100, 1<<20),
		Now:   func() time.Time { return *now },
		Guard: NewGuard(Limits{MaxConcurrent: 100, PerSecond: 1000}),
	}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg)
}

func answer(now time.Time, mod func(map[string]any)) string {
	m := map[string]any{"active": true, "iss": issuer, "aud": "api://default", "sub": "alice", "scope": "kong.read",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "client_id": "kong-web", "token_type": "Bearer"}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestIntrospect(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newIDP(t)
	d.answers[opaque("good")] = answer(now, nil)
	d.answers[opaque("other-iss")] = answer(now, func(m map[string]any) { m["iss"] = "https://evil" })
	d.answers[opaque("other-aud")] = answer(now, func(m map[string]any) { m["aud"] = "api://other" })
	d.answers[opaque("expired")] = answer(now, func(m map[string]any) { m["exp"] = now.Add(-time.Hour).Unix() })
	d.answers[opaque("exp-string")] = answer(now, func(m map[string]any) { m["exp"] = "9999999999" })
	d.answers[opaque("refresh")] = answer(now, func(m map[string]any) { m["token_type"] = "refresh_token" })
	d.answers[opaque("dpop")] = answer(now, func(m map[string]any) {
		m["token_type"] = "DPoP"
		m["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
	})
	d.answers[opaque("cnf-bearer")] = answer(now, func(m map[string]any) {
		m["cnf"] = map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
	})
	d.answers[opaque("id-token")] = answer(now, func(m map[string]any) { m["token_type"] = "id_token"; m["nonce"] = "n" })
	d.answers[opaque("nonce")] = answer(now, func(m map[string]any) { m["nonce"] = "n" })
	d.answers[opaque("logout")] = answer(now, func(m map[string]any) {
		m["events"] = map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
	})
	d.answers[opaque("type-number")] = answer(now, func(m map[string]any) { m["token_type"] = 1 })
	d.answers[opaque("access-token-type")] = answer(now, func(m map[string]any) { m["token_type"] = "urn:ietf:params:oauth:token-type:access_token" })
	d.answers[opaque("active-string")] = `{"active":"true","iss":"` + issuer + `","aud":"api://default"}`
	d.answers[opaque("duplicate")] = `{"active":false,"active":true,"iss":"` + issuer + `","aud":"api://default"}`
	d.answers[opaque("not-json")] = `<html>`
	tests := []struct {
		tok     string
		want    error // nil = active
		invalid bool  // errors.Is(err, token.ErrInvalid)
	}{
		{"good", nil, false},
		{"unknown", ErrInactive, true},
		{"other-iss", token.ErrIssuer, true},
		{"other-aud", token.ErrAudience, true},
		{"expired", token.ErrExpired, true},
		{"exp-string", token.ErrClaims, true},
		{"refresh", token.ErrNotAccess, true},
		{"dpop", token.ErrBound, true},
		{"cnf-bearer", token.ErrBound, true},
		{"id-token", token.ErrNotAccess, true},
		{"nonce", token.ErrNotAccess, true},
		{"logout", token.ErrNotAccess, true},
		{"type-number", token.ErrNotAccess, true},
		{"access-token-type", nil, false},
		{"active-string", ErrInactive, true},
		{"duplicate", nil, false}, // an IdP answer we cannot trust: not the caller's fault
		{"not-json", nil, false},
	}
	c := client(d, &now, nil)
	for _, tt := range tests {
		t.Run(tt.tok, func(t *testing.T) {
			cl, err := c.Introspect(context.Background(), opaque(tt.tok))
			switch tt.tok {
			case "good", "access-token-type":
				if err != nil || cl.String("sub") != "alice" {
					t.Fatalf("claims %v, err %v", cl, err)
				}
				return
			case "duplicate", "not-json":
				if err == nil || errors.Is(err, token.ErrInvalid) {
					t.Fatalf("a malformed IdP answer gave err %v: want a failure that is not the caller's fault", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || errors.Is(err, token.ErrInvalid) != tt.invalid {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestIntrospectionCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newIDP(t)
	d.answers[opaque("good")] = answer(now, func(m map[string]any) { m["exp"] = now.Add(5 * time.Minute).Unix() })
	c := client(d, &now, nil)
	for i := 0; i < 5; i++ {
		if _, err := c.Introspect(context.Background(), opaque("good")); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.calls.Load(); n != 1 {
		t.Fatalf("5 uses cost %d introspection calls, want 1", n)
	}
	now = now.Add(61 * time.Second) // past introspection_cache_ttl
	if _, err := c.Introspect(context.Background(), opaque("good")); err != nil || d.calls.Load() != 2 {
		t.Fatalf("after the cache TTL: err %v, calls %d, want a second call", err, d.calls.Load())
	}
	// Inactive answers are remembered briefly too.
	for i := 0; i < 3; i++ {
		_, _ = c.Introspect(context.Background(), opaque("dead"))
	}
	if n := d.calls.Load(); n != 3 {
		t.Fatalf("3 uses of a dead token cost %d calls in total, want 3 (2 + 1)", n)
	}
}

func TestIntrospectionCacheNamespaced(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newIDP(t)
	d.answers[opaque("good")] = answer(now, nil)
	shared := token.NewCache(100, 1<<20)
	a := client(d, &now, func(c *Config) { c.Cache = shared })
	b := client(d, &now, func(c *Config) { c.Cache = shared; c.Audiences = []string{"api://other"} })
	if _, err := a.Introspect(context.Background(), opaque("good")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Introspect(context.Background(), opaque("good")); !errors.Is(err, token.ErrAudience) {
		t.Fatalf("a route with another audience accepted a cached answer: %v", err)
	}
}

func TestIntrospectionIdPFailures(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newIDP(t)
	d.answers[opaque("good")] = answer(now, nil)
	wrongCreds := client(d, &now, func(c *Config) { c.ClientSecret = "wrong" })
	if _, err := wrongCreds.Introspect(context.Background(), opaque("good")); err == nil || errors.Is(err, token.ErrInvalid) {
		t.Fatalf("wrong client credentials: err %v, want an IdP failure, not an invalid token", err)
	}
	d.status = 503
	if _, err := client(d, &now, nil).Introspect(context.Background(), opaque("good")); err == nil || errors.Is(err, token.ErrInvalid) {
		t.Fatalf("IdP 503: err %v", err)
	}
	d.Close()
	if _, err := client(d, &now, nil).Introspect(context.Background(), opaque("good")); err == nil || errors.Is(err, token.ErrInvalid) {
		t.Fatalf("IdP down: err %v", err)
	}
	noEndpoint := client(d, &now, func(c *Config) {
		c.Endpoint = func(context.Context) (string, error) { return "", nil }
	})
	if _, err := noEndpoint.Introspect(context.Background(), opaque("good")); err == nil || errors.Is(err, token.ErrInvalid) {
		t.Fatalf("no endpoint: err %v", err)
	}
}
