package session

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	secretA = "secret-A-0123456789abcdef0123456789abcdef"
	secretB = "secret-B-0123456789abcdef0123456789abcdef"
	name    = "okta_session"
)

// newCodec returns a Codec with a seeded random source so tests are repeatable.
func newCodec(t testing.TB, secrets []string, opts ...Option) *Codec {
	t.Helper()
	opts = append([]Option{WithRand(rand.NewChaCha8([32]byte{1}))}, opts...)
	c, err := NewCodec(secrets, opts...)
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	return c
}

func seal(t testing.TB, c *Codec, name string, pt []byte) string {
	t.Helper()
	v, err := c.Seal(name, pt)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return v
}

func payload(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{9})
	_, _ = r.Read(b)
	return b
}

func TestNewCodecErrors(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		opts    []Option
		want    string // substring of the error; "" means success
	}{
		{"ok", []string{secretA}, nil, ""},
		{"ok rotation", []string{secretB, secretA}, nil, ""},
		{"exactly 32 bytes", []string{strings.Repeat("x", 32)}, nil, ""},
		{"no secret", nil, nil, "session_secret: required"},
		{"short secret", []string{strings.Repeat("x", 31)}, nil, "session_secret: secret 1 is 31 bytes"},
		{"short second secret", []string{secretA, "short"}, nil, "session_secret: secret 2 is 5 bytes"},
		{"empty secret", []string{""}, nil, "session_secret"},
		{"nil rand", []string{secretA}, []Option{WithRand(nil)}, "random source"},
		{"tiny cookies", []string{secretA}, []Option{WithMaxCookieSize(100)}, "max cookie size"},
		{"zero chunks", []string{secretA}, []Option{WithMaxChunks(0)}, "max chunks"},
		{"empty purpose", []string{secretA}, []Option{WithPurpose("")}, "purpose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCodec(tt.secrets, tt.opts...)
			if tt.want == "" {
				if err != nil || c == nil {
					t.Fatalf("NewCodec = %v, %v; want a codec", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewCodec error = %v; want it to contain %q", err, tt.want)
			}
			for _, s := range tt.secrets {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Fatalf("error %q leaks a secret", err)
				}
			}
		})
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	c := newCodec(t, []string{secretA})
	for _, pt := range [][]byte{{}, []byte("x"), []byte(`{"v":1,"s":"00u1"}`), payload(2000)} {
		v := seal(t, c, name, pt)
		if len(name)+1+len(v) > DefaultMaxCookieSize {
			t.Errorf("cookie of %d bytes exceeds the maximum", len(name)+1+len(v))
		}
		got, err := c.Open(name, v)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open(Seal(%d bytes)) = %d bytes, %v", len(pt), len(got), err)
		}
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	c, err := NewCodec([]string{secretA}) // crypto/rand
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Seal(name, []byte("same"))
	b, _ := c.Seal(name, []byte("same"))
	if a == b {
		t.Fatal("two seals of the same plaintext are equal: nonce reused")
	}
}

func TestSealTooLarge(t *testing.T) {
	c := newCodec(t, []string{secretA})
	if _, err := c.Seal(name, payload(4000)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Seal(4000 bytes) error = %v; want ErrTooLarge", err)
	}
}

func TestSealRandFailure(t *testing.T) {
	c := newCodec(t, []string{secretA}, WithRand(bytes.NewReader(nil)))
	if v, err := c.Seal(name, []byte("x")); err == nil {
		t.Fatalf("Seal with an empty random source = %q, nil; want an error", v)
	}
}

