// Package token verifies JWTs issued by an OpenID provider: signature with a
// key from the issuer's JWKS (never one named by the token), an algorithm
// allowlist, exact issuer, audience, and time claims with one leeway.
package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/issuer"
)

// MaxTokenBytes caps the size of a token accepted for verification.
const MaxTokenBytes = 16 << 10

// ErrInvalid is wrapped by every error that means the token itself is bad
// (as opposed to the IdP being unavailable).
var ErrInvalid = errors.New("token: invalid")

// Reasons, each wrapping ErrInvalid, for logs and tests.
var (
	ErrMalformed  = fmt.Errorf("%w: malformed", ErrInvalid)
	ErrAlgorithm  = fmt.Errorf("%w: algorithm not allowed", ErrInvalid)
	ErrHeader     = fmt.Errorf("%w: forbidden header parameter", ErrInvalid)
	ErrSignature  = fmt.Errorf("%w: bad signature", ErrInvalid)
	ErrKey        = fmt.Errorf("%w: unknown signing key", ErrInvalid)
	ErrIssuer     = fmt.Errorf("%w: wrong issuer", ErrInvalid)
	ErrAudience   = fmt.Errorf("%w: wrong audience", ErrInvalid)
	ErrExpired    = fmt.Errorf("%w: expired", ErrInvalid)
	ErrNotYet     = fmt.Errorf("%w: not valid yet", ErrInvalid)
	ErrClaims     = fmt.Errorf("%w: bad claims", ErrInvalid)
	ErrNotAccess  = fmt.Errorf("%w: not an access token", ErrInvalid)
	ErrBound      = fmt.Errorf("%w: sender-constrained (cnf), not a bearer token", ErrInvalid)
	ErrWeakKey    = fmt.Errorf("%w: signing key too weak", ErrInvalid)
	ErrNonce      = fmt.Errorf("%w: nonce mismatch", ErrInvalid)
	ErrAuthorized = fmt.Errorf("%w: azp mismatch", ErrInvalid)
)

// KeySource finds the issuer's public key for a kid.
// It returns issuer.ErrUnknownKey or issuer.ErrUnavailable.
type KeySource interface {
	Key(ctx context.Context, kid string) (jose.JSONWebKey, error)
}

// Kind tells what a token is for.
type Kind int

const (
	// Access tokens are API credentials presented as Bearer tokens: an
	// ID token (nonce or at_hash present) is refused, so is a
	// sender-constrained token (cnf present, RFC 9449 and 8705) and one
	// whose typ names another kind of JWT. Without configured audiences
	// the token must also show it is an access token: a cid claim (Okta)
	// or typ at+jwt (RFC 9068) or application/okta-internal-at+jwt.
	Access Kind = iota
	// ID tokens come back from login: nonce must match; azp, when
	// present, must be the client, and must be present when aud holds
	// several audiences (OIDC Core 3.1.3.7).
	ID
	// Logout tokens (OpenID Connect Back-Channel Logout 1.0) are POSTed by
	// the IdP: aud must name the client, iat is required and no older than
	// MaxAge, exp is required, events must hold the back-channel logout
	// event, jti must be present, sid and/or sub name whom to log out, and
	// nonce is forbidden (so an ID token never passes as one). typ, when
	// present, must be logout+jwt or jwt.
	Logout
)

// BackchannelLogoutEvent is the events member a logout token must carry.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// ErrNotLogout: the token is not a back-channel logout token.
var ErrNotLogout = fmt.Errorf("%w: not a logout token", ErrInvalid)

// Config configures a Verifier.
type Config struct {
	Issuer    string
	Audiences []string // empty: aud not checked
	Algs      []string // allowed JWS algorithms; HMAC and none never work
	Leeway    time.Duration
	Kind      Kind
	Now       func() time.Time
	Cache     *Cache // optional verified-token cache
	// MaxAge bounds how old (by iat) a Logout token may be; default 2m.
	MaxAge time.Duration
}

// Verifier verifies tokens of one issuer. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	keys   KeySource
	algs   []jose.SignatureAlgorithm
	prefix [32]byte // cache namespace: everything that changes the verdict
}

