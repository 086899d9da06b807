package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/internal/config"
)

// TestDebugHeaderTracesTheReasonNeverACredential: with debug_header the
// answer carries the reason (and a 403 the policy explanation); never the
// token, the session secret or the client secret. Without it, nothing.
func TestDebugHeaderTracesTheReasonNeverACredential(t *testing.T) {
	on := newEnv(t, func(r *config.Raw) { r.DebugHeader = bp(true) })
	off := newEnv(t, nil)
	now := on.clock.Now()
	good := on.iss.Mint(t, on.iss.Claims(now))
	c := on.iss.Claims(now)
	c["groups"] = []string{"everyone", "bad\r\nX-Injected: 1"}
	outsider := on.iss.Mint(t, c)
	for _, tc := range []struct {
		name   string
		h      http.Header
		status int // 0: a pass
		want   string
	}{
		{"pass", bearer(good), 0, "authenticated"},
		{"forbidden", bearer(outsider), 403, `forbidden; groups: claim groups holds ["everyone" "bad\r\nX-Injected: 1"]; needs one of ["kong_group"]`},
		{"invalid", bearer(good + "x"), 401, "invalid_token"},
		{"none", http.Header{"Accept": {"application/json"}}, 401, "no_credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := on.decide(request("GET", "/api", tc.h, nil))
			if d.Status != tc.status {
				t.Fatalf("status %d, want %d (%v)", d.Status, tc.status, d.Err)
			}
			got := d.Header.Get(TraceHeader)
			if got != tc.want {
				t.Errorf("%s = %q, want %q", TraceHeader, got, tc.want)
			}
			for _, secretish := range []string{good, outsider, secret, "web-secret", "\r", "\n"} {
				if strings.Contains(got, secretish) {
					t.Errorf("trace holds %q", secretish)
				}
			}
			if d := off.decide(request("GET", "/api", tc.h, nil)); d.Header.Get(TraceHeader) != "" {
				t.Errorf("debug_header off, yet %s = %q", TraceHeader, d.Header.Get(TraceHeader))
			}
		})
	}
}

func TestTraceValueIsOneBoundedLine(t *testing.T) {
	v := traceValue("a\x00b\r\nc\x7fé" + strings.Repeat("x", 5000))
	if strings.ContainsAny(v, "\x00\r\n\x7f") || len(v) > maxTrace {
		t.Fatalf("unsafe or long trace: %q... (%d bytes)", v[:20], len(v))
	}
}
