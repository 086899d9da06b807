package issuer

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

// newIssuerJitter is newIssuer with a fixed jitter.
func newIssuerJitter(url string, jitter float64) (*Issuer, *fakeClock) {
	clk := &fakeClock{now: t0}
	return New(url, Options{
		Client:     NewHTTPClient(5*time.Second, false),
		MinRefresh: minRefresh,
		Now:        clk.Now,
		Jitter:     func() float64 { return jitter },
	}), clk
}

func TestBackoffDelays(t *testing.T) {
	for _, c := range []struct {
		jitter float64
		want   []time.Duration
	}{
		{0, []time.Duration{250, 500, 1000, 1500, 1500, 1500}},
		{0.999999, []time.Duration{188, 375, 750, 1125, 1125, 1125}},
	} {
		var b backoff
		now := t0
		for n, want := range c.want {
			want *= time.Millisecond
			b.failed(now, func() float64 { return c.jitter })
			// Rounded to the millisecond: jitter just below 1 shortens by
			// a hair less than a quarter.
			if got := b.next.Sub(now).Round(time.Millisecond); got != want {
				t.Fatalf("jitter %v, failure %d: delay %v, want %v", c.jitter, n+1, got, want)
			}
			if b.ready(b.next.Add(-time.Nanosecond)) || !b.ready(b.next) {
				t.Fatalf("ready does not follow next")
			}
			now = b.next
		}
		for range 100 { // no overflow however long the outage
			b.failed(now, func() float64 { return c.jitter })
		}
		if d := b.next.Sub(now); d <= 0 || d > retryMax {
			t.Fatalf("after 100 failures: delay %v", d)
		}
		b.reset()
		if !b.ready(now) || b.failures != 0 {
			t.Fatal("reset kept the backoff")
		}
	}
}

// TestColdStartRecoversWithinBackoff: a process that starts while the IdP
// is down answers ErrUnavailable at once without a fetch per request, and
// once the IdP is back the first look-up after at most retryMax succeeds,
// whatever the length of the outage (before: a whole MinRefresh interval).
func TestColdStartRecoversWithinBackoff(t *testing.T) {
	for _, failures := range []int{1, 3, 20} {
		for _, path := range []string{"keys", "discovery"} {
			t.Run(fmt.Sprintf("%s after %d failures", path, failures), func(t *testing.T) {
				ti := testissuer.New(t)
				ti.SetDown(true)
				i, clk := newIssuer(ti.URL)
				call := func() error {
					if path == "keys" {
						_, err := i.Key(ctx, ti.Signer().ID)
						return err
					}
					_, err := i.Metadata(ctx)
					return err
				}
				for n := range failures {
					hits := ti.DiscoveryHits.Load()
					if err := call(); !errors.Is(err, ErrUnavailable) {
						t.Fatalf("attempt %d: %v, want ErrUnavailable", n, err)
					}
					if ti.DiscoveryHits.Load() != hits+1 {
						t.Fatalf("attempt %d made %d discovery calls, want 1", n, ti.DiscoveryHits.Load()-hits)
					}
					// Within the backoff: answered at once, no call.
					for range 20 {
						if err := call(); !errors.Is(err, ErrUnavailable) {
							t.Fatalf("within backoff: %v", err)
						}
					}
					clk.Advance(retryBase * 3 / 4 / 2)
					if err := call(); !errors.Is(err, ErrUnavailable) || ti.DiscoveryHits.Load() != hits+1 {
						t.Fatalf("retried before the shortest backoff (%d calls)", ti.DiscoveryHits.Load()-hits)
					}
					clk.Advance(retryMax)
				}
				ti.SetDown(false)
				if err := call(); err != nil {
					t.Fatalf("first look-up retryMax after the last failure: %v", err)
				}
				mustKey(t, i, ti.Signer())
				if i.LastKeysError() != nil {
					t.Fatalf("error kept after recovery: %v", i.LastKeysError())
				}
			})
		}
	}
}

// TestColdStartErrorNamesCause: ErrUnavailable carries the failed fetch's
// cause for the operator's log.
func TestColdStartErrorNamesCause(t *testing.T) {
	ti := testissuer.New(t)
	ti.SetDown(true)
	i, _ := newIssuer(ti.URL)
	_, err := i.Key(ctx, "k1")
	if !errors.Is(err, ErrUnavailable) || err.Error() == ErrUnavailable.Error() {
		t.Fatalf("err = %v, want ErrUnavailable with its cause", err)
	}
}

// TestColdStartFloodSingleFlight: with nothing cached and the IdP down, a
// burst of look-ups (random kids) costs one fetch, and the backoff
// applies to the whole burst.
func TestColdStartFloodSingleFlight(t *testing.T) {
	ti := testissuer.New(t)
	ti.SetDown(true)
	ti.SetJWKSDelay(50 * time.Millisecond)
	i, clk := newIssuerJitter(ti.URL, 0)
	burst := func() {
		var wg sync.WaitGroup
		for g := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := i.Key(ctx, fmt.Sprintf("kid-%d", g)); !errors.Is(err, ErrUnavailable) {
					t.Errorf("kid-%d: %v, want ErrUnavailable", g, err)
				}
			}()
		}
		wg.Wait()
	}
	burst()
	if n := ti.DiscoveryHits.Load(); n != 1 {
		t.Fatalf("%d discovery calls, want 1", n)
	}
	clk.Advance(retryBase - time.Millisecond)
	burst()
	if n := ti.DiscoveryHits.Load(); n != 1 {
		t.Fatalf("%d discovery calls within the backoff, want 1", n)
	}
	clk.Advance(time.Millisecond)
	burst()
	if n := ti.DiscoveryHits.Load(); n != 2 {
		t.Fatalf("%d discovery calls after the backoff, want 2", n)
	}
	// Discovery works, JWKS is empty: the JWKS fetch backs off too.
	ti.SetDown(false)
	ti.SetJWKSBody([]byte(`{"keys":[]}`))
	clk.Advance(retryMax)
	burst()
	jwks := ti.JWKSHits.Load()
	if jwks != 1 {
		t.Fatalf("%d JWKS calls, want 1", jwks)
	}
	burst()
	if ti.JWKSHits.Load() != jwks {
		t.Fatal("empty JWKS refetched within the backoff")
	}
	ti.SetJWKSBody(nil)
	clk.Advance(retryMax)
	mustKey(t, i, ti.Signer())
}

// TestBackoffOnlyWithoutKeys: once keys are known, an unknown kid during an
// outage still costs one fetch per MinRefresh interval, not per backoff.
func TestBackoffOnlyWithoutKeys(t *testing.T) {
	ti := testissuer.New(t)
	i, clk := newIssuer(ti.URL)
	mustKey(t, i, ti.Signer())
	ti.SetDown(true)
	clk.Advance(minRefresh)
	for range 3 {
		for n := range 50 {
			if _, err := i.Key(ctx, fmt.Sprintf("kid-%d", n)); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("unknown kid: %v", err)
			}
		}
		clk.Advance(retryMax)
	}
	if h := ti.JWKSHits.Load(); h != 2 {
		t.Fatalf("%d JWKS calls, want 2 (one per interval)", h)
	}
	mustKey(t, i, ti.Signer())
}
