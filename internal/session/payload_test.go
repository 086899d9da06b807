package session

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func typicalSession() Session {
	jwt := "eyJraWQiOiJrMSIsImFsZyI6IlJTMjU2In0." + strings.Repeat("eyJzdWIiOiIwMHUxIn0", 40) + "." + strings.Repeat("c2ln", 86)
	return Session{
		Subject:      "00u1abcdEFGH2345",
		AccessToken:  jwt,
		RefreshToken: "rt-" + strings.Repeat("r", 40),
		IDToken:      jwt,
		AccessExpiry: t0.Add(time.Hour),
		Created:      t0,
		LastSeen:     t0.Add(time.Minute),
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	tests := []Session{
		typicalSession(),
		{},
		{Subject: "only-sub", Created: t0},
		{Subject: "sub\u00e9\"\\", LastSeen: time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))},
	}
	for _, s := range tests {
		got, err := Unmarshal(Marshal(s))
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%+v)): %v", s, err)
		}
		if got.Subject != s.Subject || got.AccessToken != s.AccessToken || got.RefreshToken != s.RefreshToken || got.IDToken != s.IDToken ||
			!got.AccessExpiry.Equal(s.AccessExpiry) || !got.Created.Equal(s.Created) || !got.LastSeen.Equal(s.LastSeen) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
		}
	}
}

func TestMarshalFormat(t *testing.T) {
	s := Session{Subject: "u", Created: t0.Add(999 * time.Millisecond), LastSeen: t0}
	b := Marshal(s)
	if b[0] != sessionVersion {
		t.Fatalf("Marshal starts with %d, want version %d", b[0], sessionVersion)
	}
	got, err := Unmarshal(b)
	if err != nil || !got.Created.Equal(t0) {
		t.Fatalf("Unmarshal = %+v, %v; want Created truncated to the second", got, err)
	}
	if got := string(MarshalLoginState(LoginState{State: "st", Nonce: "n", Verifier: "pv", ReturnTo: "/a?b", Created: t0})); got != `{"v":1,"s":"st","n":"n","p":"pv","r":"/a?b","c":1740830400}` {
		t.Fatalf("MarshalLoginState = %s", got)
	}
}

// TestMarshalTokensExactly: JWTs come back byte for byte (their signature
// covers the encoded text); tokens that are not canonical JWTs are kept as
// text.
func TestMarshalTokensExactly(t *testing.T) {
	for _, tok := range []string{
		typicalSession().AccessToken,
		"opaque-access-token",
		"a.b.c",    // segments that decode
		"a.b.c.d",  // four segments
		"ab.cd.eR", // non-canonical last segment (trailing bits set): kept as text
		"a..c", ".", "..", "a=.b.c", "x y.z.w",
	} {
		got, err := Unmarshal(Marshal(Session{AccessToken: tok, IDToken: tok}))
		if err != nil || got.AccessToken != tok || got.IDToken != tok {
			t.Errorf("token %q came back as %q, %q (%v)", tok, got.AccessToken, got.IDToken, err)
		}
	}
}

func TestUnmarshalRejectsBinary(t *testing.T) {
	good := Marshal(typicalSession())
	body := inflate(t, good[1:])
	bomb := deflate(t, make([]byte, maxBody+1))
	for name, in := range map[string][]byte{
		"version 1 JSON":     []byte(`{"v":1,"s":"u"}`),
		"unknown version":    append([]byte{3}, good[1:]...),
		"not deflate":        {sessionVersion, 0xff, 0xff},
		"truncated deflate":  good[:len(good)/2],
		"truncated body":     append([]byte{sessionVersion}, deflate(t, body[:len(body)-3])...),
		"trailing bytes":     append([]byte{sessionVersion}, deflate(t, append(body, 0))...),
		"unknown token kind": append([]byte{sessionVersion}, deflate(t, []byte{0, 0, 0, 0, 0, 9})...),
		"empty text token":   append([]byte{sessionVersion}, deflate(t, []byte{0, 0, 0, 0, 0, 1, 0, 0})...),
		"length past end":    append([]byte{sessionVersion}, deflate(t, []byte{0, 0, 0, 0x7f})...),
		"inflates too large": append([]byte{sessionVersion}, bomb...),
	} {
		if _, err := Unmarshal(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Unmarshal error = %v; want ErrInvalid", name, err)
		}
	}
}

