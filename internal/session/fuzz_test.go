package session

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"
)

// fuzzCodec uses crypto/rand: a seeded source would repeat nonces across
// fuzz iterations.
func fuzzCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec([]string{secretA, secretB})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzOpen: no input opens (a forgery would need the key), nothing panics,
// a genuinely sealed value always opens, and any one-byte change to it does not.
func FuzzOpen(f *testing.F) {
	c := fuzzCodec(f)
	// The genuine seed must be the same in every fuzzing worker process.
	genuine := seal(f, newCodec(f, []string{secretA}), name, []byte("seed"))
	f.Add("", []byte(""), 0)
	f.Add("AQ", []byte("x"), 1)
	f.Add(genuine, []byte(`{"v":1,"s":"u"}`), 5)
	f.Add(genuine[:len(genuine)-1], []byte{0}, 40)
	f.Add(genuine+"\n", bytes.Repeat([]byte{0xff}, 300), 1000)
	f.Add(strings.Repeat("A", 5000), []byte("x"), -3)
	f.Fuzz(func(t *testing.T, value string, plaintext []byte, pos int) {
		if value != genuine {
			if got, err := c.Open(name, value); !errors.Is(err, ErrInvalid) || got != nil {
				t.Fatalf("Open(%q) = %q, %v; want ErrInvalid", value, got, err)
			}
			if _, err := c.OpenCookies(name, map[string]string{name: value}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("OpenCookies(%q) = %v; want ErrInvalid", value, err)
			}
		}
		v, err := c.Seal(name, plaintext)
		if errors.Is(err, ErrTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		got, err := c.Open(name, v)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("Open(Seal(%q)) = %q, %v", plaintext, got, err)
		}
		i := ((pos % len(v)) + len(v)) % len(v)
		repl := byte('A')
		if v[i] == 'A' {
			repl = 'B'
		}
		m := v[:i] + string(repl) + v[i+1:]
		if _, err := c.Open(name, m); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Open(value with byte %d changed) = %v; want ErrInvalid", i, err)
		}
	})
}

// FuzzOpenCookies: arbitrary Cookie headers never open and never panic;
// ClearCookies only lists cookies present in the jar.
func FuzzOpenCookies(f *testing.F) {
	c := fuzzCodec(f)
	cs, err := c.SealCookies(name, payload(6000))
	if err != nil {
		f.Fatal(err)
	}
	var parts []string
	for _, ck := range cs {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	f.Add(strings.Join(parts[1:], "; ") + "; " + parts[0] + "x")
	f.Add("okta_session=; okta_session_1=AAAA; okta_session_2=")
	f.Add("okta_session_1=" + strings.Repeat("A", 20000) + "; okta_session_2=B")
	f.Add(`okta_session="AQ"; okta_session_3=x`)
	f.Fuzz(func(t *testing.T, header string) {
		jar := ParseCookieHeader([]string{header})
		if got, err := c.OpenCookies(name, jar); err == nil {
			t.Fatalf("OpenCookies(%q) opened %q", header, got)
		}
		for _, n := range ClearCookies(name, jar) {
			if _, ok := jar[n]; !ok {
				t.Fatalf("ClearCookies lists %q, absent from the jar", n)
			}
		}
	})
}

// FuzzParseCookieHeader: never panics; keeps only valid names and values;
// writing the jar back and parsing it again gives the same jar.
func FuzzParseCookieHeader(f *testing.F) {
	for _, s := range []string{"", "a=1; b=2", `a="x"; a=y`, "=;=;;", "a=\xff", "a b=c", "a=\"", "\"\"=\"\"", "a=1\r\nSet-Cookie: x"} {
		f.Add(s, "b=3")
	}
	f.Fuzz(func(t *testing.T, h1, h2 string) {
		jar := ParseCookieHeader([]string{h1, h2})
		var parts []string
		for k, v := range jar {
			if !isToken(k) || !isCookieValue(v) {
				t.Fatalf("kept %q=%q", k, v)
			}
			parts = append(parts, k+"="+v)
		}
		if again := ParseCookieHeader([]string{strings.Join(parts, "; ")}); !maps.Equal(again, jar) {
			t.Fatalf("reparse = %q; want %q", again, jar)
		}
	})
}
