package sessionstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/session"
	"github.com/okta-oidc/okta-oidc/internal/testredis"
)

const secret = "0123456789abcdef0123456789abcdef-test"

func settings(srv *testredis.Server) config.Redis {
	return config.Redis{
		Host: "127.0.0.1", Port: srv.Port, Prefix: "t:", SSLVerify: true,
		ConnectTimeout: time.Second, ReadTimeout: time.Second, SendTimeout: time.Second, // roomy for a loaded machine
	}
}

type clk struct{ now time.Time }

func (c *clk) Now() time.Time { return c.now }

func newRedis(t *testing.T, srv *testredis.Server, c *clk, client string) *Redis {
	t.Helper()
	r, err := NewRedis(RedisOptions{
		Settings: settings(srv), Secrets: []string{secret}, Issuer: "https://idp.example/oauth2/default",
		ClientID: client, CookieName: "okta_session", Absolute: time.Hour, Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sample(c *clk, sub, sid string) session.Session {
	return session.Session{
		Subject: sub, SID: sid, AccessToken: "access-token-secret-value", RefreshToken: "refresh-token-secret-value",
		IDToken: "id.token.value", AccessExpiry: c.now.Add(time.Hour).Truncate(time.Second),
		Created: c.now.Add(-10 * time.Minute).Truncate(time.Second), LastSeen: c.now.Truncate(time.Second),
	}
}

func jarOf(cs []session.Cookie) map[string]string {
	m := map[string]string{}
	for _, c := range cs {
		m[c.Name] = c.Value
	}
	return m
}

func save(t *testing.T, r *Redis, s session.Session) (map[string]string, session.Session) {
	t.Helper()
	cs, err := r.Save(context.Background(), &s)
	if err != nil {
		t.Fatal(err)
	}
	return jarOf(cs), s
}

// TestRedisRoundTrip: the cookie carries only a sealed id; Redis holds the
// session encrypted (no token in clear) with a TTL of the remaining
// absolute timeout; Load gives the session back.
func TestRedisRoundTrip(t *testing.T) {
	srv := testredis.Start(t)
	c := &clk{now: time.Now()}
	r := newRedis(t, srv, c, "kong-web")
	jar, saved := save(t, r, sample(c, "alice", "sid-1"))
	if len(saved.ID) != idBytes {
		t.Fatalf("session id is %d bytes, want %d", len(saved.ID), idBytes)
	}
	if v := jar["okta_session"]; len(jar) != 1 || len(v) > 120 {
		t.Fatalf("cookies = %v: want one small cookie", jar)
	}
	got, err := r.Load(context.Background(), jar)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != saved.ID || got.SID != saved.SID || string(session.Marshal(got)) != string(session.Marshal(saved)) {
		t.Fatalf("loaded %+v, saved %+v", got, saved)
	}
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()
	keys, err := raw.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	values := 0
	for _, k := range keys {
		if strings.Contains(k, "alice") || strings.Contains(k, "sid-1") {
			t.Errorf("key %q names the user", k)
		}
		if typ, _ := raw.Type(context.Background(), k).Result(); typ == "string" {
			values++
			v, err := raw.Get(context.Background(), k).Result()
			if err != nil || v == "" {
				t.Fatalf("GET %q = %q, %v", k, v, err)
			}
			if strings.Contains(v, "token") || strings.Contains(v, "alice") {
				t.Errorf("value of %q is not encrypted", k)
			}
			ttl, _ := raw.TTL(context.Background(), k).Result()
			if ttl > 50*time.Minute || ttl < 49*time.Minute {
				t.Errorf("TTL = %v, want the remaining absolute timeout (50m)", ttl)
			}
		}
	}
	// One session was saved: exactly one value (its session key) must
	// have been examined, or the checks above held vacuously.
	if values != 1 {
		t.Fatalf("examined %d session values among keys %q, want 1", values, keys)
	}
}

// TestRedisCookieIsBound: the id cookie opens only for the client (and
// cookie name) it was made for, and a forged or cookie-store value never
// reads as an id.
func TestRedisCookieIsBound(t *testing.T) {
	srv := testredis.Start(t)
	c := &clk{now: time.Now()}
	web := newRedis(t, srv, c, "kong-web")
	other := newRedis(t, srv, c, "kong-other")
	jar, _ := save(t, web, sample(c, "alice", ""))
	if _, err := other.Load(context.Background(), jar); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("another client's store opened the cookie: %v", err)
	}
	moved := map[string]string{"okta_session": jar["okta_session"][:len(jar["okta_session"])-2] + "AA"}
	if _, err := web.Load(context.Background(), moved); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("tampered cookie: %v", err)
	}
	if _, err := web.Load(context.Background(), map[string]string{}); !errors.Is(err, session.ErrNone) {
		t.Fatalf("no cookie: %v", err)
	}
}

// TestRedisDeleteEndsEveryCopy: after Delete (logout on one node), a copy
// of the cookie opens nothing on any node, and a renewal in flight on
// another node (Save of the loaded session) does not bring it back.
func TestRedisDeleteEndsEveryCopy(t *testing.T) {
	srv := testredis.Start(t)
	c := &clk{now: time.Now()}
	node1, node2 := newRedis(t, srv, c, "kong-web"), newRedis(t, srv, c, "kong-web")
	jar, _ := save(t, node1, sample(c, "alice", "sid-1"))
	held, err := node2.Load(context.Background(), jar)
	if err != nil {
		t.Fatal(err)
	}
	loaded, _ := node1.Load(context.Background(), jar)
	if err := node1.Delete(context.Background(), loaded); err != nil {
		t.Fatal(err)
	}
	for i, n := range []*Redis{node1, node2} {
		if _, err := n.Load(context.Background(), jar); !errors.Is(err, session.ErrInvalid) {
			t.Fatalf("node %d opened a deleted session: %v", i+1, err)
		}
	}
	held.LastSeen = c.now.Add(time.Minute)
	if _, err := node2.Save(context.Background(), &held); !errors.Is(err, ErrEnded) {
		t.Fatalf("renewing a deleted session: %v, want ErrEnded", err)
	}
	if _, err := node1.Load(context.Background(), jar); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("a renewal brought the deleted session back: %v", err)
	}
}