func TestKeysAndRotation(t *testing.T) {
	pt := []byte("payload")
	onlyA := newCodec(t, []string{secretA})
	onlyB := newCodec(t, []string{secretB})
	rotated := newCodec(t, []string{secretB, secretA})
	loginA := newCodec(t, []string{secretA}, WithPurpose("login"))

	fromA := seal(t, onlyA, name, pt)
	fromRotated := seal(t, rotated, name, pt)

	tests := []struct {
		name    string
		codec   *Codec
		value   string
		wantErr bool
	}{
		{"A opens A", onlyA, fromA, false},
		{"B refuses A", onlyB, fromA, true},
		{"[B,A] opens A", rotated, fromA, false},
		{"[B,A] seals with B: B opens", onlyB, fromRotated, false},
		{"[B,A] seals with B: A refuses", onlyA, fromRotated, true},
		{"another purpose refuses", loginA, fromA, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.codec.Open(name, tt.value)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Open = %q, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open = %q, %v; want %q", got, err, pt)
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	c := newCodec(t, []string{secretA})
	v := seal(t, c, name, []byte("a session payload"))
	raw, err := b64.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}

	type tc struct {
		name, cookie, value string
	}
	var tests []tc
	// Every bit of the decoded value: version byte, nonce, ciphertext, tag.
	for i := range raw {
		for bit := range 8 {
			m := slices.Clone(raw)
			m[i] ^= 1 << bit
			tests = append(tests, tc{"flip raw byte " + strconv.Itoa(i) + " bit " + strconv.Itoa(bit), name, b64.EncodeToString(m)})
		}
	}
	// Every character of the encoded value, including the last one, whose
	// low bits are padding that a lenient decoder would ignore.
	for i := range len(v) {
		for _, r := range []byte{'A', 'B', 'g', 'w', '-', '_'} {
			if v[i] != r {
				tests = append(tests, tc{"replace char " + strconv.Itoa(i) + " with " + string(r), name, v[:i] + string(r) + v[i+1:]})
			}
		}
	}
	for n := range len(v) {
		tests = append(tests, tc{"truncated to " + strconv.Itoa(n), name, v[:n]})
	}
	tests = append(tests,
		tc{"extended", name, v + "AAAA"},
		tc{"wrong name", "okta_session_1", v},
		tc{"other cookie", "other", v},
		tc{"name case", "OKTA_SESSION", v},
		tc{"newline inside", name, v[:10] + "\n" + v[10:]},
		tc{"CR inside", name, v[:10] + "\r" + v[10:]},
		tc{"padding", name, v + "=="},
		tc{"std alphabet", name, strings.NewReplacer("-", "+", "_", "/").Replace(v) + "+/"},
		tc{"space", name, " " + v},
		tc{"not base64", name, "!!!!"},
		tc{"empty", name, ""},
		tc{"huge", name, strings.Repeat("A", DefaultMaxCookieSize*DefaultMaxChunks+4)},
		tc{"version 2", name, b64.EncodeToString(append([]byte{2}, raw[1:]...))},
		tc{"version only", name, b64.EncodeToString([]byte{formatVersion})},
		tc{"nonce only", name, b64.EncodeToString(raw[:1+nonceSize])},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Open(tt.cookie, tt.value)
			if !errors.Is(err, ErrInvalid) || got != nil {
				t.Fatalf("Open = %q, %v; want nil, ErrInvalid", got, err)
			}
		})
	}
}

func TestSealCookiesSingle(t *testing.T) {
	c := newCodec(t, []string{secretA})
	pt := []byte("small")
	cookies, err := c.SealCookies(name, pt)
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies) != 1 || cookies[0].Name != name {
		t.Fatalf("SealCookies(small) = %v; want one cookie named %q", cookies, name)
	}
	// A single cookie from SealCookies is interchangeable with Seal/Open.
	if got, err := c.Open(name, cookies[0].Value); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open(SealCookies) = %q, %v", got, err)
	}
	got, err := c.OpenCookies(name, map[string]string{name: seal(t, c, name, pt), "other": "x"})
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("OpenCookies(Seal) = %q, %v", got, err)
	}
}

func TestSealCookiesChunked(t *testing.T) {
	for _, max := range []int{DefaultMaxCookieSize, 1000, 4096} {
		c := newCodec(t, []string{secretA}, WithMaxCookieSize(max))
		for _, size := range []int{2700, 2900, 5000, 10 * 1024} {
			if encodedLen(size) > 8*(max-len(name)-3) {
				continue
			}
			pt := payload(size)
			cookies, err := c.SealCookies(name, pt)
			if err != nil {
				t.Fatalf("max %d, SealCookies(%d bytes): %v", max, size, err)
			}
			jar := map[string]string{"unrelated": "1"}
			for i, ck := range cookies {
				if ck.Name == name && len(cookies) > 1 {
					t.Errorf("chunked value also uses the bare name")
				}
				if len(cookies) > 1 && ck.Name != ChunkName(name, i+1) {
					t.Errorf("chunk %d is named %q", i, ck.Name)
				}
				if l := len(ck.Name) + 1 + len(ck.Value); l > max {
					t.Errorf("max %d, size %d: cookie %s is %d bytes", max, size, ck.Name, l)
				}
				if ck.Value == "" {
					t.Errorf("cookie %s is empty", ck.Name)
				}
				jar[ck.Name] = ck.Value
			}
			if size == 10*1024 && max == DefaultMaxCookieSize && len(cookies) < 3 {
				t.Errorf("10 KB in %d cookies", len(cookies))
			}
			got, err := c.OpenCookies(name, jar)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("max %d, size %d: OpenCookies = %d bytes, %v", max, size, len(got), err)
			}
		}
	}
}

