package session

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// payloadVersion is written as "v" in every payload; Unmarshal refuses others.
const payloadVersion = 1

// Session is what the session cookie holds once a browser has logged in.
type Session struct {
	Subject      string
	AccessToken  string
	RefreshToken string
	IDToken      string
	AccessExpiry time.Time // when AccessToken expires
	Created      time.Time // login time; the absolute timeout counts from here
	LastSeen     time.Time // last use; the idle timeout counts from here
}

// Timeouts bound a session's life. A zero or negative duration is not enforced.
type Timeouts struct {
	Idle, Absolute time.Duration
}

// Expired reports whether the idle or absolute timeout has passed at now.
// A session missing the timestamp an enforced timeout needs is expired.
func (s *Session) Expired(now time.Time, t Timeouts) bool {
	if t.Absolute > 0 && (s.Created.IsZero() || !now.Before(s.Created.Add(t.Absolute))) {
		return true
	}
	if t.Idle > 0 && (s.LastSeen.IsZero() || !now.Before(s.LastSeen.Add(t.Idle))) {
		return true
	}
	return false
}

type sessionJSON struct {
	V   int    `json:"v"`
	Sub string `json:"s,omitempty"`
	AT  string `json:"a,omitempty"`
	RT  string `json:"r,omitempty"`
	IT  string `json:"i,omitempty"`
	AE  int64  `json:"ae,omitempty"`
	C   int64  `json:"c,omitempty"`
	LS  int64  `json:"l,omitempty"`
}

// Marshal encodes s as compact JSON with short keys and Unix-second
// timestamps (sub-second precision is dropped; a zero time is omitted).
func Marshal(s Session) []byte {
	// json.Marshal cannot fail on strings and integers.
	b, _ := json.Marshal(sessionJSON{
		V: payloadVersion, Sub: s.Subject, AT: s.AccessToken, RT: s.RefreshToken, IT: s.IDToken,
		AE: unix(s.AccessExpiry), C: unix(s.Created), LS: unix(s.LastSeen),
	})
	return b
}

// Unmarshal decodes a payload made by Marshal. Errors wrap ErrInvalid.
func Unmarshal(b []byte) (Session, error) {
	var j sessionJSON
	if err := decode(b, &j.V, &j); err != nil {
		return Session{}, err
	}
	return Session{
		Subject: j.Sub, AccessToken: j.AT, RefreshToken: j.RT, IDToken: j.IT,
		AccessExpiry: fromUnix(j.AE), Created: fromUnix(j.C), LastSeen: fromUnix(j.LS),
	}, nil
}

// LoginState is kept in a per-attempt cookie between the redirect to the IdP
// and the callback, so parallel logins (several tabs) do not clobber each other.
type LoginState struct {
	State    string // the OAuth state parameter
	Nonce    string // the OIDC nonce expected in the ID token
	Verifier string // the PKCE code verifier
	ReturnTo string // where to send the browser after login
	Created  time.Time
}

// Expired reports whether the login attempt is older than ttl at now. It fails
// closed: a non-positive ttl or a missing Created time means expired.
func (l *LoginState) Expired(now time.Time, ttl time.Duration) bool {
	return ttl <= 0 || l.Created.IsZero() || !now.Before(l.Created.Add(ttl))
}

type loginJSON struct {
	V  int    `json:"v"`
	S  string `json:"s,omitempty"`
	N  string `json:"n,omitempty"`
	PV string `json:"p,omitempty"`
	R  string `json:"r,omitempty"`
	C  int64  `json:"c,omitempty"`
}

// MarshalLoginState encodes l like Marshal.
func MarshalLoginState(l LoginState) []byte {
	// json.Marshal cannot fail on strings and integers.
	b, _ := json.Marshal(loginJSON{V: payloadVersion, S: l.State, N: l.Nonce, PV: l.Verifier, R: l.ReturnTo, C: unix(l.Created)})
	return b
}

// UnmarshalLoginState decodes a payload made by MarshalLoginState. Errors
// wrap ErrInvalid.
func UnmarshalLoginState(b []byte) (LoginState, error) {
	var j loginJSON
	if err := decode(b, &j.V, &j); err != nil {
		return LoginState{}, err
	}
	return LoginState{State: j.S, Nonce: j.N, Verifier: j.PV, ReturnTo: j.R, Created: fromUnix(j.C)}, nil
}

func decode(b []byte, version *int, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: decoding payload: %v", ErrInvalid, err)
	}
	if *version != payloadVersion {
		return fmt.Errorf("%w: payload version %d, want %d", ErrInvalid, *version, payloadVersion)
	}
	return nil
}

// LoginCookieName names the login-state cookie of one attempt: base +
// "_login_" + the first 16 hex digits of SHA-256(state). The state itself
// never appears in a cookie name.
func LoginCookieName(base, state string) string {
	sum := sha256.Sum256([]byte(state))
	return base + "_login_" + hex.EncodeToString(sum[:8])
}

// LoginCookieNames lists, sorted, the login-state cookies for base in jar,
// e.g. to delete them after a successful login or to cap pending attempts.
func LoginCookieNames(base string, jar map[string]string) []string {
	var out []string
	for k := range jar {
		suffix, ok := strings.CutPrefix(k, base+"_login_")
		if ok && len(suffix) == 16 && isLowerHex(suffix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; !('0' <= b && b <= '9' || 'a' <= b && b <= 'f') {
			return false
		}
	}
	return true
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
