package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPrometheusRecordsAndServes(t *testing.T) {
	p := NewPrometheus()
	p.AddCache("token", func() CacheStats { return CacheStats{Hits: 7, Misses: 2, Entries: 3, Bytes: 4096} })
	p.AddCache("introspection", func() CacheStats { return CacheStats{} })
	p.Decision("orders", OutcomeOf(true, 0), "authenticated")
	p.Decision("orders", OutcomeOf(false, 403), "forbidden")
	p.Decision("orders", OutcomeOf(false, 403), "forbidden")
	p.Verification("bearer", time.Millisecond)
	p.IdPCall(CallJWKS, 20*time.Millisecond, errors.New("down"))
	p.JWKSFetch(nil)
	p.Introspection(IntrospectCached)

	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`okta_oidc_decisions_total{outcome="pass",reason="authenticated",route="orders"} 1`,
		`okta_oidc_decisions_total{outcome="deny",reason="forbidden",route="orders"} 2`,
		`okta_oidc_verification_seconds_count{method="bearer"} 1`,
		`okta_oidc_idp_request_seconds_count{call="jwks",result="error"} 1`,
		`okta_oidc_jwks_fetches_total{result="ok"} 1`,
		`okta_oidc_introspections_total{result="cached"} 1`,
		`okta_oidc_cache_hits_total{cache="token"} 7`,
		`okta_oidc_cache_bytes{cache="token"} 4096`,
		`okta_oidc_cache_entries{cache="introspection"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, c := range []struct {
		pass   bool
		status int
		want   string
	}{{true, 0, OutcomePass}, {false, 302, OutcomeRedirect}, {false, 401, OutcomeDeny}, {false, 400, OutcomeDeny}, {false, 503, OutcomeError}, {false, 500, OutcomeError}} {
		if got := OutcomeOf(c.pass, c.status); got != c.want {
			t.Errorf("OutcomeOf(%v, %d) = %s, want %s", c.pass, c.status, got, c.want)
		}
	}
}

func TestUseRestores(t *testing.T) {
	if Get().Enabled() {
		t.Fatal("recording is on by default")
	}
	restore := Use(NewPrometheus())
	if !Get().Enabled() {
		t.Fatal("Use did not install the recorder")
	}
	restore()
	if Get().Enabled() {
		t.Fatal("restore did not turn recording off")
	}
	done := Since(Get()) // off: no timestamp, no panic
	done(CallJWKS, nil)
}
