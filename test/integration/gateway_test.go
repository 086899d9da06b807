package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/okta-oidc/okta-oidc/test/idp"
	"github.com/okta-oidc/okta-oidc/test/stack"
)

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func m2mToken(t testing.TB) string {
	return clientCredentials(t, env.issuer, idp.M2MClientID, idp.M2MClientSecret, "kong.read kong.write", "")
}

func TestNoTokenGetsBearerChallenge(t *testing.T) {
	resp, body := get(t, "/api/anything", nil)
	mustStatus(t, resp, body, 401)
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="okta-oidc"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	if m := jsonMessage(t, body); m["message"] != "Unauthorized" {
		t.Errorf("body = %s", body)
	}
}

func TestClientCredentialsTokenPasses(t *testing.T) {
	resp, body := get(t, "/api/anything", bearer(m2mToken(t)))
	mustStatus(t, resp, body, 200)
	e := parseEcho(t, body)
	if got := e.header("X-Authenticated-Userid"); len(got) != 1 || got[0] != idp.M2MClientID {
		t.Errorf("X-Authenticated-Userid at httpbin = %q", got)
	}
	if got := e.header("X-Authenticated-Client"); len(got) != 1 || got[0] != idp.M2MClientID {
		t.Errorf("X-Authenticated-Client at httpbin = %q", got)
	}
	if got := e.header("Authorization"); len(got) != 0 {
		t.Errorf("hide_credentials: Authorization reached httpbin: %q", got)
	}
}

func TestSpoofedIdentityHeadersNeverReachUpstream(t *testing.T) {
	h := bearer(m2mToken(t))
	h.Set("X-Authenticated-Userid", "admin")
	h.Set("x-authenticated-groups", "kong_admins") // the m2m token has no groups claim
	resp, body := get(t, "/api/anything", h)
	mustStatus(t, resp, body, 200)
	e := parseEcho(t, body)
	if got := e.header("X-Authenticated-Userid"); len(got) != 1 || got[0] != idp.M2MClientID {
		t.Errorf("X-Authenticated-Userid at httpbin = %q", got)
	}
	if got := e.header("X-Authenticated-Groups"); len(got) != 0 {
		t.Errorf("a client-sent X-Authenticated-Groups reached httpbin: %q", got)
	}
}

func TestInvalidTokensGetInvalidToken(t *testing.T) {
	otherAud := clientCredentials(t, env.issuer, idp.M2MClientID, idp.M2MClientSecret, "kong.read", idp.OtherAudience)
	otherIss := clientCredentials(t, env.otherIssuer, idp.M2MClientID, idp.M2MClientSecret, "kong.read", "")
	good := m2mToken(t)
	parts := strings.Split(good, ".")
	// alg none with the genuine claims.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	// the genuine claims signed by a key of our own under the provider's kid.
	forged := forge(t, good)
	tests := map[string]string{
		"garbage":        "not-a-jwt",
		"other audience": otherAud,
		"other issuer":   otherIss,
		"alg none":       none,
		"forged":         forged,
		"bad signature":  parts[0] + "." + parts[1] + "." + flip(parts[2]),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, "/api/anything", bearer(tok))
			mustStatus(t, resp, body, 401)
			if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="okta-oidc", error="invalid_token"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
}

