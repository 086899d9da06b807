package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/internal/config"
)

// BenchmarkDecidePass measures a valid bearer request answered from the
// verified-token cache, including the policy and the upstream headers.
func BenchmarkDecidePass(b *testing.B) {
	e := newBenchEnv(b, nil)
	h := bearer(e.iss.Mint(b, e.iss.Claims(e.clock.Now())))
	r := request("GET", "/api", h, nil)
	if d := e.eng.Decide(context.Background(), r); d.Action != Pass {
		b.Fatalf("not a pass: %d %v", d.Status, d.Err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.eng.Decide(context.Background(), r)
	}
}

// BenchmarkDecideDenyGroup measures a valid token outside the group (403).
func BenchmarkDecideDenyGroup(b *testing.B) {
	e := newBenchEnv(b, nil)
	c := e.iss.Claims(e.clock.Now())
	c["groups"] = []string{"everyone"}
	r := request("GET", "/api", bearer(e.iss.Mint(b, c)), nil)
	if d := e.eng.Decide(context.Background(), r); d.Status != 403 {
		b.Fatalf("not a 403: %d", d.Status)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.eng.Decide(context.Background(), r)
	}
}

// BenchmarkDecideDenyNoToken measures an API client without credentials.
func BenchmarkDecideDenyNoToken(b *testing.B) {
	e := newBenchEnv(b, func(r *config.Raw) { r.AuthMethods = []string{"bearer"} })
	r := request("GET", "/api", http.Header{"Accept": {"application/json"}}, nil)
	b.ReportAllocs()
	for b.Loop() {
		e.eng.Decide(context.Background(), r)
	}
}

// FuzzAuthorizationHeader: whatever the Authorization header holds, the
// request never passes without the genuine token and Decide never panics.
func FuzzAuthorizationHeader(f *testing.F) {
	e := newBenchEnv(f, nil)
	good := e.iss.Mint(f, e.iss.Claims(e.clock.Now()))
	for _, s := range []string{"", "Bearer", "Bearer ", "bearer x", "Bearer a b", "Basic abc", "Bearer " + good,
		"Bearer  " + good, "Bearer\t" + good, "Bearer " + good + ",", "Bearer " + good + "x", "BEARER " + good} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := e.eng.Decide(context.Background(), request("GET", "/api", http.Header{"Authorization": {v}}, nil))
		if d.Reason == ReasonInternal {
			t.Fatalf("internal error for %q: %v", v, d.Err)
		}
		if d.Action == Pass {
			scheme, tok, _ := strings.Cut(strings.TrimSpace(v), " ")
			if !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) != good {
				t.Fatalf("passed with Authorization %q", v)
			}
		}
	})
}
