package introspect

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The guard's errors mean the IdP was not asked: the gateway answers 503,
// never a pass and never invalid_token (the token may be good).
var (
	// ErrBusy means the issuer's cap on concurrent or per-second
	// introspection calls is reached.
	ErrBusy = errors.New("introspect: introspection call cap reached")
	// ErrBackingOff means the issuer answered 429 recently and its
	// Retry-After has not passed.
	ErrBackingOff = errors.New("introspect: backing off after the issuer's rate limit")
	// ErrRateLimited means the issuer answered 429.
	ErrRateLimited = errors.New("introspect: the issuer answered 429")
)

// Default limits, per issuer and per process (one Kong node).
const (
	DefaultMaxConcurrent = 10
	DefaultPerSecond     = 25
)

const (
	// negativeTTL is how long an inactive answer is remembered.
	negativeTTL = 10 * time.Second
	// maxNegative bounds the remembered inactive answers per issuer
	// (a key and an expiry each: well under 1 MiB).
	maxNegative = 8192
	// Backing off after a 429 lasts Retry-After, within these bounds.
	minBackoff     = time.Second
	maxBackoff     = time.Minute
	defaultBackoff = 5 * time.Second
)

// Limits cap one issuer's introspection calls.
type Limits struct {
	MaxConcurrent int // calls in flight at once
	PerSecond     int // calls started per second; bursts up to as many
}

func (l Limits) withDefaults() Limits {
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = DefaultMaxConcurrent
	}
	if l.PerSecond <= 0 {
		l.PerSecond = DefaultPerSecond
	}
	return l
}

// Guard spends one issuer's introspection budget: it caps concurrent and
// per-second calls, remembers inactive answers briefly and stops calling
// after a 429 until Retry-After. One Guard per issuer is shared by every
// route of the process (SharedGuard). It is safe for concurrent use.
type Guard struct {
	mu           sync.Mutex
	limits       Limits
	inflight     int
	tokens       float64 // token bucket for PerSecond
	last         time.Time
	blockedUntil time.Time
	neg          negative
}

// NewGuard returns a Guard with limits l (zero fields get the defaults).
func NewGuard(l Limits) *Guard {
	l = l.withDefaults()
	return &Guard{limits: l, tokens: float64(l.PerSecond), neg: negative{max: maxNegative}}
}

var guards sync.Map // issuer -> *Guard

// SharedGuard returns the process-wide Guard of issuer. When routes of one
// issuer configure different limits, the strictest of each applies: the
// budget is the issuer's, not the route's.
func SharedGuard(issuer string, l Limits) *Guard {
	l = l.withDefaults()
	v, loaded := guards.LoadOrStore(issuer, NewGuard(l))
	g := v.(*Guard)
	if loaded {
		g.tighten(l)
	}
	return g
}

func (g *Guard) tighten(l Limits) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.limits.MaxConcurrent = min(g.limits.MaxConcurrent, l.MaxConcurrent)
	if l.PerSecond < g.limits.PerSecond {
		g.limits.PerSecond = l.PerSecond
		g.tokens = min(g.tokens, float64(l.PerSecond))
	}
}

// acquire takes one call from the budget. The caller must call release
// once the call is over.
func (g *Guard) acquire(now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Before(g.blockedUntil) {
		return ErrBackingOff
	}
	if el := now.Sub(g.last); el > 0 {
		g.tokens = min(float64(g.limits.PerSecond), g.tokens+el.Seconds()*float64(g.limits.PerSecond))
	}
	if now.After(g.last) {
		g.last = now
	}
	if g.inflight >= g.limits.MaxConcurrent || g.tokens < 1 {
		return ErrBusy
	}
	g.tokens--
	g.inflight++
	return nil
}

func (g *Guard) release() {
	g.mu.Lock()
	g.inflight--
	g.mu.Unlock()
}

// throttled records a 429 answer: no call until its Retry-After (or Okta's
// X-Rate-Limit-Reset) has passed, within [minBackoff, maxBackoff].
func (g *Guard) throttled(now time.Time, h http.Header) {
	wait := retryAfter(now, h)
	g.mu.Lock()
	defer g.mu.Unlock()
	if until := now.Add(wait); until.After(g.blockedUntil) {
		g.blockedUntil = until
	}
}

func retryAfter(now time.Time, h http.Header) time.Duration {
	wait := time.Duration(-1)
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil {
			wait = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			wait = t.Sub(now)
		}
	} else if v := h.Get("X-Rate-Limit-Reset"); v != "" { // Okta: Unix seconds
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			wait = time.Unix(s, 0).Sub(now)
		}
	}
	switch {
	case wait < 0:
		return defaultBackoff
	case wait < minBackoff:
		return minBackoff
	case wait > maxBackoff:
		return maxBackoff
	}
	return wait
}

// negative remembers inactive answers, keyed by a hash of the client and the
// token, for negativeTTL. Every entry lives equally long, so insertion order
// is expiry order: a ring drops the oldest when full.
type negative struct {
	max   int
	ring  [][32]byte
	next  int
	until map[[32]byte]time.Time
}

func (g *Guard) isNegative(key [32]byte, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.neg.until[key]
	return ok && now.Before(until)
}

func (g *Guard) putNegative(key [32]byte, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := &g.neg
	if n.until == nil {
		n.until = map[[32]byte]time.Time{}
	}
	if _, ok := n.until[key]; ok {
		n.until[key] = now.Add(negativeTTL)
		return
	}
	if len(n.ring) < n.max {
		n.ring = append(n.ring, key)
	} else {
		delete(n.until, n.ring[n.next])
		n.ring[n.next] = key
		n.next = (n.next + 1) % n.max
	}
	n.until[key] = now.Add(negativeTTL)
}

// negatives returns the number of remembered inactive answers.
func (g *Guard) negatives() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.neg.until)
}
