package issuer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

// usable is the fuzz targets' own judgement of a key the plugin may verify
// with, written apart from StrongKey so that a mistake there shows.
func usable(t *testing.T, kid string, k jose.JSONWebKey) {
	t.Helper()
	if k.KeyID != kid {
		t.Fatalf("key indexed as %q has kid %q", kid, k.KeyID)
	}
	if !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
		t.Fatalf("key %q: public %v, use %q", kid, k.IsPublic(), k.Use)
	}
	switch p := k.Key.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < 2048 || p.E < 3 || p.E%2 == 0 {
			t.Fatalf("key %q: RSA of %d bits, e=%d", kid, p.N.BitLen(), p.E)
		}
	case *ecdsa.PublicKey:
		switch p.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
		default:
			t.Fatalf("key %q: curve %s", kid, p.Curve.Params().Name)
		}
		if !p.Curve.IsOnCurve(p.X, p.Y) {
			t.Fatalf("key %q: point not on its curve", kid)
		}
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			t.Fatalf("key %q: Ed25519 of %d bytes", kid, len(p))
		}
	default:
		t.Fatalf("key %q: type %T is never usable", kid, k.Key)
	}
}

func jwksSeed(t testing.TB, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseKeys: no JWKS document panics the parser, and every key it
// keeps is a public signature key of a strong type and size (never
// symmetric, RSA under 2048 bits or an unusual curve), indexed by its kid.
func FuzzParseKeys(f *testing.F) {
	r := testissuer.NewRSAKey(f, "r")
	weak := rsaKey(f, "weak", 1024)
	ec := testissuer.NewECKey(f, "e")
	_, edPriv, _ := ed25519.GenerateKey(nil)
	ed := testissuer.Key{ID: "ed", Alg: jose.EdDSA, Priv: edPriv}
	priv := jose.JSONWebKey{Key: r.Priv, KeyID: "p", Algorithm: "RS256", Use: "sig"}
	f.Add(jwksSeed(f, r.Public(), ec.Public(), ed.Public()))
	f.Add(jwksSeed(f, weak.Public(), r.Public()))
	f.Add(jwksSeed(f, weak.Public()))
	f.Add(jwksSeed(f, priv))
	f.Add(jwksSeed(f, r.Public(), r.Public(), ec.Public()))
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"s","use":"sig","alg":"HS256","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-224","kid":"c","x":"AAAA","y":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"x","n":"AQAB","e":"AQ"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`{"Keys":[],"keys":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := ParseKeys(body)
		if err != nil {
			if keys != nil {
				t.Fatal("keys returned with an error")
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("success with no key")
		}
		for kid, k := range keys {
			usable(t, kid, k)
		}
	})
}

// fakeIdP answers the discovery path with discovery and every other URL
// with jwks, without a network.
type fakeIdP struct{ discovery, jwks []byte }

func (f fakeIdP) RoundTrip(r *http.Request) (*http.Response, error) {
	body := f.jwks
	if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
		body = f.discovery
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(body)),
		Request:    r,
	}, nil
}

// FuzzDiscovery: no discovery document panics the issuer; one that is
// accepted names exactly this issuer and a jwks_uri; and whatever it says,
// of the JWKS served only the strong key ever becomes usable, never the
// 1024-bit one beside it.
func FuzzDiscovery(f *testing.F) {
	const url = "https://idp.example/oauth2/default"
	strong := testissuer.NewRSAKey(f, "k1")
	weak := rsaKey(f, "weak", 1024)
	jwks := jwksSeed(f, strong.Public(), weak.Public())
	doc := func(m map[string]any) []byte { b, _ := json.Marshal(m); return b }
	good := map[string]any{
		"issuer": url, "jwks_uri": url + "/v1/keys",
		"authorization_endpoint": url + "/v1/authorize", "token_endpoint": url + "/v1/token",
	}
	f.Add(doc(good))
	f.Add(doc(map[string]any{"issuer": url + "/", "jwks_uri": url + "/v1/keys"}))
	f.Add(doc(map[string]any{"issuer": url}))
	f.Add(doc(map[string]any{"issuer": url, "jwks_uri": 1}))
	f.Add(doc(map[string]any{"issuer": url, "jwks_uri": "https://evil.example/keys"}))
	f.Add(doc(map[string]any{"issuer": url, "jwks_uri": "file:///etc/passwd"}))
	f.Add([]byte(`{"issuer":"` + url + `","issuer":"https://evil.example","jwks_uri":"x"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		client := &http.Client{
			Timeout:       time.Second,
			Transport:     capTransport{fakeIdP{discovery: body, jwks: jwks}},
			CheckRedirect: sameHostRedirect,
		}
		i := New(url, Options{Client: client, MinRefresh: time.Minute, Now: func() time.Time { return t0 }})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := i.Metadata(ctx)
		if err == nil {
			if m == nil || m.Issuer != url || m.JWKSURI == "" {
				t.Fatalf("accepted discovery %+v", m)
			}
		} else if m != nil {
			t.Fatalf("metadata returned with error %v", err)
		}
		if k, err := i.Key(ctx, "weak"); err == nil {
			t.Fatalf("weak key usable: %T", k.Key)
		}
		k, err := i.Key(ctx, "k1")
		if err != nil {
			return
		}
		if m == nil {
			t.Fatal("key served without discovery")
		}
		usable(t, "k1", k)
	})
}
