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
	other, err := NewCodec([]string{secretA, secretB}, WithBinding("https://issuer.example", "other-client"))
	if err != nil {
		f.Fatal(err)
	}
	// The genuine seed must be the same in every fuzzing worker process.
	genuine := seal(f, newCodec(f, []string{secretA}), name, []byte("seed"))
	f.Add("", []byte(""), 0)
	f.Add("AQ", []byte("x"), 1)
	f.Add(genuine, []byte(`{"v":1,"s":"u"}`), 5)
	f.Add(genuine, Marshal(typicalSession()), 7)
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
		// Sealed for one client, it never opens for another.
		if _, err := other.Open(name, v); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a value sealed without a binding opened under one: %v", err)
		}
		// A session payload that opens decodes, or is refused, and never
		// panics; one that decodes re-encodes to the same session.
		if s, err := Unmarshal(got); err == nil {
			sameSession(t, s)
		}
	})
}

// sameSession fails unless s survives Marshal and Unmarshal unchanged.
func sameSession(t *testing.T, s Session) {
	t.Helper()
	again, err := Unmarshal(Marshal(s))
	if err != nil || again.Subject != s.Subject || again.AccessToken != s.AccessToken || again.RefreshToken != s.RefreshToken ||
		again.IDToken != s.IDToken || !again.AccessExpiry.Equal(s.AccessExpiry) || !again.Created.Equal(s.Created) || !again.LastSeen.Equal(s.LastSeen) {
		t.Fatalf("re-encoding changed the session: %+v -> %+v (%v)", s, again, err)
	}
}

// FuzzUnmarshal: arbitrary payloads (as if a sealed cookie opened) never
// panic, are refused with ErrInvalid, or decode to a session that
// re-encodes to the same session.
func FuzzUnmarshal(f *testing.F) {
	f.Add(Marshal(typicalSession()))
	f.Add(Marshal(Session{}))
	f.Add(Marshal(Session{AccessToken: "opaque", IDToken: "a.b.c"}))
	f.Add([]byte{sessionVersion})
	f.Add([]byte(`{"v":1,"s":"u"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Unmarshal error %v does not wrap ErrInvalid", err)
			}
			return
		}
		sameSession(t, s)
	})
}

// FuzzSetCookieRoundTrip: what SetCookie writes for a valid name and value,
// sent back by a browser in one Cookie line among other cookies, parses to
// the same value; the other cookies never change it.
func FuzzSetCookieRoundTrip(f *testing.F) {
	f.Add("okta_session", "AQID-_x", "theme=dark; okta_session=evil")
	f.Add("okta_session_1", "", "")
	f.Add("a", `"q"`, "a=1")
	f.Fuzz(func(t *testing.T, name, value, others string) {
		if !ValidName(name) || !isCookieValue(value) {
			return
		}
		sc := SetCookie(name, value, Attributes{Path: "/", Secure: true, HTTPOnly: true, SameSite: "Lax"}, 60)
		pair, _, _ := strings.Cut(sc, ";")
		if pair != name+"="+value {
			t.Fatalf("SetCookie wrote %q for %q=%q", sc, name, value)
		}
		// Browsers send the most specific cookie first; ours comes first.
		jar := ParseCookieHeader([]string{pair + "; " + others})
		if got, ok := jar[name]; !ok || got != value {
			t.Fatalf("Cookie %q parsed %q=%q (present %v), want %q", pair+"; "+others, name, got, ok, value)
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