func TestSealCookiesTooLarge(t *testing.T) {
	c := newCodec(t, []string{secretA}, WithMaxChunks(3), WithMaxCookieSize(1000))
	if _, err := c.SealCookies(name, payload(2000)); err != nil {
		t.Fatalf("2000 bytes in 3x1000: %v", err)
	}
	if _, err := c.SealCookies(name, payload(3000)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("3000 bytes in 3x1000: error = %v; want ErrTooLarge", err)
	}
	d := newCodec(t, []string{secretA})
	if _, err := d.SealCookies(name, payload(DefaultMaxChunks*DefaultMaxCookieSize)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge payload: error = %v; want ErrTooLarge", err)
	}
}

func chunks(t *testing.T, c *Codec, name string, pt []byte) []Cookie {
	t.Helper()
	cs, err := c.SealCookies(name, pt)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) < 3 {
		t.Fatalf("want at least 3 chunks, got %d", len(cs))
	}
	return cs
}

func jarOf(cs []Cookie) map[string]string {
	jar := map[string]string{}
	for _, c := range cs {
		jar[c.Name] = c.Value
	}
	return jar
}

func TestOpenCookiesRejects(t *testing.T) {
	c := newCodec(t, []string{secretA})
	a := chunks(t, c, name, payload(8000))
	b := chunks(t, c, name, payload(8000))
	joined := a[0].Value + a[1].Value + a[2].Value
	small := seal(t, c, name, []byte("small"))

	tests := []struct {
		name string
		jar  map[string]string
		want error
	}{
		{"empty jar", map[string]string{}, ErrNone},
		{"nil jar", nil, ErrNone},
		{"other cookies only", map[string]string{"okta_session_login_0123456789abcdef": small, "x": "y"}, ErrNone},
		{"only chunk 2", map[string]string{ChunkName(name, 2): a[1].Value}, ErrNone},
		{"empty single", map[string]string{name: ""}, ErrInvalid},
		{"garbage single", map[string]string{name: "garbage"}, ErrInvalid},
		{"chunk from another session", map[string]string{ChunkName(name, 1): a[0].Value, ChunkName(name, 2): b[1].Value, ChunkName(name, 3): a[2].Value}, ErrInvalid},
		{"first chunk from another session", map[string]string{ChunkName(name, 1): b[0].Value, ChunkName(name, 2): a[1].Value, ChunkName(name, 3): a[2].Value}, ErrInvalid},
		{"reordered", map[string]string{ChunkName(name, 1): a[1].Value, ChunkName(name, 2): a[0].Value, ChunkName(name, 3): a[2].Value}, ErrInvalid},
		{"last chunk missing", map[string]string{ChunkName(name, 1): a[0].Value, ChunkName(name, 2): a[1].Value}, ErrInvalid},
		{"middle chunk missing", map[string]string{ChunkName(name, 1): a[0].Value, ChunkName(name, 3): a[2].Value}, ErrInvalid},
		{"stale extra chunk", map[string]string{ChunkName(name, 1): a[0].Value, ChunkName(name, 2): a[1].Value, ChunkName(name, 3): a[2].Value, ChunkName(name, 4): a[2].Value}, ErrInvalid},
		{"empty chunk", map[string]string{ChunkName(name, 1): a[0].Value, ChunkName(name, 2): "", ChunkName(name, 3): a[1].Value + a[2].Value}, ErrInvalid},
		{"chunks joined into the single cookie", map[string]string{name: joined}, ErrInvalid},
		{"chunks renamed", map[string]string{"other_1": a[0].Value, "other_2": a[1].Value, "other_3": a[2].Value}, ErrNone},
		{"single split into chunks", map[string]string{ChunkName(name, 1): small[:20], ChunkName(name, 2): small[20:]}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.OpenCookies(name, tt.jar)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("OpenCookies = %d bytes, %v; want %v", len(got), err, tt.want)
			}
		})
	}
	// Renamed chunks do not open under the new name either.
	if _, err := c.OpenCookies("other", map[string]string{"other_1": a[0].Value, "other_2": a[1].Value, "other_3": a[2].Value}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("renamed chunks: %v; want ErrInvalid", err)
	}
	// Joined chunks do not open as a single value.
	if _, err := c.Open(name, joined); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open(joined chunks) = %v; want ErrInvalid", err)
	}
}