var asymmetric = map[string]jose.SignatureAlgorithm{
	"RS256": jose.RS256, "RS384": jose.RS384, "RS512": jose.RS512,
	"PS256": jose.PS256, "PS384": jose.PS384, "PS512": jose.PS512,
	"ES256": jose.ES256, "ES384": jose.ES384, "ES512": jose.ES512,
	"EdDSA": jose.EdDSA,
}

// NewVerifier returns a Verifier. Algorithms outside the asymmetric set are
// dropped; with none left every token is refused.
func NewVerifier(keys KeySource, cfg Config) *Verifier {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{cfg: cfg, keys: keys}
	for _, a := range cfg.Algs {
		if alg, ok := asymmetric[a]; ok {
			v.algs = append(v.algs, alg)
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%q|%q|%q|%d|%d|%s", cfg.Issuer, cfg.Audiences, cfg.Algs, cfg.Leeway, cfg.Kind, sourceID(keys))
	copy(v.prefix[:], h.Sum(nil))
	return v
}

// sourceID names the key source in the cache namespace: two verifiers that
// share a Cache but not their keys (the same issuer fetched once with
// ssl_verify off and once with it on) must not answer for each other. A
// source that names itself (issuer.Issuer does) is shared by every verifier
// using it; any other gets a random name of its own, never shared.
func sourceID(ks KeySource) string {
	if n, ok := ks.(interface{ CacheID() string }); ok {
		return "id:" + n.CacheID()
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("rand:%x", b)
}

// forbiddenHeaders are refused in the protected header: those naming a key
// inside the token (the key always comes from the issuer's JWKS instead),
// crit (no extension is understood), b64 (go-jose honours it even without
// crit, RFC 7797), and zip, enc, cty, which belong to JWE or nested tokens
// and never to a plain signed access or ID token.
var forbiddenHeaders = []string{"jwk", "jku", "x5u", "x5c", "crit", "b64", "zip", "enc", "cty"}

// Verify checks raw and returns its claims. Errors wrap ErrInvalid when the
// token is bad, or the KeySource's error when the key could not be had.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	now := v.cfg.Now()
	var key [32]byte
	if v.cfg.Cache != nil && v.cfg.Kind == Access {
		key = cacheKey(v.prefix, raw)
		if c, ok := v.cfg.Cache.Get(key, now); ok {
			return c, nil
		}
	}
	claims, exp, err := v.verify(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	if v.cfg.Cache != nil && v.cfg.Kind == Access {
		v.cfg.Cache.Put(key, claims, exp.Add(v.cfg.Leeway), len(raw))
	}
	return claims, nil
}

// VerifyID checks an ID token returned at login, including its nonce.
func (v *Verifier) VerifyID(ctx context.Context, raw, nonce, clientID string) (Claims, error) {
	c, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if n, _ := c["nonce"].(string); nonce == "" || n != nonce {
		return nil, ErrNonce
	}
	azp, present := c["azp"]
	if present && azp != clientID {
		return nil, ErrAuthorized
	}
	if aud, _ := c["aud"].([]any); len(aud) > 1 && !present {
		return nil, fmt.Errorf("%w: several audiences and no azp", ErrAuthorized)
	}
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (Claims, time.Time, error) {
	var zero time.Time
	if len(raw) == 0 || len(raw) > MaxTokenBytes || strings.Count(raw, ".") != 2 || !canonical(raw) {
		return nil, zero, ErrMalformed
	}
	header, err := decodeHeader(raw[:strings.IndexByte(raw, '.')])
	if err != nil {
		return nil, zero, err
	}
	alg, _ := header["alg"].(string)
	if !slices.Contains(v.cfg.Algs, alg) || asymmetric[alg] == "" {
		return nil, zero, ErrAlgorithm
	}
	for _, h := range forbiddenHeaders {
		if _, present := header[h]; present {
			return nil, zero, fmt.Errorf("%w: %s", ErrHeader, h)
		}
	}
	kid, isString := header["kid"].(string)
	if _, present := header["kid"]; present && !isString {
		return nil, zero, ErrMalformed
	}
	typ, isString := header["typ"].(string)
	if _, present := header["typ"]; present && !isString {
		return nil, zero, ErrMalformed
	}
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, zero, ErrMalformed
	}
	jwk, err := v.keys.Key(ctx, kid)
	if err != nil {
		if errors.Is(err, issuer.ErrUnknownKey) {
			return nil, zero, fmt.Errorf("%w (kid %q)", ErrKey, shortKid(kid))
		}
		return nil, zero, err
	}
	if jwk.Algorithm != "" && jwk.Algorithm != alg {
		return nil, zero, ErrAlgorithm
	}
	if !issuer.StrongKey(jwk.Key) {
		return nil, zero, fmt.Errorf("%w (kid %q)", ErrWeakKey, shortKid(kid))
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, zero, ErrSignature
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, zero, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	exp, err := v.checkClaims(claims, typ, now)
	if err != nil {
		return nil, zero, err
	}
	return claims, exp, nil
}

func (v *Verifier) checkClaims(c Claims, typ string, now time.Time) (time.Time, error) {
	var zero time.Time
	if iss, ok := c["iss"].(string); !ok || iss != v.cfg.Issuer {
		return zero, ErrIssuer
	}
	if len(v.cfg.Audiences) > 0 && !AudienceMatches(c["aud"], v.cfg.Audiences) {
		return zero, ErrAudience
	}
	exp, err := CheckTimes(c, now, v.cfg.Leeway, true)
	if err != nil {
		return zero, err
	}
	switch v.cfg.Kind {
	case Access:
		if err := v.checkAccess(c, typ); err != nil {
			return zero, err
		}
	case ID:
		if t := strings.TrimPrefix(strings.ToLower(typ), "application/"); t == "logout+jwt" {
			return zero, fmt.Errorf("%w: typ %q is not an ID token", ErrInvalid, typ)
		}
	case Logout:
		if err := v.checkLogout(c, typ, now); err != nil {
			return zero, err
		}
	}
	return exp, nil
}

// Media types (the typ header, "application/" omitted, lower case) of
// access tokens: RFC 9068's and Okta's.
var accessTypes = []string{"at+jwt", "okta-internal-at+jwt"}

// CheckBearerClaims refuses claims that must never pass as a plain Bearer
// access token, however they arrived (a verified JWT or an introspection
// answer): an ID token's nonce or at_hash, a sender-constrained token's
// cnf (RFC 9449, RFC 8705), and a security event token's events (a
// back-channel logout token, RFC 8417).
func CheckBearerClaims(c Claims) error {
	_, nonce := c["nonce"]
	_, atHash := c["at_hash"]
	if nonce || atHash {
		return fmt.Errorf("%w: looks like an ID token", ErrNotAccess)
	}
	if _, bound := c["cnf"]; bound {
		return ErrBound
	}
	if _, events := c["events"]; events {
		return fmt.Errorf("%w: a security event token (events)", ErrNotAccess)
	}
	return nil
}

// checkAccess refuses what must not pass as a Bearer access token.
func (v *Verifier) checkAccess(c Claims, typ string) error {
	if err := CheckBearerClaims(c); err != nil {
		return err
	}
	t := strings.TrimPrefix(strings.ToLower(typ), "application/")
	isAccessType := slices.Contains(accessTypes, t)
	if t != "" && t != "jwt" && !isAccessType {
		return fmt.Errorf("%w: typ %q", ErrNotAccess, typ)
	}
	if len(v.cfg.Audiences) == 0 && !isAccessType && c.String("cid") == "" {
		// Without an audience nothing else tells another app's ID
		// token from an access token: Okta's ID tokens carry neither.
		return fmt.Errorf("%w: no cid claim or access-token typ", ErrNotAccess)
	}
	return nil
}

// checkLogout checks what makes a JWT of the issuer a back-channel logout
// token (OpenID Connect Back-Channel Logout 1.0, section 2.6).
func (v *Verifier) checkLogout(c Claims, typ string, now time.Time) error {
	t := strings.TrimPrefix(strings.ToLower(typ), "application/")
	if t != "" && t != "jwt" && t != "logout+jwt" {
		return fmt.Errorf("%w: typ %q", ErrNotLogout, typ)
	}
	if _, nonce := c["nonce"]; nonce {
		return fmt.Errorf("%w: nonce present", ErrNotLogout)
	}
	if len(v.cfg.Audiences) == 0 {
		return fmt.Errorf("%w: no client to check aud against", ErrAudience)
	}
	ev, ok := c["events"].(map[string]any)
	if !ok {
		return fmt.Errorf("%w: no events", ErrNotLogout)
	}
	if _, ok := ev[BackchannelLogoutEvent].(map[string]any); !ok {
		return fmt.Errorf("%w: no back-channel logout event", ErrNotLogout)
	}
	if jti, ok := c["jti"].(string); !ok || jti == "" {
		return fmt.Errorf("%w: jti missing", ErrNotLogout)
	}
	sub, subOK := c["sub"].(string)
	sid, sidOK := c["sid"].(string)
	if _, present := c["sub"]; present && (!subOK || sub == "") {
		return fmt.Errorf("%w: sub is not a string", ErrNotLogout)
	}
	if _, present := c["sid"]; present && (!sidOK || sid == "") {
		return fmt.Errorf("%w: sid is not a string", ErrNotLogout)
	}
	if !subOK && !sidOK {
		return fmt.Errorf("%w: neither sub nor sid", ErrNotLogout)
	}
	iat, ok, err := c.Time("iat")
	if err != nil || !ok {
		return fmt.Errorf("%w: iat missing or not a number", ErrClaims)
	}
	maxAge := v.cfg.MaxAge
	if maxAge <= 0 {
		maxAge = 2 * time.Minute
	}
	if now.Sub(iat) > maxAge+v.cfg.Leeway {
		return fmt.Errorf("%w: issued too long ago", ErrExpired)
	}
	return nil
}

// CheckTimes checks exp, nbf and iat against now with one leeway. exp is
// required when requireExp is set; each present claim must be a JSON number.
// It returns exp (zero when absent).
func CheckTimes(c Claims, now time.Time, leeway time.Duration, requireExp bool) (time.Time, error) {
	exp, ok, err := c.Time("exp")
	switch {
	case err != nil || (!ok && requireExp):
		return time.Time{}, fmt.Errorf("%w: exp missing or not a number", ErrClaims)
	case ok && !now.Before(exp.Add(leeway)):
		return time.Time{}, ErrExpired
	}
	for _, name := range []string{"nbf", "iat"} {
		t, ok, err := c.Time(name)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %v", ErrClaims, err)
		}
		if ok && now.Add(leeway).Before(t) {
			return time.Time{}, ErrNotYet
		}
	}
	return exp, nil
}

// AudienceMatches reports whether an aud claim (a string or an array of
// strings) holds one of want.
func AudienceMatches(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(want, a)
	case []any:
		for _, e := range a {
			if s, ok := e.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

func decodeHeader(seg string) (map[string]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, ErrMalformed
	}
	h, err := decodeClaims(b)
	if err != nil {
		return nil, ErrMalformed
	}
	return h, nil
}

// canonical reports whether the segments of raw are canonical unpadded
// base64url. go-jose's decoder skips CR and LF and ignores the unused low
// bits of a segment's last character, so without this one token would have
// many spellings, each verified and cached on its own.
func canonical(raw string) bool {
	start := 0
	for i := 0; i <= len(raw); i++ {
		if i < len(raw) && raw[i] != '.' {
			if b64Value(raw[i]) < 0 {
				return false
			}
			continue
		}
		seg := raw[start:i]
		start = i + 1
		if len(seg) == 0 {
			continue
		}
		last := b64Value(seg[len(seg)-1])
		switch len(seg) % 4 {
		case 1:
			return false
		case 2:
			if last&0x0f != 0 {
				return false
			}
		case 3:
			if last&0x03 != 0 {
				return false
			}
		}
	}
	return true
}

func b64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// shortKid bounds a token's kid (chosen by whoever sent the token) for error
// texts that reach the log.
func shortKid(kid string) string {
	const max = 64
	if len(kid) <= max {
		return kid
	}
	return kid[:max] + "..."
}