func flip(seg string) string {
	b := []byte(seg)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

func forge(t *testing.T, genuine string) string {
	t.Helper()
	parts := strings.Split(genuine, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var hdr map[string]any
	_ = json.Unmarshal(hb, &hdr)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithHeader("kid", hdr["kid"]).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(pb)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func TestExpiredTokenRefused(t *testing.T) {
	// The provider counts whole seconds, so a fresh token may have little
	// more than a second left: take a new one if it was already gone.
	var tok string
	for try := 0; ; try++ {
		tok = clientCredentials(t, env.issuer, idp.M2MShortClientID, idp.M2MShortClientSecret, "kong.read", "")
		resp, body := get(t, "/strict/anything", bearer(tok))
		if resp.StatusCode == 200 {
			break // fresh: passes
		}
		if try == 3 {
			mustStatus(t, resp, body, 200)
		}
	}
	time.Sleep(idp.DefaultShortTTL + 1500*time.Millisecond)
	resp, body := get(t, "/strict/anything", bearer(tok))
	mustStatus(t, resp, body, 401)
	if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
	}
}

func TestRepeatedAuthorizationRefused(t *testing.T) {
	tok := m2mToken(t)
	resp, body := get(t, "/api/anything", http.Header{"Authorization": {"Bearer " + tok, "Bearer " + tok}})
	mustStatus(t, resp, body, 400)
}

func TestGroupPolicyOnUserTokens(t *testing.T) {
	resp, body := get(t, "/team/anything", bearer(userToken(t, idp.Alice)))
	mustStatus(t, resp, body, 200)
	if got := parseEcho(t, body).header("X-Authenticated-Groups"); len(got) != 1 || got[0] != "kong_group, everyone" {
		t.Errorf("X-Authenticated-Groups at httpbin = %q", got)
	}
	resp, body = get(t, "/team/anything", bearer(userToken(t, idp.Bob)))
	mustStatus(t, resp, body, 403)
	if m := jsonMessage(t, body); m["message"] != "Forbidden" {
		t.Errorf("403 body = %s", body)
	}
	// A machine token has no groups at all.
	resp, body = get(t, "/team/anything", bearer(m2mToken(t)))
	mustStatus(t, resp, body, 403)
}

func TestBrowserWithoutSessionIsSentToLogin(t *testing.T) {
	resp, body := get(t, "/web/anything?page=1", browserHeaders())
	mustStatus(t, resp, body, 302)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != env.issuer+"/v1/authorize" {
		t.Fatalf("redirected to %s", got)
	}
	q := loc.Query()
	want := map[string]string{"response_type": "code", "client_id": idp.WebClientID,
		"redirect_uri": env.gateway + "/web/callback", "code_challenge_method": "S256"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("%s = %q", k, q.Get(k))
		}
	}
	if !strings.Contains(resp.Header.Get("Set-Cookie"), "HttpOnly") {
		t.Errorf("login state cookie = %q", resp.Header.Get("Set-Cookie"))
	}
}

func TestAPIClientsOnWebRouteGet401(t *testing.T) {
	resp, body := get(t, "/web/anything", http.Header{"Accept": {"application/json"}, "X-Requested-With": {"XMLHttpRequest"}})
	mustStatus(t, resp, body, 401)
	if m := jsonMessage(t, body); !strings.HasPrefix(m["login_url"], "/web/callback?return_to=") {
		t.Errorf("401 for XHR lacks login_url: %s", body)
	}
	resp, body = do(t, noRedirect(), "POST", env.gateway+"/web/anything", browserHeaders())
	mustStatus(t, resp, body, 401)
	resp, body = get(t, "/web/anything", http.Header{"Accept": {"*/*"}}) // curl
	mustStatus(t, resp, body, 401)
}

func TestBrowserLoginThroughGateway(t *testing.T) {
	c := browserClient(t)
	resp, body := do(t, c, "GET", env.gateway+"/web/anything?page=1", browserHeaders())
	resp, body = signIn(t, c, resp, body, idp.Alice)
	mustStatus(t, resp, body, 200)
	if resp.Request.URL.String() != env.gateway+"/web/anything?page=1" {
		t.Fatalf("landed on %s, want the page asked for", resp.Request.URL)
	}
	e := parseEcho(t, body)
	if got := e.header("X-Authenticated-Groups"); len(got) != 1 || got[0] != "kong_group, everyone" {
		t.Errorf("X-Authenticated-Groups = %q", got)
	}
	if got := e.header("X-Authenticated-Userid"); len(got) != 1 || got[0] == "" {
		t.Errorf("X-Authenticated-Userid = %q", got)
	}
	// The session carries on without the provider.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, body = do(t, c, "GET", env.gateway+"/web/anything/again", browserHeaders())
	mustStatus(t, resp, body, 200)
	// The same session on a route that needs kong_admins: 403 page.
	resp, body = do(t, c, "GET", env.gateway+"/admin/anything", browserHeaders())
	mustStatus(t, resp, body, 403)
	if !strings.Contains(body, "Access denied") || !strings.Contains(body, "/web/logout") {
		t.Errorf("403 page: %.300s", body)
	}
	// Logout clears the session and ends the provider's session.
	c.CheckRedirect = nil
	resp, body = do(t, c, "GET", env.gateway+"/web/logout", browserHeaders())
	mustStatus(t, resp, body, 200)
	if resp.Request.URL.String() != env.gateway+"/web/signed-out" || !strings.Contains(body, "You are signed out") {
		t.Errorf("after logout landed on %s: %.300s", resp.Request.URL, body)
	}
	// Coming back needs a new login at the provider.
	resp, body = do(t, c, "GET", env.gateway+"/web/anything", browserHeaders())
	if !strings.Contains(resp.Request.URL.Path, "/interaction/") || !strings.Contains(body, `name="password"`) {
		t.Fatalf("after logout: %s at %s, want the provider's login page", resp.Status, resp.Request.URL)
	}
}

func TestBobSignsInAndIsForbidden(t *testing.T) {
	c := browserClient(t)
	resp, body := do(t, c, "GET", env.gateway+"/web/anything", browserHeaders())
	resp, body = signIn(t, c, resp, body, idp.Bob)
	mustStatus(t, resp, body, 403)
	if !strings.Contains(body, "bob") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("403 page for bob: %s %.300s", resp.Header.Get("Content-Type"), body)
	}
}

