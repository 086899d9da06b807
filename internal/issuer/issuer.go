// Package issuer keeps, per OpenID issuer, the discovery document and the
// signing keys, shared by every plugin instance in the process.
//
// Keys are refetched for an unknown kid at most once per MinRefresh interval
// whatever the request rate (concurrent callers share one fetch), refreshed
// when the JWKS response's Cache-Control max-age runs out, and the last good
// set is kept when the IdP is down or answers with an empty or invalid set.
//
// While nothing is cached yet (a process that started while the IdP was
// down), a failed discovery or JWKS fetch is retried after a short backoff
// (see retry.go) instead of a whole interval, so service resumes within
// about a second and a half of the IdP's return.
package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/metrics"
)

var (
	// ErrUnknownKey means no key with the token's kid is known, and the
	// refetch allowance for this interval is spent or the refetch did not
	// bring it.
	ErrUnknownKey = errors.New("issuer: unknown signing key")
	// ErrUnavailable means the IdP could not be reached or answered badly
	// and nothing cached can stand in.
	ErrUnavailable = errors.New("issuer: identity provider unavailable")
)

// Metadata is the part of the discovery document the plugin uses.
type Metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// Options configure an Issuer.
type Options struct {
	Client     *http.Client     // calls to the IdP; see NewHTTPClient
	MinRefresh time.Duration    // least time between two JWKS fetches
	Now        func() time.Time // clock
	Jitter     func() float64   // in [0, 1), spreads retries; default math/rand
}

const (
	defaultKeyTTL = time.Hour
	maxKeyTTL     = 24 * time.Hour
	metadataTTL   = 24 * time.Hour
)

// Issuer is one OpenID issuer's discovery document and keys. It is safe for
// concurrent use.
type Issuer struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time
	jitter     func() float64

	mu           sync.Mutex
	meta         *Metadata
	metaFetched  time.Time
	metaAttempt  time.Time
	metaInflight chan struct{}
	metaErr      error
	metaRetry    backoff // while meta is nil

	keys         map[string]jose.JSONWebKey
	keysExpire   time.Time
	keysAttempt  time.Time
	keysInflight chan struct{}
	keysErr      error
	keysRetry    backoff // while keys is empty

	fetches atomic.Int64
	id      uint64
}

var lastID atomic.Uint64

// CacheID names this Issuer uniquely in the process, so that caches of
// verified tokens never share entries between two Issuers (say one with TLS
// verification and one without).
func (i *Issuer) CacheID() string { return strconv.FormatUint(i.id, 10) }

