package sessionstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/session"
)

// idBytes is the size of a session id: 256 random bits.
const idBytes = 32

// idMarker starts the sealed cookie value of a Redis session id, so a
// cookie-store payload never reads as an id.
const idMarker = 'R'

// envelopeVersion starts every value written to Redis.
const envelopeVersion = 1

// maxValue bounds a session value read from Redis.
const maxValue = 256 << 10

// Redis keeps sessions in Redis. The cookie holds the session id sealed
// (and so bound to the cookie name, issuer and client) with the cookie
// codec; the value in Redis is the session sealed with a key of its own
// (the same secrets, another purpose) and bound to its Redis key. Keys:
//
//	<prefix>session:<h(id)>        the session, TTL = remaining absolute timeout
//	<prefix>sub:<h(issuer,client,sub)>  set of the user's session keys
//	<prefix>sid:<h(issuer,client,sid)>  set of the IdP session's session keys
//	<prefix>once:<h(key)>          one-time values (logout token jti)
//
// where h is SHA-256, base64url: no identifier appears in a key name.
type Redis struct {
	client   *redis.Client
	cookie   *session.Codec // seals the id into the cookie
	blob     *session.Codec // seals the session value in Redis
	name     string
	prefix   string
	scope    string // issuer and client, for index keys
	absolute time.Duration
	timeout  time.Duration
	rand     io.Reader
	now      func() time.Time
}

// RedisOptions configure NewRedis.
type RedisOptions struct {
	Settings   config.Redis
	Secrets    []string // session_secret first, then the previous ones
	Issuer     string
	ClientID   string
	CookieName string
	Absolute   time.Duration // session_absolute_timeout
	Rand       io.Reader     // default crypto/rand
	Now        func() time.Time
}

// NewRedis returns a Redis store. It does not connect: the shared pool for
// the target connects on first use and reconnects by itself.
func NewRedis(o RedisOptions) (*Redis, error) {
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cookie, err := session.NewCodec(o.Secrets, session.WithRand(o.Rand), session.WithBinding(o.Issuer, o.ClientID))
	if err != nil {
		return nil, err
	}
	blob, err := session.NewCodec(o.Secrets, session.WithRand(o.Rand), session.WithBinding(o.Issuer, o.ClientID),
		session.WithPurpose("redis session"), session.WithMaxCookieSize(maxValue), session.WithMaxChunks(1))
	if err != nil {
		return nil, err
	}
	st := o.Settings
	return &Redis{
		client: Pool(st), cookie: cookie, blob: blob, name: o.CookieName,
		prefix: st.Prefix, scope: strconv.Quote(o.Issuer) + " " + strconv.Quote(o.ClientID),
		absolute: o.Absolute, timeout: st.ConnectTimeout + st.ReadTimeout + st.SendTimeout,
		rand: o.Rand, now: o.Now,
	}, nil
}

// quiet drops go-redis's own log lines (dial failures, retries): the
// plugin reports a failed call once, in the decision that failed closed.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }

var (
	poolsMu sync.Mutex
	pools   = map[[32]byte]*redis.Client{}
)

// Pool returns the process-wide client (a connection pool) for a Redis
// target: every plugin instance and route naming the same target, with the
// same credentials and timeouts, shares it.
func Pool(st config.Redis) *redis.Client {
	key := sha256.Sum256(fmt.Appendf(nil, "%q", []any{st.Host, st.Port, st.Username, st.Password, st.Database,
		st.SSL, st.SSLVerify, st.ServerName, st.ConnectTimeout, st.ReadTimeout, st.SendTimeout}))
	poolsMu.Lock()
	defer poolsMu.Unlock()
	if c, ok := pools[key]; ok {
		return c
	}
	opts := &redis.Options{
		Addr:                  net.JoinHostPort(st.Host, strconv.Itoa(st.Port)),
		Username:              st.Username,
		Password:              st.Password,
		DB:                    st.Database,
		DialTimeout:           st.ConnectTimeout,
		ReadTimeout:           st.ReadTimeout,
		WriteTimeout:          st.SendTimeout,
		ContextTimeoutEnabled: true,
		// One retry replaces a pooled connection that died with a
		// restarted server; the caller's deadline bounds the whole call.
		MaxRetries:      1,
		MinRetryBackoff: 10 * time.Millisecond,
		MaxRetryBackoff: 50 * time.Millisecond,
		PoolTimeout:     st.ConnectTimeout + st.ReadTimeout,
		DisableIdentity: true,
	}
	if st.SSL {
		name := st.ServerName
		if name == "" {
			name = st.Host
		}
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name, InsecureSkipVerify: !st.SSLVerify} //nolint:gosec // redis_ssl_verify: false is the operator's explicit choice
	}
	c := redis.NewClient(opts)
	pools[key] = c
	return c
}

func (r *Redis) hash(kind, v string) string {
	sum := sha256.Sum256([]byte(v))
	return r.prefix + kind + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func (r *Redis) sessionKey(id string) string { return r.hash("session", id) }
func (r *Redis) subKey(sub string) string    { return r.hash("sub", r.scope+" "+strconv.Quote(sub)) }
func (r *Redis) sidKey(sid string) string    { return r.hash("sid", r.scope+" "+strconv.Quote(sid)) }

func (r *Redis) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

// Load implements Store.
func (r *Redis) Load(ctx context.Context, jar map[string]string) (session.Session, error) {
	v, ok := jar[r.name]
	if !ok {
		return session.Session{}, session.ErrNone
	}
	raw, err := r.cookie.Open(r.name, v)
	if err != nil || len(raw) != 1+idBytes || raw[0] != idMarker {
		return session.Session{}, session.ErrInvalid
	}
	id := string(raw[1:])
	key := r.sessionKey(id)
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	val, err := r.client.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return session.Session{}, fmt.Errorf("%w: %w", session.ErrInvalid, ErrEnded)
	case err != nil:
		return session.Session{}, unavailable("get", err)
	}
	plain, err := r.blob.Open(key, val)
	if err != nil {
		return session.Session{}, session.ErrInvalid
	}
	s, err := decodeEnvelope(plain)
	if err != nil {
		return session.Session{}, fmt.Errorf("%w: %v", session.ErrInvalid, err)
	}
	s.ID = id
	return s, nil
}

