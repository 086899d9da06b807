package integration

// What Kong 3.9's nginx does in front of the plugin, asserted the same way
// against the dev gateway and against real Kong (docker compose): header
// names with underscores pass (underscores_in_headers on), a header line
// over 8 KiB and a repeated Authorization are refused before any plugin
// runs, and no client-sent spelling of an identity header reaches the
// upstream.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

func TestUnderscoreHeaderReachesUpstream(t *testing.T) {
	resp, body := get(t, "/public/anything", http.Header{"X_Probe": {"1"}})
	mustStatus(t, resp, body, 200)
	if got := parseEcho(t, body).header("X_Probe"); len(got) != 1 || got[0] != "1" {
		t.Errorf("X_Probe at httpbin = %q, want [1] (Kong's nginx: underscores_in_headers on)", got)
	}
}

// checkNginxRefusal checks a 400 answered by Kong's error handler before
// the plugin ran: Kong's JSON body, no challenge from the plugin.
func checkNginxRefusal(t *testing.T, resp *http.Response, body, message string) {
	t.Helper()
	mustStatus(t, resp, body, 400)
	m := jsonMessage(t, body)
	if m["message"] != message || m["request_id"] == "" {
		t.Errorf("body = %s, want Kong's {\"message\":%q,\"request_id\":...}", body, message)
	}
	if got := resp.Header.Values("WWW-Authenticate"); len(got) != 0 {
		t.Errorf("WWW-Authenticate = %q: the plugin answered, not nginx", got)
	}
}

func TestCookieLineOver8KiBRefusedBeforeThePlugin(t *testing.T) {
	h := bearer(m2mToken(t))
	h.Set("Accept", "application/json")
	h.Set("Cookie", "big="+strings.Repeat("a", 9000))
	resp, body := get(t, "/api/anything", h)
	// nginx's 494 (large_client_header_buffers 4 8k), which
	// kong/error_handlers.lua answers as 400
	checkNginxRefusal(t, resp, body, "Request header or cookie too large")
}

func TestRepeatedAuthorizationRefusedByNginx(t *testing.T) {
	tok := m2mToken(t)
	resp, body := get(t, "/api/anything", http.Header{
		"Accept":        {"application/json"},
		"Authorization": {"Bearer " + tok, "Bearer " + tok},
	})
	// ngx_http_process_unique_header_line: 400 before any plugin runs
	checkNginxRefusal(t, resp, body, "Bad request")
}

// TestIdentityHeadersInAnySpellingNeverReachUpstream needs the plugin to
// clear every spelling of its managed headers: set_headers replaces only
// the exact (case-insensitive) name, and an underscore spelling reaches
// the upstream on Kong.
func TestIdentityHeadersInAnySpellingNeverReachUpstream(t *testing.T) {
	h := bearer(m2mToken(t))
	// raw keys: each is its own header line, spelled as written
	h["X_Authenticated_Userid"] = []string{"admin"}
	h["x_authenticated_userid"] = []string{"admin2"}
	h["x-authenticated-userid"] = []string{"admin3"}
	h["X_AUTHENTICATED_GROUPS"] = []string{"kong_admins"} // the m2m token has no groups claim
	h["X-Authenticated_Client"] = []string{"someone-else"}
	resp, body := get(t, "/api/anything", h)
	mustStatus(t, resp, body, 200)
	e := parseEcho(t, body)
	spelled := func(name string) []string {
		var out []string
		for k, v := range e.Headers {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), name) {
				out = append(out, v...)
			}
		}
		return out
	}
	if got := spelled("X-Authenticated-Userid"); len(got) != 1 || got[0] != idp.M2MClientID {
		t.Errorf("X-Authenticated-Userid in any spelling at httpbin = %q, want only [%s]", got, idp.M2MClientID)
	}
	if got := spelled("X-Authenticated-Client"); len(got) != 1 || got[0] != idp.M2MClientID {
		t.Errorf("X-Authenticated-Client in any spelling at httpbin = %q, want only [%s]", got, idp.M2MClientID)
	}
	if got := spelled("X-Authenticated-Groups"); len(got) != 0 {
		t.Errorf("a client-sent X-Authenticated-Groups spelling reached httpbin: %q", got)
	}
}
