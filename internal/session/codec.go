// Package session seals the gateway's browser session and login state into
// cookies and opens them again.
//
// Values are encrypted and authenticated with AES-256-GCM. Each secret is
// turned into a key with HKDF-SHA256 (info "okta-oidc <purpose> v1"), so the
// same session_secret gives unrelated keys for unrelated purposes. The first
// secret seals; every secret opens, which lets operators rotate secrets by
// prepending a new one and dropping the old one after the longest session
// lifetime.
//
// The cookie name is part of the associated data: a value copied into another
// cookie name does not open. So is the Codec's binding (WithBinding: the
// issuer and client_id): a value sealed for one client does not open for
// another, even when both share a secret and a cookie name and scope. Timestamps (creation, last use, token expiry) are
// kept inside the encrypted payload, never in cookie attributes.
//
// The package is pure: no I/O beyond the injected random source, no clock
// (callers pass now), no global state.
package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Errors callers branch on; check them with errors.Is.
var (
	// ErrNone means the request carries no cookie of that name.
	ErrNone = errors.New("session: no cookie")
	// ErrInvalid means a cookie is present but does not authenticate: wrong
	// key, tampered, truncated, moved to another name, bad encoding, unknown
	// version, or a payload that does not decode.
	ErrInvalid = errors.New("session: invalid cookie")
	// ErrTooLarge means a value does not fit in the allowed cookies.
	ErrTooLarge = errors.New("session: value too large for cookies")
)

const (
	// MinSecretLen is the minimum length in bytes of each session_secret.
	MinSecretLen = 32
	// DefaultMaxCookieSize bounds len(name)+1+len(value) of every cookie
	// written; browsers keep at least 4096 bytes per cookie including
	// attributes, which leaves room for Path, Domain, Max-Age and flags.
	DefaultMaxCookieSize = 3800
	// DefaultMaxChunks is the largest number of cookies one value is split into.
	DefaultMaxChunks = 8
	// DefaultPurpose labels the key used for the browser session.
	DefaultPurpose = "session"

	formatVersion = 1
	nonceSize     = 12
	overhead      = 1 + nonceSize + 16 // version byte, nonce, GCM tag
	minCookieSize = 128
	maxMaxChunks  = 50
)

// Cookie is one cookie to set: a name and its (already encoded) value.
type Cookie struct {
	Name, Value string
}

// Codec seals values into cookie values and opens them. A Codec is immutable
// and safe for concurrent use if its random source is.
type Codec struct {
	aeads     []cipher.AEAD // aeads[0] seals; all open
	binding   []byte        // length-prefixed WithBinding values, in the associated data
	rand      io.Reader
	maxSize   int
	maxChunks int
}

// Option configures a Codec.
type Option func(*options)

type options struct {
	rand      io.Reader
	maxSize   int
	maxChunks int
	purpose   string
	binding   []string
}

// WithRand sets the source of nonces (default crypto/rand.Reader). It must be
// safe for concurrent use if the Codec is shared.
func WithRand(r io.Reader) Option { return func(o *options) { o.rand = r } }

// WithMaxCookieSize sets the largest len(name)+1+len(value) of a cookie the
// Codec writes (default DefaultMaxCookieSize, at least 128).
func WithMaxCookieSize(n int) Option { return func(o *options) { o.maxSize = n } }

// WithMaxChunks sets how many cookies SealCookies may split a value into
// (default DefaultMaxChunks, 1 to 50).
func WithMaxChunks(n int) Option { return func(o *options) { o.maxChunks = n } }

// WithPurpose sets the label mixed into key derivation (default
// DefaultPurpose), e.g. "login" for login-state cookies, so one secret gives
// independent keys for independent uses.
func WithPurpose(p string) Option { return func(o *options) { o.purpose = p } }

// WithBinding binds every value the Codec seals to these strings (e.g. the
// issuer and client_id): they join the associated data, so a value opens
// only under a Codec with the same binding, in the same order.
func WithBinding(values ...string) Option {
	return func(o *options) { o.binding = append([]string(nil), values...) }
}

