package issuer

import (
	"math/rand/v2"
	"time"
)

// Retry delays after a failed fetch while nothing cached can stand in (no
// discovery document yet, no keys yet): every request fails until a fetch
// succeeds, so the next try comes soon, not a whole MinRefresh interval
// later. The first request after the IdP comes back succeeds within
// retryMax.
const (
	retryBase = 250 * time.Millisecond
	retryMax  = 1500 * time.Millisecond
)

// backoff spaces out the attempts of one fetch after failures: retryBase
// doubling up to retryMax, each delay shortened by up to a quarter at random
// so the workers and nodes of a fleet do not retry in step. The zero value
// allows an attempt at once.
type backoff struct {
	failures int
	next     time.Time
}

// ready reports whether an attempt may start at now.
func (b *backoff) ready(now time.Time) bool { return !now.Before(b.next) }

// failed records a failed attempt that ended at now; jitter returns a number
// in [0, 1).
func (b *backoff) failed(now time.Time, jitter func() float64) {
	d := retryBase << min(b.failures, 8)
	d = min(d, retryMax)
	d -= time.Duration(float64(d/4) * jitter())
	b.failures++
	b.next = now.Add(d)
}

// reset forgets past failures after a success.
func (b *backoff) reset() { *b = backoff{} }

func defaultJitter() float64 { return rand.Float64() } //nolint:gosec // spreading retries, not a secret
