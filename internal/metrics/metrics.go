// Package metrics is what the plugin measures, behind one small interface:
// the core calls a Recorder, which is a no-op unless the plugin server runs
// with -metrics-addr, when it is the Prometheus recorder of this package.
// Label values are fixed words (reasons, outcomes, call names) and Kong's
// route or plugin names: never a token, a claim or a header value.
package metrics

import (
	"sync/atomic"
	"time"
)

// Outcomes of a decision.
const (
	OutcomePass     = "pass"     // proxied to the upstream
	OutcomeRedirect = "redirect" // a 3xx: login or logout
	OutcomeDeny     = "deny"     // a 4xx: 400, 401, 403
	OutcomeError    = "error"    // a 5xx: IdP unavailable, config, internal
)

// IdP calls.
const (
	CallDiscovery     = "discovery"
	CallJWKS          = "jwks"
	CallIntrospection = "introspection"
	CallToken         = "token"   // authorization code exchange
	CallRefresh       = "refresh" // refresh token grant
)

// Introspection results.
const (
	IntrospectActive   = "active"
	IntrospectInactive = "inactive"
	IntrospectCached   = "cached"
	IntrospectError    = "error"
	// IntrospectLimited: refused locally by the per-issuer guard (caps,
	// back-off after 429), no call made.
	IntrospectLimited = "limited"
)

// Recorder receives the measurements. Implementations must be safe for
// concurrent use and cheap: Decision runs on every request.
type Recorder interface {
	// Enabled is false for the no-op: callers skip taking timestamps.
	Enabled() bool
	// Decision counts one answer by route, outcome and reason.
	Decision(route, outcome, reason string)
	// Verification observes how long checking a credential took (method:
	// bearer or introspection, cache hits included).
	Verification(method string, d time.Duration)
	// IdPCall observes one call to the identity provider.
	IdPCall(call string, d time.Duration, err error)
	// JWKSFetch counts one JWKS fetch.
	JWKSFetch(err error)
	// Introspection counts one introspection by result.
	Introspection(result string)
}

// Off records nothing.
type Off struct{}

func (Off) Enabled() bool                        { return false }
func (Off) Decision(string, string, string)      {}
func (Off) Verification(string, time.Duration)   {}
func (Off) IdPCall(string, time.Duration, error) {}
func (Off) JWKSFetch(error)                      {}
func (Off) Introspection(string)                 {}

type holder struct{ r Recorder }

var current atomic.Pointer[holder]

func init() { current.Store(&holder{Off{}}) }

// Use makes r the process's recorder (the plugin server has one metrics
// endpoint) and returns a function restoring the previous one. The plugin
// server calls it once at start, before serving; tests restore it.
func Use(r Recorder) (restore func()) {
	prev := current.Swap(&holder{r})
	return func() { current.Store(prev) }
}

// Get returns the process's recorder: Off unless Use was called.
func Get() Recorder { return current.Load().r }

// Since is a helper for IdP calls: defer-friendly timing that takes no
// timestamp when recording is off.
func Since(r Recorder) func(call string, err error) {
	if !r.Enabled() {
		return func(string, error) {}
	}
	start := time.Now()
	return func(call string, err error) { r.IdPCall(call, time.Since(start), err) }
}

// OutcomeOf names the outcome of an answer: pass, or by status class.
func OutcomeOf(pass bool, status int) string {
	switch {
	case pass:
		return OutcomePass
	case status >= 500:
		return OutcomeError
	case status >= 400:
		return OutcomeDeny
	case status >= 300:
		return OutcomeRedirect
	}
	return OutcomePass // a 2xx answer of the plugin's own (none today)
}