func TestCallbackWithWrongStateRefused(t *testing.T) {
	c := browserClient(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := do(t, c, "GET", env.gateway+"/web/anything", browserHeaders()) // sets a login cookie
	mustf(t, resp.StatusCode == 302, "no login redirect: %s", resp.Status)
	resp, body := do(t, c, "GET", env.gateway+"/web/callback?code=abc&state=forged", browserHeaders())
	mustStatus(t, resp, body, 400)
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "okta_session=") && !strings.Contains(sc, "Max-Age=0") {
			t.Fatalf("a forged callback set a session: %s", sc)
		}
	}
}

func TestShippedKongYMLValidates(t *testing.T) {
	root := stack.Root()
	bin := filepath.Join(t.TempDir(), "okta-oidc")
	// -buildvcs=false: in compose's tests container (root, checkout owned by
	// another uid) git refuses the checkout and VCS stamping fails the build.
	if out, err := exec.Command("go", "build", "-C", root, "-buildvcs=false", "-o", bin, "./cmd/okta-oidc").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "-validate", filepath.Join(root, "kong.yml")).CombinedOutput(); err != nil {
		t.Fatalf("shipped kong.yml refused: %v\n%s", err, out)
	}
	orig, err := os.ReadFile(filepath.Join(root, "kong.yml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(orig), "leeway: 0", "leeway: zero", 1)
	if broken == string(orig) {
		t.Fatal("kong.yml has no leeway: 0 to break")
	}
	p := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(p, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-validate", p).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "config.leeway: expected an integer") {
		t.Fatalf("broken copy: err=%v\n%s", err, out)
	}
}

// The tests below need the local stack: they restart processes or start
// the dev gateway itself.

func TestPluginServerKilledFailsClosedAndRestarts(t *testing.T) {
	if env.local == nil {
		t.Skip("needs the local stack (the compose run cannot reach Kong's processes)")
	}
	tok := m2mToken(t)
	resp, body := get(t, "/api/anything", bearer(tok))
	mustStatus(t, resp, body, 200)
	// Kill twice in a row: the second respawn comes at least a second after
	// the first (as in Kong), so requests in between meet no server.
	var sawError bool
	for round := 1; round <= 2; round++ {
		pids := env.local.PluginPIDs()
		if len(pids) == 0 {
			t.Fatalf("round %d: no plugin server process found", round)
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		passed := false
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) && !passed {
			resp, body := get(t, "/api/anything", bearer(tok))
			switch resp.StatusCode {
			case 200:
				passed = true
			case 500:
				sawError = true
				if strings.Contains(body, `"headers"`) {
					t.Fatalf("a 500 carried an upstream answer: %s", body)
				}
			default:
				t.Fatalf("round %d, while the plugin server restarts: %s %s", round, resp.Status, body)
			}
			// Without a token a request must never pass either.
			if r, b := get(t, "/api/anything", nil); r.StatusCode == 200 {
				t.Fatalf("a request without a token passed while the plugin server was down: %s", b)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !passed {
			t.Fatalf("round %d: the plugin server was not restarted within 15s", round)
		}
		if now := env.local.PluginPIDs(); len(now) == 0 || slices.Contains(pids, now[0]) {
			t.Fatalf("round %d: plugin server pids before %v, after %v", round, pids, now)
		}
	}
	if !sawError {
		t.Fatal("no request met the dead plugin server: the restart window was not observed")
	}
}

func TestDevGatewayRefusesUnknownConfigField(t *testing.T) {
	if env.local == nil {
		t.Skip("needs the local stack's binaries")
	}
	orig, err := os.ReadFile(filepath.Join(stack.Root(), "kong.yml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(orig), "leeway: 0", "leeway: 0\n        leway: 5", 1)
	p := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(p, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := env.local.Dir
	plugin := filepath.Join(dir, "okta-oidc")
	cmd := exec.Command(filepath.Join(dir, "kong-devgw"), "-config", p, "-listen", "127.0.0.1:0", "-prefix", t.TempDir())
	cmd.Env = append(os.Environ(),
		"KONG_PLUGINS=bundled,okta-oidc", "KONG_PLUGINSERVER_NAMES=okta-oidc",
		"KONG_PLUGINSERVER_OKTA_OIDC_QUERY_CMD="+plugin+" -dump",
		"KONG_PLUGINSERVER_OKTA_OIDC_START_CMD="+plugin)
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the dev gateway started with an unknown config field")
	}
	if err == nil || !strings.Contains(string(out), "leway") || !strings.Contains(string(out), "unknown field") {
		t.Fatalf("err=%v, output:\n%s", err, out)
	}
}

func TestOpaqueTokensAreIntrospected(t *testing.T) {
	opaque := clientCredentials(t, env.issuer, idp.M2MClientID, idp.M2MClientSecret, "kong.read", idp.OpaqueResource)
	if strings.Count(opaque, ".") == 2 {
		t.Fatalf("the provider gave a JWT for %s", idp.OpaqueResource)
	}
	resp, body := get(t, "/opaque/anything", bearer(opaque))
	mustStatus(t, resp, body, 200)
	if got := parseEcho(t, body).header("X-Authenticated-Client"); len(got) != 1 || got[0] != idp.M2MClientID {
		t.Errorf("X-Authenticated-Client = %q", got)
	}
	// A revoked token (never seen by the gateway before) is refused.
	revoked := clientCredentials(t, env.issuer, idp.M2MClientID, idp.M2MClientSecret, "kong.read", idp.OpaqueResource)
	form := url.Values{"token": {revoked}}
	req, _ := http.NewRequest("POST", env.issuer+"/v1/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(idp.M2MClientID, idp.M2MClientSecret)
	rr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rr.Body.Close()
	mustf(t, rr.StatusCode == 200, "revoke: %s", rr.Status)
	resp, body = get(t, "/opaque/anything", bearer(revoked))
	mustStatus(t, resp, body, 401)
	resp, body = get(t, "/opaque/anything", bearer("made-up-opaque-token"))
	mustStatus(t, resp, body, 401)
	if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
	}
	// An opaque token on a bearer-only route is refused.
	resp, body = get(t, "/api/anything", bearer(opaque))
	mustStatus(t, resp, body, 401)
}
