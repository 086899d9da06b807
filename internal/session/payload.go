package session

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// loginVersion is written as "v" in every login-state payload;
// UnmarshalLoginState refuses others.
const loginVersion = 1

// Session is what the session cookie holds once a browser has logged in.
type Session struct {
	Subject      string
	AccessToken  string
	RefreshToken string
	IDToken      string
	AccessExpiry time.Time // when AccessToken expires
	Created      time.Time // login time; the absolute timeout counts from here
	LastSeen     time.Time // last use; the idle timeout counts from here

	// ID names the session in a server-side store (Redis); SID is the
	// IdP's session id (the ID token's sid), which back-channel logout
	// names. Marshal does not write them: a cookie payload needs neither.
	ID  string
	SID string
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

// The session payload is binary and compressed, because it must fit in
// the browser's one Cookie line, which nginx caps at 8 KiB by default
// (large_client_header_buffers), next to the site's other cookies:
//
//	payload = sessionVersion || DEFLATE(body)
//	body    = varint(AccessExpiry) varint(Created) varint(LastSeen)
//	          bytes(Subject) bytes(RefreshToken) token(AccessToken) token(IDToken)
//	bytes   = uvarint(len) || len bytes
//	token   = 0 (none) | 1 bytes(text) | 2 bytes(header) bytes(payload) bytes(signature)
//
// A JWT (kind 2) is stored as its three segments base64url-decoded, which
// both saves base64's third and lets DEFLATE find what the access and ID
// tokens share (the group list, sub, iss). Timestamps are Unix seconds, 0
// for a zero time.
//
// Compressing before encrypting leaks the compressed length, which CRIME and
// BREACH turn into a secret when an attacker can put chosen bytes next to the
// secret and watch the length across many tries. No attacker-chosen byte is
// in this payload: everything comes from the IdP's token response (the
// tokens, their claims, the refresh token) and the clock. The user's own
// profile fields sit in the tokens, but the user is the session's owner and
// the secrets are theirs; they are set by the IdP, not per request, and a
// third party cannot vary them. The login state, which carries the
// attacker-chosen return target next to the PKCE verifier and nonce, is
// therefore NOT compressed (MarshalLoginState).
const sessionVersion = 2

// maxBody bounds the inflated body: far above any cookie budget, so a
// payload (authenticated, but never trusted to be small) cannot make
// Unmarshal allocate without bound.
const maxBody = 1 << 18

const (
	tokNone = 0
	tokText = 1
	tokJWT  = 2
)

var seg = base64.RawURLEncoding.Strict()

// appendToken stores a token, as its decoded segments when it is a JWT whose
// segments re-encode to exactly the same text (so the signature input is
// restored byte for byte), else as text.
func appendToken(b []byte, tok string) []byte {
	if tok == "" {
		return append(b, tokNone)
	}
	if parts := strings.Split(tok, "."); len(parts) == 3 {
		var dec [3][]byte
		ok := true
		for i, p := range parts {
			d, err := seg.DecodeString(p)
			if err != nil || seg.EncodeToString(d) != p {
				ok = false
				break
			}
			dec[i] = d
		}
		if ok {
			b = append(b, tokJWT)
			for _, d := range dec {
				b = appendBytes(b, d)
			}
			return b
		}
	}
	return appendBytes(append(b, tokText), []byte(tok))
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// Marshal encodes s compactly (see sessionVersion). Sub-second precision is
// dropped.
func Marshal(s Session) []byte {
	var body []byte
	body = binary.AppendVarint(body, unix(s.AccessExpiry))
	body = binary.AppendVarint(body, unix(s.Created))
	body = binary.AppendVarint(body, unix(s.LastSeen))
	body = appendBytes(body, []byte(s.Subject))
	body = appendBytes(body, []byte(s.RefreshToken))
	body = appendToken(body, s.AccessToken)
	body = appendToken(body, s.IDToken)

	var out bytes.Buffer
	out.WriteByte(sessionVersion)
	// A flate writer holds about 800 KB of tables: reuse them.
	w := writers.Get().(*flate.Writer)
	w.Reset(&out)
	// Writing to a bytes.Buffer cannot fail.
	_, _ = w.Write(body)
	_ = w.Close()
	w.Reset(io.Discard) // hold no reference to out while pooled
	writers.Put(w)
	return out.Bytes()
}

var writers = sync.Pool{New: func() any {
	// A valid level cannot fail.
	w, _ := flate.NewWriter(io.Discard, flate.BestCompression)
	return w
}}

var readers = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// reader decodes a body; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated or malformed payload", ErrInvalid)
	}
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.fail()
		r.b = nil
		return nil
	}
	v := r.b[k : k+int(n)]
	r.b = r.b[k+int(n):]
	return v
}

func (r *reader) token() string {
	if len(r.b) == 0 {
		r.fail()
		return ""
	}
	kind := r.b[0]
	r.b = r.b[1:]
	switch kind {
	case tokNone:
		return ""
	case tokText:
		t := r.bytes()
		if r.err == nil && len(t) == 0 {
			r.fail()
		}
		return string(t)
	case tokJWT:
		h, p, sig := r.bytes(), r.bytes(), r.bytes()
		return seg.EncodeToString(h) + "." + seg.EncodeToString(p) + "." + seg.EncodeToString(sig)
	}
	r.fail()
	return ""
}

// Unmarshal decodes a payload made by Marshal. Errors wrap ErrInvalid.
func Unmarshal(b []byte) (Session, error) {
	if len(b) == 0 || b[0] != sessionVersion {
		return Session{}, fmt.Errorf("%w: not a version %d session payload", ErrInvalid, sessionVersion)
	}
	fr := readers.Get().(io.ReadCloser)
	_ = fr.(flate.Resetter).Reset(bytes.NewReader(b[1:]), nil) // Reset cannot fail without a dictionary
	body, err := io.ReadAll(io.LimitReader(fr, maxBody+1))
	_ = fr.(flate.Resetter).Reset(bytes.NewReader(nil), nil)
	readers.Put(fr)
	if err != nil || len(body) > maxBody {
		return Session{}, fmt.Errorf("%w: inflating payload", ErrInvalid)
	}
	r := &reader{b: body}
	s := Session{
		AccessExpiry: fromUnix(r.varint()),
		Created:      fromUnix(r.varint()),
		LastSeen:     fromUnix(r.varint()),
	}
	s.Subject = string(r.bytes())
	s.RefreshToken = string(r.bytes())
	s.AccessToken = r.token()
	s.IDToken = r.token()
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return Session{}, r.err
	}
	return s, nil
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

// MarshalLoginState encodes l as compact JSON with short keys. It is never
// compressed: ReturnTo is chosen by whoever sends the browser to login and
// sits next to the nonce and PKCE verifier (see sessionVersion).
func MarshalLoginState(l LoginState) []byte {
	// json.Marshal cannot fail on strings and integers.
	b, _ := json.Marshal(loginJSON{V: loginVersion, S: l.State, N: l.Nonce, PV: l.Verifier, R: l.ReturnTo, C: unix(l.Created)})
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
	if *version != loginVersion {
		return fmt.Errorf("%w: payload version %d, want %d", ErrInvalid, *version, loginVersion)
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
