package gateway

import (
	"net/http"
	"strings"
)

// TraceHeader carries a decision's reason to the client when the route has
// debug_header on.
const TraceHeader = "X-Okta-OIDC-Decision"

// maxTrace caps the trace header's value.
const maxTrace = 1024

// withTrace adds the trace header to d: the fixed Reason and, for a 403,
// Detail (the policy explanation log_denials logs: the configured claim's
// values and the rule, never a token, a cookie or a secret). On a pass it
// becomes a response header, which costs the adapter one more PDK call.
func withTrace(d Decision) Decision {
	v := string(d.Reason)
	if d.Status == http.StatusForbidden && d.Detail != "" {
		v += "; " + d.Detail
	}
	h := d.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(TraceHeader, traceValue(v))
	d.Header = h
	return d
}

// traceValue keeps printable ASCII (claims may hold anything) and caps the
// length, so the value is always a valid single header line.
func traceValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c >= 0x7f {
			b[i] = '?'
		}
	}
	if len(b) > maxTrace {
		b = append(b[:maxTrace-3], "..."...)
	}
	return strings.TrimSpace(string(b))
}