func encodeEnvelope(s session.Session) []byte {
	b := []byte{envelopeVersion}
	b = binary.AppendUvarint(b, uint64(len(s.SID)))
	b = append(b, s.SID...)
	return append(b, session.Marshal(s)...)
}

func decodeEnvelope(b []byte) (session.Session, error) {
	if len(b) < 2 || b[0] != envelopeVersion {
		return session.Session{}, errors.New("unknown envelope")
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return session.Session{}, errors.New("bad envelope")
	}
	sid := string(b[1+k : 1+k+int(n)])
	s, err := session.Unmarshal(b[1+k+int(n):])
	if err != nil {
		return session.Session{}, err
	}
	s.SID = sid
	return s, nil
}

// Save implements Store. A new session is written only if its id is new
// (SET NX); an existing one only if it still exists (SET XX), so a renewal
// racing a logout on another node never brings the session back.
func (r *Redis) Save(ctx context.Context, s *session.Session) ([]session.Cookie, error) {
	ttl := s.Created.Add(r.absolute).Sub(r.now())
	if ttl < time.Second {
		return nil, ErrEnded
	}
	fresh := s.ID == ""
	if fresh {
		b := make([]byte, idBytes)
		if _, err := io.ReadFull(r.rand, b); err != nil {
			return nil, fmt.Errorf("sessionstore: random: %w", err)
		}
		s.ID = string(b)
	}
	key := r.sessionKey(s.ID)
	val, err := r.blob.Seal(key, encodeEnvelope(*s))
	if err != nil {
		return nil, fmt.Errorf("sessionstore: sealing: %w", err)
	}
	idx := []string{}
	if s.Subject != "" {
		idx = append(idx, r.subKey(s.Subject))
	}
	if s.SID != "" {
		idx = append(idx, r.sidKey(s.SID))
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	// A new session only if its id is new; a renewal only if it still
	// exists (a logout on another node must not be undone).
	mode := "XX"
	if fresh {
		mode = "NX"
	}
	var set *redis.StatusCmd
	_, err = r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		set = p.SetArgs(ctx, key, val, redis.SetArgs{TTL: ttl, Mode: mode})
		for _, k := range idx {
			p.SAdd(ctx, k, key)
			// Every session in the set ends within the absolute
			// timeout of its last save.
			p.Expire(ctx, k, r.absolute)
		}
		return nil
	})
	if errors.Is(err, redis.Nil) || (err == nil && set.Val() != "OK") {
		if fresh {
			return nil, errors.New("sessionstore: session id collision")
		}
		return nil, ErrEnded
	}
	if err != nil {
		return nil, unavailable("set", err)
	}
	cv, err := r.cookie.Seal(r.name, append([]byte{idMarker}, s.ID...))
	if err != nil {
		return nil, fmt.Errorf("sessionstore: sealing id: %w", err)
	}
	return []session.Cookie{{Name: r.name, Value: cv}}, nil
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, s session.Session) error {
	if s.ID == "" {
		return nil
	}
	key := r.sessionKey(s.ID)
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		if s.Subject != "" {
			p.SRem(ctx, r.subKey(s.Subject), key)
		}
		if s.SID != "" {
			p.SRem(ctx, r.sidKey(s.SID), key)
		}
		return nil
	})
	if err != nil {
		return unavailable("del", err)
	}
	return nil
}

// EndSessions implements Ender.
func (r *Redis) EndSessions(ctx context.Context, sub, sid string) (int, error) {
	var idx string
	switch {
	case sid != "":
		idx = r.sidKey(sid)
	case sub != "":
		idx = r.subKey(sub)
	default:
		return 0, errors.New("sessionstore: neither sub nor sid")
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	keys, err := r.client.SMembers(ctx, idx).Result()
	if err != nil {
		return 0, unavailable("smembers", err)
	}
	var n int64
	if len(keys) > 0 {
		if n, err = r.client.Del(ctx, keys...).Result(); err != nil {
			return 0, unavailable("del", err)
		}
	}
	if err := r.client.Del(ctx, idx).Err(); err != nil {
		return 0, unavailable("del", err)
	}
	return int(n), nil
}

// UseOnce implements Ender.
func (r *Redis) UseOnce(ctx context.Context, key string, ttlSeconds int) (bool, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	ok, err := r.client.SetNX(ctx, r.onceKey(key), 1, time.Duration(ttlSeconds)*time.Second).Result()
	if err != nil {
		return false, unavailable("setnx", err)
	}
	return ok, nil
}

// Forget implements Ender.
func (r *Redis) Forget(ctx context.Context, key string) error {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := r.client.Del(ctx, r.onceKey(key)).Err(); err != nil {
		return unavailable("del", err)
	}
	return nil
}

func (r *Redis) onceKey(key string) string { return r.hash("once", r.scope+" "+key) }
