package integration

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/internal/session"
	"github.com/okta-oidc/okta-oidc/test/idp"
	"github.com/okta-oidc/okta-oidc/test/stack"
)

// sessionTokens opens the web route's session cookie (the test knows
// kong.yml's session_secret) and returns the tokens inside.
func sessionTokens(t *testing.T, cookies []*http.Cookie) session.Session {
	t.Helper()
	yml, err := os.ReadFile(filepath.Join(stack.Root(), "kong.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`session_secret: (\S+)`).FindSubmatch(yml)
	if m == nil {
		t.Fatal("kong.yml has no session_secret")
	}
	// Sessions are bound to the route's issuer and client_id.
	codec, err := session.NewCodec([]string{string(m[1])}, session.WithBinding(env.issuer, idp.WebClientID))
	if err != nil {
		t.Fatal(err)
	}
	jar := map[string]string{}
	for _, c := range cookies {
		jar[c.Name] = c.Value
	}
	data, err := codec.OpenCookies("okta_session", jar)
	if err != nil {
		t.Fatalf("opening the session cookie: %v", err)
	}
	s, err := session.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// providerPost posts form to the provider with the web client's
// credentials and decodes the JSON answer.
func providerPost(t *testing.T, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", env.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(idp.WebClientID, idp.WebClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func active(t *testing.T, tok, hint string) bool {
	t.Helper()
	status, out := providerPost(t, "/v1/introspect", url.Values{"token": {tok}, "token_type_hint": {hint}})
	if status != 200 {
		t.Fatalf("introspection: status %d %v", status, out)
	}
	return out["active"] == true
}

// TestLogoutRevokesTheSessionAtTheProvider: a copy of the session cookie
// outlives the logout only until its access token expires, because the
// logout revoked the refresh token (and the access token) at the provider.
func TestLogoutRevokesTheSessionAtTheProvider(t *testing.T) {
	c := browserClient(t)
	resp, body := do(t, c, "GET", env.gateway+"/web/anything", browserHeaders())
	resp, body = signIn(t, c, resp, body, idp.Alice)
	mustStatus(t, resp, body, 200)
	gw, _ := url.Parse(env.gateway + "/web/")
	copied := c.Jar.Cookies(gw) // what an attacker would take
	s := sessionTokens(t, copied)
	if s.RefreshToken == "" || s.AccessToken == "" {
		t.Fatal("the session holds no refresh or access token")
	}
	mustf(t, active(t, s.RefreshToken, "refresh_token"), "the session's refresh token is not active before logout")
	mustf(t, active(t, s.AccessToken, "access_token"), "the session's access token is not active before logout")

	// Log out through the gateway only (not following to the provider's
	// end_session, which would end the grant by itself).
	resp, body = do(t, noRedirect(), "GET", env.gateway+"/web/logout", http.Header{
		"Accept": browserHeaders()["Accept"], "Cookie": {cookieLine(copied)},
	})
	mustStatus(t, resp, body, 302)

	mustf(t, !active(t, s.RefreshToken, "refresh_token"), "the refresh token is still active after logout")
	status, out := providerPost(t, "/v1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.RefreshToken}})
	if status != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("refreshing with the copied session's refresh token: %d %v, want invalid_grant", status, out)
	}
	mustf(t, !active(t, s.AccessToken, "access_token"), "the access token is still active after logout")
}

func cookieLine(cs []*http.Cookie) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + "=" + c.Value
	}
	return strings.Join(parts, "; ")
}
