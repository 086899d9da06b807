package introspect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/token"
)

func TestShapeFilterAsksNothing(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"base64url 43", strings.Repeat("Ab3-_", 8) + "xyz", true},
		{"b64token with padding", strings.Repeat("ab+/", 6) + "==", true},
		{"jwt-like", strings.Repeat("a", 20) + "." + strings.Repeat("b", 20) + "." + strings.Repeat("c", 20), true},
		{"tilde", strings.Repeat("a~", 12), true},
		{"longest", strings.Repeat("a", token.MaxTokenBytes), true},
		{"empty", "", false},
		{"short", strings.Repeat("a", minOpaqueLen-1), false},
		{"too long", strings.Repeat("a", token.MaxTokenBytes+1), false},
		{"only padding", strings.Repeat("=", 30), false},
		{"padding inside", strings.Repeat("a", 12) + "=" + strings.Repeat("a", 12), false},
		{"space", strings.Repeat("a", 12) + " " + strings.Repeat("a", 12), false},
		{"quote", strings.Repeat("a", 24) + `"`, false},
		{"comma", strings.Repeat("a", 12) + "," + strings.Repeat("a", 12), false},
		{"percent", strings.Repeat("a", 12) + "%00" + strings.Repeat("a", 12), false},
		{"non-ascii", strings.Repeat("a", 24) + "é", false},
		{"control", strings.Repeat("a", 24) + "\x7f", false},
		{"json", `{"active":true,"sub":"alice","x":1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newIDP(t)
			_, err := client(d, &now, nil).Introspect(context.Background(), tt.tok)
			calls := d.calls.Load()
			if tt.ok {
				if calls != 1 || !errors.Is(err, ErrInactive) {
					t.Fatalf("a well-shaped token: calls %d, err %v; want one call and inactive", calls, err)
				}
				return
			}
			if calls != 0 || !errors.Is(err, token.ErrMalformed) {
				t.Fatalf("calls %d, err %v; want no call and a malformed token", calls, err)
			}
		})
	}
}

// unknown returns the i-th of many distinct well-shaped tokens.
func unknown(i int) string { return fmt.Sprintf("unknown-%04d-%s", i, strings.Repeat("z", 20)) }

func TestPerSecondCap(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newIDP(t)
	c := client(d, &now, func(c *Config) { c.Guard = NewGuard(Limits{MaxConcurrent: 100, PerSecond: 3}) })
	steps := []struct {
		advance time.Duration
		tok     int
		want    error
		calls   int64
	}{
		{0, 1, ErrInactive, 1},
		{0, 2, ErrInactive, 2},
		{0, 3, ErrInactive, 3},
		{0, 4, ErrBusy, 3},     // the burst is spent: refused without a call
		{0, 1, ErrInactive, 3}, // remembered: costs nothing, not even budget
		{200 * time.Millisecond, 5, ErrBusy, 3},
		{200 * time.Millisecond, 5, ErrInactive, 4}, // 0.4 s: one more call earned
		{0, 6, ErrBusy, 4},
		{time.Second, 6, ErrInactive, 5},
		{time.Hour, 7, ErrInactive, 6}, // a long pause earns no more than the burst
		{0, 8, ErrInactive, 7},
		{0, 9, ErrInactive, 8},
		{0, 10, ErrBusy, 8},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		_, err := c.Introspect(context.Background(), unknown(s.tok))
		if !errors.Is(err, s.want) || d.calls.Load() != s.calls {
			t.Fatalf("step %d: err %v, calls %d; want %v, %d", i, err, d.calls.Load(), s.want, s.calls)
		}
		if errors.Is(err, ErrBusy) && errors.Is(err, token.ErrInvalid) {
			t.Fatalf("step %d: a capped call blames the token", i)
		}
	}
}

func TestConcurrencyCap(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newIDP(t)
	d.answers[opaque("good")] = answer(now, nil)
	entered, unblock := make(chan struct{}, 10), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(unblock) }) }
	defer release() // a failing test must not leave the IdP blocked
	d.hook = func(tok string) {
		if tok == unknown(0) || tok == unknown(1) {
			entered <- struct{}{}
			<-unblock
		}
	}
	c := client(d, &now, func(c *Config) { c.Guard = NewGuard(Limits{MaxConcurrent: 2, PerSecond: 1000}) })
	if _, err := c.Introspect(context.Background(), opaque("good")); err != nil { // cached from now on
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Introspect(context.Background(), unknown(i))
		}()
	}
	<-entered
	<-entered
	if _, err := c.Introspect(context.Background(), unknown(99)); !errors.Is(err, ErrBusy) {
		t.Fatalf("a third call while two are in flight: %v, want ErrBusy", err)
	}
	if cl, err := c.Introspect(context.Background(), opaque("good")); err != nil || cl.String("sub") != "alice" {
		t.Fatalf("a cached token while the cap is reached: %v", err)
	}
	release()
	wg.Wait()
	if _, err := c.Introspect(context.Background(), unknown(99)); !errors.Is(err, ErrInactive) {
		t.Fatalf("after the calls ended: %v, want a call", err)
	}
	if n := d.calls.Load(); n != 4 {
		t.Fatalf("calls %d, want 4", n)
	}
}

func TestNegativeCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newIDP(t)
	d.answers[opaque("good")] = answer(now, nil)
	// A small positive cache: a flood of dead tokens must not evict the
	// live ones from it.
	c := client(d, &now, func(c *Config) { c.Cache = token.NewCache(2, 1<<20) })
	if _, err := c.Introspect(context.Background(), opaque("good")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := c.Introspect(context.Background(), unknown(i)); !errors.Is(err, ErrInactive) {
			t.Fatal(err)
		}
	}
	if n := d.calls.Load(); n != 21 {
		t.Fatalf("calls %d, want 21", n)
	}
	if _, err := c.Introspect(context.Background(), opaque("good")); err != nil || d.calls.Load() != 21 {
		t.Fatalf("dead tokens evicted a live one: err %v, calls %d", err, d.calls.Load())
	}
	steps := []struct {
		advance time.Duration
		calls   int64
	}{
		{0, 22},               // first sight
		{0, 22},               // remembered
		{9 * time.Second, 22}, // still remembered
		{time.Second, 23},     // 10 s later: asked again
		{time.Second, 23},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if _, err := c.Introspect(context.Background(), opaque("dead")); !errors.Is(err, ErrInactive) {
			t.Fatalf("step %d: %v", i, err)
		}
		if d.calls.Load() != s.calls {
			t.Fatalf("step %d: calls %d, want %d", i, d.calls.Load(), s.calls)
		}
	}
}

func TestNegativeCacheBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	g := NewGuard(Limits{})
	for i := 0; i < maxNegative+500; i++ {
		var k [32]byte
		copy(k[:], fmt.Sprint(i))
		g.putNegative(k, now)
	}
	if n := g.negatives(); n != maxNegative {
		t.Fatalf("%d remembered, want the bound %d", n, maxNegative)
	}
	var newest [32]byte
	copy(newest[:], fmt.Sprint(maxNegative+499))
	if !g.isNegative(newest, now) {
		t.Fatal("the newest entry was dropped instead of the oldest")
	}
}

func TestBackOffAfter429(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newIDP(t)
	d.answers[opaque("good")] = answer(now, nil)
	c := client(d, &now, nil)
	if _, err := c.Introspect(context.Background(), opaque("good")); err != nil {
		t.Fatal(err)
	}
	d.status, d.header = http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}
	_, err := c.Introspect(context.Background(), unknown(1))
	if !errors.Is(err, ErrRateLimited) || errors.Is(err, token.ErrInvalid) {
		t.Fatalf("a 429: %v", err)
	}
	d.status, d.header = 200, nil
	steps := []struct {
		advance time.Duration
		tok     string
		want    error
		calls   int64
	}{
		{0, unknown(2), ErrBackingOff, 2},
		{0, opaque("good"), nil, 2}, // cached positives keep working
		{6 * time.Second, unknown(2), ErrBackingOff, 2},
		{time.Second, unknown(2), ErrInactive, 3}, // Retry-After has passed
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		_, err := c.Introspect(context.Background(), s.tok)
		if !errors.Is(err, s.want) || (s.want == nil && err != nil) || d.calls.Load() != s.calls {
			t.Fatalf("step %d: err %v, calls %d; want %v, %d", i, err, d.calls.Load(), s.want, s.calls)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0).UTC()
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{"zero", http.Header{"Retry-After": {"0"}}, minBackoff},
		{"negative", http.Header{"Retry-After": {"-5"}}, defaultBackoff},
		{"huge", http.Header{"Retry-After": {"86400"}}, maxBackoff},
		{"date", http.Header{"Retry-After": {now.Add(20 * time.Second).Format(http.TimeFormat)}}, 20 * time.Second},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, defaultBackoff},
		{"garbage", http.Header{"Retry-After": {"soon"}}, defaultBackoff},
		{"okta reset", http.Header{"X-Rate-Limit-Reset": {fmt.Sprint(now.Add(30 * time.Second).Unix())}}, 30 * time.Second},
		{"retry-after wins", http.Header{"Retry-After": {"3"}, "X-Rate-Limit-Reset": {fmt.Sprint(now.Add(30 * time.Second).Unix())}}, 3 * time.Second},
		{"none", http.Header{}, defaultBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(now, tt.h); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSharedGuardPerIssuer(t *testing.T) {
	a := SharedGuard("https://shared.example/oauth2/a", Limits{MaxConcurrent: 5, PerSecond: 50})
	b := SharedGuard("https://shared.example/oauth2/a", Limits{MaxConcurrent: 8, PerSecond: 2})
	other := SharedGuard("https://shared.example/oauth2/b", Limits{})
	if a != b || a == other {
		t.Fatal("one issuer must have one guard, and two issuers two")
	}
	if a.limits != (Limits{MaxConcurrent: 5, PerSecond: 2}) {
		t.Fatalf("limits %+v, want the strictest of each", a.limits)
	}
	if other.limits != (Limits{MaxConcurrent: DefaultMaxConcurrent, PerSecond: DefaultPerSecond}) {
		t.Fatalf("defaults: %+v", other.limits)
	}
	// Two routes' clients of one issuer spend one budget.
	now := time.Unix(1_800_000_000, 0)
	d := newIDP(t)
	g := NewGuard(Limits{MaxConcurrent: 10, PerSecond: 2})
	r1 := client(d, &now, func(c *Config) { c.Guard = g })
	r2 := client(d, &now, func(c *Config) { c.Guard = g; c.Audiences = []string{"api://other"} })
	_, _ = r1.Introspect(context.Background(), unknown(1))
	_, _ = r2.Introspect(context.Background(), unknown(2))
	if _, err := r2.Introspect(context.Background(), unknown(3)); !errors.Is(err, ErrBusy) {
		t.Fatalf("the third call of the second: %v, want ErrBusy", err)
	}
}
