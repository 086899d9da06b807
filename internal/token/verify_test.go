package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/issuer"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

type verifyCase struct {
	name string
	cfg  func(*Config)             // optional changes to the default config
	tok  func(t *testing.T) string // the token under test
	want error                     // nil: must verify with exactly the token's claims
}

func (c verifyCase) run(t *testing.T, e *env) {
	t.Helper()
	cfg := e.config()
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	v := NewVerifier(e.iss, cfg)
	tok := c.tok(t)
	got, err := v.Verify(context.Background(), tok)
	if c.want == nil {
		if err != nil {
			t.Fatalf("Verify: %v, want success", err)
		}
		if want := payloadOf(t, tok); !reflect.DeepEqual(map[string]any(got), want) {
			t.Fatalf("claims\n got %#v\nwant %#v", got, want)
		}
		return
	}
	if err == nil {
		t.Fatalf("Verify succeeded with claims %v, want %v", got, c.want)
	}
	if got != nil {
		t.Errorf("claims returned with error: %v", got)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("err = %v, does not wrap ErrInvalid", err)
	}
	if !errors.Is(err, c.want) {
		t.Errorf("err = %v, want %v", err, c.want)
	}
}

func selfSignedDER(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "attacker"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerify(t *testing.T) {
	e := newEnv(t)
	rk, ek := e.rsa, e.ec
	rsaPriv := rk.Priv.(*rsa.PrivateKey)
	base := e.claims()
	good := func(c map[string]any) func(*testing.T) string {
		return func(t *testing.T) string { return testissuer.Sign(t, rk, c, nil) }
	}
	raw := func(payload string) func(*testing.T) string {
		return func(t *testing.T) string { return testissuer.SignRaw(t, rk, []byte(payload), nil) }
	}
	hdr := func(extra map[jose.HeaderKey]any) func(*testing.T) string {
		return func(t *testing.T) string { return testissuer.Sign(t, rk, base, extra) }
	}
	allow := func(algs ...string) func(*Config) { return func(c *Config) { c.Algs = algs } }
	noAud := func(c *Config) { c.Audiences = nil }
	num := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	url := e.ti.URL
	// valid claims in JSON text, to splice duplicates and case variants into
	validJSON := func(extra string, drop ...string) string {
		c := with(base)
		for _, d := range drop {
			delete(c, d)
		}
		b, _ := json.Marshal(c)
		if extra == "" {
			return string(b)
		}
		return "{" + extra + "," + string(b[1:])
	}

	pubPKIX, _ := x509.MarshalPKIXPublicKey(&rsaPriv.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubPKIX})
	pubJWK, _ := rk.Public().MarshalJSON()
	hmacSecrets := map[string][]byte{
		"PEM":   pubPEM,
		"PKIX":  pubPKIX,
		"PKCS1": x509.MarshalPKCS1PublicKey(&rsaPriv.PublicKey),
		"JWK":   pubJWK,
		"n":     rsaPriv.N.Bytes(),
	}
	certB64 := base64.StdEncoding.EncodeToString(selfSignedDER(t, rsaPriv))

	cases := []verifyCase{
		{name: "valid RS256", tok: good(base)},
		{name: "valid ES256 when allowed", cfg: allow("RS256", "ES256"),
			tok: func(t *testing.T) string { return testissuer.Sign(t, ek, base, nil) }},
		{name: "no kid with two keys published", want: ErrKey,
			tok: func(t *testing.T) string {
				return signParts(t, rk, "RS256", []byte(`{"alg":"RS256"}`), mustJSON(t, base))
			}},

		// algorithms
		{name: "alg none", want: ErrAlgorithm, tok: func(*testing.T) string {
			return testissuer.Unsigned(map[string]any{"alg": "none", "kid": "k1"}, base, nil)
		}},
		{name: "alg none even if configured", want: ErrAlgorithm, cfg: allow("RS256", "none"),
			tok: func(*testing.T) string {
				return testissuer.Unsigned(map[string]any{"alg": "none", "kid": "k1"}, base, nil)
			}},
		{name: "alg None capitalised", want: ErrAlgorithm, tok: func(*testing.T) string {
			return testissuer.Unsigned(map[string]any{"alg": "None", "kid": "k1"}, base, nil)
		}},
		{name: "alg missing", want: ErrAlgorithm, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"kid":"k1"}`), mustJSON(t, base))
		}},
		{name: "alg not a string", want: ErrAlgorithm, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":["RS256"],"kid":"k1"}`), mustJSON(t, base))
		}},
		{name: "ES256 when only RS256 allowed", want: ErrAlgorithm,
			tok: func(t *testing.T) string { return testissuer.Sign(t, ek, base, nil) }},
		{name: "RS384 when only RS256 allowed", want: ErrAlgorithm, tok: func(t *testing.T) string {
			return testissuer.Sign(t, testissuer.Key{ID: "k1", Alg: jose.RS384, Priv: rk.Priv}, base, nil)
		}},
		{name: "RS384 allowed but JWK alg is RS256", want: ErrAlgorithm, cfg: allow("RS256", "RS384"),
			tok: func(t *testing.T) string {
				return testissuer.Sign(t, testissuer.Key{ID: "k1", Alg: jose.RS384, Priv: rk.Priv}, base, nil)
			}},
		{name: "PS256 allowed but JWK alg is RS256", want: ErrAlgorithm, cfg: allow("RS256", "PS256"),
			tok: func(t *testing.T) string {
				return testissuer.Sign(t, testissuer.Key{ID: "k1", Alg: jose.PS256, Priv: rk.Priv}, base, nil)
			}},
		{name: "ES256 token naming the RSA kid", want: ErrInvalid, cfg: allow("RS256", "ES256"),
			tok: func(t *testing.T) string {
				return testissuer.Sign(t, testissuer.Key{ID: "k1", Alg: jose.ES256, Priv: ek.Priv}, base, nil)
			}},

		// tokens naming their own key
		{name: "jwk header, signed with the real key", want: ErrHeader,
			tok: hdr(map[jose.HeaderKey]any{"jwk": rk.Public()})},
		{name: "jku header, signed with the real key", want: ErrHeader,
			tok: hdr(map[jose.HeaderKey]any{"jku": url + "/v1/keys"})},
		{name: "x5u header, signed with the real key", want: ErrHeader,
			tok: hdr(map[jose.HeaderKey]any{"x5u": url + "/cert.pem"})},
		{name: "x5c header, signed with the real key", want: ErrHeader,
			tok: hdr(map[jose.HeaderKey]any{"x5c": []string{certB64}})},
		{name: "crit b64 (understood by go-jose)", want: ErrHeader,
			tok: hdr(map[jose.HeaderKey]any{"crit": []string{"b64"}, "b64": true})},
		{name: "unknown crit", want: ErrHeader,
			tok: hdr(map[jose.HeaderKey]any{"crit": []string{"x-okta"}, "x-okta": 1})},
		{name: "crit empty", want: ErrHeader, tok: hdr(map[jose.HeaderKey]any{"crit": []string{}})},

		// JOSE headers a signed access or ID token never has
		{name: "b64 true without crit", want: ErrHeader, tok: hdr(map[jose.HeaderKey]any{"b64": true})},
		{name: "b64 false without crit (go-jose honours it)", want: ErrHeader, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"RS256","kid":"k1","b64":false}`), mustJSON(t, base))
		}},
		{name: "b64 spelled with escapes", want: ErrHeader, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"RS256","kid":"k1","\u0062\u0036\u0034":true}`), mustJSON(t, base))
		}},
		{name: "zip", want: ErrHeader, tok: hdr(map[jose.HeaderKey]any{"zip": "DEF"})},
		{name: "enc", want: ErrHeader, tok: hdr(map[jose.HeaderKey]any{"enc": "A256GCM"})},
		{name: "cty JWT (nested token)", want: ErrHeader, tok: hdr(map[jose.HeaderKey]any{"cty": "JWT"})},
		{name: "cty null", want: ErrHeader, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"RS256","kid":"k1","cty":null}`), mustJSON(t, base))
		}},

		// typ
		{name: "typ at+jwt", tok: hdr(map[jose.HeaderKey]any{"typ": "at+jwt"})},
		{name: "typ application/okta-internal-at+jwt", tok: hdr(map[jose.HeaderKey]any{"typ": "application/okta-internal-at+jwt"})},
		{name: "typ absent", tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"RS256","kid":"k1"}`), mustJSON(t, base))
		}},
		{name: "typ logout+jwt", want: ErrNotAccess, tok: hdr(map[jose.HeaderKey]any{"typ": "logout+jwt"})},
		{name: "typ dpop+jwt", want: ErrNotAccess, tok: hdr(map[jose.HeaderKey]any{"typ": "dpop+jwt"})},
		{name: "typ application/secevent+jwt", want: ErrNotAccess, tok: hdr(map[jose.HeaderKey]any{"typ": "application/secevent+jwt"})},
		{name: "typ not a string", want: ErrMalformed, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"RS256","kid":"k1","typ":["at+jwt"]}`), mustJSON(t, base))
		}},

		// kid
		{name: "unknown kid", want: ErrKey, tok: func(t *testing.T) string {
			return testissuer.Sign(t, testissuer.Key{ID: "nope", Alg: jose.RS256, Priv: rk.Priv}, base, nil)
		}},
		{name: "kid not a string", want: ErrMalformed, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"RS256","kid":["k1"]}`), mustJSON(t, base))
		}},
		{name: "kid a number", want: ErrMalformed, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"RS256","kid":1}`), mustJSON(t, base))
		}},
		{name: "duplicate kid in header", want: ErrMalformed, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"RS256","kid":"e1","kid":"k1"}`), mustJSON(t, base))
		}},
		{name: "duplicate alg in header", want: ErrMalformed, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"none","alg":"RS256","kid":"k1"}`), mustJSON(t, base))
		}},

		// signature
		{name: "flipped byte in signature", want: ErrSignature, tok: func(t *testing.T) string {
			return resegment(t, good(base)(t), 2, func(b []byte) []byte { b[10] ^= 1; return b })
		}},
		{name: "flipped byte in payload", want: ErrSignature, tok: func(t *testing.T) string {
			return resegment(t, good(base)(t), 1, func(b []byte) []byte {
				return []byte(strings.Replace(string(b), "alice", "alicf", 1))
			})
		}},
		{name: "signed by another RSA key with the same kid", want: ErrSignature, tok: func(t *testing.T) string {
			return testissuer.Sign(t, testissuer.NewRSAKey(t, "k1"), base, nil)
		}},
		{name: "signature stripped", want: ErrInvalid, tok: func(t *testing.T) string {
			s := good(base)(t)
			return s[:strings.LastIndexByte(s, '.')+1]
		}},

		// issuer
		{name: "wrong iss", want: ErrIssuer, tok: good(with(base, "iss", "https://evil.example/oauth2/default"))},
		{name: "iss differing in case", want: ErrIssuer, tok: good(with(base, "iss", strings.ToUpper(url[:4])+url[4:]))},
		{name: "iss with path in other case", want: ErrIssuer, tok: good(with(base, "iss", strings.Replace(url, "default", "Default", 1)))},
		{name: "iss with trailing slash", want: ErrIssuer, tok: good(with(base, "iss", url+"/"))},
		{name: "iss missing", want: ErrIssuer, tok: good(with(base, "iss", nil))},
		{name: "iss as array", want: ErrIssuer, tok: good(with(base, "iss", []string{url}))},

		// audience
		{name: "aud missing", want: ErrAudience, tok: good(with(base, "aud", nil))},
		{name: "aud other", want: ErrAudience, tok: good(with(base, "aud", "api://other"))},
		{name: "aud other case", want: ErrAudience, tok: good(with(base, "aud", "API://default"))},
		{name: "aud array with ours", tok: good(with(base, "aud", []string{"api://other", testAud}))},
		{name: "aud array without ours", want: ErrAudience, tok: good(with(base, "aud", []string{"api://other", "x"}))},
		{name: "aud empty array", want: ErrAudience, tok: good(with(base, "aud", []string{}))},
		{name: "aud array of arrays", want: ErrAudience, tok: good(with(base, "aud", [][]string{{testAud}}))},
		{name: "aud second configured audience", cfg: func(c *Config) { c.Audiences = []string{"x", "api://other"} },
			tok: good(with(base, "aud", "api://other"))},
		{name: "aud not checked when none configured", cfg: func(c *Config) { c.Audiences = nil },
			tok: good(with(base, "aud", nil))},

		// time
		{name: "exp missing", want: ErrClaims, tok: good(with(base, "exp", nil))},
		{name: "exp quoted", want: ErrClaims, tok: good(with(base, "exp", fmt.Sprint(num(time.Hour))))},
		{name: "exp bool", want: ErrClaims, tok: good(with(base, "exp", true))},
		{name: "exp negative", want: ErrClaims, tok: good(with(base, "exp", -1))},
		{name: "exp absurdly far", want: ErrClaims, tok: good(with(base, "exp", 1e300))},
		{name: "expired beyond leeway", want: ErrExpired, tok: good(with(base, "exp", num(-testLeeway-time.Second)))},
		{name: "expired exactly at leeway", want: ErrExpired, tok: good(with(base, "exp", num(-testLeeway)))},
		{name: "expired within leeway", tok: good(with(base, "exp", num(-testLeeway+time.Second)))},
		{name: "expired, no leeway", want: ErrExpired, cfg: func(c *Config) { c.Leeway = 0 },
			tok: good(with(base, "exp", num(-time.Second)))},
		{name: "fractional exp", tok: good(with(base, "exp", float64(num(time.Hour))+0.5))},
		{name: "nbf beyond leeway", want: ErrNotYet, tok: good(with(base, "nbf", num(testLeeway+time.Second)))},
		{name: "nbf within leeway", tok: good(with(base, "nbf", num(testLeeway-time.Second)))},
		{name: "nbf quoted", want: ErrClaims, tok: good(with(base, "nbf", fmt.Sprint(num(0))))},
		{name: "iat beyond leeway", want: ErrNotYet, tok: good(with(base, "iat", num(testLeeway+time.Second)))},
		{name: "iat within leeway", tok: good(with(base, "iat", num(testLeeway-time.Second)))},
		{name: "iat quoted", want: ErrClaims, tok: good(with(base, "iat", fmt.Sprint(num(0))))},

		// shape and size
		{name: "JSON serialization", want: ErrMalformed, tok: func(t *testing.T) string {
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rk.Priv},
				(&jose.SignerOptions{}).WithHeader("kid", "k1"))
			if err != nil {
				t.Fatal(err)
			}
			j, err := s.Sign(mustJSON(t, base))
			if err != nil {
				t.Fatal(err)
			}
			return j.FullSerialize()
		}},
		{name: "four segments", want: ErrMalformed, tok: func(t *testing.T) string { return good(base)(t) + ".AAAA" }},
		{name: "two segments", want: ErrMalformed, tok: func(t *testing.T) string {
			s := good(base)(t)
			return s[:strings.LastIndexByte(s, '.')]
		}},
		{name: "empty", want: ErrMalformed, tok: func(*testing.T) string { return "" }},
		{name: "at size limit", tok: func(t *testing.T) string { return sizedToken(t, rk, base, MaxTokenBytes-3, MaxTokenBytes) }},
		{name: "over size limit", want: ErrMalformed, tok: func(t *testing.T) string {
			return sizedToken(t, rk, base, MaxTokenBytes+1, MaxTokenBytes+4)
		}},
		{name: "padding appended to signature", want: ErrMalformed, tok: func(t *testing.T) string { return good(base)(t) + "=" }},
		{name: "newline inside signature", want: ErrMalformed, tok: func(t *testing.T) string {
			s := good(base)(t)
			return s[:len(s)-5] + "\n" + s[len(s)-5:]
		}},
		{name: "non-canonical last signature character", want: ErrMalformed, tok: func(t *testing.T) string {
			return nonCanonical(t, good(base)(t))
		}},
		{name: "payload not an object", want: ErrClaims, tok: raw(`["iss"]`)},
		{name: "payload with trailing data", want: ErrClaims, tok: raw(validJSON("") + `{}`)},

		// exact claim decoding
		{name: "duplicate iss, real one last", want: ErrClaims, tok: raw(validJSON(`"iss":"https://evil.example"`))},
		{name: "duplicate exp, valid one last", want: ErrClaims, tok: raw(validJSON(`"exp":1`))},
		{name: "duplicate aud via escape", want: ErrClaims, tok: raw(validJSON(`"\u0061ud":"api://other"`))},
		{name: "duplicate nested member", want: ErrClaims, tok: raw(validJSON(`"x":{"a":1,"a":2}`))},
		{name: "ISS instead of iss", want: ErrIssuer, tok: raw(validJSON(`"ISS":"`+url+`"`, "iss"))},
		{name: "ISS cannot override wrong iss", want: ErrIssuer,
			tok: good(with(base, "iss", "https://evil.example", "ISS", url))},
		{name: "Exp instead of exp", want: ErrClaims, tok: raw(validJSON(`"Exp":`+fmt.Sprint(num(time.Hour)), "exp"))},
		{name: "Aud instead of aud", want: ErrAudience, tok: raw(validJSON(`"Aud":"`+testAud+`"`, "aud"))},
		{name: "Exp cannot rescue an expired exp", want: ErrExpired,
			tok: good(with(base, "exp", num(-time.Hour), "Exp", num(time.Hour)))},

		// ID tokens are not API credentials
		{name: "ID token with nonce", want: ErrNotAccess, tok: good(with(base, "nonce", "n"))},
		{name: "ID token with at_hash", want: ErrNotAccess, tok: good(with(base, "at_hash", "h"))},
		{name: "ID token with empty nonce", want: ErrNotAccess, tok: good(with(base, "nonce", ""))},
		{name: "ID token with nonce, no audience configured", want: ErrNotAccess, cfg: noAud,
			tok: good(with(base, "nonce", "n"))},
		{name: "ID token with at_hash and typ at+jwt, no audience configured", want: ErrNotAccess, cfg: noAud,
			tok: func(t *testing.T) string {
				return testissuer.Sign(t, rk, with(base, "at_hash", "h"), map[jose.HeaderKey]any{"typ": "at+jwt"})
			}},

		// a security event token (e.g. an untyped back-channel logout
		// token: its typ is only a SHOULD) is not an API credential
		{name: "logout token without typ", want: ErrNotAccess,
			tok: good(with(base, "events", map[string]any{BackchannelLogoutEvent: map[string]any{}}, "jti", "j1"))},
		{name: "logout token with typ JWT, no audience configured", want: ErrNotAccess, cfg: noAud,
			tok: func(t *testing.T) string {
				return testissuer.Sign(t, rk, with(base, "events", map[string]any{BackchannelLogoutEvent: map[string]any{}}), map[jose.HeaderKey]any{"typ": "JWT"})
			}},

		// without audience_required only an access token passes
		{name: "no audience: access token with cid", cfg: noAud, tok: good(with(base, "aud", "api://other"))},
		{name: "no audience: another app's ID token (no cid, typ JWT)", want: ErrNotAccess, cfg: noAud,
			tok: good(with(base, "aud", "other-client", "cid", nil, "scp", nil))},
		{name: "no audience: no cid, no typ", want: ErrNotAccess, cfg: noAud, tok: func(t *testing.T) string {
			return signParts(t, rk, "RS256", []byte(`{"alg":"RS256","kid":"k1"}`), mustJSON(t, with(base, "cid", nil)))
		}},
		{name: "no audience: cid empty", want: ErrNotAccess, cfg: noAud, tok: good(with(base, "cid", ""))},
		{name: "no audience: cid not a string", want: ErrNotAccess, cfg: noAud, tok: good(with(base, "cid", []string{"x"}))},
		{name: "no audience: no cid, typ at+jwt", cfg: noAud, tok: func(t *testing.T) string {
			return testissuer.Sign(t, rk, with(base, "cid", nil), map[jose.HeaderKey]any{"typ": "at+jwt"})
		}},
		{name: "no audience: no cid, typ application/okta-internal-at+jwt", cfg: noAud, tok: func(t *testing.T) string {
			return testissuer.Sign(t, rk, with(base, "cid", nil), map[jose.HeaderKey]any{"typ": "application/okta-internal-at+jwt"})
		}},
		{name: "no audience: no cid, typ Application/AT+JWT", cfg: noAud, tok: func(t *testing.T) string {
			return testissuer.Sign(t, rk, with(base, "cid", nil), map[jose.HeaderKey]any{"typ": "Application/AT+JWT"})
		}},
		{name: "no audience: no cid, typ xat+jwt", want: ErrNotAccess, cfg: noAud, tok: func(t *testing.T) string {
			return testissuer.Sign(t, rk, with(base, "cid", nil), map[jose.HeaderKey]any{"typ": "xat+jwt"})
		}},
		{name: "audience configured: no cid, typ JWT", tok: good(with(base, "cid", nil))},

		// sender-constrained tokens are not bearer tokens (RFC 9449, 8705)
		{name: "cnf jkt (DPoP)", want: ErrBound, tok: good(with(base, "cnf", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}))},
		{name: "cnf x5t#S256 (mTLS)", want: ErrBound, tok: good(with(base, "cnf", map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}))},
		{name: "cnf empty object", want: ErrBound, tok: good(with(base, "cnf", map[string]any{}))},
		{name: "cnf null", want: ErrBound, tok: good(with(base, "cnf", json.RawMessage("null")))},
		{name: "cnf jkt, no audience configured", want: ErrBound, cfg: noAud,
			tok: good(with(base, "cnf", map[string]any{"jkt": "x"}))},
	}
	for alg, secret := range hmacSecrets {
		cases = append(cases,
			verifyCase{name: "HS256 keyed with RSA public " + alg, want: ErrAlgorithm, cfg: allow("RS256", "HS256"),
				tok: func(t *testing.T) string {
					return hmacToken(t, map[string]any{"alg": "HS256", "kid": "k1", "typ": "JWT"}, base, secret)
				}},
		)
	}
	cases = append(cases, verifyCase{name: "HS256 with any secret", want: ErrAlgorithm, cfg: allow("HS256"),
		tok: func(t *testing.T) string {
			return hmacToken(t, map[string]any{"alg": "HS256", "kid": "k1"}, base, []byte("secret"))
		}})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, e) })
	}
}

// TestEmptyKidSingleKey: a token without kid uses the issuer's only key.
func TestEmptyKidSingleKey(t *testing.T) {
	e := newEnv(t)
	e.ti.SetKeys(e.rsa)
	noKid := signParts(t, e.rsa, "RS256", []byte(`{"alg":"RS256"}`), mustJSON(t, e.claims()))
	verifyCase{name: "no kid", tok: func(*testing.T) string { return noKid }}.run(t, e)
	other := signParts(t, testissuer.NewRSAKey(t, ""), "RS256", []byte(`{"alg":"RS256"}`), mustJSON(t, e.claims()))
	verifyCase{name: "no kid, other key", want: ErrSignature, tok: func(*testing.T) string { return other }}.run(t, e)
}

// sizedToken returns a token signed by k whose length is within [lo, hi].
func sizedToken(t *testing.T, k testissuer.Key, base map[string]any, lo, hi int) string {
	t.Helper()
	pad := lo - 800
	for range 64 {
		tok := testissuer.Sign(t, k, with(base, "pad", strings.Repeat("x", max(pad, 0))), nil)
		switch n := len(tok); {
		case n < lo:
			pad += (lo - n + 1) * 3 / 4
		case n > hi:
			pad -= (n - hi + 1) * 3 / 4
			if n-hi <= 2 {
				pad--
			}
		default:
			return tok
		}
	}
	t.Fatalf("no token of size in [%d, %d]", lo, hi)
	return ""
}

// nonCanonical changes unused low bits of the signature's last character:
// the same signature bytes spelled differently.
func nonCanonical(t testing.TB, tok string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if len(sig)%4 == 0 {
		t.Fatalf("signature length %d has no unused bits", len(sig))
	}
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	out := tok[:len(tok)-1] + string(alphabet[last|1])
	if dec, err := b64.DecodeString(out[strings.LastIndexByte(out, '.')+1:]); err != nil {
		t.Fatalf("not decodable: %v", err)
	} else if orig, _ := b64.DecodeString(sig); string(dec) != string(orig) {
		t.Fatal("changed the signature bytes")
	}
	return out
}

func idEnv(t *testing.T) (*env, *Verifier, map[string]any) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Kind = ID
	cfg.Audiences = []string{"client-1"}
	c := with(e.claims(), "aud", "client-1", "nonce", "n-123", "azp", "client-1", "cid", nil, "scp", nil)
	return e, NewVerifier(e.iss, cfg), c
}

func TestVerifyID(t *testing.T) {
	e, v, base := idEnv(t)
	cases := []struct {
		name   string
		claims map[string]any
		nonce  string
		client string
		want   error
	}{
		{"valid", base, "n-123", "client-1", nil},
		{"valid without azp", with(base, "azp", nil), "n-123", "client-1", nil},
		{"valid with at_hash", with(base, "at_hash", "h"), "n-123", "client-1", nil},
		{"nonce mismatch", base, "n-124", "client-1", ErrNonce},
		{"nonce prefix", with(base, "nonce", "n-12"), "n-123", "client-1", ErrNonce},
		{"nonce missing from token", with(base, "nonce", nil), "n-123", "client-1", ErrNonce},
		{"nonce not a string", with(base, "nonce", 123), "123", "client-1", ErrNonce},
		{"nonce empty on both sides", with(base, "nonce", ""), "", "client-1", ErrNonce},
		{"expected nonce empty", base, "", "client-1", ErrNonce},
		{"azp mismatch", with(base, "azp", "client-2"), "n-123", "client-1", ErrAuthorized},
		{"several audiences, azp is the client", with(base, "aud", []string{"client-1", "other"}), "n-123", "client-1", nil},
		{"several audiences, no azp", with(base, "aud", []string{"client-1", "other"}, "azp", nil), "n-123", "client-1", ErrAuthorized},
		{"several audiences, other azp", with(base, "aud", []string{"client-1", "other"}, "azp", "other"), "n-123", "client-1", ErrAuthorized},
		{"same audience twice, no azp", with(base, "aud", []string{"client-1", "client-1"}, "azp", nil), "n-123", "client-1", ErrAuthorized},
		{"one audience in an array, no azp", with(base, "aud", []string{"client-1"}, "azp", nil), "n-123", "client-1", nil},
		{"azp not a string", with(base, "azp", []string{"client-1"}), "n-123", "client-1", ErrAuthorized},
		{"azp null", with(base, "azp", json.RawMessage("null")), "n-123", "client-1", ErrAuthorized},
		{"wrong audience", with(base, "aud", testAud), "n-123", "client-1", ErrAudience},
		{"expired", with(base, "exp", t0.Add(-time.Hour).Unix()), "n-123", "client-1", ErrExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := testissuer.Sign(t, e.rsa, c.claims, nil)
			got, err := v.VerifyID(context.Background(), tok, c.nonce, c.client)
			if c.want == nil {
				if err != nil {
					t.Fatalf("VerifyID: %v", err)
				}
				if want := payloadOf(t, tok); !reflect.DeepEqual(map[string]any(got), want) {
					t.Fatalf("claims %v, want %v", got, want)
				}
				return
			}
			if err == nil || !errors.Is(err, c.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("VerifyID err = %v, want %v (and ErrInvalid)", err, c.want)
			}
			if got != nil {
				t.Errorf("claims returned with error")
			}
		})
	}
}

// TestIdPOutageIsNotInvalid: with no keys ever loaded and the IdP down the
// error must say "unavailable", not "bad token".
func TestIdPOutageIsNotInvalid(t *testing.T) {
	e := newEnv(t)
	e.ti.SetDown(true)
	v := NewVerifier(e.iss, e.config())
	tok := testissuer.Sign(t, e.rsa, e.claims(), nil)
	_, err := v.Verify(context.Background(), tok)
	if err == nil || errors.Is(err, ErrInvalid) || !errors.Is(err, issuer.ErrUnavailable) {
		t.Fatalf("err = %v, want issuer.ErrUnavailable and not ErrInvalid", err)
	}
	// Once the IdP is back (after the refetch interval) the same token passes.
	e.ti.SetDown(false)
	e.clk.Advance(2 * time.Minute)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// TestKeyRotation: a token signed with a new kid is accepted after one
// JWKS refetch.
func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	v := NewVerifier(e.iss, e.config())
	ctx := context.Background()
	if _, err := v.Verify(ctx, testissuer.Sign(t, e.rsa, e.claims(), nil)); err != nil {
		t.Fatal(err)
	}
	k2 := testissuer.NewRSAKey(t, "k2")
	e.ti.SetKeys(k2, e.rsa)
	e.clk.Advance(2 * time.Minute)
	before := e.iss.JWKSFetches()
	if _, err := v.Verify(ctx, testissuer.Sign(t, k2, e.claims(), nil)); err != nil {
		t.Fatalf("new kid: %v", err)
	}
	if n := e.iss.JWKSFetches() - before; n != 1 {
		t.Fatalf("%d JWKS fetches for the new kid, want 1", n)
	}
}

func newCounted(e *env, cache *Cache, mod func(*Config)) (*Verifier, *countingKS) {
	ks := &countingKS{next: e.iss}
	cfg := e.config()
	cfg.Cache = cache
	if mod != nil {
		mod(&cfg)
	}
	return NewVerifier(ks, cfg), ks
}

// TestCacheSkipsVerification: a cached token is answered without key
// look-up or signature verification, until exp + leeway.
func TestCacheSkipsVerification(t *testing.T) {
	e := newEnv(t)
	v, ks := newCounted(e, NewCache(100, 1<<20), nil)
	ctx := context.Background()
	claims := with(e.claims(), "exp", t0.Add(10*time.Minute).Unix())
	tok := testissuer.Sign(t, e.rsa, claims, nil)
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	// Keys gone and IdP down: only the cache can answer now.
	ks.fail.Store(true)
	e.ti.SetKeys(testissuer.NewRSAKey(t, "k9"))
	e.ti.SetDown(true)
	e.clk.Set(t0.Add(10*time.Minute + testLeeway - time.Nanosecond))
	again, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("cached token refused: %v", err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("cached claims differ")
	}
	if n := ks.calls.Load(); n != 1 {
		t.Fatalf("%d key look-ups, want 1 (the cache must skip verification)", n)
	}
	// A different spelling of a different token is not a cache hit.
	if _, err := v.Verify(ctx, testissuer.Sign(t, e.rsa, with(claims, "jti", "other"), nil)); err == nil {
		t.Fatal("uncached token verified while keys are unavailable")
	}
	// At exp + leeway the entry is gone and the token is verified afresh.
	ks.fail.Store(false)
	e.clk.Set(t0.Add(10*time.Minute + testLeeway))
	calls := ks.calls.Load()
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after exp+leeway: err = %v, want ErrExpired", err)
	}
	if ks.calls.Load() != calls+1 {
		t.Fatal("expired cache entry was used")
	}
}

// TestCacheKeyedByVerifier: a shared cache never lets a token verified under
// one configuration pass under another.
func TestCacheKeyedByVerifier(t *testing.T) {
	e := newEnv(t)
	attacker := testissuer.NewRSAKey(t, "k1")
	cases := []struct {
		name  string
		a, b  func(*Config)
		ksA   KeySource
		claim map[string]any
		key   testissuer.Key
		want  error
	}{
		{name: "audience", b: func(c *Config) { c.Audiences = []string{"api://other"} }, want: ErrAudience},
		{name: "issuer", b: func(c *Config) { c.Issuer = "https://other.example" }, want: ErrIssuer},
		{name: "algs", a: func(c *Config) { c.Algs = []string{"RS256", "ES256"} }, key: e.ec, want: ErrAlgorithm},
		{name: "leeway", a: func(c *Config) { c.Leeway = time.Hour },
			claim: with(e.claims(), "exp", t0.Add(-time.Minute).Unix()), b: func(c *Config) { c.Leeway = time.Second }, want: ErrExpired},
		{name: "key source", ksA: staticKS{"k1": attacker.Public()}, key: attacker, want: ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cache := NewCache(100, 1<<20)
			// Both verifiers share one key source, so that only the
			// configuration tells them apart (except in "key source").
			ks := &countingKS{next: e.iss}
			mk := func(src KeySource, mod func(*Config)) *Verifier {
				cfg := e.config()
				cfg.Cache = cache
				if mod != nil {
					mod(&cfg)
				}
				return NewVerifier(src, cfg)
			}
			srcA := KeySource(ks)
			if c.ksA != nil {
				srcA = c.ksA
			}
			va, vb := mk(srcA, c.a), mk(ks, c.b)
			claims, key := c.claim, c.key
			if claims == nil {
				claims = e.claims()
			}
			if key.Priv == nil {
				key = e.rsa
			}
			tok := testissuer.Sign(t, key, claims, nil)
			if _, err := va.Verify(context.Background(), tok); err != nil {
				t.Fatalf("verifier A: %v", err)
			}
			if cache.Len() != 1 {
				t.Fatalf("cache holds %d tokens after A, want 1", cache.Len())
			}
			callsA := ks.calls.Load()
			_, err := vb.Verify(context.Background(), tok)
			if !errors.Is(err, c.want) {
				t.Fatalf("verifier B: err = %v, want %v", err, c.want)
			}
			if c.name != "algs" && ks.calls.Load() != callsA+1 {
				t.Fatalf("verifier B did not verify the token itself")
			}
		})
	}
}

// TestCacheBounded: the number of entries and their bytes never exceed the
// bounds, however many tokens are verified.
func TestCacheBounded(t *testing.T) {
	e := newEnv(t)
	tok0 := testissuer.Sign(t, e.rsa, e.claims(), nil)
	entry := 3*len(tok0) + 128 + 40 // a little more than one token's entry
	cases := []struct {
		name          string
		entries, size int
	}{
		{"by entries", 5, 1 << 20},
		{"by bytes", 1000, 16 * entry},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cache := NewCache(c.entries, c.size)
			v, ks := newCounted(e, cache, nil)
			var toks []string
			for i := range 40 {
				tok := testissuer.Sign(t, e.rsa, with(e.claims(), "jti", fmt.Sprintf("AT.%03d", i)), nil)
				toks = append(toks, tok)
				if _, err := v.Verify(context.Background(), tok); err != nil {
					t.Fatal(err)
				}
				if cache.Len() > c.entries {
					t.Fatalf("Len %d > max %d", cache.Len(), c.entries)
				}
				if cache.bytes > c.size {
					t.Fatalf("bytes %d > max %d", cache.bytes, c.size)
				}
			}
			if cache.Len() == 0 {
				t.Fatal("nothing cached")
			}
			// The most recent token is still cached: no key look-up.
			calls := ks.calls.Load()
			if _, err := v.Verify(context.Background(), toks[len(toks)-1]); err != nil {
				t.Fatal(err)
			}
			if ks.calls.Load() != calls {
				t.Fatal("most recent token was evicted")
			}
			// The oldest was evicted: verified again.
			if _, err := v.Verify(context.Background(), toks[0]); err != nil {
				t.Fatal(err)
			}
			if ks.calls.Load() != calls+1 {
				t.Fatal("oldest token still cached beyond the bound")
			}
		})
	}
}

// TestCacheLRU: reading an entry protects it from eviction.
func TestCacheLRU(t *testing.T) {
	c := NewCache(3, 1<<20)
	k := func(i byte) [32]byte { return [32]byte{i} }
	exp := t0.Add(time.Hour)
	for i := range byte(3) {
		c.Put(k(i), Claims{"i": i}, exp, 10)
	}
	if _, ok := c.Get(k(0), t0); !ok {
		t.Fatal("entry 0 missing")
	}
	c.Put(k(3), Claims{}, exp, 10)
	if _, ok := c.Get(k(0), t0); !ok {
		t.Fatal("recently used entry evicted")
	}
	if _, ok := c.Get(k(1), t0); ok {
		t.Fatal("least recently used entry kept")
	}
	if _, ok := c.Get(k(3), exp); ok {
		t.Fatal("entry served at its expiry")
	}
	if c.Len() != 2 {
		t.Fatalf("Len %d, want 2 (expired entry dropped on read)", c.Len())
	}
}

// TestHugeTokenNotCached: a token whose entry exceeds 1/16 of the cache's
// bytes is verified but not cached; one just within the limit is cached.
func TestHugeTokenNotCached(t *testing.T) {
	e := newEnv(t)
	tok := testissuer.Sign(t, e.rsa, with(e.claims(), "pad", strings.Repeat("x", 4000)), nil)
	need := 16 * (3*len(tok) + 128)
	for _, c := range []struct {
		size   int
		cached bool
	}{{need, true}, {need - 16, false}} {
		cache := NewCache(100, c.size)
		v, ks := newCounted(e, cache, nil)
		for range 2 {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		}
		wantCalls := int64(2)
		if c.cached {
			wantCalls = 1
		}
		if got := ks.calls.Load(); got != wantCalls || (cache.Len() == 1) != c.cached {
			t.Fatalf("cache of %d bytes: %d verifications, Len %d; want cached=%v", c.size, got, cache.Len(), c.cached)
		}
	}
}

// TestCachedMuchCheaperThanCold counts signature verifications (key
// look-ups) instead of timing: N cached verifications cost one.
func TestCachedMuchCheaperThanCold(t *testing.T) {
	e := newEnv(t)
	const n = 200
	tok := testissuer.Sign(t, e.rsa, e.claims(), nil)
	cold, ksCold := newCounted(e, nil, nil)
	cached, ksCached := newCounted(e, NewCache(10, 1<<20), nil)
	for range n {
		if _, err := cold.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if _, err := cached.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if ksCold.calls.Load() != n || ksCached.calls.Load() != 1 {
		t.Fatalf("verifications: cold %d (want %d), cached %d (want 1)", ksCold.calls.Load(), n, ksCached.calls.Load())
	}
}

// TestIDTokensNotCached: ID tokens are checked every time (their nonce
// matters), so they never enter the cache.
func TestIDTokensNotCached(t *testing.T) {
	e, _, claims := idEnv(t)
	cache := NewCache(10, 1<<20)
	v, ks := newCounted(e, cache, func(c *Config) { c.Kind = ID; c.Audiences = []string{"client-1"} })
	tok := testissuer.Sign(t, e.rsa, claims, nil)
	for range 2 {
		if _, err := v.VerifyID(context.Background(), tok, "n-123", "client-1"); err != nil {
			t.Fatal(err)
		}
	}
	if ks.calls.Load() != 2 || cache.Len() != 0 {
		t.Fatalf("ID token cached: %d verifications, Len %d", ks.calls.Load(), cache.Len())
	}
}

func benchVerifier(b *testing.B, cache *Cache) (*Verifier, string) {
	e := newEnv(b)
	cfg := e.config()
	cfg.Cache = cache
	v := NewVerifier(e.iss, cfg)
	tok := testissuer.Sign(b, e.rsa, e.claims(), nil)
	if _, err := v.Verify(context.Background(), tok); err != nil { // loads the keys
		b.Fatal(err)
	}
	return v, tok
}

func BenchmarkVerifyCold(b *testing.B) {
	v, tok := benchVerifier(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	v, tok := benchVerifier(b, NewCache(100, 1<<20))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWeakKeys: a key source handing out a weak or symmetric key (the
// issuer package never does) still gets no token verified: the signature
// would prove nothing.
func TestWeakKeys(t *testing.T) {
	e := newEnv(t)
	rsaKey := func(bits int) testissuer.Key {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return testissuer.Key{ID: "w", Alg: jose.RS256, Priv: k}
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		key  testissuer.Key
		pub  any // the key source's key; nil: key's public half
		alg  string
		want error
	}{
		{name: "RSA 2048", key: rsaKey(2048), alg: "RS256"},
		{name: "RSA 1024", key: rsaKey(1024), alg: "RS256", want: ErrWeakKey},
		{name: "RSA 2040", key: rsaKey(2040), alg: "RS256", want: ErrWeakKey},
		{name: "ECDSA P-224 as ES256", key: testissuer.Key{ID: "w", Alg: jose.ES256, Priv: p224}, alg: "ES256", want: ErrWeakKey},
		{name: "symmetric key", key: e.rsa, pub: []byte("0123456789abcdef0123456789abcdef"), alg: "RS256", want: ErrWeakKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pub := c.pub
			if pub == nil {
				pub = c.key.Priv.Public()
			}
			ks := staticKS{"w": {Key: pub, KeyID: "w", Use: "sig"}}
			cfg := e.config()
			cfg.Algs = []string{"RS256", "ES256"}
			v := NewVerifier(ks, cfg)
			tok := signParts(t, c.key, c.alg, []byte(`{"alg":"`+c.alg+`","kid":"w"}`), mustJSON(t, e.claims()))
			_, err := v.Verify(context.Background(), tok)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// TestWeakKeyInJWKS: a token signed with a 1024-bit key whose kid the JWKS
// publishes is invalid (401, not 503), the good key keeps working, and
// however often the token comes the JWKS is fetched once per interval.
func TestWeakKeyInJWKS(t *testing.T) {
	e := newEnv(t)
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak := testissuer.Key{ID: "weak", Alg: jose.RS256, Priv: k}
	e.ti.SetKeys(e.rsa, weak)
	v := NewVerifier(e.iss, e.config())
	ctx := context.Background()
	tok := testissuer.Sign(t, weak, e.claims(), nil)
	for i := range 50 {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrInvalid) {
			t.Fatalf("try %d: err = %v, want ErrInvalid", i, err)
		}
		e.clk.Advance(time.Second) // 50 s < the one-minute refetch interval
	}
	if n := e.iss.JWKSFetches(); n != 1 {
		t.Fatalf("%d JWKS fetches within one interval, want 1", n)
	}
	if _, err := v.Verify(ctx, testissuer.Sign(t, e.rsa, e.claims(), nil)); err != nil {
		t.Fatalf("good key: %v", err)
	}
}
