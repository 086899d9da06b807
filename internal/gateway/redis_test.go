package gateway

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/issuer"
	"github.com/okta-oidc/okta-oidc/internal/sessionstore"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
	"github.com/okta-oidc/okta-oidc/internal/testredis"
	"github.com/okta-oidc/okta-oidc/internal/token"
)

func ip(i int) *int { return &i }

// redisEnvs builds two engines ("two Kong nodes") for one route with
// session_storage: redis, sharing a real redis-server.
func redisEnvs(t *testing.T, srv *testredis.Server, mod func(*config.Raw)) (*env, *Engine) {
	t.Helper()
	e := newEnvWith(t, testissuer.New(t), &clock{now: time.Now()}, func(r *config.Raw) {
		r.SessionStorage = sp("redis")
		r.RedisHost = sp("127.0.0.1")
		r.RedisPort = ip(srv.Port)
		r.RedisPrefix = sp("gw-test:")
		r.RedisConnectTimeout, r.RedisReadTimeout, r.RedisSendTimeout = ip(1000), ip(1000), ip(1000) // roomy for a loaded machine; the outage tests wait this long per call
		r.BackchannelLogoutPath = sp("/web/backchannel")
		if mod != nil {
			mod(r)
		}
	})
	is := issuer.New(e.iss.URL, issuer.Options{Client: issuer.NewHTTPClient(2*time.Second, false), MinRefresh: time.Second, Now: e.clock.Now})
	node2, err := New(e.cfg, Deps{Issuer: is, Cache: token.NewCache(100, 1<<20), Now: e.clock.Now, Replay: NewReplayCache(100)})
	if err != nil {
		t.Fatal(err)
	}
	return e, node2
}

func on(eng *Engine, r *Request) Decision { return eng.Decide(context.Background(), r) }

// TestRedisCopiedCookieRefusedAfterLogout: with session_storage: redis a
// logout on one node ends the session for every node at once: a copy of
// the cookie taken before logout goes back to login on both, although its
// access token is still valid.
func TestRedisCopiedCookieRefusedAfterLogout(t *testing.T) {
	srv := testredis.Start(t)
	e, node2 := redisEnvs(t, srv, nil)
	set := e.login("alice", "kong_group")
	copied := cookieHeader(set)
	wantPass(t, e.decide(request("GET", "/web/page", copied, nil)))
	wantPass(t, on(node2, request("GET", "/web/page", copied, nil)))

	wantStatus(t, e.decide(request("GET", "/web/logout", cookieHeader(set), nil)), http.StatusFound)
	for i, eng := range []*Engine{e.eng, node2} {
		d := on(eng, request("GET", "/web/page", copied, nil))
		if d.Action == Pass || d.Reason != ReasonLogin {
			t.Fatalf("node %d: the copied cookie after logout: action %d reason %s, want login", i+1, d.Action, d.Reason)
		}
	}
}

// TestRedisSessionCookieIsSmall: a session with 50 groups and a refresh
// token keeps a Cookie line under 1 KiB on the Redis store, and works.
func TestRedisSessionCookieIsSmall(t *testing.T) {
	srv := testredis.Start(t)
	e, node2 := redisEnvs(t, srv, func(r *config.Raw) { r.GroupsRequired = nil })
	d, _ := e.callbackWith(newOktaLike(50))
	wantStatus(t, d, http.StatusFound)
	line := sessionLine(d.Header.Values("Set-Cookie"))
	if len(line) == 0 || len(line) >= 1024 {
		t.Fatalf("the session takes %d bytes of the Cookie line, want under 1024", len(line))
	}
	h := browser()
	h.Set("Cookie", line+"; theme=dark")
	wantPass(t, e.decide(request("GET", "/web/page", h, nil)))
	wantPass(t, on(node2, request("GET", "/web/page", h, nil)))
}

