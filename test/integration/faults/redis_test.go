package faults

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

// upstreamAuthorization returns the Authorization and X-Id-Token headers
// httpbin's /anything saw.
func upstreamTokens(t *testing.T, body string) (auth, id string) {
	t.Helper()
	var e struct {
		Headers map[string][]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an httpbin echo: %v\n%.300s", err, body)
	}
	first := func(v []string) string {
		if len(v) == 1 {
			return v[0]
		}
		return ""
	}
	return first(e.Headers["Authorization"]), first(e.Headers["X-Id-Token"])
}

// TestRedisSessionForwardsRefreshedAccessToken: on kong.yml's /webr route
// (session_storage: redis, upstream_access_token_header:
// authorization:bearer) the upstream gets Authorization: Bearer <the
// session's access token> after browser login, and the refreshed one once
// the first has expired.
func TestRedisSessionForwardsRefreshedAccessToken(t *testing.T) {
	heal(t)
	if env.stack.Redis == nil {
		t.Skip("redis-server is not installed")
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &http.Client{Timeout: 30 * time.Second, Jar: jar}
	// An earlier fault may leave the plugin backing off from the IdP for
	// a moment: wait for it to serve the login redirect again.
	var (
		r    *http.Response
		body []byte
	)
	for deadline := time.Now().Add(15 * time.Second); ; {
		if r, err = doReq(b, "GET", gateway()+"/webr/anything", nil); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	m := formAction.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("expected the provider's login page, got %s at %s", r.Status, r.Request.URL)
	}
	action, _ := r.Request.URL.Parse(html.UnescapeString(m[1]))
	form := url.Values{"prompt": {"login"}, "login": {idp.Alice}, "password": {idp.Password}}
	r, err = doReq(b, "POST", action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || r.Request.URL.Path != "/webr/anything" {
		t.Fatalf("sign-in ended with %s at %s", r.Status, r.Request.URL)
	}
	first, id := upstreamTokens(t, string(body))
	if !strings.HasPrefix(first, "Bearer ") || strings.Count(first, ".") != 2 || strings.Count(id, ".") != 2 {
		t.Fatalf("after login the upstream got Authorization %q, X-Id-Token %q", first, id)
	}

	time.Sleep(webTokenTTL + 500*time.Millisecond) // the access token expires
	p := visit(t, b, gateway()+"/webr/anything")
	if p.status != 200 {
		t.Fatalf("after expiry: %d, want a refreshed pass", p.status)
	}
	second, _ := upstreamTokens(t, p.body)
	if !strings.HasPrefix(second, "Bearer ") || strings.Count(second, ".") != 2 || second == first {
		t.Fatalf("after refresh the upstream got Authorization %q (before: %q)", second, first)
	}
}
