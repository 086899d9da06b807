// Package sessionstore keeps browser sessions: in the cookie itself
// (Cookie, the default) or in Redis (Redis), where the cookie carries only a
// sealed random id and a session can be ended on every node at once.
package sessionstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/okta-oidc/okta-oidc/internal/session"
)

// Errors callers branch on (with errors.Is). Load also returns
// session.ErrNone (no session cookie) and session.ErrInvalid (a cookie that
// does not open).
var (
	// ErrUnavailable means the store could not be asked (Redis down or
	// slow): the caller fails closed, never passes.
	ErrUnavailable = errors.New("sessionstore: store unavailable")
	// ErrEnded means the session was ended (logout, back-channel logout,
	// expiry) while the request held it: it is not written back.
	ErrEnded = errors.New("sessionstore: session ended")
)

// Store loads and saves the session a request's cookies carry.
type Store interface {
	// Load returns the session the cookies (name -> value) carry.
	Load(ctx context.Context, jar map[string]string) (session.Session, error)
	// Save stores s and returns the cookies that now carry it (without
	// attributes). A store that keeps sessions itself gives s a new ID
	// when it has none; an existing ID that was ended meanwhile is not
	// brought back (ErrEnded).
	Save(ctx context.Context, s *session.Session) ([]session.Cookie, error)
	// Delete ends s for every node that shares the store (nothing to do
	// for the cookie store: the browser holds the only copy).
	Delete(ctx context.Context, s session.Session) error
}

// Ender ends sessions by the user or the IdP session they belong to, and
// remembers one-time values (logout token ids). Only server-side stores are
// Enders.
type Ender interface {
	// EndSessions ends every session of sid (when not empty), else every
	// session of sub, and returns how many it found.
	EndSessions(ctx context.Context, sub, sid string) (int, error)
	// UseOnce records key for ttl and reports whether it was new.
	UseOnce(ctx context.Context, key string, ttlSeconds int) (bool, error)
	// Forget drops a key UseOnce recorded, so that the work it guarded can
	// be tried again after a failure.
	Forget(ctx context.Context, key string) error
}

// Cookie keeps the whole session, sealed, in the browser's cookies.
type Cookie struct {
	Codec *session.Codec
	Name  string // the session cookie's (base) name
}

// Load implements Store.
func (c *Cookie) Load(_ context.Context, jar map[string]string) (session.Session, error) {
	data, err := c.Codec.OpenCookies(c.Name, jar)
	if err != nil {
		return session.Session{}, err
	}
	s, err := session.Unmarshal(data)
	if err != nil {
		return session.Session{}, fmt.Errorf("%w: %v", session.ErrInvalid, err)
	}
	return s, nil
}

// Save implements Store; it returns session.ErrTooLarge when the session
// does not fit the cookies.
func (c *Cookie) Save(_ context.Context, s *session.Session) ([]session.Cookie, error) {
	return c.Codec.SealCookies(c.Name, session.Marshal(*s))
}

// Delete implements Store: the cookie store cannot end a copy of a cookie.
func (c *Cookie) Delete(context.Context, session.Session) error { return nil }
