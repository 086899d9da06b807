package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/issuer"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

// t0 is the frozen "now" of every test.
var t0 = time.Unix(1_700_000_000, 0)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// countingKS counts key look-ups (one per signature verification) and can be
// made to fail as if the IdP were down.
type countingKS struct {
	next  KeySource
	calls atomic.Int64
	fail  atomic.Bool
}

func (c *countingKS) Key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	c.calls.Add(1)
	if c.fail.Load() {
		return jose.JSONWebKey{}, issuer.ErrUnavailable
	}
	return c.next.Key(ctx, kid)
}

// staticKS serves fixed keys by kid.
type staticKS map[string]jose.JSONWebKey

func (s staticKS) Key(_ context.Context, kid string) (jose.JSONWebKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return jose.JSONWebKey{}, issuer.ErrUnknownKey
}

// env is a test issuer with an RSA key "k1" and an EC key "e1", and an
// issuer.Issuer over it with an injected clock.
type env struct {
	ti  *testissuer.Issuer
	iss *issuer.Issuer
	clk *fakeClock
	rsa testissuer.Key
	ec  testissuer.Key
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ti := testissuer.New(t)
	rk := ti.Signer()
	ek := testissuer.NewECKey(t, "e1")
	ti.SetKeys(rk, ek)
	clk := newClock()
	iss := issuer.New(ti.URL, issuer.Options{
		Client:     issuer.NewHTTPClient(5*time.Second, false),
		MinRefresh: time.Minute,
		Now:        clk.Now,
	})
	return &env{ti: ti, iss: iss, clk: clk, rsa: rk, ec: ek}
}

const (
	testAud    = "api://default"
	testLeeway = time.Minute
)

func (e *env) config() Config {
	return Config{
		Issuer:    e.ti.URL,
		Audiences: []string{testAud},
		Algs:      []string{"RS256"},
		Leeway:    testLeeway,
		Kind:      Access,
		Now:       e.clk.Now,
	}
}

// claims returns valid access-token claims at t0.
func (e *env) claims() map[string]any { return e.ti.Claims(t0) }

func with(c map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

var b64 = base64.RawURLEncoding

// signParts signs arbitrary header and payload bytes with k (RS*, PS* or
// ES256), so that tests can build headers go-jose would never write.
func signParts(t testing.TB, k testissuer.Key, alg string, header, payload []byte) string {
	t.Helper()
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	var sig []byte
	var err error
	switch alg {
	case "RS256":
		d := sha256.Sum256([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.Priv.(*rsa.PrivateKey), crypto.SHA256, d[:])
	case "ES256":
		d := sha256.Sum256([]byte(input))
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k.Priv.(*ecdsa.PrivateKey), d[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	default:
		t.Fatalf("signParts: unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hmacToken builds an HS* token whose secret is key.
func hmacToken(t testing.TB, header, payload map[string]any, key []byte) string {
	t.Helper()
	input := b64.EncodeToString(mustJSON(t, header)) + "." + b64.EncodeToString(mustJSON(t, payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + b64.EncodeToString(m.Sum(nil))
}

// payloadOf decodes a token's payload independently of the package under
// test (encoding/json with numbers kept), for exact claim comparison.
func payloadOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	p, err := b64.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(p))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// resign replaces one segment of tok (0 header, 1 payload, 2 signature)
// by f applied to its decoded bytes.
func resegment(t testing.TB, tok string, i int, f func([]byte) []byte) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := b64.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	parts[i] = b64.EncodeToString(f(b))
	return strings.Join(parts, ".")
}