// New returns an Issuer for url. Most callers want Shared.
func New(url string, o Options) *Issuer {
	if o.Client == nil {
		o.Client = NewHTTPClient(5*time.Second, false)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinRefresh <= 0 {
		o.MinRefresh = 30 * time.Second
	}
	if o.Jitter == nil {
		o.Jitter = defaultJitter
	}
	return &Issuer{url: url, client: o.Client, minRefresh: o.MinRefresh, now: o.Now, jitter: o.Jitter, id: lastID.Add(1)}
}

// JWKSFetches counts the JWKS fetches started so far.
func (i *Issuer) JWKSFetches() int64 { return i.fetches.Load() }

// Metadata returns the discovery document, fetching it when missing. Until
// a first fetch succeeds, a failed one is retried after a short backoff;
// a stale document is refreshed at most once per MinRefresh interval.
// Meanwhile callers get the stale document, or ErrUnavailable at once.
func (i *Issuer) Metadata(ctx context.Context) (*Metadata, error) {
	return i.metadata(ctx, false)
}

// metadata is Metadata; urgent skips the backoff while no document is
// known (a JWKS fetch, itself spaced out, needs it now).
func (i *Issuer) metadata(ctx context.Context, urgent bool) (*Metadata, error) {
	i.mu.Lock()
	now := i.now()
	if i.meta != nil && now.Sub(i.metaFetched) < metadataTTL {
		m := i.meta
		i.mu.Unlock()
		return m, nil
	}
	ch := i.metaInflight
	if ch == nil {
		var allowed bool
		if i.meta != nil {
			allowed = now.Sub(i.metaAttempt) >= i.minRefresh
		} else {
			allowed = urgent || i.metaRetry.ready(now)
		}
		if !allowed {
			m, err := i.meta, i.metaErr // stale but better than nothing
			i.mu.Unlock()
			if m == nil {
				return nil, unavailable(err)
			}
			return m, nil
		}
		ch = make(chan struct{})
		i.metaInflight, i.metaAttempt = ch, now
		go i.fetchMetadata(ch)
	}
	i.mu.Unlock()
	// One fetch at a time: every caller waits for the one in flight (its
	// own or another's) and takes its result, never starting a second.
	if err := wait(ctx, ch); err != nil {
		return nil, err
	}
	i.mu.Lock()
	m, err := i.meta, i.metaErr
	i.mu.Unlock()
	if m == nil {
		return nil, unavailable(err)
	}
	return m, nil
}

// unavailable wraps the last fetch error, for logs, in ErrUnavailable.
func unavailable(last error) error {
	if last == nil {
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, last)
}

func (i *Issuer) fetchMetadata(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), i.client.Timeout+time.Second)
	defer cancel()
	m, err := i.discover(ctx)
	i.mu.Lock()
	now := i.now()
	i.metaErr = err
	switch {
	case err == nil:
		i.meta, i.metaFetched = m, now
		i.metaRetry.reset()
	case i.meta == nil:
		i.metaRetry.failed(now, i.jitter)
	}
	i.metaInflight = nil
	i.mu.Unlock()
	close(done)
}

func (i *Issuer) discover(ctx context.Context) (_ *Metadata, err error) {
	done := metrics.Since(metrics.Get())
	defer func() { done(metrics.CallDiscovery, err) }()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, i.client), i.url)
	if err != nil {
		return nil, fmt.Errorf("issuer: discovery: %w", err)
	}
	var m Metadata
	if err := p.Claims(&m); err != nil {
		return nil, fmt.Errorf("issuer: discovery document: %w", err)
	}
	if m.JWKSURI == "" {
		return nil, errors.New("issuer: discovery document has no jwks_uri")
	}
	return &m, nil
}

func wait(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Key returns the public signing key named kid. An empty kid names the only
// key of the set, if there is exactly one.
func (i *Issuer) Key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	waited := false
	for {
		i.mu.Lock()
		now := i.now()
		k, found := i.lookup(kid)
		canFetch := i.canFetchKeys(now)
		switch {
		case found:
			if now.After(i.keysExpire) && canFetch && i.keysInflight == nil {
				i.startKeysFetch(now) // scheduled refresh in the background
			}
			i.mu.Unlock()
			return k, nil
		case i.keysInflight != nil:
			ch := i.keysInflight
			i.mu.Unlock()
			if err := wait(ctx, ch); err != nil {
				return jose.JSONWebKey{}, err
			}
			waited = true
			continue
		case canFetch && !waited:
			ch := i.startKeysFetch(now)
			i.mu.Unlock()
			if err := wait(ctx, ch); err != nil {
				return jose.JSONWebKey{}, err
			}
			waited = true
			continue
		}
		haveKeys, last := len(i.keys) > 0, i.keysErr
		i.mu.Unlock()
		if !haveKeys {
			return jose.JSONWebKey{}, unavailable(last)
		}
		return jose.JSONWebKey{}, ErrUnknownKey
	}
}

// canFetchKeys says whether a JWKS fetch may start at now: with keys known,
// once per MinRefresh interval (an unknown kid costs no more, however many
// arrive); with none, as soon as the backoff after the last failure allows.
// It must be called with i.mu held.
func (i *Issuer) canFetchKeys(now time.Time) bool {
	switch {
	case i.keysAttempt.IsZero():
		return true
	case len(i.keys) == 0:
		return i.keysRetry.ready(now)
	}
	return now.Sub(i.keysAttempt) >= i.minRefresh
}

