// Package consumer maps an identity to a Kong consumer. It does not talk to
// Kong itself: the lookup (kong.client.load_consumer) is injected by the
// adapter, and answers are kept in a short process-wide cache because every
// lookup is a round trip to Kong.
package consumer

import (
	"context"
	"crypto/sha1" //nolint:gosec // UUIDv5 (RFC 9562) is defined with SHA-1; it names, it does not protect
	"errors"
	"fmt"
	"sync"
	"time"
)

// Consumer is a Kong consumer entity as kong.client.load_consumer returns it.
type Consumer struct {
	ID        string
	Username  string
	CustomID  string
	CreatedAt int
	Tags      []string
}

// Lookup is kong.client.load_consumer(value, byUsername) in Kong 3.9
// (kong/pdk/client.lua): a UUID value is looked up by id first; with
// byUsername the value is then looked up by username. Kong throws (a 500)
// when value is not a UUID and byUsername is false, so callers never ask
// that. found is false when no consumer matched.
type Lookup interface {
	LoadConsumer(ctx context.Context, value string, byUsername bool) (c Consumer, found bool, err error)
}

// By says which consumer fields a claim value may match.
type By struct {
	ID, Username bool
}

// Cache lifetimes. A consumer found is reused for FoundTTL: a consumer
// deleted or renamed in Kong is still mapped for up to that long. A miss is
// remembered only for MissTTL, so a consumer added to Kong is seen almost
// at once while a burst of unknown names costs one lookup per second.
const (
	FoundTTL = 10 * time.Second
	MissTTL  = 1 * time.Second
	// maxEntries bounds the cache; when full it is emptied.
	maxEntries = 10000
)

// ErrLookup wraps a failed lookup (the PDK call itself failed).
var ErrLookup = errors.New("consumer: lookup failed")

// Resolver finds consumers through a Lookup, caching answers process-wide.
// It is safe for concurrent use.
type Resolver struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]entry
}

type cacheKey struct {
	value        string
	id, username bool
}

type entry struct {
	c       Consumer
	found   bool
	expires time.Time
}

// NewResolver returns a Resolver; now nil means time.Now.
func NewResolver(now func() time.Time) *Resolver {
	if now == nil {
		now = time.Now
	}
	return &Resolver{now: now, entries: map[cacheKey]entry{}}
}

// Shared is the process-wide Resolver: Kong starts one plugin instance per
// worker per config, all in this process.
var Shared = NewResolver(nil)

// Find looks value up as a consumer matching by. A value that is empty, or
// not a UUID when only ids may match, never reaches the lookup (Kong would
// throw on a non-UUID id). Kong's lookup tries the id first: a consumer
// found by id when only usernames may match is no match.
func (r *Resolver) Find(ctx context.Context, l Lookup, value string, by By) (Consumer, bool, error) {
	if value == "" || (!by.ID && !by.Username) {
		return Consumer{}, false, nil
	}
	uuid := IsUUID(value)
	if !by.Username && !uuid {
		return Consumer{}, false, nil
	}
	c, found, err := r.load(ctx, l, cacheKey{value: value, id: by.ID, username: by.Username})
	if err != nil || !found {
		return Consumer{}, false, err
	}
	switch {
	case by.ID && uuid && equalFoldASCII(c.ID, value):
	case by.Username && c.Username == value:
	default:
		return Consumer{}, false, nil
	}
	return c, true, nil
}

// Load looks value up the way Kong's auth plugins load their anonymous
// consumer: load_consumer(value, true), by id or by username.
func (r *Resolver) Load(ctx context.Context, l Lookup, value string) (Consumer, bool, error) {
	if value == "" {
		return Consumer{}, false, nil
	}
	return r.load(ctx, l, cacheKey{value: value, id: true, username: true})
}

func (r *Resolver) load(ctx context.Context, l Lookup, k cacheKey) (Consumer, bool, error) {
	now := r.now()
	r.mu.Lock()
	e, ok := r.entries[k]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.c, e.found, nil
	}
	if l == nil {
		return Consumer{}, false, fmt.Errorf("%w: no lookup available", ErrLookup)
	}
	c, found, err := l.LoadConsumer(ctx, k.value, k.username)
	if err != nil {
		return Consumer{}, false, fmt.Errorf("%w: %w", ErrLookup, err)
	}
	if found && c.ID == "" {
		found = false
	}
	ttl := MissTTL
	if found {
		ttl = FoundTTL
	}
	r.mu.Lock()
	if len(r.entries) >= maxEntries {
		clear(r.entries)
	}
	r.entries[k] = entry{c: c, found: found, expires: now.Add(ttl)}
	r.mu.Unlock()
	return c, found, nil
}

// IsUUID reports whether s has the shape Kong's is_valid_uuid accepts
// (kong/tools/uuid.lua: 8-4-4-4-12 hex digits, any case).
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// credentialNamespace is the UUIDv5 namespace of credential ids.
var credentialNamespace = [16]byte{0x6f, 0x6b, 0x74, 0x61, 0x2d, 0x6f, 0x69, 0x64, 0x63, 0x2d, 0x63, 0x72, 0x65, 0x64, 0x00, 0x01}

// CredentialID is the id of the credential handed to Kong for a token: a
// UUIDv5 of the issuer and the subject, so it is stable for one subject,
// distinct across issuers, and shaped like Kong's own credential ids.
func CredentialID(issuer, subject string) string {
	h := sha1.New() //nolint:gosec // see import
	h.Write(credentialNamespace[:])
	h.Write([]byte(issuer))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
