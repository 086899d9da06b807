package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

func noRedirect() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// browserClient follows redirects with a cookie jar, like a browser.
func browserClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 20 * time.Second, Jar: jar}
}

func do(t *testing.T, c *http.Client, method, u string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t *testing.T, path string, h http.Header) (*http.Response, string) {
	t.Helper()
	return do(t, noRedirect(), "GET", env.gateway+path, h)
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func browserHeaders() http.Header {
	return http.Header{
		"Accept":          {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Accept-Language": {"en"},
	}
}

// clientCredentials gets an access token from a provider's token endpoint.
func clientCredentials(t testing.TB, issuer, id, secret, scope, resource string) string {
	t.Helper()
	tok, err := idp.ClientCredentials(context.Background(), issuer, id, secret, scope, resource)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)

// signIn fills the provider's login form on the page resp shows and returns
// the final response after all redirects.
func signIn(t *testing.T, c *http.Client, resp *http.Response, body, user string) (*http.Response, string) {
	t.Helper()
	if !strings.Contains(resp.Request.URL.Path, "/interaction/") || !strings.Contains(body, `name="login"`) {
		t.Fatalf("expected the provider's login page, got %s at %s:\n%.400s", resp.Status, resp.Request.URL, body)
	}
	m := formAction.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form on the login page:\n%.400s", body)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	post, err := http.NewRequest("POST", action.String(), strings.NewReader(url.Values{
		"prompt": {"login"}, "login": {user}, "password": {idp.Password},
	}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.Header.Set("Accept", browserHeaders().Get("Accept"))
	r, err := c.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r, string(b)
}

// userToken runs the authorization code flow for user directly against the
// provider (as a native app would) and returns the access token.
func userToken(t *testing.T, user string) string {
	t.Helper()
	access, _ := codeFlowTokens(t, user, true)
	return access
}

// codeFlowTokens runs the authorization code flow with PKCE for user
// directly against the provider, with or without a nonce (optional in the
// code flow), and returns the access token and the ID token.
func codeFlowTokens(t *testing.T, user string, withNonce bool) (access, id string) {
	t.Helper()
	redirect := env.gateway + "/web/callback"
	c := browserClient(t)
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	verifier := strings.Repeat("v", 43)
	q := url.Values{
		"client_id": {idp.WebClientID}, "response_type": {"code"}, "scope": {"openid profile email groups"},
		"redirect_uri": {redirect}, "state": {"s-" + user},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
	}
	if withNonce {
		q.Set("nonce", "n-"+user)
	}
	resp, body := do(t, c, "GET", env.issuer+"/v1/authorize?"+q.Encode(), browserHeaders())
	resp, _ = signIn(t, c, resp, body, user)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code in %s (%s)", resp.Header.Get("Location"), resp.Status)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	req, _ := http.NewRequest("POST", env.issuer+"/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(idp.WebClientID, idp.WebClientSecret)
	tr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.NewDecoder(tr.Body).Decode(&out); err != nil || out.AccessToken == "" || out.IDToken == "" {
		t.Fatalf("code exchange: %s %v", tr.Status, err)
	}
	return out.AccessToken, out.IDToken
}

// echo is httpbin's /anything answer: what the upstream received.
type echo struct {
	Headers map[string][]string `json:"headers"`
	URL     string              `json:"url"`
	Args    map[string][]string `json:"args"`
}

func parseEcho(t *testing.T, body string) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an httpbin echo: %v\n%.300s", err, body)
	}
	return e
}

func (e echo) header(name string) []string {
	for k, v := range e.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func mustStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d\n%.500s", resp.Request.Method, resp.Request.URL, resp.Status, want, body)
	}
}

func jsonMessage(t *testing.T, body string) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body is not Kong-style JSON: %v: %.200s", err, body)
	}
	return m
}

func mustf(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

var _ = fmt.Sprintf
