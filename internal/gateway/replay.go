package gateway

import (
	"sync"
	"time"
)

// ReplayCache remembers used login states until they would have expired
// anyway, so a state (and the nonce and PKCE verifier bound to it) is
// accepted once per process. It is bounded: when full, the entry closest to
// expiry is dropped.
type ReplayCache struct {
	mu   sync.Mutex
	max  int
	used map[[32]byte]time.Time
}

// NewReplayCache returns a cache of at most max states.
func NewReplayCache(max int) *ReplayCache {
	return &ReplayCache{max: max, used: map[[32]byte]time.Time{}}
}

// Use records key as used until expiry. It returns false if key was already
// used.
func (c *ReplayCache) Use(key [32]byte, expiry, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.used[key]; ok && now.Before(exp) {
		return false
	}
	if len(c.used) >= c.max {
		var oldest [32]byte
		var oldestExp time.Time
		for k, exp := range c.used {
			if !now.Before(exp) {
				delete(c.used, k)
				continue
			}
			if oldestExp.IsZero() || exp.Before(oldestExp) {
				oldest, oldestExp = k, exp
			}
		}
		if len(c.used) >= c.max {
			delete(c.used, oldest)
		}
	}
	c.used[key] = expiry
	return true
}
