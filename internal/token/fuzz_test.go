package token

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

// FuzzVerify: no input panics, every refusal is ErrInvalid (the IdP is up),
// and nothing verifies but the genuine token itself (not even another
// spelling of it), whether an audience is configured or not. The JWKS also
// publishes a 1024-bit key, which must never verify anything.
func FuzzVerify(f *testing.F) {
	e := newEnv(f)
	wk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	weak := testissuer.Key{ID: "weak", Alg: jose.RS256, Priv: wk}
	e.ti.SetKeys(e.rsa, weak)
	cfg := e.config()
	cfg.Algs = []string{"RS256", "ES256"}
	v := NewVerifier(e.iss, cfg)
	cfg.Audiences = nil
	noAud := NewVerifier(e.iss, cfg)
	genuine := testissuer.Sign(f, e.rsa, e.claims(), nil)
	for _, v := range []*Verifier{v, noAud} {
		if _, err := v.Verify(context.Background(), genuine); err != nil {
			f.Fatalf("genuine token: %v", err)
		}
	}
	parts := strings.Split(genuine, ".")
	f.Add(genuine)
	f.Add(genuine + "=")
	f.Add(nonCanonical(f, genuine))                                   // same bytes, other spelling
	f.Add(genuine[:len(genuine)-4] + "\n" + genuine[len(genuine)-4:]) // decoders skip LF
	f.Add(genuine[:len(genuine)-4] + "\r" + genuine[len(genuine)-4:])
	f.Add(genuine + ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add(testissuer.Unsigned(map[string]any{"alg": "none", "kid": "k1"}, e.claims(), nil))
	f.Add(hmacToken(f, map[string]any{"alg": "HS256", "kid": "k1"}, e.claims(), []byte("k")))
	f.Add(testissuer.Sign(f, e.rsa, with(e.claims(), "exp", t0.Unix()-3600), nil))
	f.Add(`{"payload":"e30","protected":"eyJhbGciOiJSUzI1NiJ9","signature":""}`)
	f.Add(testissuer.Sign(f, weak, e.claims(), nil))
	f.Add(testissuer.Sign(f, e.rsa, with(e.claims(), "cnf", map[string]any{"jkt": "x"}), nil))
	f.Add(testissuer.Sign(f, e.rsa, with(e.claims(), "cid", nil, "nonce", "n"), nil))
	f.Add(testissuer.Sign(f, e.rsa, with(e.claims(), "cid", nil, "aud", "other-client"), nil)) // another app's ID token
	for _, h := range []map[jose.HeaderKey]any{{"b64": true}, {"zip": "DEF"}, {"cty": "JWT"}, {"enc": "A128GCM"}, {"typ": "logout+jwt"}} {
		f.Add(testissuer.Sign(f, e.rsa, e.claims(), h))
	}
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range []*Verifier{v, noAud} {
			c, err := v.Verify(context.Background(), s)
			if err == nil {
				if s != genuine {
					t.Fatalf("verified a token that is not the genuine one: %q -> %v", s, c)
				}
				continue
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v is not ErrInvalid", err)
			}
		}
	})
}

// FuzzDecodeClaims: no panic; anything accepted is valid JSON without
// duplicate names at any depth, as judged by an independent parser
// (jsontext, which rejects duplicates itself); and valid objects without
// duplicates and within the depth limit are accepted.
func FuzzDecodeClaims(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"iss":"a","aud":["x","y"],"exp":1.5e9}`,
		`{"iss":"a","iss":"b"}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":1}]}`,
		`{"\u0069ss":1,"iss":2}`, `{"ISS":1,"iss":2}`, `{"a":1,}`, `{"a":1}{}`, `{"a":1} `,
		`[]`, `"x"`, `{"a":"\ud800"}`, "{\"a\xff\":1,\"a\xfe\":2}", `{"a":1 "b":2}`,
		strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33),
		strings.Repeat(`{"a":`, 34) + "1" + strings.Repeat("}", 34),
		`{"a":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + "}",
		`{"a":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + "}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeClaims(data)
		dup, depth, valid := inspect(data)
		if err == nil {
			if c == nil {
				t.Fatal("accepted with nil claims")
			}
			if !json.Valid(data) {
				t.Fatalf("accepted invalid JSON %q", data)
			}
			if dup {
				t.Fatalf("accepted duplicate member names: %q", data)
			}
			return
		}
		if errors.Is(err, errDuplicate) && valid && !dup {
			t.Fatalf("duplicate reported where there is none: %q: %v", data, err)
		}
		if valid && !dup && depth <= maxDepth+1 && bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
			t.Fatalf("refused a valid object without duplicates (depth %d): %q: %v", depth, data, err)
		}
	})
}

// inspect parses data with jsontext (strict UTF-8, duplicates refused):
// dup reports a duplicate member name, depth the deepest nesting (the
// top-level value is depth 1), valid a single well-formed value without
// duplicates.
func inspect(data []byte) (dup bool, depth int, valid bool) {
	d := jsontext.NewDecoder(bytes.NewReader(data))
	values := 0
	for {
		_, err := d.ReadToken()
		if err == io.EOF {
			return false, depth, values == 1
		}
		if err != nil {
			return errors.Is(err, jsontext.ErrDuplicateName), depth, false
		}
		depth = max(depth, d.StackDepth())
		if d.StackDepth() == 0 {
			values++ // a top-level value ended
		}
	}
}
