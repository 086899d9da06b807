package faults

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

func gateway() string { return env.stack.GatewayURL }

// providerIssuer is the provider's issuer path at its own address: tokens
// are fetched there, past the proxy, so faults never stop a test getting one.
func providerIssuer() string { return env.stack.ProviderURL + idp.IssuerPath }

type reply struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

func send(t *testing.T, c *http.Client, method, u string, h http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	begin := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return reply{resp.StatusCode, resp.Header, string(b), time.Since(begin)}
}

var plain = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, path string, h http.Header) reply {
	t.Helper()
	return send(t, plain, "GET", gateway()+path, h)
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func browserHeaders() http.Header {
	return http.Header{
		"Accept":         {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Sec-Fetch-Mode": {"navigate"},
		"Sec-Fetch-Dest": {"document"},
	}
}

// token runs client credentials at the provider itself.
func token(t *testing.T, resource string) string {
	t.Helper()
	tok, err := idp.ClientCredentials(context.Background(), providerIssuer(), idp.M2MClientID, idp.M2MClientSecret, "kong.read", resource)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// withKid returns tok with its header's kid replaced (the signature no
// longer matches: only good for making the plugin look the kid up).
func withKid(t *testing.T, tok, kid string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	h["kid"] = kid
	raw, _ = json.Marshal(h)
	parts[0] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// heal removes every fault.
func heal(t *testing.T) {
	t.Helper()
	if err := env.proxy.Heal(); err != nil {
		t.Fatal(err)
	}
}

// restartPlugin kills the plugin server and waits for the gateway to start
// a new one: a process with empty caches.
func restartPlugin(t *testing.T) int {
	t.Helper()
	old := env.stack.PluginPIDs()
	for _, pid := range old {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		now := env.stack.PluginPIDs()
		if len(now) == 1 && !slices.Contains(old, now[0]) && serving() {
			return now[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the plugin server was not restarted within 15s")
	return 0
}

// serving reports whether every route's plugin instance answers, three
// rounds in a row (the gateway's first calls to a new plugin server may
// still meet its predecessor's connections). Requests without credentials
// need no IdP.
func serving() bool {
	for range 3 {
		for _, path := range []string{"/api/anything", "/team/anything", "/strict/anything", "/opaque/anything", "/web/anything", "/admin/anything"} {
			resp, err := plain.Get(gateway() + path)
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				return false
			}
		}
	}
	return true
}

// pluginRSS returns the plugin server's resident memory in bytes.
func pluginRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("plugin server %d is gone: %v", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// mustFailClosed checks a reply during a fault: 503, with Retry-After, and
// never an upstream answer.
func mustFailClosed(t *testing.T, what string, r reply) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || strings.Contains(r.body, `"headers"`) {
		t.Fatalf("%s: %d %v\n%.300s", what, r.status, r.header, r.body)
	}
}

// untilPass repeats a bearer request every 50 ms until it passes and
// returns how long that took, failing after limit. Every other answer must
// be a 503.
func untilPass(t *testing.T, path, tok string, limit time.Duration) time.Duration {
	t.Helper()
	begin := time.Now()
	for {
		r := get(t, path, bearer(tok))
		if r.status == 200 {
			return time.Since(begin)
		}
		mustFailClosed(t, "while recovering", r)
		if time.Since(begin) > limit {
			t.Fatalf("%s still 503 %v after the IdP came back", path, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --- browser login through the gateway ---

var formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)

func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	callback := gateway() + "/web/callback"
	return &http.Client{Timeout: 30 * time.Second, Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), callback) {
			return http.ErrUseLastResponse // the test calls the callback itself
		}
		return nil
	}}
}

// signInUntilCallback starts a login at the gateway, signs alice in at the
// provider and returns the callback URL with its code, not yet visited.
func signInUntilCallback(t *testing.T, c *http.Client) string {
	t.Helper()
	r, err := doReq(c, "GET", gateway()+"/web/anything", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	m := formAction.FindStringSubmatch(string(body))
	if m == nil || !strings.Contains(r.Request.URL.Path, "/interaction/") {
		t.Fatalf("expected the provider's login page, got %s at %s:\n%.300s", r.Status, r.Request.URL, body)
	}
	action, err := r.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"prompt": {"login"}, "login": {idp.Alice}, "password": {idp.Password}}
	r, err = doReq(c, "POST", action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	loc := r.Header.Get("Location")
	if r.StatusCode/100 != 3 || !strings.HasPrefix(loc, gateway()+"/web/callback?") || !strings.Contains(loc, "code=") {
		t.Fatalf("sign-in ended with %s, Location %q", r.Status, loc)
	}
	return loc
}

func doReq(c *http.Client, method, u string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header = browserHeaders()
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return c.Do(req)
}

// visit GETs u with the browser (cookies, no redirects followed).
func visit(t *testing.T, c *http.Client, u string) reply {
	t.Helper()
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return send(t, &cc, "GET", u, browserHeaders())
}

// sessionSet reports whether a reply sets (not deletes) the session cookie.
func sessionSet(r reply) bool {
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "okta_session") && !strings.Contains(c, "Max-Age=0") && !strings.Contains(c, "=;") {
			return true
		}
	}
	return false
}

// sessionDeleted reports whether a reply deletes the session cookie.
func sessionDeleted(r reply) bool {
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "okta_session") && (strings.Contains(c, "Max-Age=0") || strings.Contains(c, "=;")) {
			return true
		}
	}
	return false
}
