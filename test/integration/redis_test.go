package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

// kong.yml's session_storage: redis route.
const (
	redisRoute  = "/webr"
	redisCookie = "okta_rsession"
)

// nodes are the gateways sharing kong.yml's Redis: two dev gateways
// locally, the one Kong under compose.
func nodes() []string {
	if env.local != nil && env.local.Gateway2URL != "" {
		return []string{env.gateway, env.local.Gateway2URL}
	}
	return []string{env.gateway}
}

func needLocalRedis(t *testing.T) {
	t.Helper()
	if env.local == nil || env.local.Redis == nil {
		t.Skip("needs the local stack with its redis-server")
	}
}

// redisSignIn signs alice in on the Redis route through the first node
// and returns the browser and a copy of its cookies for the route.
func redisSignIn(t *testing.T) (*http.Client, string) {
	t.Helper()
	c := browserClient(t)
	resp, body := do(t, c, "GET", env.gateway+redisRoute+"/anything", browserHeaders())
	resp, body = signIn(t, c, resp, body, idp.Alice)
	mustStatus(t, resp, body, 200)
	gw, _ := url.Parse(env.gateway + redisRoute + "/")
	line := cookieLine(c.Jar.Cookies(gw))
	if !strings.Contains(line, redisCookie+"=") {
		t.Fatalf("no %s cookie after sign-in: %q", redisCookie, line)
	}
	return c, line
}

// page asks node for the Redis route's page with cookie line, as a
// browser navigation, without following redirects.
func page(t *testing.T, node, line string) (*http.Response, string) {
	t.Helper()
	h := browserHeaders()
	h.Set("Cookie", line)
	return do(t, noRedirect(), "GET", node+redisRoute+"/anything", h)
}

func mustBeSentToLogin(t *testing.T, node, line, when string) {
	t.Helper()
	resp, body := page(t, node, line)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), env.issuer) {
		t.Fatalf("%s: %s answered %s (Location %q), want a redirect to the provider's login\n%.300s",
			when, node, resp.Status, resp.Header.Get("Location"), body)
	}
}

// TestRedisSessionOnEveryNodeEndsAtLogout: a session made on node 1 works
// on node 2 with a small cookie, the upstream gets the session's access
// token as a bearer token; after logout a copy of the cookie taken before
// is refused on both nodes, at once.
func TestRedisSessionOnEveryNodeEndsAtLogout(t *testing.T) {
	_, line := redisSignIn(t)
	if len(line) >= 1024 {
		t.Errorf("the Redis session's Cookie line is %d bytes, want under 1 KiB", len(line))
	}
	for _, node := range nodes() {
		resp, body := page(t, node, line)
		mustStatus(t, resp, body, 200)
		e := parseEcho(t, body)
		auth := e.header("Authorization")
		if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") || strings.Count(auth[0], ".") != 2 {
			t.Fatalf("%s: upstream Authorization = %q, want the session's access token", node, auth)
		}
		if id := e.header("X-Id-Token"); len(id) != 1 || strings.Count(id[0], ".") != 2 {
			t.Errorf("%s: upstream X-Id-Token = %q", node, id)
		}
		if c := strings.Join(e.header("Cookie"), ""); strings.Contains(c, redisCookie) {
			t.Errorf("%s: the session cookie reached the upstream", node)
		}
	}
	h := browserHeaders()
	h.Set("Cookie", line)
	resp, body := do(t, noRedirect(), "GET", env.gateway+redisRoute+"/logout", h)
	mustStatus(t, resp, body, 302)
	for _, node := range nodes() {
		mustBeSentToLogin(t, node, line, "the copied cookie after logout")
	}
}

// TestBackchannelLogoutEndsSessionOnEveryNode: alice signs in through
// node 1 and uses node 2; she then signs out at the provider (not through
// the gateway), which POSTs a logout_token to the gateway's
// backchannel_logout_path: both nodes refuse her session cookie.
func TestBackchannelLogoutEndsSessionOnEveryNode(t *testing.T) {
	c, line := redisSignIn(t)
	for _, node := range nodes() {
		resp, body := page(t, node, line)
		mustStatus(t, resp, body, 200)
	}
	// Sign out at the provider: its session cookie is in the browser.
	resp, body := do(t, c, "GET", env.issuer+"/v1/logout", browserHeaders())
	if resp.StatusCode >= 400 {
		t.Fatalf("signing out at the provider: %s\n%.300s", resp.Status, body)
	}
	for _, node := range nodes() {
		mustBeSentToLogin(t, node, line, "after the provider's back-channel logout")
	}
}

// TestBackchannelLogoutRefusesForgeries: the endpoint answers 400 to what
// is not a logout token of the issuer for this client (here: an access
// token of alice's), and it ends nothing.
func TestBackchannelLogoutRefusesForgeries(t *testing.T) {
	_, line := redisSignIn(t)
	for _, tok := range []string{userToken(t, idp.Alice), "not-a-jwt"} {
		req, _ := http.NewRequest("POST", env.gateway+redisRoute+"/backchannel-logout", strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a forged logout token: %s, want 400", resp.Status)
		}
	}
	resp, body := page(t, env.gateway, line)
	mustStatus(t, resp, body, 200)
}

// TestRedisDownFailsClosedAndRecovers: with Redis stopped, the Redis
// route answers 503 on both nodes (never a pass), bearer routes and
// cookie-session routes work; once Redis is back the same session cookie
// works again, without restarting a gateway or plugin server.
func TestRedisDownFailsClosedAndRecovers(t *testing.T) {
	needLocalRedis(t)
	_, line := redisSignIn(t)
	tok := m2mToken(t)
	if err := env.local.StopRedis(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = env.local.StartRedis()
		}
	}()
	for _, node := range nodes() {
		resp, body := page(t, node, line)
		mustStatus(t, resp, body, http.StatusServiceUnavailable)
		resp, body = do(t, noRedirect(), "GET", node+"/api/anything", bearer(tok))
		mustStatus(t, resp, body, 200)
	}
	if err := env.local.StartRedis(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	for _, node := range nodes() {
		resp, body := page(t, node, line)
		mustStatus(t, resp, body, 200)
	}
}
