package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
)

// TestUnavailableShape: with the IdP down, a browser navigation gets an
// HTML 503 page, every other client the JSON one; both carry Retry-After
// and no detail of the failure.
func TestUnavailableShape(t *testing.T) {
	// A token in the query reaches the IdP whatever the other headers say.
	e := newEnv(t, func(r *config.Raw) { r.BearerTokenParamType = []string{"header", "query"} })
	tok := e.iss.Mint(t, e.iss.Claims(e.clock.Now()))
	e.iss.SetDown(true)
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		h.Set(k, v)
		return h
	}
	cases := []struct {
		name   string
		method string
		target string
		h      http.Header
		html   bool
	}{
		{"browser navigation to login", "GET", "/web/page", browser(), true},
		{"navigation without Sec-Fetch headers", "GET", "/web/page", http.Header{"Accept": {"text/html"}}, true},
		{"HEAD navigation", "HEAD", "/web/page", browser(), true},
		{"navigation with a query token", "GET", "/web/page?access_token=" + tok, browser(), true},
		{"XHR", "GET", "/web/page?access_token=" + tok, with(browser(), "X-Requested-With", "XMLHttpRequest"), false},
		{"fetch", "GET", "/web/page?access_token=" + tok, with(with(browser(), "Sec-Fetch-Mode", "cors"), "Sec-Fetch-Dest", "empty"), false},
		{"iframe", "GET", "/web/page?access_token=" + tok, with(browser(), "Sec-Fetch-Dest", "iframe"), false},
		{"POST form", "POST", "/web/page?access_token=" + tok, browser(), false},
		{"API client", "GET", "/web/page", bearer(tok), false},
		{"API client with Accept text/html", "GET", "/web/page", with(bearer(tok), "Accept", "text/html"), false},
		{"API client with Accept JSON", "GET", "/web/page?access_token=" + tok, http.Header{"Accept": {"application/json"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := e.decide(request(c.method, c.target, c.h, nil))
			wantStatus(t, d, http.StatusServiceUnavailable)
			if d.Header.Get("Retry-After") == "" || d.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("headers %v", d.Header)
			}
			ct := d.Header.Get("Content-Type")
			if c.html {
				if !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(d.Body), "The sign-in service is unavailable, try again shortly") {
					t.Fatalf("browser got %s: %s", ct, d.Body)
				}
				return
			}
			var body map[string]string
			if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(d.Body, &body) != nil || body["message"] == "" {
				t.Fatalf("API client got %s: %s", ct, d.Body)
			}
			if d.Err == nil {
				t.Fatal("cause not kept for the log")
			}
		})
	}
}

// TestForBrowserLeavesOtherDecisions: only 503s change shape, and the
// request method is read only for them.
func TestForBrowserLeavesOtherDecisions(t *testing.T) {
	f := &fetches{}
	r := request("GET", "/", browser(), f)
	for _, d := range []Decision{
		unauthorized(ReasonNoCredentials, "", nil),
		Internal(nil),
		{Action: Pass, Reason: ReasonAuthenticated},
	} {
		got := forBrowser(r, d)
		if got.Status != d.Status || string(got.Body) != string(d.Body) {
			t.Fatalf("%s changed: %d %s", d.Reason, got.Status, got.Body)
		}
	}
	if f.method != 0 {
		t.Fatalf("method read %d times for decisions that are not 503s", f.method)
	}
	d := unavailable(nil)
	orig := d.Header.Get("Content-Type")
	_ = forBrowser(r, d)
	if d.Header.Get("Content-Type") != orig {
		t.Fatal("forBrowser modified the original decision's header map")
	}
}

func failingTokenEndpoint(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable"}`))
	}
}

func setsSession(d Decision) bool {
	for _, c := range d.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "okta_session") {
			return true
		}
	}
	return false
}

// TestTokenEndpointFailureAtCallback: a 5xx or 429 from the token endpoint
// at the callback is the IdP failing: a 503 page, never a session, and not
// "your code was refused".
func TestTokenEndpointFailureAtCallback(t *testing.T) {
	for _, status := range []int{500, 502, 503, 429} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newEnv(t, nil)
			state, _, _, cookie := e.startLogin("/web/")
			e.iss.SetTokenHandler(failingTokenEndpoint(status))
			h := browser()
			h.Set("Cookie", cookie)
			d := e.decide(request("GET", "/web/callback?code=c0de&state="+state, h, nil))
			wantStatus(t, d, http.StatusServiceUnavailable)
			if setsSession(d) || !strings.HasPrefix(d.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("callback: %v\n%s", d.Header, d.Body)
			}
		})
	}
}

// TestTokenEndpointFailureDuringRefresh: a 5xx or 429 at refresh keeps the
// session (503, cookie untouched); the next request after the IdP is back
// refreshes it.
func TestTokenEndpointFailureDuringRefresh(t *testing.T) {
	for _, status := range []int{500, 503, 429} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newEnv(t, nil)
			set, _ := e.loginTTL(5*time.Minute, "alice", "kong_group")
			e.clock.Add(6 * time.Minute)
			e.iss.SetTokenHandler(failingTokenEndpoint(status))
			d := e.decide(request("GET", "/web/page", cookieHeader(set), nil))
			wantStatus(t, d, http.StatusServiceUnavailable)
			if setsSession(d) {
				t.Fatalf("the session was changed during a %d: %v", status, d.Header.Values("Set-Cookie"))
			}
		})
	}
}

// echoingTokenEndpoint fails with status and echoes the request's code,
// refresh token and client credentials, in an error_description (json) or
// a plain body.
func echoingTokenEndpoint(status int, json bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		u, p, _ := r.BasicAuth()
		echo := "code " + r.PostForm.Get("code") + " refresh " + r.PostForm.Get("refresh_token") + " client " + u + ":" + p + r.PostForm.Get("client_secret")
		if json {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":"server_error","error_description":"` + echo + `"}`))
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(echo))
	}
}

// TestTokenEndpointEchoNeverReachesErr: what the token endpoint says back
// on a failure (an error_description, a body) is not in the Decision's Err,
// which is logged: the IdP may echo the code, refresh token or secret.
func TestTokenEndpointEchoNeverReachesErr(t *testing.T) {
	for _, json := range []bool{true, false} {
		t.Run(map[bool]string{true: "json", false: "plain"}[json], func(t *testing.T) {
			e := newEnv(t, nil)
			set, _ := e.loginTTL(5*time.Minute, "alice", "kong_group")
			state, _, _, cookie := e.startLogin("/web/")
			e.iss.SetTokenHandler(echoingTokenEndpoint(http.StatusInternalServerError, json))
			h := browser()
			h.Set("Cookie", cookie)
			callback := e.decide(request("GET", "/web/callback?code=Code-Echo-77&state="+state, h, nil))
			e.clock.Add(6 * time.Minute)
			refresh := e.decide(request("GET", "/web/page", cookieHeader(set), nil))
			for name, d := range map[string]Decision{"callback": callback, "refresh": refresh} {
				wantStatus(t, d, http.StatusServiceUnavailable)
				if d.Err == nil || !strings.Contains(d.Err.Error(), "status 500") {
					t.Fatalf("%s: Err = %v, want the status", name, d.Err)
				}
				for _, s := range []string{"Code-Echo-77", "rt-1", "web-secret"} {
					if strings.Contains(d.Err.Error(), s) {
						t.Errorf("%s: Err holds %q: %v", name, s, d.Err)
					}
				}
			}
		})
	}
}