func TestOpenCookiesPrefersValidForm(t *testing.T) {
	c := newCodec(t, []string{secretA})
	big := payload(8000)
	jar := jarOf(chunks(t, c, name, big))
	jar[name] = "stale-garbage"
	if got, err := c.OpenCookies(name, jar); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("chunks beside a bad single cookie: %d bytes, %v", len(got), err)
	}
	jar[name] = seal(t, c, name, []byte("single"))
	if got, err := c.OpenCookies(name, jar); err != nil || string(got) != "single" {
		t.Fatalf("valid single beside chunks: %q, %v; want the single cookie", got, err)
	}
}

func TestClearAndStaleCookies(t *testing.T) {
	jar := map[string]string{
		name: "a", name + "_1": "b", name + "_2": "c", name + "_10": "d", name + "_3": "e",
		name + "_0": "no", name + "_01": "no", name + "_x": "no", name + "_": "no", name + "_-1": "no",
		name + "_login_0123456789abcdef": "no", name + "x_1": "no", "other_1": "no",
	}
	want := []string{name, name + "_1", name + "_2", name + "_3", name + "_10"}
	if got := ClearCookies(name, jar); !slices.Equal(got, want) {
		t.Fatalf("ClearCookies = %q; want %q", got, want)
	}
	if got := ClearCookies(name, map[string]string{"x": "y"}); len(got) != 0 {
		t.Fatalf("ClearCookies(no session) = %q; want none", got)
	}

	// A session shrinking from 3 chunks to 1 cookie must delete all 3 chunks,
	// and one growing from 1 cookie to 2 chunks must delete the bare name.
	c := newCodec(t, []string{secretA})
	old := jarOf(chunks(t, c, name, payload(8000)))
	fresh, _ := c.SealCookies(name, []byte("small"))
	if got, want := StaleCookies(name, old, fresh), []string{name + "_1", name + "_2", name + "_3"}; !slices.Equal(got, want) {
		t.Fatalf("StaleCookies(shrink) = %q; want %q", got, want)
	}
	grown, _ := c.SealCookies(name, payload(4000))
	if got, want := StaleCookies(name, map[string]string{name: "v", name + "_3": "old"}, grown), []string{name, name + "_3"}; !slices.Equal(got, want) {
		t.Fatalf("StaleCookies(grow) = %q; want %q (fresh has %d chunks)", got, want, len(grown))
	}
}

func BenchmarkSeal(b *testing.B) {
	c := newCodec(b, []string{secretA, secretB})
	pt := Marshal(typicalSession())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SealCookies(name, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, tc := range []struct {
		name    string
		secrets []string
	}{{"current key", []string{secretA, secretB}}, {"rotated key", []string{secretB, secretA}}} {
		b.Run(tc.name, func(b *testing.B) {
			jar := jarOf(func() []Cookie {
				cs, _ := newCodec(b, []string{secretA}).SealCookies(name, Marshal(typicalSession()))
				return cs
			}())
			c := newCodec(b, tc.secrets)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.OpenCookies(name, jar); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBindingSeparatesClients: a value sealed for one issuer and client opens
// only under the same binding, whether single or chunked, even with the same
// secret and cookie name.
func TestBindingSeparatesClients(t *testing.T) {
	const iss = "https://dev-1.okta.com/oauth2/default"
	a := newCodec(t, []string{secretA}, WithBinding(iss, "client-a"))
	pt := []byte("session")
	v := seal(t, a, name, pt)
	big, err := a.SealCookies(name, payload(9000))
	if err != nil {
		t.Fatal(err)
	}
	jar := map[string]string{}
	for _, c := range big {
		jar[c.Name] = c.Value
	}
	for _, tc := range []struct {
		name string
		c    *Codec
		open bool
	}{
		{"same binding", newCodec(t, []string{secretA}, WithBinding(iss, "client-a")), true},
		{"other client", newCodec(t, []string{secretA}, WithBinding(iss, "client-b")), false},
		{"other issuer", newCodec(t, []string{secretA}, WithBinding("https://dev-2.okta.com/oauth2/default", "client-a")), false},
		{"shifted boundary", newCodec(t, []string{secretA}, WithBinding(iss+"c", "lient-a")), false},
		{"no binding", newCodec(t, []string{secretA}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Open(name, v)
			if tc.open != (err == nil) || (tc.open && !bytes.Equal(got, pt)) {
				t.Fatalf("Open = %q, %v; want opened %v", got, err, tc.open)
			}
			if _, err := tc.c.OpenCookies(name, jar); tc.open != (err == nil) {
				t.Fatalf("OpenCookies (chunked) = %v; want opened %v", err, tc.open)
			}
		})
	}
}