func deflate(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.BestSpeed)
	_, _ = w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func inflate(t testing.TB, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUnmarshalRejects(t *testing.T) {
	for _, in := range []string{"", "null", "{", "[]", `{"s":"u"}`, `{"v":2,"s":"u"}`, `{"v":0}`, `{"v":"1"}`, `{"v":1,"c":"x"}`, "\x00"} {
		if _, err := Unmarshal([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Unmarshal(%q) error = %v; want ErrInvalid", in, err)
		}
		if _, err := UnmarshalLoginState([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("UnmarshalLoginState(%q) error = %v; want ErrInvalid", in, err)
		}
	}
}

func TestSessionExpired(t *testing.T) {
	s := Session{Created: t0, LastSeen: t0.Add(50 * time.Minute)}
	tests := []struct {
		name string
		s    Session
		now  time.Time
		to   Timeouts
		want bool
	}{
		{"no timeouts", s, t0.Add(1000 * time.Hour), Timeouts{}, false},
		{"fresh", s, t0.Add(55 * time.Minute), Timeouts{Idle: 15 * time.Minute, Absolute: 8 * time.Hour}, false},
		{"idle passed", s, t0.Add(65 * time.Minute), Timeouts{Idle: 15 * time.Minute, Absolute: 8 * time.Hour}, true},
		{"idle exactly reached", s, t0.Add(65 * time.Minute), Timeouts{Idle: 15 * time.Minute}, true},
		{"idle one second left", s, t0.Add(65*time.Minute - time.Second), Timeouts{Idle: 15 * time.Minute}, false},
		{"absolute passed while active", s, t0.Add(8*time.Hour + time.Second), Timeouts{Absolute: 8 * time.Hour}, true},
		{"absolute passed, idle fine", Session{Created: t0, LastSeen: t0.Add(9 * time.Hour)}, t0.Add(9*time.Hour + time.Minute), Timeouts{Idle: 15 * time.Minute, Absolute: 8 * time.Hour}, true},
		{"absolute not reached", s, t0.Add(8*time.Hour - time.Second), Timeouts{Absolute: 8 * time.Hour}, false},
		{"idle not enforced", s, t0.Add(5 * time.Hour), Timeouts{Absolute: 8 * time.Hour}, false},
		{"negative not enforced", s, t0.Add(5 * time.Hour), Timeouts{Idle: -1, Absolute: -1}, false},
		{"missing Created", Session{LastSeen: t0}, t0, Timeouts{Absolute: time.Hour}, true},
		{"missing LastSeen", Session{Created: t0}, t0, Timeouts{Idle: time.Hour}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Expired(tt.now, tt.to); got != tt.want {
				t.Fatalf("Expired = %v; want %v", got, tt.want)
			}
			// The timestamps survive the cookie round trip.
			s2, err := Unmarshal(Marshal(tt.s))
			if err != nil {
				t.Fatal(err)
			}
			if got := s2.Expired(tt.now, tt.to); got != tt.want {
				t.Fatalf("after round trip Expired = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestLoginState(t *testing.T) {
	l := LoginState{State: "s1", Nonce: "n1", Verifier: strings.Repeat("v", 43), ReturnTo: "/app?x=1", Created: t0}
	got, err := UnmarshalLoginState(MarshalLoginState(l))
	if err != nil || got.State != l.State || got.Nonce != l.Nonce || got.Verifier != l.Verifier || got.ReturnTo != l.ReturnTo || !got.Created.Equal(l.Created) {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, l)
	}
	tests := []struct {
		name string
		l    LoginState
		now  time.Time
		ttl  time.Duration
		want bool
	}{
		{"fresh", l, t0.Add(time.Minute), 10 * time.Minute, false},
		{"expired", l, t0.Add(10 * time.Minute), 10 * time.Minute, true},
		{"zero ttl fails closed", l, t0, 0, true},
		{"missing Created", LoginState{State: "s"}, t0, time.Hour, true},
	}
	for _, tt := range tests {
		if got := tt.l.Expired(tt.now, tt.ttl); got != tt.want {
			t.Errorf("%s: Expired = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestLoginCookieName(t *testing.T) {
	a := LoginCookieName("okta_session", "state-a")
	b := LoginCookieName("okta_session", "state-b")
	if !regexp.MustCompile(`^okta_session_login_[0-9a-f]{16}$`).MatchString(a) {
		t.Fatalf("LoginCookieName = %q", a)
	}
	if a == b || a != LoginCookieName("okta_session", "state-a") {
		t.Fatalf("names not per state: %q %q", a, b)
	}
	if strings.Contains(a, "state") || !ValidName(a) {
		t.Fatalf("name %q leaks the state or is not a token", a)
	}
	// A login value sealed for one attempt does not open under another's name.
	c := newCodec(t, []string{secretA}, WithPurpose("login"))
	v := seal(t, c, a, MarshalLoginState(LoginState{State: "state-a", Created: t0}))
	if _, err := c.Open(b, v); !errors.Is(err, ErrInvalid) {
		t.Fatalf("login cookie moved to another attempt: %v; want ErrInvalid", err)
	}
	jar := map[string]string{a: v, b: "x", "okta_session": "s", "okta_session_1": "s", "okta_session_login_XYZ": "no", "okta_session_login_" + strings.Repeat("A", 16): "no"}
	if got, want := LoginCookieNames("okta_session", jar), []string{a, b}; !slices.Equal(got, want) && !slices.Equal(got, []string{b, a}) {
		t.Fatalf("LoginCookieNames = %q; want %q", got, want)
	}
	if got := LoginCookieNames("okta_session", jar); !slices.IsSorted(got) {
		t.Fatalf("LoginCookieNames not sorted: %q", got)
	}
	if got := ClearCookies("okta_session", jar); slices.Contains(got, a) {
		t.Fatalf("ClearCookies deletes login cookies: %q", got)
	}
}

// BenchmarkMarshalUnmarshal: a session with JWT-shaped tokens through the
// compact format and back (every login, refresh, renewal and session read).
func BenchmarkMarshalUnmarshal(b *testing.B) {
	seg := func(n int) string { return strings.Repeat("eyJhbGciOiJSUzI1NiJ9", n) }
	s := Session{
		Subject: "alice", AccessToken: seg(2) + "." + seg(40) + "." + seg(17), RefreshToken: "rt-0123456789abcdef",
		IDToken: seg(2) + "." + seg(45) + "." + seg(17), Created: time.Unix(1_800_000_000, 0), LastSeen: time.Unix(1_800_000_100, 0),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(Marshal(s)); err != nil {
			b.Fatal(err)
		}
	}
}
