// Package testissuer is an httptest OpenID issuer for unit tests: discovery,
// a JWKS it can rotate, break or slow down, a token endpoint, and a minter of
// tokens in every valid and invalid shape.
package testissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is a signing key with its kid and algorithm.
type Key struct {
	ID   string
	Alg  jose.SignatureAlgorithm
	Priv crypto.Signer
}

// Public returns the key's public JWK.
func (k Key) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Priv.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"}
}

// NewRSAKey returns a 2048-bit RS256 key.
func NewRSAKey(t testing.TB, kid string) Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return Key{ID: kid, Alg: jose.RS256, Priv: k}
}

// NewECKey returns a P-256 ES256 key.
func NewECKey(t testing.TB, kid string) Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key{ID: kid, Alg: jose.ES256, Priv: k}
}

// Issuer is a running test issuer.
type Issuer struct {
	*httptest.Server
	URL string // the issuer identifier: server URL + /oauth2/default

	mu           sync.Mutex
	keys         []Key // published
	signer       Key   // signs Mint's tokens
	down         bool  // JWKS and discovery answer 503
	jwksBody     []byte
	cacheControl string
	jwksDelay    time.Duration
	tokenHandler http.HandlerFunc
	introHandler http.HandlerFunc
	revHandler   http.HandlerFunc

	JWKSHits      atomic.Int64
	DiscoveryHits atomic.Int64
}

// New starts an issuer with one RSA key "k1".
func New(t testing.TB) *Issuer {
	t.Helper()
	k := NewRSAKey(t, "k1")
	iss := &Issuer{keys: []Key{k}, signer: k}
	mux := http.NewServeMux()
	iss.Server = httptest.NewServer(mux)
	iss.URL = iss.Server.URL + "/oauth2/default"
	mux.HandleFunc("/oauth2/default/.well-known/openid-configuration", iss.discovery)
	mux.HandleFunc("/oauth2/default/v1/keys", iss.jwks)
	mux.HandleFunc("/oauth2/default/v1/token", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		h := iss.tokenHandler
		iss.mu.Unlock()
		if h == nil {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		h(w, r)
	})
	mux.HandleFunc("/oauth2/default/v1/introspect", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		h := iss.introHandler
		iss.mu.Unlock()
		if h == nil {
			http.Error(w, "no introspection here", http.StatusNotFound)
			return
		}
		h(w, r)
	})
	mux.HandleFunc("/oauth2/default/v1/revoke", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		h := iss.revHandler
		iss.mu.Unlock()
		if h == nil {
			w.WriteHeader(http.StatusOK) // RFC 7009: 200, whatever the token
			return
		}
		h(w, r)
	})
	t.Cleanup(iss.Server.Close)
	return iss
}

func (i *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	i.DiscoveryHits.Add(1)
	i.mu.Lock()
	down := i.down
	i.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                i.URL,
		"authorization_endpoint":                i.URL + "/v1/authorize",
		"token_endpoint":                        i.URL + "/v1/token",
		"jwks_uri":                              i.URL + "/v1/keys",
		"end_session_endpoint":                  i.URL + "/v1/logout",
		"introspection_endpoint":                i.URL + "/v1/introspect",
		"revocation_endpoint":                   i.URL + "/v1/revoke",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	i.JWKSHits.Add(1)
	i.mu.Lock()
	down, body, cc, delay := i.down, i.jwksBody, i.cacheControl, i.jwksDelay
	var set jose.JSONWebKeySet
	for _, k := range i.keys {
		set.Keys = append(set.Keys, k.Public())
	}
	i.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	w.Header().Set("Content-Type", "application/json")
	if body != nil {
		_, _ = w.Write(body)
		return
	}
	_ = json.NewEncoder(w).Encode(set)
}

// SetKeys replaces the published keys; the first one signs from now on.
func (i *Issuer) SetKeys(keys ...Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = keys
	if len(keys) > 0 {
		i.signer = keys[0]
	}
}

// Signer returns the key Mint signs with.
func (i *Issuer) Signer() Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.signer
}

// SetDown makes discovery and JWKS answer 503 (true) or work again.
func (i *Issuer) SetDown(down bool) { i.mu.Lock(); i.down = down; i.mu.Unlock() }

// SetJWKSBody makes the JWKS endpoint answer body verbatim (nil: the keys).
func (i *Issuer) SetJWKSBody(body []byte) { i.mu.Lock(); i.jwksBody = body; i.mu.Unlock() }

// SetCacheControl sets the JWKS response's Cache-Control header.
func (i *Issuer) SetCacheControl(v string) { i.mu.Lock(); i.cacheControl = v; i.mu.Unlock() }

// SetJWKSDelay delays every JWKS answer.
func (i *Issuer) SetJWKSDelay(d time.Duration) { i.mu.Lock(); i.jwksDelay = d; i.mu.Unlock() }

// SetTokenHandler serves the token endpoint.
func (i *Issuer) SetTokenHandler(h http.HandlerFunc) { i.mu.Lock(); i.tokenHandler = h; i.mu.Unlock() }

// SetIntrospectHandler serves the introspection endpoint.
func (i *Issuer) SetIntrospectHandler(h http.HandlerFunc) {
	i.mu.Lock()
	i.introHandler = h
	i.mu.Unlock()
}

// SetRevokeHandler serves the revocation endpoint (default: 200).
func (i *Issuer) SetRevokeHandler(h http.HandlerFunc) {
	i.mu.Lock()
	i.revHandler = h
	i.mu.Unlock()
}

// Claims returns typical Okta access-token claims valid at now.
func (i *Issuer) Claims(now time.Time) map[string]any {
	return map[string]any{
		"ver":    1,
		"jti":    "AT.test",
		"iss":    i.URL,
		"aud":    "api://default",
		"iat":    now.Unix(),
		"exp":    now.Add(time.Hour).Unix(),
		"cid":    "kong-m2m",
		"uid":    "00u1",
		"sub":    "alice@example.com",
		"scp":    []string{"openid", "kong.read"},
		"groups": []string{"kong_group", "everyone"},
	}
}

// Mint signs claims with the issuer's current signing key.
func (i *Issuer) Mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	return Sign(t, i.Signer(), claims, nil)
}

// Sign signs claims with k, adding extra protected headers.
func Sign(t testing.TB, k Key, claims map[string]any, extra map[jose.HeaderKey]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return SignRaw(t, k, payload, extra)
}

// SignRaw signs an arbitrary payload with k.
func SignRaw(t testing.TB, k Key, payload []byte, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.ID).WithType("JWT")
	for hk, v := range extra {
		opts = opts.WithHeader(hk, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Unsigned builds a token with an arbitrary header and payload and a given
// signature segment (for alg=none and HMAC confusion tests).
func Unsigned(header, payload map[string]any, sig []byte) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(sig)
}

// Segments splits a compact JWS.
func Segments(tok string) []string { return strings.Split(tok, ".") }
