package hotpath

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

// oktaOnly starts one okta-oidc server (with flags) and one instance.
func oktaOnly(b *testing.B, iss *testissuer.Issuer, extra map[string]any, flags ...string) (*server, *kong, int32) {
	dir := b.TempDir()
	s := startServer(b, oktaBinary(b, dir), dir, nil, flags...)
	k := dialKong(b, s)
	id, err := k.start("okta-oidc", routeConfig(iss, extra))
	if err != nil {
		b.Fatal(err)
	}
	return s, k, id
}

// bothAlgs lets a route accept the ES256 tokens the load benchmarks mint
// (much faster to sign than RS256).
var bothAlgs = map[string]any{"signing_algs": []string{"RS256", "ES256"}}

// minRefresh is jwks_min_refresh_interval's default.
const minRefresh = 30 * time.Second

// BenchmarkMetricsCost interleaves cached passes through two okta-oidc
// servers, one with -metrics-addr: ratio = off time / on time.
func BenchmarkMetricsCost(b *testing.B) {
	iss := testissuer.New(b)
	off, koff, idOff := oktaOnly(b, iss, nil)
	on, kon, idOn := oktaOnly(b, iss, nil, "-metrics-addr", freeAddr(b))
	ans := passAnswer(curlHeaders(b, iss.Mint(b, iss.Claims(time.Now()))), nil)
	for range 200 {
		if err := koff.event(idOff, ans); err != nil {
			b.Fatal(err)
		}
		if err := kon.event(idOn, ans); err != nil {
			b.Fatal(err)
		}
	}
	var dOff, dOn time.Duration
	c0off, c0on := off.cpu(b), on.cpu(b)
	n := 0
	for b.Loop() {
		first, second, d1, d2 := koff, kon, &dOff, &dOn
		id1, id2 := idOff, idOn
		if n%2 == 1 { // alternate which goes first
			first, second, d1, d2, id1, id2 = kon, koff, &dOn, &dOff, idOn, idOff
		}
		t0 := time.Now()
		err := first.event(id1, ans)
		t1 := time.Now()
		if err == nil {
			err = second.event(id2, ans)
		}
		*d1 += t1.Sub(t0)
		*d2 += time.Since(t1)
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(dOff)/float64(dOn), "ratio")
	b.ReportMetric(float64((off.cpu(b)-c0off).Microseconds())/float64(n), "off-cpu-us/event")
	b.ReportMetric(float64((on.cpu(b)-c0on).Microseconds())/float64(n), "on-cpu-us/event")
}

// BenchmarkFreshToken: every event carries a token never seen before, so
// each is a full signature verification (RS256, 2048-bit). Minting happens
// in the harness; the server CPU per event is the figure.
func BenchmarkFreshToken(b *testing.B) {
	iss := testissuer.New(b)
	s, k, id := oktaOnly(b, iss, nil)
	c := iss.Claims(time.Now())
	var d time.Duration
	c0 := s.cpu(b)
	n := 0
	for b.Loop() {
		c["jti"] = fmt.Sprintf("AT.%d", n)
		hdr := curlHeaders(b, iss.Mint(b, c))
		t0 := time.Now()
		if err := k.event(id, passAnswer(hdr, nil)); err != nil {
			b.Fatal(err)
		}
		d += time.Since(t0)
		n++
	}
	b.ReportMetric(float64(d.Microseconds())/float64(n), "us/event")
	b.ReportMetric(float64((s.cpu(b)-c0).Microseconds())/float64(n), "cpu-us/event")
}

// BenchmarkDistinctTokens sends 100,000 distinct valid tokens (each once,
// -benchtime 100000x) and reports the server's peak RSS against the token
// cache's bound (32 MiB) plus 64 MiB. Tokens are signed in the harness
// with an ES256 key published in the JWKS (fast to mint).
func BenchmarkDistinctTokens(b *testing.B) {
	iss := testissuer.New(b)
	ec := testissuer.NewECKey(b, "ec1")
	iss.SetKeys(iss.Signer(), ec)
	s, k, id := oktaOnly(b, iss, bothAlgs)
	cfgTok := func(i int) string {
		c := iss.Claims(time.Now())
		c["jti"] = fmt.Sprintf("AT.%d", i)
		c["sub"] = fmt.Sprintf("user-%d@example.com", i)
		return testissuer.Sign(b, ec, c, nil)
	}
	n := 0
	for b.Loop() {
		if err := k.event(id, passAnswer(curlHeaders(b, cfgTok(n)), nil)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	rss := s.peakRSS(b)
	b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MiB")
	if bound := int64(32+64) << 20; n >= 100000 && rss > bound {
		b.Errorf("peak RSS %d MiB after %d distinct tokens, over the cache bound + 64 MiB (%d MiB)", rss>>20, n, bound>>20)
	}
}

// BenchmarkRandomKids sends tokens whose kid is random (signed by a key the
// issuer does not publish): each is refused, and the issuer must see at
// most one JWKS fetch per jwks_min_refresh_interval however many arrive.
func BenchmarkRandomKids(b *testing.B) {
	iss := testissuer.New(b)
	_, k, id := oktaOnly(b, iss, bothAlgs)
	stranger := testissuer.NewECKey(b, "stranger")
	c := iss.Claims(time.Now())
	tok := func() string {
		var kid [8]byte
		_, _ = rand.Read(kid[:])
		key := stranger
		key.ID = hex.EncodeToString(kid[:])
		return testissuer.Sign(b, key, c, nil)
	}
	// Warm: the first event fetches discovery and the JWKS.
	_ = k.event(id, passAnswer(curlHeaders(b, iss.Mint(b, c)), nil))
	start, fetched := time.Now(), iss.JWKSHits.Load()
	n := 0
	for b.Loop() {
		if err := k.event(id, passAnswer(curlHeaders(b, tok()), nil)); err == nil {
			b.Fatal("a token with an unknown kid passed")
		}
		n++
	}
	elapsed := time.Since(start)
	fetches := iss.JWKSHits.Load() - fetched
	b.ReportMetric(float64(fetches), "jwks-fetches")
	b.ReportMetric(elapsed.Seconds(), "seconds")
	// Default jwks_min_refresh_interval: allow one per started interval.
	if allowed := int64(elapsed/minRefresh) + 1; fetches > allowed {
		b.Errorf("%d JWKS fetches in %s for %d random kids, want at most %d", fetches, elapsed, n, allowed)
	}
}