func (i *Issuer) lookup(kid string) (jose.JSONWebKey, bool) {
	if kid == "" {
		if len(i.keys) == 1 {
			for _, k := range i.keys {
				return k, true
			}
		}
		return jose.JSONWebKey{}, false
	}
	k, ok := i.keys[kid]
	return k, ok
}

// startKeysFetch must be called with i.mu held.
func (i *Issuer) startKeysFetch(now time.Time) chan struct{} {
	ch := make(chan struct{})
	i.keysInflight, i.keysAttempt = ch, now
	i.fetches.Add(1)
	go i.fetchKeys(ch)
	return ch
}

func (i *Issuer) fetchKeys(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*i.client.Timeout+time.Second)
	defer cancel()
	keys, ttl, err := i.loadKeys(ctx)
	metrics.Get().JWKSFetch(err)
	i.mu.Lock()
	now := i.now()
	switch {
	case err == nil:
		i.keys, i.keysExpire, i.keysErr = keys, now.Add(ttl), nil
		i.keysRetry.reset()
	case len(i.keys) == 0:
		i.keysErr = err
		i.keysRetry.failed(now, i.jitter)
	default:
		i.keysErr = err // keep the last good keys
	}
	i.keysInflight = nil
	i.mu.Unlock()
	close(done)
}

// LastKeysError returns the error of the last failed JWKS fetch, or nil.
func (i *Issuer) LastKeysError() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keysErr
}

func (i *Issuer) loadKeys(ctx context.Context) (map[string]jose.JSONWebKey, time.Duration, error) {
	m, err := i.metadata(ctx, true)
	if err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.JWKSURI, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("issuer: jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	done := metrics.Since(metrics.Get())
	resp, err := i.client.Do(req)
	done(metrics.CallJWKS, err)
	if err != nil {
		return nil, 0, fmt.Errorf("issuer: fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("issuer: reading JWKS: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("issuer: fetching JWKS: status %d", resp.StatusCode)
	}
	keys, err := ParseKeys(body)
	if err != nil {
		return nil, 0, err
	}
	return keys, cacheTTL(resp.Header.Get("Cache-Control"), i.minRefresh), nil
}

// ParseKeys parses a JWKS document and keeps the public signature keys that
// pass StrongKey, indexed by kid. It fails when none is left.
func ParseKeys(body []byte) (map[string]jose.JSONWebKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("issuer: decoding JWKS: %w", err)
	}
	keys := map[string]jose.JSONWebKey{}
	dups := map[string]bool{}
	for _, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			continue // an unsupported key type must not spoil the others
		}
		if !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if !StrongKey(k.Key) {
			continue // symmetric, RSA under 2048 bits, unusual curve
		}
		if _, dup := keys[k.KeyID]; dup || dups[k.KeyID] {
			delete(keys, k.KeyID) // ambiguous: use none of them
			dups[k.KeyID] = true
			continue
		}
		keys[k.KeyID] = k
	}
	if len(keys) == 0 {
		return nil, errors.New("issuer: JWKS has no usable signing key")
	}
	return keys, nil
}

// cacheTTL reads max-age from a Cache-Control header, bounded below by min
// and above by a day; without one keys are kept an hour.
func cacheTTL(cc string, floor time.Duration) time.Duration {
	ttl := defaultKeyTTL
	for _, part := range strings.Split(cc, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "no-cache" || part == "no-store" {
			ttl = floor
			break
		}
		if v, ok := strings.CutPrefix(part, "max-age="); ok {
			if s, err := strconv.Atoi(v); err == nil && s >= 0 {
				// capped before multiplying: a huge max-age must not
				// overflow into a negative TTL (and so the floor)
				ttl = time.Duration(min(s, int(maxKeyTTL/time.Second))) * time.Second
			}
		}
	}
	return min(max(ttl, floor), maxKeyTTL)
}