// NewCodec derives one key per secret. secrets[0] seals, all secrets open.
// Each secret must be at least MinSecretLen bytes of high-entropy material
// (HKDF does not stretch passwords).
func NewCodec(secrets []string, opts ...Option) (*Codec, error) {
	o := options{rand: rand.Reader, maxSize: DefaultMaxCookieSize, maxChunks: DefaultMaxChunks, purpose: DefaultPurpose}
	for _, opt := range opts {
		opt(&o)
	}
	if len(secrets) == 0 {
		return nil, errors.New("session: session_secret: required")
	}
	var errs []error
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			errs = append(errs, fmt.Errorf("session: session_secret: secret %d is %d bytes, must be at least %d", i+1, len(s), MinSecretLen))
		}
	}
	if o.rand == nil {
		errs = append(errs, errors.New("session: random source is nil"))
	}
	if o.maxSize < minCookieSize {
		errs = append(errs, fmt.Errorf("session: max cookie size %d is below %d", o.maxSize, minCookieSize))
	}
	if o.maxChunks < 1 || o.maxChunks > maxMaxChunks {
		errs = append(errs, fmt.Errorf("session: max chunks %d is not between 1 and %d", o.maxChunks, maxMaxChunks))
	}
	if o.purpose == "" {
		errs = append(errs, errors.New("session: purpose is empty"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := &Codec{rand: o.rand, maxSize: o.maxSize, maxChunks: o.maxChunks}
	c.binding = binary.BigEndian.AppendUint32(nil, uint32(len(o.binding)))
	for _, v := range o.binding {
		c.binding = binary.BigEndian.AppendUint32(c.binding, uint32(len(v)))
		c.binding = append(c.binding, v...)
	}
	info := "okta-oidc " + o.purpose + " v1"
	for _, s := range secrets {
		key, err := hkdf.Key(sha256.New, []byte(s), nil, info, 32)
		if err != nil {
			return nil, fmt.Errorf("session: deriving key: %w", err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("session: creating cipher: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("session: creating GCM: %w", err)
		}
		c.aeads = append(c.aeads, aead)
	}
	return c, nil
}

var b64 = base64.RawURLEncoding.Strict()

// associatedData binds the format version, the cookie (base) name, the
// number of chunks (0 for a single, unsplit cookie) and the Codec's binding.
// Every variable-length part is length-prefixed, so no two inputs share one
// encoding.
func (c *Codec) associatedData(name string, chunks int) []byte {
	ad := make([]byte, 0, 1+4+len(name)+4+len(c.binding))
	ad = append(ad, formatVersion)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(name)))
	ad = append(ad, name...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(chunks))
	ad = append(ad, c.binding...)
	return ad
}

// encodedLen is the length of the encoded value for a plaintext of n bytes.
func encodedLen(n int) int { return b64.EncodedLen(overhead + n) }

func (c *Codec) seal(name string, plaintext []byte, chunks int) (string, error) {
	buf := make([]byte, 1+nonceSize, overhead+len(plaintext))
	buf[0] = formatVersion
	if _, err := io.ReadFull(c.rand, buf[1:]); err != nil {
		return "", fmt.Errorf("session: reading nonce: %w", err)
	}
	buf = c.aeads[0].Seal(buf, buf[1:1+nonceSize], plaintext, c.associatedData(name, chunks))
	return b64.EncodeToString(buf), nil
}

func (c *Codec) open(name, value string, chunks int) ([]byte, error) {
	// Bound the work done on attacker input and refuse anything outside the
	// base64url alphabet (the decoder would otherwise skip CR and LF).
	if len(value) < encodedLen(0) || len(value) > c.maxSize*c.maxChunks || !isB64(value) {
		return nil, ErrInvalid
	}
	raw, err := b64.DecodeString(value)
	if err != nil || len(raw) < overhead || raw[0] != formatVersion {
		return nil, ErrInvalid
	}
	nonce, ct := raw[1:1+nonceSize], raw[1+nonceSize:]
	ad := c.associatedData(name, chunks)
	for _, aead := range c.aeads {
		if pt, err := aead.Open(nil, nonce, ct, ad); err == nil {
			return pt, nil
		}
	}
	return nil, ErrInvalid
}

func isB64(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// Seal encrypts plaintext for the single cookie name and returns the cookie
// value (base64url without padding of version || nonce || ciphertext+tag).
// It returns ErrTooLarge when the cookie would exceed the maximum size; use
// SealCookies for values that may need splitting. A value from Seal opens with
// Open and, stored under name, with OpenCookies.
func (c *Codec) Seal(name string, plaintext []byte) (string, error) {
	if len(name)+1+encodedLen(len(plaintext)) > c.maxSize {
		return "", ErrTooLarge
	}
	return c.seal(name, plaintext, 0)
}

// Open decrypts a value made by Seal for the same cookie name. Anything that
// does not authenticate under one of the Codec's secrets returns ErrInvalid.
func (c *Codec) Open(name, value string) ([]byte, error) {
	return c.open(name, value, 0)
}

// SealedSize is about how many bytes name=value takes for a plaintext of n
// bytes sealed into one cookie (chunking adds a few per chunk), e.g. to
// report a value SealCookies refused.
func SealedSize(name string, n int) int { return len(name) + 1 + encodedLen(n) }

// LineSize is how many bytes cookies take in a Cookie request header:
// their name=value pairs joined with "; ".
func LineSize(cookies []Cookie) int {
	n := 0
	for i, c := range cookies {
		if i > 0 {
			n += 2
		}
		n += len(c.Name) + 1 + len(c.Value)
	}
	return n
}

// ChunkName is the name of the i-th chunk (from 1) of the cookie name.
func ChunkName(name string, i int) string { return name + "_" + strconv.Itoa(i) }

// SealCookies encrypts plaintext into the cookie name when it fits, else into
// name_1 ... name_n (n at most the Codec's max chunks, else ErrTooLarge); the
// associated data then binds the name and n, so chunks cannot be reordered,
// dropped or mixed between values. The caller must also delete the names
// returned by StaleCookies so that no cookie from an older value remains.
func (c *Codec) SealCookies(name string, plaintext []byte) ([]Cookie, error) {
	total := encodedLen(len(plaintext))
	if len(name)+1+total <= c.maxSize {
		v, err := c.seal(name, plaintext, 0)
		if err != nil {
			return nil, err
		}
		return []Cookie{{Name: name, Value: v}}, nil
	}
	// Find how many chunks are needed, each filled up to its capacity.
	var caps []int
	for n, room := 1, 0; room < total; n++ {
		if n > c.maxChunks {
			return nil, ErrTooLarge
		}
		capacity := c.maxSize - len(ChunkName(name, n)) - 1
		if capacity <= 0 {
			return nil, ErrTooLarge
		}
		caps = append(caps, capacity)
		room += capacity
	}
	v, err := c.seal(name, plaintext, len(caps))
	if err != nil {
		return nil, err
	}
	out := make([]Cookie, 0, len(caps))
	for i, capacity := range caps {
		n := min(capacity, len(v))
		out = append(out, Cookie{Name: ChunkName(name, i+1), Value: v[:n]})
		v = v[n:]
	}
	return out, nil
}

// OpenCookies finds the value stored under name in jar (a parsed Cookie
// header, see ParseCookieHeader): the cookie name itself, else the chunks
// name_1, name_2, ... up to the first missing index. It returns ErrNone when
// neither name nor name_1 is present and ErrInvalid when what is present does
// not open. If both forms are present (a deletion was lost), the single cookie
// is tried first, then the chunks.
func (c *Codec) OpenCookies(name string, jar map[string]string) ([]byte, error) {
	single, hasSingle := jar[name]
	if hasSingle {
		if pt, err := c.open(name, single, 0); err == nil {
			return pt, nil
		}
	}
	var parts []string
	size := 0
	for i := 1; i <= c.maxChunks; i++ {
		v, ok := jar[ChunkName(name, i)]
		if !ok {
			break
		}
		if v == "" { // never written by SealCookies
			return nil, ErrInvalid
		}
		size += len(v)
		if size > c.maxSize*c.maxChunks {
			return nil, ErrInvalid
		}
		parts = append(parts, v)
	}
	if len(parts) == 0 {
		if hasSingle {
			return nil, ErrInvalid
		}
		return nil, ErrNone
	}
	return c.open(name, strings.Join(parts, ""), len(parts))
}

// ClearCookies lists the cookies in jar that hold (part of) a value under
// name: name itself and every name_N (N a positive decimal without leading
// zeros) whatever its index, sorted. Delete them all on logout; use
// StaleCookies after writing a new value.
func ClearCookies(name string, jar map[string]string) []string {
	var out []string
	if _, ok := jar[name]; ok {
		out = append(out, name)
	}
	prefix := name + "_"
	var idx []int
	for k := range jar {
		suffix, ok := strings.CutPrefix(k, prefix)
		if !ok || suffix == "" || suffix[0] == '0' || len(suffix) > 4 {
			continue
		}
		n, err := strconv.Atoi(suffix)
		if err != nil || n < 1 || strconv.Itoa(n) != suffix {
			continue
		}
		idx = append(idx, n)
	}
	slices.Sort(idx)
	for _, n := range idx {
		out = append(out, ChunkName(name, n))
	}
	return out
}

// StaleCookies lists the names from ClearCookies(name, jar) that fresh (the
// cookies just produced by SealCookies) does not set: the ones to delete so
// that a value that changed shape leaves nothing behind.
func StaleCookies(name string, jar map[string]string, fresh []Cookie) []string {
	var out []string
	for _, n := range ClearCookies(name, jar) {
		if !slices.ContainsFunc(fresh, func(c Cookie) bool { return c.Name == n }) {
			out = append(out, n)
		}
	}
	return out
}
