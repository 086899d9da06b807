// Package introspect checks opaque access tokens at the issuer's OAuth 2.0
// introspection endpoint (RFC 7662), with a bounded cache of answers.
package introspect

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/metrics"
	"github.com/okta-oidc/okta-oidc/internal/token"
)

// ErrInactive means the issuer says the token is not active.
var ErrInactive = fmt.Errorf("%w: not active", token.ErrInvalid)

// minOpaqueLen is the shortest token worth asking about: RFC 6749 section
// 10.10 asks for at least 128 bits of entropy, 22 base64 characters.
const minOpaqueLen = 22

// maxAnswer bounds the size of an introspection answer read.
const maxAnswer = 1 << 20

// Config configures a Client.
type Config struct {
	// Endpoint returns the introspection endpoint (from discovery).
	Endpoint     func(ctx context.Context) (string, error)
	ClientID     string
	ClientSecret string
	Issuer       string        // when the answer names an issuer, it must be this one
	Audiences    []string      // when set, the answer's aud must hold one
	Leeway       time.Duration // for exp and nbf
	CacheTTL     time.Duration // longest time an active answer is reused
	HTTP         *http.Client
	Cache        *token.Cache // active answers
	Now          func() time.Time
	// Limits cap the issuer's introspection calls (zero: the defaults).
	Limits Limits
	// Guard spends the issuer's call budget; default: SharedGuard(Issuer,
	// Limits), shared by every route of the process.
	Guard *Guard
}

// Client introspects tokens. It is safe for concurrent use.
type Client struct {
	cfg    Config
	prefix [32]byte
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Guard == nil {
		cfg.Guard = SharedGuard(cfg.Issuer, cfg.Limits)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "introspect|%q|%q|%q|%q|%d", cfg.Issuer, cfg.ClientID, cfg.ClientSecret, cfg.Audiences, cfg.Leeway))
	return &Client{cfg: cfg, prefix: sum}
}

func (c *Client) key(raw string) [32]byte {
	h := sha256.New()
	h.Write(c.prefix[:])
	h.Write([]byte(raw))
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// Shaped reports whether raw could be an OAuth 2.0 access token at all: the
// b64token syntax of RFC 6750 section 2.1 (letters, digits, -._~+/ and
// trailing =), at least minOpaqueLen and at most token.MaxTokenBytes long.
// Anything else is refused without asking the issuer.
func Shaped(raw string) bool {
	if len(raw) < minOpaqueLen || len(raw) > token.MaxTokenBytes {
		return false
	}
	body := strings.TrimRight(raw, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		b := body[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case b == '-', b == '.', b == '_', b == '~', b == '+', b == '/':
		default:
			return false
		}
	}
	return true
}

// Introspect returns the claims of an active token. Errors wrap
// token.ErrInvalid when the token is not acceptable; any other error means
// the IdP could not answer or was not asked (ErrBusy, ErrBackingOff): never
// a pass.
//
// Only tokens of the right shape that are in neither cache cost a call, and
// those calls are capped per issuer; cached active answers keep working
// while the issuer is being spared.
func (c *Client) Introspect(ctx context.Context, raw string) (token.Claims, error) {
	if !Shaped(raw) {
		return nil, token.ErrMalformed
	}
	now := c.cfg.Now()
	key := c.key(raw)
	m := metrics.Get()
	if cl, ok := c.cfg.Cache.Get(key, now); ok {
		m.Introspection(metrics.IntrospectCached)
		return cl, c.check(cl, now)
	}
	if c.cfg.Guard.isNegative(key, now) {
		m.Introspection(metrics.IntrospectCached)
		return nil, ErrInactive
	}
	if err := c.cfg.Guard.acquire(now); err != nil {
		m.Introspection(metrics.IntrospectLimited)
		return nil, err
	}
	done := metrics.Since(m)
	cl, err := c.call(ctx, raw)
	done(metrics.CallIntrospection, err)
	c.cfg.Guard.release()
	if err != nil {
		m.Introspection(metrics.IntrospectError)
		return nil, err
	}
	if cl["active"] != true {
		m.Introspection(metrics.IntrospectInactive)
		c.cfg.Guard.putNegative(key, now)
		return nil, ErrInactive
	}
	m.Introspection(metrics.IntrospectActive)
	if err := c.check(cl, now); err != nil {
		return nil, err
	}
	expiry := now.Add(c.cfg.CacheTTL)
	if exp, ok, _ := cl.Time("exp"); ok && exp.Before(expiry) {
		expiry = exp.Add(c.cfg.Leeway)
	}
	c.cfg.Cache.Put(key, cl, expiry, len(raw))
	return cl, nil
}

func (c *Client) call(ctx context.Context, raw string) (token.Claims, error) {
	endpoint, err := c.cfg.Endpoint(ctx)
	if err != nil {
		return nil, err
	}
	if endpoint == "" {
		return nil, errors.New("introspect: the issuer advertises no introspection_endpoint")
	}
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("introspect: reading the answer: %w", err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		c.cfg.Guard.throttled(c.cfg.Now(), resp.Header)
		return nil, ErrRateLimited
	}
	if resp.StatusCode != http.StatusOK {
		// 401 here means our client credentials are wrong: a configuration
		// problem, not the caller's token.
		return nil, fmt.Errorf("introspect: status %d", resp.StatusCode)
	}
	if len(body) > maxAnswer {
		return nil, errors.New("introspect: the answer is too large")
	}
	cl, err := token.DecodeClaims(body)
	if err != nil {
		return nil, fmt.Errorf("introspect: decoding the answer: %w", err)
	}
	return cl, nil
}

// check applies the claims an introspection answer may carry.
func (c *Client) check(cl token.Claims, now time.Time) error {
	if iss, present := cl["iss"]; present && iss != c.cfg.Issuer {
		return token.ErrIssuer
	}
	if len(c.cfg.Audiences) > 0 && !token.AudienceMatches(cl["aud"], c.cfg.Audiences) {
		return token.ErrAudience
	}
	if _, err := token.CheckTimes(cl, now, c.cfg.Leeway, false); err != nil {
		return err
	}
	if err := token.CheckBearerClaims(cl); err != nil {
		return err
	}
	if tt, present := cl["token_type"]; present && !bearerType(tt) {
		return fmt.Errorf("%w: token_type %v", token.ErrNotAccess, tt)
	}
	return nil
}

// bearerType reports whether an introspection answer's token_type names a
// plain bearer access token: Okta and RFC 7662 servers say Bearer; a DPoP
// token says DPoP, a refresh token refresh_token.
func bearerType(tt any) bool {
	s, ok := tt.(string)
	if !ok {
		return false
	}
	switch strings.ToLower(s) {
	case "", "bearer", "access_token", "urn:ietf:params:oauth:token-type:access_token":
		return true
	}
	return false
}