// TestRedisDownFailsClosed: with Redis stopped or hung, a session request
// is answered 503 (never a pass, never a new login that could not be
// stored), a bearer request passes, and once Redis is back the same cookie
// works again without a new engine.
func TestRedisDownFailsClosed(t *testing.T) {
	srv := testredis.Start(t)
	e, _ := redisEnvs(t, srv, nil)
	set := e.login("alice", "kong_group")
	tok := e.iss.Mint(t, e.atClaims("alice", time.Hour, "kong_group"))

	check := func(what string) {
		t.Helper()
		d := e.decide(request("GET", "/web/page", cookieHeader(set), nil))
		wantStatus(t, d, http.StatusServiceUnavailable)
		if strings.Contains(strings.Join(d.Header.Values("Set-Cookie"), ""), "okta_session=;") {
			t.Errorf("%s: the session cookie was cleared", what)
		}
		wantPass(t, e.decide(request("GET", "/web/api", bearer(tok), nil)))
		// Logout cannot end the session now: it must not pretend to (a
		// copy of the cookie would open it on every node once Redis is
		// back), so it answers 503 and keeps the cookie.
		lo := e.decide(request("GET", "/web/logout", cookieHeader(set), nil))
		wantStatus(t, lo, http.StatusServiceUnavailable)
		if strings.Contains(strings.Join(lo.Header.Values("Set-Cookie"), ""), "okta_session=;") {
			t.Errorf("%s: logout cleared the session cookie without ending the session", what)
		}
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	check("hung Redis")
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	wantPass(t, e.decide(request("GET", "/web/page", cookieHeader(set), nil)))

	if err := srv.StopKeepingData(); err != nil {
		t.Fatal(err)
	}
	check("stopped Redis")
	// A login cannot be stored either: 503, not a session cookie.
	state, nonce, challenge, cookie := e.startLogin("/web/page")
	e.serveTokens("c0de", challenge, func() idpAnswer {
		return idpAnswer{idClaims: e.idClaims(nonce, "alice", "kong_group"), atClaims: e.atClaims("alice", time.Hour, "kong_group"), refresh: "rt"}
	})
	h := browser()
	h.Set("Cookie", cookie)
	wantStatus(t, e.decide(request("GET", "/web/callback?code=c0de&state="+state, h, nil)), http.StatusServiceUnavailable)

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	wantPass(t, e.decide(request("GET", "/web/page", cookieHeader(set), nil)))
}

// logoutToken mints a back-channel logout token for kong-web.
func (e *env) logoutToken(t *testing.T, mod func(map[string]any)) string {
	return e.logoutTokenBy(t, e.iss.Signer(), mod)
}

// logoutTokenBy is logoutToken signed with k.
func (e *env) logoutTokenBy(t *testing.T, k testissuer.Key, mod func(map[string]any)) string {
	now := e.clock.Now()
	c := map[string]any{
		"iss": e.iss.URL, "aud": "kong-web", "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": rand.Text(), "sid": "sid-alice", "sub": "alice",
		"events": map[string]any{token.BackchannelLogoutEvent: map[string]any{}},
	}
	if mod != nil {
		mod(c)
	}
	return testissuer.Sign(t, k, c, map[jose.HeaderKey]any{"typ": "logout+jwt"})
}

// tamperSignature flips bits in the middle of a JWT's signature.
func tamperSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + (len(tok)-strings.LastIndexByte(tok, '.'))/2
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func postLogout(eng *Engine, body string) Decision {
	r := request("POST", "/web/backchannel", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Content-Length": {strconv.Itoa(len(body))}}, nil)
	r.Body = func() ([]byte, error) { return []byte(body), nil }
	return on(eng, r)
}

// loginSID logs alice in with an ID token carrying sid.
func (e *env) loginSID(sid string) []string {
	e.t.Helper()
	state, nonce, challenge, cookie := e.startLogin("/web/page")
	e.serveTokens("c0de", challenge, func() idpAnswer {
		id := e.idClaims(nonce, "alice", "kong_group")
		id["sid"] = sid
		return idpAnswer{idClaims: id, atClaims: e.atClaims("alice", time.Hour, "kong_group"), refresh: "rt-" + sid}
	})
	h := browser()
	h.Set("Cookie", cookie)
	d := e.decide(request("GET", "/web/callback?code=c0de&state="+state, h, nil))
	wantStatus(e.t, d, http.StatusFound)
	return d.Header.Values("Set-Cookie")
}

// TestBackchannelLogout: a logout token POSTed to one node ends the
// sessions of its sid on every node; the other IdP session of the user
// lives on; the token cannot be replayed; anything that is not a valid
// logout token for this client ends nothing.
func TestBackchannelLogout(t *testing.T) {
	srv := testredis.Start(t)
	e, node2 := redisEnvs(t, srv, nil)
	alice := cookieHeader(e.loginSID("sid-alice"))
	laptop := cookieHeader(e.loginSID("sid-laptop"))
	wantPass(t, on(node2, request("GET", "/web/page", alice, nil)))

	refused := map[string]string{
		"nonce":       "logout_token=" + e.logoutToken(t, func(c map[string]any) { c["nonce"] = "n" }),
		"other aud":   "logout_token=" + e.logoutToken(t, func(c map[string]any) { c["aud"] = "other-client" }),
		"no event":    "logout_token=" + e.logoutToken(t, func(c map[string]any) { c["events"] = map[string]any{"x": map[string]any{}} }),
		"no jti":      "logout_token=" + e.logoutToken(t, func(c map[string]any) { delete(c, "jti") }),
		"old iat":     "logout_token=" + e.logoutToken(t, func(c map[string]any) { c["iat"] = e.clock.Now().Add(-10 * time.Minute).Unix() }),
		"no sub/sid":  "logout_token=" + e.logoutToken(t, func(c map[string]any) { delete(c, "sub"); delete(c, "sid") }),
		"other iss":   "logout_token=" + e.logoutToken(t, func(c map[string]any) { c["iss"] = "https://evil.example" }),
		"an ID token": "logout_token=" + e.iss.Mint(t, e.idClaims("n", "alice")),
		"two tokens":  "logout_token=" + e.logoutToken(t, nil) + "&logout_token=" + e.logoutToken(t, nil),
		"foreign key": "logout_token=" + e.logoutTokenBy(t, testissuer.NewRSAKey(t, e.iss.Signer().ID), nil),
		"tampered":    "logout_token=" + tamperSignature(e.logoutToken(t, nil)),
		"expired": "logout_token=" + e.logoutToken(t, func(c map[string]any) {
			c["iat"], c["exp"] = e.clock.Now().Add(-100*time.Second).Unix(), e.clock.Now().Add(-90*time.Second).Unix()
		}),
		"no token": "x=1",
	}
	for name, body := range refused {
		if d := postLogout(node2, body); d.Status != http.StatusBadRequest {
			t.Errorf("%s: status %d reason %s, want 400", name, d.Status, d.Reason)
		}
	}
	wantPass(t, e.decide(request("GET", "/web/page", alice, nil)))
	// Not a form POST.
	if d := on(node2, request("GET", "/web/backchannel", browser(), nil)); d.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", d.Status)
	}

	body := "logout_token=" + url.QueryEscape(e.logoutToken(t, nil))
	d := postLogout(node2, body)
	wantStatus(t, d, http.StatusOK)
	for i, eng := range []*Engine{e.eng, node2} {
		if d := on(eng, request("GET", "/web/page", alice, nil)); d.Action == Pass {
			t.Fatalf("node %d: the session passed after back-channel logout", i+1)
		}
		wantPass(t, on(eng, request("GET", "/web/page", laptop, nil)))
	}
	if d := postLogout(e.eng, body); d.Status != http.StatusBadRequest {
		t.Fatalf("replayed logout token: %d, want 400", d.Status)
	}
	// A token with sub only ends all of alice's sessions.
	wantStatus(t, postLogout(e.eng, "logout_token="+e.logoutToken(t, func(c map[string]any) { delete(c, "sid") })), http.StatusOK)
	if d := on(node2, request("GET", "/web/page", laptop, nil)); d.Action == Pass {
		t.Fatal("a sub-only logout token left a session of the user")
	}
}

// TestBackchannelLogoutNeedsRedis: a cookie-only session cannot be ended
// from elsewhere, so the key is refused without Redis.
func TestBackchannelLogoutNeedsRedis(t *testing.T) {
	_, err := config.Parse(&config.Raw{
		Issuer: sp("https://idp.example"), ClientID: sp("c"), ClientSecret: sp("s"), RedirectURI: sp("https://gw.example/cb"),
		SessionSecret: sp(secret), BackchannelLogoutPath: sp("/bc"),
	})
	if err == nil || !strings.Contains(err.Error(), "backchannel_logout_path") {
		t.Fatalf("err = %v", err)
	}
}

// failingEnder fails EndSessions a given number of times, as Redis failing
// between the jti check and the deletion would.
type failingEnder struct {
	sessionstore.Ender
	fails int
}

func (f *failingEnder) EndSessions(ctx context.Context, sub, sid string) (int, error) {
	if f.fails > 0 {
		f.fails--
		return 0, sessionstore.ErrUnavailable
	}
	return f.Ender.EndSessions(ctx, sub, sid)
}

// TestBackchannelLogoutCanBeRetried: when the sessions could not be ended,
// the answer is 503 and the IdP's retry of the same logout token is
// honoured (its jti is not burnt); once it succeeded, a replay is refused.
func TestBackchannelLogoutCanBeRetried(t *testing.T) {
	srv := testredis.Start(t)
	e, node2 := redisEnvs(t, srv, nil)
	alice := cookieHeader(e.loginSID("sid-alice"))
	node2.ender = &failingEnder{Ender: node2.ender, fails: 1}
	body := "logout_token=" + e.logoutToken(t, nil)
	wantStatus(t, postLogout(node2, body), http.StatusServiceUnavailable)
	wantPass(t, on(node2, request("GET", "/web/page", alice, nil)))
	wantStatus(t, postLogout(node2, body), http.StatusOK)
	if d := on(node2, request("GET", "/web/page", alice, nil)); d.Action == Pass {
		t.Fatal("the session passed after the retried back-channel logout")
	}
	wantStatus(t, postLogout(node2, body), http.StatusBadRequest)
}

// TestBackchannelLogoutBoundsTheBody: the body is read only when its
// announced size is small: no Content-Length is 411, a large one 413, and
// neither reads it (a huge body would be loaded whole into the plugin
// server's memory).
func TestBackchannelLogoutBoundsTheBody(t *testing.T) {
	srv := testredis.Start(t)
	_, node2 := redisEnvs(t, srv, nil)
	for _, tt := range []struct {
		length string
		want   int
	}{
		{"", http.StatusLengthRequired},
		{"abc", http.StatusLengthRequired},
		{"-1", http.StatusLengthRequired},
		{strconv.Itoa(maxLogoutBody + 1), http.StatusRequestEntityTooLarge},
		{"99999999999", http.StatusRequestEntityTooLarge},
	} {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if tt.length != "" {
			h.Set("Content-Length", tt.length)
		}
		r := request("POST", "/web/backchannel", h, nil)
		r.Body = func() ([]byte, error) {
			t.Errorf("Content-Length %q: the body was read", tt.length)
			return nil, nil
		}
		wantStatus(t, on(node2, r), tt.want)
	}
}

// TestSignedOutPageReadsNoStore: the signed-out page is static: it reads
// no cookie and no session store, so it answers 200 even with a session
// cookie while Redis (and the IdP) are down, where a session route fails
// closed.
func TestSignedOutPageReadsNoStore(t *testing.T) {
	srv := testredis.Start(t)
	e, _ := redisEnvs(t, srv, func(r *config.Raw) { r.SignedOutPath = sp("/web/signed-out") })
	set := e.login("alice", "kong_group")
	wantPass(t, e.decide(request("GET", "/web/page", cookieHeader(set), nil)))
	srv.Stop()
	e.iss.SetDown(true)
	if d := e.decide(request("GET", "/web/page", cookieHeader(set), nil)); d.Action == Pass {
		t.Fatal("a session route passed with Redis down")
	}
	for name, h := range map[string]http.Header{"no session": browser(), "session": cookieHeader(set)} {
		d := e.decide(request("GET", "/web/signed-out", h, nil))
		if d.Status != http.StatusOK || d.Reason != ReasonSignedOut || !strings.Contains(string(d.Body), "You are signed out") || d.Err != nil {
			t.Fatalf("%s: status %d reason %s err %v", name, d.Status, d.Reason, d.Err)
		}
		if sc := d.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Fatalf("%s: the signed-out page set cookies: %q", name, sc)
		}
	}
}
