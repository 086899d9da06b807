package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/issuer"
	"github.com/okta-oidc/okta-oidc/internal/session"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
	"github.com/okta-oidc/okta-oidc/internal/token"
)

const secret = "0123456789abcdef0123456789abcdef-test"

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     testing.TB
	iss   *testissuer.Issuer
	clock *clock
	eng   *Engine
	cfg   *config.Config
}

func sp(s string) *string { return &s }
func bp(b bool) *bool     { return &b }

// newEnv builds an engine for a config edited by mod, against a test issuer.
func newEnv(t *testing.T, mod func(*config.Raw)) *env {
	t.Helper()
	iss := testissuer.New(t)
	return newEnvWith(t, iss, &clock{now: time.Now()}, mod)
}

// newBenchEnv is newEnv for benchmarks and fuzz targets.
func newBenchEnv(tb testing.TB, mod func(*config.Raw)) *env {
	tb.Helper()
	return newEnvWith(tb, testissuer.New(tb), &clock{now: time.Now()}, mod)
}

func newEnvWith(t testing.TB, iss *testissuer.Issuer, clk *clock, mod func(*config.Raw)) *env {
	t.Helper()
	raw := &config.Raw{
		Issuer:            sp(iss.URL),
		AudienceRequired:  []string{"api://default"},
		ClientID:          sp("kong-web"),
		ClientSecret:      sp("web-secret"),
		RedirectURI:       sp("https://gw.example/web/callback"),
		SessionSecret:     sp(secret),
		GroupsRequired:    []string{"kong_group"},
		LogoutPath:        sp("/web/logout"),
		LogoutRedirectURI: sp("https://gw.example/"),
	}
	if mod != nil {
		mod(raw)
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	is := issuer.New(iss.URL, issuer.Options{Client: issuer.NewHTTPClient(2*time.Second, false), MinRefresh: time.Second, Now: clk.Now})
	eng, err := New(cfg, Deps{Issuer: is, Cache: token.NewCache(100, 1<<20), Now: clk.Now, Replay: NewReplayCache(100)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, iss: iss, clock: clk, eng: eng, cfg: cfg}
}

// req builds a Request; target and method are fetched lazily and counted.
type fetches struct{ method, target int }

func request(method, target string, h http.Header, f *fetches) *Request {
	if f == nil {
		f = &fetches{}
	}
	if h == nil {
		h = http.Header{}
	}
	return &Request{
		Header: h,
		Method: func() (string, error) { f.method++; return method, nil },
		Target: func() (string, error) { f.target++; return target, nil },
	}
}

func (e *env) decide(r *Request) Decision {
	return e.eng.Decide(context.Background(), r)
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

func browser() http.Header {
	return http.Header{
		"Accept":         {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Sec-Fetch-Mode": {"navigate"},
		"Sec-Fetch-Dest": {"document"},
	}
}

func wantStatus(t testing.TB, d Decision, status int) {
	t.Helper()
	if d.Action != Respond || d.Status != status {
		t.Fatalf("decision = action %d status %d reason %s err %v, want status %d", d.Action, d.Status, d.Reason, d.Err, status)
	}
}

func wantPass(t *testing.T, d Decision) {
	t.Helper()
	if d.Action != Pass {
		t.Fatalf("decision = status %d reason %s err %v body %s, want pass", d.Status, d.Reason, d.Err, d.Body)
	}
}

func TestBearerOutcomes(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	good := e.iss.Claims(now)
	mint := func(mod func(map[string]any)) string {
		c := e.iss.Claims(now)
		mod(c)
		return e.iss.Mint(t, c)
	}
	tests := []struct {
		name      string
		h         http.Header
		status    int    // 0 = pass
		challenge string // expected WWW-Authenticate
	}{
		{"valid", bearer(e.iss.Mint(t, good)), 0, ""},
		{"lower-case scheme", http.Header{"Authorization": {"bearer " + e.iss.Mint(t, good)}}, 0, ""},
		{"no credentials", http.Header{}, 401, `Bearer realm="okta-oidc"`},
		{"basic auth", http.Header{"Authorization": {"Basic YWxpY2U6eA=="}}, 401, `Bearer realm="okta-oidc"`},
		{"garbage", bearer("garbage"), 401, `Bearer realm="okta-oidc", error="invalid_token"`},
		{"expired", bearer(mint(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), 401, `Bearer realm="okta-oidc", error="invalid_token"`},
		{"other audience", bearer(mint(func(c map[string]any) { c["aud"] = "api://other" })), 401, `Bearer realm="okta-oidc", error="invalid_token"`},
		{"other issuer", bearer(mint(func(c map[string]any) { c["iss"] = "https://evil.example/oauth2/default" })), 401, `Bearer realm="okta-oidc", error="invalid_token"`},
		{"id token as credential", bearer(mint(func(c map[string]any) { c["nonce"] = "n" })), 401, `Bearer realm="okta-oidc", error="invalid_token"`},
		{"not in group", bearer(mint(func(c map[string]any) { c["groups"] = []string{"everyone"} })), 403, ""},
		{"group in other case", bearer(mint(func(c map[string]any) { c["groups"] = []string{"Kong_Group"} })), 403, ""},
		{"group prefix", bearer(mint(func(c map[string]any) { c["groups"] = []string{"kong_group_evil"} })), 403, ""},
		{"groups claim in other case", bearer(mint(func(c map[string]any) { delete(c, "groups"); c["Groups"] = []string{"kong_group"} })), 403, ""},
		{"repeated authorization", http.Header{"Authorization": {"Bearer a", "Bearer b"}}, 400, `Bearer realm="okta-oidc", error="invalid_request"`},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}, 400, `Bearer realm="okta-oidc", error="invalid_request"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.decide(request("GET", "/api/x", tt.h, nil))
			if tt.status == 0 {
				wantPass(t, d)
				return
			}
			wantStatus(t, d, tt.status)
			if got := d.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if ct := d.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			var body map[string]string
			if err := json.Unmarshal(d.Body, &body); err != nil || body["message"] == "" {
				t.Errorf("body %s is not a Kong-style JSON message", d.Body)
			}
			if strings.Contains(string(d.Body), "eyJ") {
				t.Errorf("body leaks a token: %s", d.Body)
			}
		})
	}
}

func TestIdentityHeadersNeverPassThrough(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) {
		r.UpstreamHeaders = map[string]string{"X-Authenticated-Userid": "sub", "X-Authenticated-Groups": "groups", "X-Tenant": "org.id"}
	})
	c := e.iss.Claims(e.clock.Now())
	c["sub"] = "alice@example.com"
	h := bearer(e.iss.Mint(t, c))
	h["X-Authenticated-Userid"] = []string{"admin"}
	h["X-Tenant"] = []string{"evil-corp"} // claim absent: must be cleared
	d := e.decide(request("GET", "/api", h, nil))
	wantPass(t, d)
	want := map[string][]string{
		"X-Authenticated-Userid": {"alice@example.com"},
		"X-Authenticated-Groups": {"kong_group, everyone"},
		"X-Tenant":               {},
	}
	for k, v := range want {
		got, ok := d.Upstream[k]
		if !ok || strings.Join(got, "|") != strings.Join(v, "|") || (len(v) == 0 && got == nil) {
			t.Errorf("upstream %s = %q (set %v), want %q", k, got, ok, v)
		}
	}
}

func TestClaimHeaderInjectionRefused(t *testing.T) {
	e := newEnv(t, nil)
	c := e.iss.Claims(e.clock.Now())
	c["sub"] = "alice\r\nX-Admin: yes"
	d := e.decide(request("GET", "/api", bearer(e.iss.Mint(t, c)), nil))
	wantPass(t, d)
	if v := d.Upstream["X-Authenticated-Userid"]; len(v) != 0 {
		t.Fatalf("a claim with CR LF reached a header: %q", v)
	}
}

func TestBrowserWithoutSessionRedirectsToLogin(t *testing.T) {
	e := newEnv(t, nil)
	h := browser()
	// redirect_uri comes from the config, never from these.
	h.Set("Host", "evil.example")
	h.Set("X-Forwarded-Host", "evil.example")
	h.Set("X-Forwarded-Proto", "http")
	d := e.decide(request("GET", "/web/page?x=1", h, nil))
	wantStatus(t, d, http.StatusFound)
	loc, err := url.Parse(d.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != e.iss.URL+"/v1/authorize" {
		t.Fatalf("redirect to %s", got)
	}
	q := loc.Query()
	for k, v := range map[string]string{
		"response_type": "code", "client_id": "kong-web", "redirect_uri": "https://gw.example/web/callback",
		"scope": "openid profile email", "code_challenge_method": "S256",
	} {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("%s = %q, want a 256-bit random value", k, q.Get(k))
		}
	}
	cookies := d.Header.Values("Set-Cookie")
	if len(cookies) != 1 || !strings.HasPrefix(cookies[0], session.LoginCookieName("okta_session", q.Get("state"))+"=") {
		t.Fatalf("login cookie = %q", cookies)
	}
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Max-Age=600"} {
		if !strings.Contains(cookies[0], attr) {
			t.Errorf("login cookie lacks %s: %s", attr, cookies[0])
		}
	}
	// A second login in another tab gets its own state and cookie.
	d2 := e.decide(request("GET", "/web/other", browser(), nil))
	loc2, _ := url.Parse(d2.Header.Get("Location"))
	if loc2.Query().Get("state") == q.Get("state") {
		t.Fatal("two logins share a state")
	}
}

func TestUnauthenticatedActions(t *testing.T) {
	xhr := http.Header{"Accept": {"application/json"}, "X-Requested-With": {"XMLHttpRequest"}}
	fetch := browser()
	fetch.Set("Sec-Fetch-Mode", "cors")
	fetch.Set("Sec-Fetch-Dest", "empty")
	curl := http.Header{"Accept": {"*/*"}}
	tests := []struct {
		name   string
		action string
		method string
		h      http.Header
		status int
	}{
		{"auto browser", "auto", "GET", browser(), 302},
		{"auto head", "auto", "HEAD", browser(), 302},
		{"auto browser post", "auto", "POST", browser(), 401},
		{"auto xhr", "auto", "GET", xhr, 401},
		{"auto fetch", "auto", "GET", fetch, 401},
		{"auto curl", "auto", "GET", curl, 401},
		{"deny browser", "deny", "GET", browser(), 401},
		{"redirect curl", "redirect", "GET", curl, 302},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(r *config.Raw) { r.UnauthenticatedAction = sp(tt.action) })
			d := e.decide(request(tt.method, "/web/app", tt.h, nil))
			wantStatus(t, d, tt.status)
			if tt.status == 401 && tt.action != "deny" {
				var body map[string]string
				_ = json.Unmarshal(d.Body, &body)
				if body["login_url"] != "/web/callback?return_to=%2Fweb%2Fapp" {
					t.Errorf("401 body %s lacks the login URL", d.Body)
				}
			}
		})
	}
}

func TestBearerOnlyRouteNeverRedirects(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) { r.AuthMethods = []string{"bearer"} })
	f := &fetches{}
	d := e.decide(request("GET", "/api", browser(), f))
	wantStatus(t, d, 401)
	if f.method+f.target != 0 {
		t.Errorf("a bearer-only denial fetched the request line (%+v)", *f)
	}
}

func TestBearerPassFetchesNoRequestLine(t *testing.T) {
	e := newEnv(t, nil)
	f := &fetches{}
	d := e.decide(request("GET", "/api", bearer(e.iss.Mint(t, e.iss.Claims(e.clock.Now()))), f))
	wantPass(t, d)
	if f.method+f.target != 0 {
		t.Errorf("bearer pass fetched the request line (%+v): each fetch is a PDK round trip", *f)
	}
}

func TestPreflight(t *testing.T) {
	h := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}, "X-Authenticated-Userid": {"admin"}}
	off := newEnv(t, func(r *config.Raw) { r.RunOnPreflight = bp(false) })
	d := off.decide(request("OPTIONS", "/api", h, nil))
	wantPass(t, d)
	if v, ok := d.Upstream["X-Authenticated-Userid"]; !ok || len(v) != 0 {
		t.Errorf("preflight pass kept a client identity header: %q", v)
	}
	// A GET with the same headers is no preflight.
	wantStatus(t, off.decide(request("GET", "/api", h, nil)), 401)
	on := newEnv(t, nil)
	wantStatus(t, on.decide(request("OPTIONS", "/api", h, nil)), 401)
}

func TestHideCredentials(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) {
		r.HideCredentials = bp(true)
		r.BearerTokenParamType = []string{"header", "query"}
	})
	tok := e.iss.Mint(t, e.iss.Claims(e.clock.Now()))
	h := bearer(tok)
	h["Cookie"] = []string{"theme=dark; okta_session=abc; okta_session_2=def; okta_session_login_0123=x; other=1"}
	d := e.decide(request("GET", "/api", h, nil))
	wantPass(t, d)
	if v, ok := d.Upstream["Authorization"]; !ok || len(v) != 0 {
		t.Errorf("Authorization not cleared: %q", v)
	}
	if got := strings.Join(d.Upstream["Cookie"], ""); got != "theme=dark; other=1" {
		t.Errorf("Cookie upstream = %q", got)
	}
	// A token in the query is removed from the upstream query.
	d = e.decide(request("GET", "/api?a=1&access_token="+tok+"&b=2", http.Header{}, nil))
	wantPass(t, d)
	if d.RawQuery == nil || *d.RawQuery != "a=1&b=2" {
		t.Fatalf("upstream query = %v", d.RawQuery)
	}
	// Header and query at once is ambiguous.
	wantStatus(t, e.decide(request("GET", "/api?access_token="+tok, bearer(tok), nil)), 400)
}

func TestIdPDownWithoutKeysIsUnavailable(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.iss.Mint(t, e.iss.Claims(e.clock.Now()))
	e.iss.SetDown(true)
	d := e.decide(request("GET", "/api", bearer(tok), nil))
	wantStatus(t, d, http.StatusServiceUnavailable)
}

func TestIdPDownKeepsKnownKeys(t *testing.T) {
	e := newEnv(t, nil)
	c := e.iss.Claims(e.clock.Now())
	wantPass(t, e.decide(request("GET", "/api", bearer(e.iss.Mint(t, c)), nil)))
	e.iss.SetDown(true)
	c["jti"] = "another"
	wantPass(t, e.decide(request("GET", "/api", bearer(e.iss.Mint(t, c)), nil)))
}

func TestConfigErrorDecision(t *testing.T) {
	_, err := config.Parse(&config.Raw{})
	d := ConfigError(err)
	wantStatus(t, d, 500)
	if strings.Contains(string(d.Body), "issuer") {
		t.Fatalf("config detail leaked to the client: %s", d.Body)
	}
}

// --- login flow ---

// login runs the browser flow against the test issuer and returns the
// callback decision. tokens lets a test alter what the IdP answers.
type idpAnswer struct {
	idClaims map[string]any
	atClaims map[string]any
	refresh  string
}

func (e *env) startLogin(target string) (state, nonce, challenge, cookie string) {
	e.t.Helper()
	d := e.decide(request("GET", target, browser(), nil))
	wantStatus(e.t, d, 302)
	loc, _ := url.Parse(d.Header.Get("Location"))
	q := loc.Query()
	c := d.Header.Values("Set-Cookie")
	name, rest, _ := strings.Cut(c[len(c)-1], "=")
	value, _, _ := strings.Cut(rest, ";")
	return q.Get("state"), q.Get("nonce"), q.Get("code_challenge"), name + "=" + value
}

func (e *env) serveTokens(wantCode string, challenge string, answer func() idpAnswer) {
	e.iss.SetTokenHandler(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		user, pass, ok := r.BasicAuth()
		if !ok || user != "kong-web" || pass != "web-secret" {
			http.Error(w, `{"error":"invalid_client"}`, 401)
			return
		}
		switch r.Form.Get("grant_type") {
		case "authorization_code":
			sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
			if r.Form.Get("code") != wantCode || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
				return
			}
		case "refresh_token":
			if r.Form.Get("refresh_token") == "" {
				w.WriteHeader(400)
				return
			}
		}
		a := answer()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": e.iss.Mint(e.t, a.atClaims), "id_token": e.iss.Mint(e.t, a.idClaims),
			"token_type": "Bearer", "expires_in": 3600, "refresh_token": a.refresh,
		})
	})
}

func (e *env) idClaims(nonce, sub string, groups ...string) map[string]any {
	now := e.clock.Now()
	return map[string]any{"iss": e.iss.URL, "aud": "kong-web", "sub": sub, "email": sub + "@example.com", "name": sub,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": nonce, "groups": groups}
}

func (e *env) atClaims(sub string, ttl time.Duration, groups ...string) map[string]any {
	c := e.iss.Claims(e.clock.Now())
	c["sub"], c["groups"], c["cid"] = sub, groups, "kong-web"
	c["exp"] = e.clock.Now().Add(ttl).Unix()
	return c
}

func cookieHeader(setCookies []string, extra ...string) http.Header {
	var parts []string
	for _, sc := range setCookies {
		kv, _, _ := strings.Cut(sc, ";")
		if strings.HasSuffix(kv, "=") {
			continue // deletion
		}
		parts = append(parts, kv)
	}
	parts = append(parts, extra...)
	h := browser()
	h.Set("Cookie", strings.Join(parts, "; "))
	return h
}

func (e *env) login(sub string, groups ...string) []string {
	e.t.Helper()
	set, _ := e.loginTTL(time.Hour, sub, groups...)
	return set
}

// loginTTL logs sub in with access tokens living ttl and returns the
// callback's Set-Cookie values and a count of token endpoint calls.
func (e *env) loginTTL(ttl time.Duration, sub string, groups ...string) ([]string, *int) {
	e.t.Helper()
	state, nonce, challenge, cookie := e.startLogin("/web/page?x=1")
	calls := new(int)
	e.serveTokens("c0de", challenge, func() idpAnswer {
		*calls++
		return idpAnswer{idClaims: e.idClaims(nonce, sub, groups...), atClaims: e.atClaims(sub, ttl, groups...), refresh: "rt-1"}
	})
	h := browser()
	h.Set("Cookie", cookie)
	d := e.decide(request("GET", "/web/callback?code=c0de&state="+state+"&iss="+url.QueryEscape(e.iss.URL), h, nil))
	wantStatus(e.t, d, 302)
	if d.Header.Get("Location") != "/web/page?x=1" {
		e.t.Fatalf("callback sent the browser to %q", d.Header.Get("Location"))
	}
	return d.Header.Values("Set-Cookie"), calls
}

func TestLoginThenSession(t *testing.T) {
	e := newEnv(t, nil)
	set := e.login("alice", "kong_group")
	var sessionCookie string
	for _, c := range set {
		if strings.HasPrefix(c, "okta_session=") {
			sessionCookie = c
		}
	}
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(sessionCookie, attr) {
			t.Errorf("session cookie lacks %s: %s", attr, sessionCookie)
		}
	}
	h := cookieHeader(set)
	h.Set("X-Authenticated-Userid", "mallory")
	d := e.decide(request("GET", "/web/page", h, nil))
	wantPass(t, d)
	if got := d.Upstream["X-Authenticated-Userid"]; len(got) != 1 || got[0] != "alice" {
		t.Fatalf("identity header = %q", got)
	}
}

func TestLoginDeniedUserGetsForbiddenPage(t *testing.T) {
	e := newEnv(t, nil)
	set := e.login("bob", "everyone")
	d := e.decide(request("GET", "/web/page", cookieHeader(set), nil))
	wantStatus(t, d, 403)
	if !strings.HasPrefix(d.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(d.Body), "bob@example.com") || !strings.Contains(string(d.Body), `href="/web/logout"`) {
		t.Fatalf("403 page: %s", d.Body)
	}
	// The same session on an API call gets JSON.
	h := cookieHeader(set)
	h.Set("Accept", "application/json")
	d = e.decide(request("GET", "/web/api", h, nil))
	wantStatus(t, d, 403)
	if string(d.Body) != `{"message":"Forbidden"}` {
		t.Fatalf("403 body for API = %s", d.Body)
	}
}

func TestCallbackFailuresNeverMakeASession(t *testing.T) {
	tests := []struct {
		name  string
		query func(state string) string
		mod   func(e *env, nonce string) idpAnswer
		drop  bool // send no login cookie
	}{
		{"wrong state", func(string) string { return "code=c0de&state=forged" }, nil, false},
		{"missing state", func(string) string { return "code=c0de" }, nil, false},
		{"no login cookie", func(s string) string { return "code=c0de&state=" + s }, nil, true},
		{"bad code", func(s string) string { return "code=wrong&state=" + s }, nil, false},
		{"idp error", func(s string) string { return "error=access_denied&state=" + s }, nil, false},
		{"other iss", func(s string) string { return "code=c0de&iss=https%3A%2F%2Fevil&state=" + s }, nil, false},
		{"bad nonce", func(s string) string { return "code=c0de&state=" + s }, func(e *env, _ string) idpAnswer {
			return idpAnswer{idClaims: e.idClaims("forged", "alice", "kong_group"), atClaims: e.atClaims("alice", time.Hour, "kong_group")}
		}, false},
		{"id token for another client", func(s string) string { return "code=c0de&state=" + s }, func(e *env, n string) idpAnswer {
			c := e.idClaims(n, "alice", "kong_group")
			c["aud"] = "other-app"
			return idpAnswer{idClaims: c, atClaims: e.atClaims("alice", time.Hour, "kong_group")}
		}, false},
		{"access token for another audience", func(s string) string { return "code=c0de&state=" + s }, func(e *env, n string) idpAnswer {
			at := e.atClaims("alice", time.Hour, "kong_group")
			at["aud"] = "api://other"
			return idpAnswer{idClaims: e.idClaims(n, "alice", "kong_group"), atClaims: at}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			state, nonce, challenge, cookie := e.startLogin("/web/")
			e.serveTokens("c0de", challenge, func() idpAnswer {
				if tt.mod != nil {
					return tt.mod(e, nonce)
				}
				return idpAnswer{idClaims: e.idClaims(nonce, "alice", "kong_group"), atClaims: e.atClaims("alice", time.Hour, "kong_group")}
			})
			h := browser()
			if !tt.drop {
				h.Set("Cookie", cookie)
			}
			d := e.decide(request("GET", "/web/callback?"+tt.query(state), h, nil))
			if d.Action != Respond || d.Status < 400 || d.Status > 499 {
				t.Fatalf("callback answered %d (%s), want 4xx", d.Status, d.Reason)
			}
			for _, c := range d.Header.Values("Set-Cookie") {
				if strings.HasPrefix(c, "okta_session=") && !strings.Contains(c, "Max-Age=0") {
					t.Fatalf("a failed callback set a session: %s", c)
				}
			}
		})
	}
}

func TestCallbackStateIsSingleUse(t *testing.T) {
	e := newEnv(t, nil)
	state, nonce, challenge, cookie := e.startLogin("/web/")
	e.serveTokens("c0de", challenge, func() idpAnswer {
		return idpAnswer{idClaims: e.idClaims(nonce, "alice", "kong_group"), atClaims: e.atClaims("alice", time.Hour, "kong_group")}
	})
	h := browser()
	h.Set("Cookie", cookie)
	wantStatus(t, e.decide(request("GET", "/web/callback?code=c0de&state="+state, h, nil)), 302)
	wantStatus(t, e.decide(request("GET", "/web/callback?code=c0de&state="+state, h, nil)), 400)
}

func TestReturnTargetIsSanitized(t *testing.T) {
	e := newEnv(t, nil)
	for _, target := range []string{"//evil.example/x", "/\\evil.example"} {
		d := e.decide(request("GET", "/web/callback?return_to="+url.QueryEscape(target), browser(), nil))
		wantStatus(t, d, 302)
		c := d.Header.Values("Set-Cookie")
		name, rest, _ := strings.Cut(c[len(c)-1], "=")
		value, _, _ := strings.Cut(rest, ";")
		plain, err := e.eng.codec.Open(name, value)
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := session.UnmarshalLoginState(plain)
		if ls.ReturnTo != "/" {
			t.Errorf("return target %q kept as %q", target, ls.ReturnTo)
		}
	}
}

func TestTamperedOrForeignSessionGoesBackToLogin(t *testing.T) {
	e := newEnv(t, nil)
	set := e.login("alice", "kong_group")
	h := cookieHeader(set)
	c := h.Get("Cookie")
	i := strings.Index(c, "okta_session=") + len("okta_session=") + 10
	// Swap the character for another of the base64url alphabet, so the
	// cookie still parses and only its authentication can refuse it.
	swap := byte('A')
	if c[i] == 'A' {
		swap = 'B'
	}
	tampered := c[:i] + string(swap) + c[i+1:]
	h.Set("Cookie", tampered)
	d := e.decide(request("GET", "/web/page", h, nil))
	wantStatus(t, d, 302)
	if !strings.Contains(strings.Join(d.Header.Values("Set-Cookie"), "\n"), "okta_session=; ") {
		t.Errorf("tampered session cookie not cleared: %q", d.Header.Values("Set-Cookie"))
	}
	// The same cookie on a route with another session_secret is refused.
	other := newEnvWith(t, e.iss, e.clock, func(r *config.Raw) { r.SessionSecret = sp("another-secret-another-secret-xx") })
	wantStatus(t, other.decide(request("GET", "/web/page", cookieHeader(set), nil)), 302)
	// ... but accepted once the old secret is listed for rotation.
	rotated := newEnvWith(t, e.iss, e.clock, func(r *config.Raw) {
		r.SessionSecret = sp("another-secret-another-secret-xx")
		r.SessionSecretsPrevious = []string{secret}
	})
	wantPass(t, rotated.decide(request("GET", "/web/page", cookieHeader(set), nil)))
}

func TestSessionTimeouts(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) {
		idle, abs := 600, 1800
		r.SessionIdlingTimeout, r.SessionAbsoluteTimeout = &idle, &abs
	})
	set := e.login("alice", "kong_group")
	e.clock.Add(11 * time.Minute) // past idle
	wantStatus(t, e.decide(request("GET", "/web/page", cookieHeader(set), nil)), 302)

	set = e.login("alice", "kong_group")
	for i := 0; i < 4; i++ { // keep it busy: idle never runs out
		e.clock.Add(8 * time.Minute)
		d := e.decide(request("GET", "/web/page", cookieHeader(set), nil))
		if i < 3 {
			wantPass(t, d)
			if sc := d.Header.Values("Set-Cookie"); len(sc) > 0 {
				set = sc
			}
			continue
		}
		wantStatus(t, d, 302) // 32 minutes: past the absolute timeout
	}
}

func TestExpiredAccessTokenIsRefreshed(t *testing.T) {
	e := newEnv(t, nil)
	set, calls := e.loginTTL(5*time.Minute, "alice", "kong_group")
	e.clock.Add(6 * time.Minute) // access token expired (leeway 30 s)
	d := e.decide(request("GET", "/web/page", cookieHeader(set), nil))
	wantPass(t, d)
	if *calls != 2 || len(d.Header.Values("Set-Cookie")) == 0 {
		t.Fatalf("token endpoint calls = %d, Set-Cookie = %q: want a refresh and a renewed cookie", *calls, d.Header.Values("Set-Cookie"))
	}
	// Refresh fails: the browser goes back to login, an API client gets 401.
	e.clock.Add(6 * time.Minute)
	e.iss.SetTokenHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
	})
	renewed := cookieHeader(d.Header.Values("Set-Cookie"))
	wantStatus(t, e.decide(request("GET", "/web/page", renewed, nil)), 302)
	api := renewed.Clone()
	api.Set("Accept", "application/json")
	api.Del("Sec-Fetch-Mode")
	api.Del("Sec-Fetch-Dest")
	wantStatus(t, e.decide(request("GET", "/web/api", api, nil)), 401)
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	set := e.login("alice", "kong_group")
	d := e.decide(request("GET", "/web/logout", cookieHeader(set), nil))
	wantStatus(t, d, 302)
	loc, _ := url.Parse(d.Header.Get("Location"))
	if loc.Scheme+"://"+loc.Host+loc.Path != e.iss.URL+"/v1/logout" || loc.Query().Get("id_token_hint") == "" ||
		loc.Query().Get("post_logout_redirect_uri") != "https://gw.example/" {
		t.Fatalf("logout redirect = %s", loc)
	}
	cleared := strings.Join(d.Header.Values("Set-Cookie"), "\n")
	if !strings.Contains(cleared, "okta_session=; ") || !strings.Contains(cleared, "Max-Age=0") {
		t.Fatalf("logout did not clear the session: %s", cleared)
	}
	// Without a session: straight to logout_redirect_uri.
	d = e.decide(request("GET", "/web/logout", browser(), nil))
	if d.Header.Get("Location") != "https://gw.example/" {
		t.Fatalf("logout without session went to %q", d.Header.Get("Location"))
	}
}

// TestSignedOutPage: signed_out_path answers a fixed "You are signed out"
// page (where logout_redirect_uri lands) and never passes upstream, with or
// without a session; other paths are unchanged.
func TestSignedOutPage(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) { p := "/web/signed-out"; r.SignedOutPath = &p })
	set := e.login("alice", "kong_group")
	for name, h := range map[string]http.Header{"no session": browser(), "session": cookieHeader(set)} {
		d := e.decide(request("GET", "/web/signed-out", h, nil))
		wantStatus(t, d, 200)
		if d.Action != Respond || d.Reason != ReasonSignedOut || !strings.Contains(string(d.Body), "You are signed out") ||
			!strings.HasPrefix(d.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %+v %s", name, d, d.Body)
		}
	}
	wantStatus(t, e.decide(request("GET", "/web/signed-out/x", browser(), nil)), 302)
	// Not set: the path is an ordinary protected one.
	plain := newEnv(t, nil)
	wantStatus(t, plain.decide(request("GET", "/web/signed-out", browser(), nil)), 302)
}

func TestLargeSessionIsChunked(t *testing.T) {
	// Above one cookie's 3,800 bytes: for operators who raised nginx's
	// large_client_header_buffers and session_cookie_max_size.
	e := newEnv(t, func(r *config.Raw) { n := 20000; r.SessionCookieMaxSize = &n })
	groups := []string{"kong_group"}
	rng := rand.New(rand.NewPCG(1, 2)) // incompressible names
	for i := 0; i < 300; i++ {
		groups = append(groups, fmt.Sprintf("grp-%016x", rng.Uint64()))
	}
	set := e.login("alice", groups...)
	n := 0
	for _, c := range set {
		if strings.HasPrefix(c, "okta_session_") && !strings.HasPrefix(c, "okta_session_login") && !strings.Contains(c, "Max-Age=0") {
			n++
		}
		if len(c) > 4096 {
			t.Errorf("a cookie of %d bytes", len(c))
		}
	}
	if n < 2 {
		t.Fatalf("large session not split into chunks: %q", set)
	}
	wantPass(t, e.decide(request("GET", "/web/page", cookieHeader(set), nil)))
}

// TestRandomKidFloodFetchesJWKSAtMostOncePerInterval sends 10,000 tokens
// with random kids through the engine, from 20 goroutines: the JWKS is
// fetched at most once per refresh interval whatever the rate.
func TestRandomKidFloodFetchesJWKSAtMostOncePerInterval(t *testing.T) {
	e := newEnv(t, nil)
	good := e.iss.Mint(t, e.iss.Claims(e.clock.Now()))
	wantPass(t, e.decide(request("GET", "/api", bearer(good), nil))) // keys loaded once
	base := e.iss.JWKSHits.Load()
	parts := strings.Split(good, ".")
	tokens := make([]string, 10000)
	for i := range tokens {
		hdr := testissuer.Unsigned(map[string]any{"alg": "RS256", "typ": "JWT", "kid": fmt.Sprintf("kid-%d-%d", i, time.Now().UnixNano())}, map[string]any{}, nil)
		tokens[i] = strings.Split(hdr, ".")[0] + "." + parts[1] + "." + parts[2]
	}
	var wg sync.WaitGroup
	var unexpected atomic.Int64
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(tokens); i += 20 {
				d := e.decide(request("GET", "/api", bearer(tokens[i]), nil))
				if d.Status != 401 {
					unexpected.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	if n := unexpected.Load(); n != 0 {
		t.Fatalf("%d random-kid tokens were not answered 401", n)
	}
	if hits := e.iss.JWKSHits.Load() - base; hits > 1 {
		t.Fatalf("10,000 unknown kids caused %d JWKS fetches within one interval, want at most 1", hits)
	}
	// The next interval allows one more fetch, and only one.
	e.clock.Add(2 * time.Second) // MinRefresh is 1s in newEnv
	before := e.iss.JWKSHits.Load()
	for _, tok := range tokens[:500] {
		e.decide(request("GET", "/api", bearer(tok), nil))
	}
	if hits := e.iss.JWKSHits.Load() - before; hits != 1 {
		t.Fatalf("next interval: %d JWKS fetches, want exactly 1", hits)
	}
}

func TestSessionCookiesNeverReachUpstream(t *testing.T) {
	e := newEnv(t, nil) // hide_credentials off
	set := e.login("alice", "kong_group")
	h := cookieHeader(set, "theme=dark")
	d := e.decide(request("GET", "/web/page", h, nil))
	wantPass(t, d)
	if got := strings.Join(d.Upstream["Cookie"], ""); got != "theme=dark" {
		t.Fatalf("upstream Cookie = %q, want only the app's cookie", got)
	}
	// Without plugin cookies the Cookie header is left alone (no change sent).
	tok := e.iss.Mint(t, e.iss.Claims(e.clock.Now()))
	h = bearer(tok)
	h.Set("Cookie", "theme=dark")
	d = e.decide(request("GET", "/api", h, nil))
	wantPass(t, d)
	if _, touched := d.Upstream["Cookie"]; touched {
		t.Fatalf("Cookie rewritten without need: %q", d.Upstream["Cookie"])
	}
}

func TestParallelLoginsInTabsBothComplete(t *testing.T) {
	e := newEnv(t, nil)
	stateA, nonceA, challengeA, cookieA := e.startLogin("/web/a")
	stateB, nonceB, challengeB, cookieB := e.startLogin("/web/b")
	both := browser()
	both.Set("Cookie", cookieA+"; "+cookieB)
	for _, tab := range []struct{ state, nonce, challenge, want string }{
		{stateB, nonceB, challengeB, "/web/b"}, {stateA, nonceA, challengeA, "/web/a"},
	} {
		e.serveTokens("code-"+tab.state[:6], tab.challenge, func() idpAnswer {
			return idpAnswer{idClaims: e.idClaims(tab.nonce, "alice", "kong_group"), atClaims: e.atClaims("alice", time.Hour, "kong_group")}
		})
		d := e.decide(request("GET", "/web/callback?code=code-"+tab.state[:6]+"&state="+tab.state, both, nil))
		wantStatus(t, d, 302)
		if d.Header.Get("Location") != tab.want {
			t.Fatalf("tab returned to %q, want %q", d.Header.Get("Location"), tab.want)
		}
	}
}

func TestIntrospectionRoute(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) {
		r.AuthMethods = []string{"introspection"}
		r.ClientID, r.ClientSecret = sp("kong-introspect"), sp("intro-secret")
		r.GroupsRequired = nil
		r.ScopesClaim, r.ScopesRequired = []string{"scope"}, []string{"kong.read"}
		r.UpstreamHeaders = map[string]string{"X-Authenticated-Client": "client_id"}
	})
	calls := 0
	e.iss.SetIntrospectHandler(func(w http.ResponseWriter, r *http.Request) {
		calls++
		user, pass, _ := r.BasicAuth()
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case user != "kong-introspect" || pass != "intro-secret":
			w.WriteHeader(401)
		case r.PostForm.Get("token") == "opaque-good-0123456789abcdef":
			_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "iss": e.iss.URL, "aud": "api://default",
				"client_id": "kong-m2m", "scope": "kong.read kong.write", "exp": e.clock.Now().Add(time.Hour).Unix()})
		case r.PostForm.Get("token") == "opaque-narrow-0123456789abcdef":
			_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "iss": e.iss.URL, "aud": "api://default",
				"client_id": "kong-m2m", "scope": "kong.write", "exp": e.clock.Now().Add(time.Hour).Unix()})
		default:
			_, _ = w.Write([]byte(`{"active":false}`))
		}
	})
	d := e.decide(request("GET", "/opaque", bearer("opaque-good-0123456789abcdef"), nil))
	wantPass(t, d)
	if got := d.Upstream["X-Authenticated-Client"]; len(got) != 1 || got[0] != "kong-m2m" {
		t.Fatalf("X-Authenticated-Client = %q", got)
	}
	wantPass(t, e.decide(request("GET", "/opaque", bearer("opaque-good-0123456789abcdef"), nil)))
	if calls != 1 {
		t.Fatalf("two uses cost %d introspection calls, want 1 (cached)", calls)
	}
	wantStatus(t, e.decide(request("GET", "/opaque", bearer("opaque-narrow-0123456789abcdef"), nil)), 403)
	d = e.decide(request("GET", "/opaque", bearer("opaque-dead-0123456789abcdef"), nil))
	wantStatus(t, d, 401)
	if d.Header.Get("WWW-Authenticate") != `Bearer realm="okta-oidc", error="invalid_token"` {
		t.Fatalf("WWW-Authenticate = %q", d.Header.Get("WWW-Authenticate"))
	}
	e.iss.SetIntrospectHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	wantStatus(t, e.decide(request("GET", "/opaque", bearer("opaque-new-0123456789abcdef"), nil)), 503)
}

func TestOpaqueTokenOnBearerOnlyRoute(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) { r.AuthMethods = []string{"bearer"} })
	d := e.decide(request("GET", "/api", bearer("opaque-token"), nil))
	wantStatus(t, d, 401)
	if d.Header.Get("WWW-Authenticate") != `Bearer realm="okta-oidc", error="invalid_token"` {
		t.Fatalf("WWW-Authenticate = %q", d.Header.Get("WWW-Authenticate"))
	}
}

func TestRefreshDuringOutageKeepsTheSession(t *testing.T) {
	e := newEnv(t, nil)
	set, _ := e.loginTTL(5*time.Minute, "alice", "kong_group")
	e.clock.Add(6 * time.Minute)
	e.iss.Close() // the IdP is gone: the refresh cannot be made
	d := e.decide(request("GET", "/web/page", cookieHeader(set), nil))
	wantStatus(t, d, http.StatusServiceUnavailable)
	for _, c := range d.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "okta_session=") {
			t.Fatalf("the session was dropped during an outage: %s", c)
		}
	}
}