// TestRedisEndSessions: by sid ends that IdP session's sessions only; by
// sub ends all of the user's; other users keep theirs.
func TestRedisEndSessions(t *testing.T) {
	srv := testredis.Start(t)
	c := &clk{now: time.Now()}
	r := newRedis(t, srv, c, "kong-web")
	a1, _ := save(t, r, sample(c, "alice", "sid-1"))
	a2, _ := save(t, r, sample(c, "alice", "sid-2"))
	b, _ := save(t, r, sample(c, "bob", "sid-3"))
	ctx := context.Background()
	alive := func(jar map[string]string) bool { _, err := r.Load(ctx, jar); return err == nil }
	if n, err := r.EndSessions(ctx, "alice", "sid-1"); err != nil || n != 1 {
		t.Fatalf("EndSessions(sid-1) = %d, %v", n, err)
	}
	if alive(a1) || !alive(a2) || !alive(b) {
		t.Fatalf("after ending sid-1: a1 %v a2 %v b %v", alive(a1), alive(a2), alive(b))
	}
	if n, err := r.EndSessions(ctx, "alice", ""); err != nil || n != 1 {
		t.Fatalf("EndSessions(sub alice) = %d, %v", n, err)
	}
	if alive(a2) || !alive(b) {
		t.Fatalf("after ending alice: a2 %v b %v", alive(a2), alive(b))
	}
	// Another client's sessions of the same user are another index.
	other := newRedis(t, srv, c, "kong-other")
	o, _ := save(t, other, sample(c, "bob", "sid-3"))
	if _, err := r.EndSessions(ctx, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Load(ctx, o); err != nil {
		t.Fatalf("ending kong-web's bob ended kong-other's: %v", err)
	}
}

func TestRedisUseOnce(t *testing.T) {
	srv := testredis.Start(t)
	r := newRedis(t, srv, &clk{now: time.Now()}, "kong-web")
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		if got, err := r.UseOnce(ctx, "jti abc", 60); err != nil || got != want {
			t.Fatalf("use %d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if got, _ := r.UseOnce(ctx, "jti abd", 60); !got {
		t.Fatal("another jti was refused")
	}
}

// TestRedisDownFailsClosedAndRecovers: a stopped or hung Redis gives
// ErrUnavailable (never a session) within the configured timeouts, and the
// same store serves again once Redis is back.
func TestRedisDownFailsClosedAndRecovers(t *testing.T) {
	srv := testredis.Start(t)
	c := &clk{now: time.Now()}
	r := newRedis(t, srv, c, "kong-web")
	jar, _ := save(t, r, sample(c, "alice", "sid-1"))
	ctx := context.Background()

	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := r.Load(ctx, jar); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("hung Redis: %v, want ErrUnavailable", err)
	}
	// Bound, not a benchmark: the call gives up near its timeouts (1 s each)
	// rather than waiting for Redis.
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("hung Redis: Load took %v", took)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(ctx, jar); err != nil {
		t.Fatalf("after resume: %v", err)
	}

	if err := srv.StopKeepingData(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(ctx, jar); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("stopped Redis: %v, want ErrUnavailable", err)
	}
	s := sample(c, "bob", "")
	if _, err := r.Save(ctx, &s); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("stopped Redis, Save: %v", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(ctx, jar); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestPoolIsSharedPerTarget(t *testing.T) {
	st := config.Redis{Host: "127.0.0.1", Port: 1, Prefix: "x:", ConnectTimeout: time.Second, ReadTimeout: time.Second, SendTimeout: time.Second}
	if Pool(st) != Pool(st) {
		t.Fatal("one target got two pools")
	}
	other := st
	other.Database = 1
	if Pool(st) == Pool(other) {
		t.Fatal("two databases share a pool")
	}
}
