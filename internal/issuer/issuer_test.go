package issuer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

var t0 = time.Unix(1_700_000_000, 0)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

const minRefresh = time.Minute

func newIssuer(url string) (*Issuer, *fakeClock) {
	clk := &fakeClock{now: t0}
	return New(url, Options{
		Client:     NewHTTPClient(5*time.Second, false),
		MinRefresh: minRefresh,
		Now:        clk.Now,
	}), clk
}

var ctx = context.Background()

// sameKey reports whether got is the public half of k.
func sameKey(got jose.JSONWebKey, k testissuer.Key) bool {
	want := k.Public()
	return got.KeyID == want.KeyID && reflect.DeepEqual(got.Key, want.Key)
}

func mustKey(t *testing.T, i *Issuer, k testissuer.Key) {
	t.Helper()
	got, err := i.Key(ctx, k.ID)
	if err != nil {
		t.Fatalf("Key(%q): %v", k.ID, err)
	}
	if !sameKey(got, k) {
		t.Fatalf("Key(%q) returned another key", k.ID)
	}
}

func jwksBody(t *testing.T, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond (background fetches run in goroutines).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestDiscovery(t *testing.T) {
	ti := testissuer.New(t)
	// a server whose discovery document names another issuer
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"authorization_endpoint":"x","token_endpoint":"y"}`,
			ti.URL, ti.URL+"/v1/keys")
	}))
	defer other.Close()
	cases := []struct {
		name string
		url  string
		ok   bool
	}{
		{"matching issuer", ti.URL, true},
		{"trailing slash", ti.URL + "/", false},
		{"document names another issuer", other.URL, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			i, _ := newIssuer(c.url)
			m, err := i.Metadata(ctx)
			if c.ok {
				if err != nil || m.Issuer != ti.URL || m.JWKSURI != ti.URL+"/v1/keys" || m.TokenEndpoint != ti.URL+"/v1/token" {
					t.Fatalf("Metadata = %+v, %v", m, err)
				}
				mustKey(t, i, ti.Signer())
				return
			}
			if err == nil {
				t.Fatalf("issuer mismatch accepted: %+v", m)
			}
			if _, err := i.Key(ctx, "k1"); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Key after failed discovery: %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestKeysByKid(t *testing.T) {
	ti := testissuer.New(t)
	rk, ek := ti.Signer(), testissuer.NewECKey(t, "e1")
	ti.SetKeys(rk, ek)
	i, _ := newIssuer(ti.URL)
	mustKey(t, i, rk)
	mustKey(t, i, ek)
	if _, err := i.Key(ctx, "nope"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid: %v, want ErrUnknownKey", err)
	}
	// Two keys: an empty kid is ambiguous.
	if _, err := i.Key(ctx, ""); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("empty kid with two keys: %v, want ErrUnknownKey", err)
	}
	if n := i.JWKSFetches(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestEmptyKidSingleKey(t *testing.T) {
	ti := testissuer.New(t)
	i, _ := newIssuer(ti.URL)
	got, err := i.Key(ctx, "")
	if err != nil || !sameKey(got, ti.Signer()) {
		t.Fatalf("empty kid with one key: %v", err)
	}
}

// TestUnknownKidFlood: 10,000 concurrent look-ups of random unknown kids
// cost at most one JWKS fetch per MinRefresh interval.
func TestUnknownKidFlood(t *testing.T) {
	ti := testissuer.New(t)
	i, clk := newIssuer(ti.URL)
	mustKey(t, i, ti.Signer())
	flood := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 1)
		for g := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(g), 1))
				for range 200 {
					_, err := i.Key(ctx, fmt.Sprintf("kid-%x", r.Uint64()))
					if !errors.Is(err, ErrUnknownKey) {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatalf("unknown kid: %v, want ErrUnknownKey", err)
		default:
		}
	}
	type counts struct{ fetches, hits int64 }
	now := func() counts { return counts{i.JWKSFetches(), ti.JWKSHits.Load()} }
	steps := []struct {
		name    string
		advance time.Duration
		want    int64
	}{
		{"within the interval of the first fetch", 0, 0},
		{"still within", minRefresh - time.Second, 0},
		{"next interval", time.Second, 1},
		{"same interval again", minRefresh / 2, 0},
		{"one more interval", minRefresh, 1},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		before := now()
		flood()
		after := now()
		if after.fetches-before.fetches != s.want || after.hits-before.hits != s.want {
			t.Fatalf("%s: %d fetches, %d JWKS hits; want %d", s.name,
				after.fetches-before.fetches, after.hits-before.hits, s.want)
		}
	}
	// The known key is still served throughout.
	mustKey(t, i, ti.Signer())
}

// TestSingleFlight: concurrent look-ups of a kid not yet known share one
// slow fetch, both on a cold start and for a rotated key.
func TestSingleFlight(t *testing.T) {
	ti := testissuer.New(t)
	ti.SetJWKSDelay(300 * time.Millisecond)
	i, clk := newIssuer(ti.URL)
	k2 := testissuer.NewRSAKey(t, "k2")
	for _, step := range []struct {
		name string
		prep func()
		key  testissuer.Key
	}{
		{"cold start", func() {}, ti.Signer()},
		{"rotated key", func() { ti.SetKeys(k2, ti.Signer()); clk.Advance(minRefresh) }, k2},
	} {
		step.prep()
		before, hits := i.JWKSFetches(), ti.JWKSHits.Load()
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, 100)
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				k, err := i.Key(ctx, step.key.ID)
				if err == nil && !sameKey(k, step.key) {
					err = errors.New("wrong key")
				}
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
		}
		if f, h := i.JWKSFetches()-before, ti.JWKSHits.Load()-hits; f != 1 || h != 1 {
			t.Fatalf("%s: %d fetches, %d hits; want 1", step.name, f, h)
		}
	}
}

// TestRotation: a new kid is found after one refetch; until the refetch
// interval has passed it is unknown.
func TestRotation(t *testing.T) {
	ti := testissuer.New(t)
	i, clk := newIssuer(ti.URL)
	k1 := ti.Signer()
	mustKey(t, i, k1)
	k2 := testissuer.NewRSAKey(t, "k2")
	ti.SetKeys(k2)
	clk.Advance(minRefresh / 2)
	if _, err := i.Key(ctx, "k2"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new kid within the interval: %v, want ErrUnknownKey", err)
	}
	clk.Advance(minRefresh / 2)
	mustKey(t, i, k2)
	if n := i.JWKSFetches(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	if _, err := i.Key(ctx, "k1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired kid: %v, want ErrUnknownKey", err)
	}
}

// TestScheduledRefresh: keys are refetched in the background once the
// JWKS response's max-age (at least MinRefresh) has passed, not before.
func TestScheduledRefresh(t *testing.T) {
	cases := []struct {
		cc  string
		ttl time.Duration
	}{
		{"max-age=300", 300 * time.Second},
		{"public, max-age=3", minRefresh}, // clamped to the floor
		{"no-store", minRefresh},
		{"", time.Hour},
	}
	for _, c := range cases {
		t.Run(c.cc, func(t *testing.T) {
			ti := testissuer.New(t)
			ti.SetCacheControl(c.cc)
			i, clk := newIssuer(ti.URL)
			k1 := ti.Signer()
			mustKey(t, i, k1)
			k2 := testissuer.NewRSAKey(t, "k2")
			ti.SetKeys(k1, k2)
			// Just before expiry: no fetch, however often asked.
			clk.Advance(c.ttl - time.Second)
			for range 10 {
				mustKey(t, i, k1)
			}
			time.Sleep(20 * time.Millisecond) // would-be background fetch
			if n, h := i.JWKSFetches(), ti.JWKSHits.Load(); n != 1 || h != 1 {
				t.Fatalf("before max-age: %d fetches, %d hits, want 1", n, h)
			}
			// After expiry: the known key is served at once and one
			// background refetch brings k2.
			clk.Advance(2 * time.Second)
			for range 10 {
				mustKey(t, i, k1)
			}
			waitFor(t, "background refetch", func() bool { return ti.JWKSHits.Load() == 2 })
			mustKey(t, i, k2) // waits for the in-flight fetch if needed
			if n, h := i.JWKSFetches(), ti.JWKSHits.Load(); n != 2 || h != 2 {
				t.Fatalf("after max-age: %d fetches, %d hits, want 2", n, h)
			}
		})
	}
}

// TestOutageKeepsKeys: when the JWKS endpoint fails or answers without a
// usable key, the last good keys stay in use; the IdP's recovery is seen.
func TestOutageKeepsKeys(t *testing.T) {
	oct := []byte(`{"keys":[{"kty":"oct","kid":"k1","k":"c2VjcmV0","alg":"HS256"}]}`)
	cases := []struct {
		name   string
		break_ func(*testissuer.Issuer)
	}{
		{"503", func(ti *testissuer.Issuer) { ti.SetDown(true) }},
		{"empty set", func(ti *testissuer.Issuer) { ti.SetJWKSBody([]byte(`{"keys":[]}`)) }},
		{"invalid JSON", func(ti *testissuer.Issuer) { ti.SetJWKSBody([]byte(`{"keys":[`)) }},
		{"not a JWKS", func(ti *testissuer.Issuer) { ti.SetJWKSBody([]byte(`<html>maintenance</html>`)) }},
		{"symmetric keys only", func(ti *testissuer.Issuer) { ti.SetJWKSBody(oct) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ti := testissuer.New(t)
			i, clk := newIssuer(ti.URL)
			k1 := ti.Signer()
			mustKey(t, i, k1)
			c.break_(ti)
			// An unknown kid forces a refetch, which fails.
			clk.Advance(minRefresh)
			if _, err := i.Key(ctx, "k2"); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("unknown kid during outage: %v, want ErrUnknownKey", err)
			}
			if ti.JWKSHits.Load() != 2 || i.LastKeysError() == nil {
				t.Fatalf("no failed refetch happened (hits %d, err %v)", ti.JWKSHits.Load(), i.LastKeysError())
			}
			mustKey(t, i, k1)
			// A scheduled refresh during the outage keeps them too.
			clk.Advance(2 * time.Hour)
			mustKey(t, i, k1)
			waitFor(t, "scheduled refetch", func() bool { return ti.JWKSHits.Load() == 3 })
			mustKey(t, i, k1)
			if _, err := i.Key(ctx, "k1"); err != nil {
				t.Fatalf("last good key dropped: %v", err)
			}
			// Recovery.
			ti.SetDown(false)
			ti.SetJWKSBody(nil)
			k2 := testissuer.NewRSAKey(t, "k2")
			ti.SetKeys(k1, k2)
			clk.Advance(minRefresh)
			mustKey(t, i, k2)
			if i.LastKeysError() != nil {
				t.Fatalf("error kept after recovery: %v", i.LastKeysError())
			}
		})
	}
}

// TestNoKeysEver: with the IdP down from the start, look-ups say
// ErrUnavailable, not ErrUnknownKey, and a burst costs one fetch (retries
// after that: retry_test.go).
func TestNoKeysEver(t *testing.T) {
	for _, c := range []struct {
		name   string
		break_ func(*testissuer.Issuer)
	}{
		{"IdP down", func(ti *testissuer.Issuer) { ti.SetDown(true) }},
		{"JWKS empty", func(ti *testissuer.Issuer) { ti.SetJWKSBody([]byte(`{"keys":[]}`)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ti := testissuer.New(t)
			c.break_(ti)
			i, clk := newIssuer(ti.URL)
			for range 5 {
				_, err := i.Key(ctx, "k1")
				if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownKey) {
					t.Fatalf("err = %v, want ErrUnavailable", err)
				}
			}
			if n := i.JWKSFetches(); n != 1 {
				t.Fatalf("%d fetches, want 1", n)
			}
			ti.SetDown(false)
			ti.SetJWKSBody(nil)
			clk.Advance(minRefresh)
			mustKey(t, i, ti.Signer())
		})
	}
}

func TestDuplicateKids(t *testing.T) {
	ti := testissuer.New(t)
	k1 := ti.Signer()
	evil := testissuer.NewRSAKey(t, "k1")
	k2 := testissuer.NewECKey(t, "k2")
	ti.SetJWKSBody(jwksBody(t, k1.Public(), evil.Public(), k2.Public(), k1.Public()))
	i, _ := newIssuer(ti.URL)
	if _, err := i.Key(ctx, "k1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("duplicated kid: %v, want ErrUnknownKey", err)
	}
	got, err := i.Key(ctx, "k2")
	if err != nil || !sameKey(got, k2) {
		t.Fatalf("k2: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	ti := testissuer.New(t)
	r1 := ti.Signer()
	r2 := testissuer.NewRSAKey(t, "r2")
	e1 := testissuer.NewECKey(t, "e1")
	pub := func(k testissuer.Key) string { b, _ := k.Public().MarshalJSON(); return string(b) }
	private := func(k testissuer.Key) string {
		b, _ := jose.JSONWebKey{Key: k.Priv, KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"}.MarshalJSON()
		return string(b)
	}
	enc := func(k testissuer.Key) string {
		j := k.Public()
		j.Use = "enc"
		b, _ := j.MarshalJSON()
		return string(b)
	}
	weak := rsaKey(t, "weak", 1024)
	weak2047 := rsaKey(t, "weak2047", 2047)
	p384 := ecKey(t, "p384", elliptic.P384(), jose.ES384)
	p521 := ecKey(t, "p521", elliptic.P521(), jose.ES512)
	_, edPriv, _ := ed25519.GenerateKey(crand.Reader)
	ed := testissuer.Key{ID: "ed", Alg: jose.EdDSA, Priv: edPriv}
	// withE spells k's public JWK with another exponent
	withE := func(k testissuer.Key, e string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(pub(k)), &m)
		m["e"] = e
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct {
		name string
		body string
		want []string // kids, nil: error
	}{
		{"two keys", `{"keys":[` + pub(r1) + `,` + pub(e1) + `]}`, []string{"e1", "k1"}},
		{"duplicate kid dropped, others kept", `{"keys":[` + pub(r1) + `,` + pub(e1) + `,` + pub(testissuer.Key{ID: "k1", Priv: r2.Priv, Alg: r2.Alg}) + `]}`, []string{"e1"}},
		{"thrice duplicated kid", `{"keys":[` + pub(r1) + `,` + pub(r1) + `,` + pub(r1) + `,` + pub(e1) + `]}`, []string{"e1"}},
		{"only duplicates", `{"keys":[` + pub(r1) + `,` + pub(r1) + `]}`, nil},
		{"symmetric skipped", `{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"},` + pub(r2) + `]}`, []string{"r2"}},
		{"only symmetric", `{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`, nil},
		{"private key skipped", `{"keys":[` + private(r2) + `,` + pub(e1) + `]}`, []string{"e1"}},
		{"encryption key skipped", `{"keys":[` + enc(r2) + `,` + pub(e1) + `]}`, []string{"e1"}},
		{"unsupported key skipped", `{"keys":[{"kty":"XYZ","kid":"x"},` + pub(e1) + `]}`, []string{"e1"}},
		{"RSA 1024 skipped", `{"keys":[` + pub(weak) + `,` + pub(r2) + `]}`, []string{"r2"}},
		{"RSA 2047 skipped", `{"keys":[` + pub(weak2047) + `,` + pub(r2) + `]}`, []string{"r2"}},
		{"only RSA 1024", `{"keys":[` + pub(weak) + `]}`, nil},
		{"RSA exponent 1 skipped", `{"keys":[` + withE(r1, "AQ") + `,` + pub(e1) + `]}`, []string{"e1"}},
		{"RSA even exponent skipped", `{"keys":[` + withE(r1, "AQAA") + `,` + pub(e1) + `]}`, []string{"e1"}},
		{"EC secp256k1 skipped", `{"keys":[{"kty":"EC","crv":"secp256k1","kid":"k","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 43) + `"},` + pub(e1) + `]}`, []string{"e1"}},
		{"EC P-384 and P-521 kept", `{"keys":[` + pub(p384) + `,` + pub(p521) + `]}`, []string{"p384", "p521"}},
		{"Ed25519 kept", `{"keys":[` + pub(ed) + `]}`, []string{"ed"}},
		{"symmetric with use sig and alg skipped", `{"keys":[{"kty":"oct","kid":"s","use":"sig","alg":"HS256","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},` + pub(e1) + `]}`, []string{"e1"}},
		{"empty", `{"keys":[]}`, nil},
		{"no keys member", `{}`, nil},
		{"not JSON", `nope`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys, err := ParseKeys([]byte(c.body))
			if c.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", keys)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kids []string
			for kid, k := range keys {
				if kid != k.KeyID || !k.IsPublic() {
					t.Errorf("key %q: KeyID %q public %v", kid, k.KeyID, k.IsPublic())
				}
				kids = append(kids, kid)
			}
			if strings.Join(sorted(kids), ",") != strings.Join(c.want, ",") {
				t.Fatalf("kids %v, want %v", kids, c.want)
			}
			if k, ok := keys["k1"]; ok {
				if _, isRSA := k.Key.(*rsa.PublicKey); !isRSA || !sameKey(k, r1) {
					t.Fatal("k1 is not r1's public key")
				}
			}
		})
	}
}

func rsaKey(t testing.TB, kid string, bits int) testissuer.Key {
	t.Helper()
	k, err := rsa.GenerateKey(crand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return testissuer.Key{ID: kid, Alg: jose.RS256, Priv: k}
}

func ecKey(t testing.TB, kid string, c elliptic.Curve, alg jose.SignatureAlgorithm) testissuer.Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testissuer.Key{ID: kid, Alg: alg, Priv: k}
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// TestResponseSizeCap: a JWKS larger than MaxResponseBytes is refused (the
// last good keys stay); one of exactly MaxResponseBytes is read.
func TestResponseSizeCap(t *testing.T) {
	ti := testissuer.New(t)
	i, clk := newIssuer(ti.URL)
	k1 := ti.Signer()
	mustKey(t, i, k1)
	pad := func(b []byte, n int) []byte { return append(b, bytes.Repeat([]byte(" "), n-len(b))...) }

	k2 := testissuer.NewRSAKey(t, "k2")
	ti.SetJWKSBody(pad(jwksBody(t, k1.Public(), k2.Public()), MaxResponseBytes+1))
	clk.Advance(minRefresh)
	if _, err := i.Key(ctx, "k2"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("key from an oversized JWKS: %v", err)
	}
	if err := i.LastKeysError(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("LastKeysError = %v, want ErrTooLarge", err)
	}
	mustKey(t, i, k1)

	ti.SetJWKSBody(pad(jwksBody(t, k1.Public(), k2.Public()), MaxResponseBytes))
	clk.Advance(minRefresh)
	mustKey(t, i, k2)
}

// TestCapReader: the body reader yields at most MaxResponseBytes and then
// ErrTooLarge when more follows.
func TestCapReader(t *testing.T) {
	for _, n := range []int{0, 1, MaxResponseBytes - 1, MaxResponseBytes, MaxResponseBytes + 1, 3 * MaxResponseBytes} {
		body := bytes.Repeat([]byte("a"), n)
		got, err := io.ReadAll(&capReader{rc: io.NopCloser(bytes.NewReader(body)), left: MaxResponseBytes})
		if n <= MaxResponseBytes {
			if err != nil || len(got) != n {
				t.Fatalf("n=%d: read %d, %v", n, len(got), err)
			}
			continue
		}
		if !errors.Is(err, ErrTooLarge) || len(got) > MaxResponseBytes {
			t.Fatalf("n=%d: read %d, %v; want ErrTooLarge", n, len(got), err)
		}
	}
}

// TestRedirects: the IdP client follows a redirect on its own host only.
func TestRedirects(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "elsewhere")
	}))
	defer target.Close()
	var self *httptest.Server
	self = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/other-host":
			http.Redirect(w, r, target.URL+"/x", http.StatusFound)
		case "/same-host":
			http.Redirect(w, r, self.URL+"/final", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/final":
			io.WriteString(w, "here")
		}
	}))
	defer self.Close()
	c := NewHTTPClient(5*time.Second, false)
	for _, tc := range []struct {
		path string
		body string // "": must fail
	}{
		{"/other-host", ""},
		{"/same-host", "here"},
		{"/loop", ""},
	} {
		resp, err := c.Get(self.URL + tc.path)
		if tc.body == "" {
			if err == nil {
				resp.Body.Close()
				t.Fatalf("%s: redirect followed to %s", tc.path, resp.Request.URL)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.body {
			t.Fatalf("%s: body %q", tc.path, b)
		}
	}

	// Through the Issuer: a discovery document redirected to another host
	// is not fetched.
	ti := testissuer.New(t)
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ti.Server.URL+r.URL.Path, http.StatusFound)
	}))
	defer redir.Close()
	i, _ := newIssuer(redir.URL + "/oauth2/default")
	if _, err := i.Metadata(ctx); err == nil {
		t.Fatal("discovery followed a redirect to another host")
	}
	if ti.DiscoveryHits.Load() != 0 {
		t.Fatal("other host was contacted")
	}
}

func TestCacheTTL(t *testing.T) {
	const floor = 30 * time.Second
	cases := []struct {
		cc   string
		want time.Duration
	}{
		{"", time.Hour},
		{"max-age=300", 5 * time.Minute},
		{"public, max-age=7200, must-revalidate", 2 * time.Hour},
		{"MAX-AGE=120", 2 * time.Minute},
		{" max-age=120 ", 2 * time.Minute},
		{"max-age=1", floor},
		{"max-age=0", floor},
		{"max-age=-5", time.Hour},
		{"max-age=abc", time.Hour},
		{`max-age="300"`, time.Hour},
		{"s-maxage=300", time.Hour},
		{"no-cache", floor},
		{"no-store, max-age=600", floor},
		{"max-age=600, no-store", floor},
		{"max-age=86400", 24 * time.Hour},
		{"max-age=999999", 24 * time.Hour},
		{"max-age=10000000000", 24 * time.Hour},         // overflows time.Duration if multiplied blindly
		{"max-age=9223372036854775807", 24 * time.Hour}, // math.MaxInt64 seconds
	}
	for _, c := range cases {
		if got := cacheTTL(c.cc, floor); got != c.want {
			t.Errorf("cacheTTL(%q) = %v, want %v", c.cc, got, c.want)
		}
	}
}

// TestSharedRegistry: one Issuer per distinct settings.
func TestSharedRegistry(t *testing.T) {
	s := Settings{URL: "https://shared.example/oauth2/default", Timeout: time.Second, MinRefresh: time.Minute}
	a, b := Shared(s), Shared(s)
	s2 := s
	s2.Insecure = true
	c := Shared(s2)
	if a != b || a == c || a.url != s.URL || a.minRefresh != time.Minute || a.CacheID() == c.CacheID() {
		t.Fatal("registry does not key issuers by their settings")
	}
}
