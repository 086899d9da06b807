package gateway

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
)

// kongRequest builds a Request the way the adapter does, from headers as
// kong.request.get_headers returns them (lower-case names, "_" kept).
func kongRequest(method, target string, raw map[string][]string) *Request {
	lower := make(map[string][]string, len(raw))
	for k, v := range raw {
		lower[strings.ToLower(k)] = append(lower[strings.ToLower(k)], v...)
	}
	return NewRequest(lower,
		func() (string, error) { return method, nil },
		func() (string, error) { return target, nil })
}

// upstreamAfter applies a pass Decision's header changes the way nginx's
// ngx.req.set_header does (each name replaces the headers equal to it, case
// aside, and nothing else) and returns what the upstream receives.
func upstreamAfter(raw map[string][]string, up map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range raw {
		out[strings.ToLower(k)] = append([]string(nil), v...)
	}
	for k, v := range up {
		delete(out, strings.ToLower(k))
		if len(v) > 0 {
			out[strings.ToLower(k)] = v
		}
	}
	return out
}

// spoofed holds every spelling of the identity headers a client might send.
func spoofed() map[string][]string {
	return map[string][]string{
		"x_authenticated_userid":  {"admin"},
		"x-authenticated-userid":  {"admin"},
		"X_AUTHENTICATED_GROUPS":  {"kong_admins"},
		"x_tenant":                {"evil-corp"},
		"x-tenant":                {"evil-corp"},
		"x_authenticated_client":  {"kong-admin"},
		"x-consumer-id":           {"c1"},
		"x_consumer_id":           {"c1"},
		"x_consumer_custom_id":    {"c1"},
		"x-consumer-username":     {"admin"},
		"x_credential_identifier": {"admin"},
		"x-anonymous-consumer":    {"false"},
		"x_probe":                 {"1"}, // not managed: left alone
	}
}

// TestEverySpellingClearedOnEveryPassPath: on each way a request passes, no
// client-sent spelling of an identity header (upstream_headers, Kong's
// consumer headers) reaches the upstream; only the plugin's own values do.
func TestEverySpellingClearedOnEveryPassPath(t *testing.T) {
	headers := map[string]string{"X-Authenticated-Userid": "sub", "X-Authenticated-Groups": "groups", "X-Tenant": "org.id", "X-Authenticated-Client": "cid"}
	mod := func(r *config.Raw) { r.UpstreamHeaders = headers }
	managed := managedNames(append(slices.Collect(maps.Keys(headers)), consumerHeaders...))

	type path struct {
		name string
		req  func(t *testing.T) (*env, *Request)
		want map[string][]string // managed headers the upstream must get
	}
	paths := []path{
		{"bearer", func(t *testing.T) (*env, *Request) {
			e := newEnv(t, mod)
			raw := spoofed()
			raw["authorization"] = []string{"Bearer " + e.iss.Mint(t, e.iss.Claims(e.clock.Now()))}
			return e, kongRequest("GET", "/api", raw)
		}, map[string][]string{"x-authenticated-userid": {"alice@example.com"}, "x-authenticated-groups": {"kong_group, everyone"}, "x-authenticated-client": {"kong-m2m"}}},
		{"session", func(t *testing.T) (*env, *Request) {
			e := newEnv(t, mod)
			set := e.login("alice", "kong_group")
			raw := spoofed()
			for k, v := range cookieHeader(set) {
				raw[k] = v
			}
			return e, kongRequest("GET", "/web/page", raw)
		}, map[string][]string{"x-authenticated-userid": {"alice"}, "x-authenticated-groups": {"kong_group"}, "x-authenticated-client": {"kong-web"}}},
		{"introspection", func(t *testing.T) (*env, *Request) {
			e := newEnv(t, func(r *config.Raw) {
				mod(r)
				r.AuthMethods = []string{"introspection"}
				r.GroupsRequired = nil
			})
			e.iss.SetIntrospectHandler(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "iss": e.iss.URL, "aud": "api://default",
					"sub": "svc", "cid": "kong-m2m", "exp": e.clock.Now().Add(time.Hour).Unix()})
			})
			raw := spoofed()
			raw["authorization"] = []string{"Bearer opaque-good-token-0123456789abcdef"}
			return e, kongRequest("GET", "/api", raw)
		}, map[string][]string{"x-authenticated-userid": {"svc"}, "x-authenticated-client": {"kong-m2m"}}},
		{"preflight pass-through", func(t *testing.T) (*env, *Request) {
			e := newEnv(t, func(r *config.Raw) { mod(r); r.RunOnPreflight = bp(false) })
			raw := spoofed()
			raw["origin"] = []string{"https://app.example"}
			// Read like Kong's get_header: the underscore spelling counts.
			raw["access_control_request_method"] = []string{"GET"}
			return e, kongRequest("OPTIONS", "/api", raw)
		}, map[string][]string{}},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			e, r := p.req(t)
			d := e.decide(r)
			wantPass(t, d)
			raw := map[string][]string{}
			for _, n := range r.Names {
				raw[n] = r.Header[http.CanonicalHeaderKey(strings.ReplaceAll(n, "_", "-"))]
			}
			got := upstreamAfter(raw, d.Upstream)
			for name, v := range got {
				if !managed[foldName(name)] {
					continue
				}
				if want, ok := p.want[name]; !ok || strings.Join(v, "|") != strings.Join(want, "|") {
					t.Errorf("upstream %s = %q, want %q", name, v, want)
				}
			}
			for name, want := range p.want {
				if strings.Join(got[name], "|") != strings.Join(want, "|") {
					t.Errorf("upstream %s = %q, want %q", name, got[name], want)
				}
			}
			if got["x_probe"] == nil {
				t.Errorf("an unmanaged underscore header was dropped: %q", got)
			}
			// One set_headers call: no two names for one nginx header.
			seen := map[string]bool{}
			for k := range d.Upstream {
				if seen[strings.ToLower(k)] {
					t.Fatalf("set_headers names %q twice", k)
				}
				seen[strings.ToLower(k)] = true
			}
		})
	}
}

// TestReadingFoldsSpellings: every spelling of a header is one header to the
// plugin, so a credential sent under two spellings is a repeated header.
func TestReadingFoldsSpellings(t *testing.T) {
	r := kongRequest("GET", "/", map[string][]string{"sec-fetch-mode": {"navigate"}, "sec_fetch_mode": {"cors"}, "accept": {"text/html"}})
	if got := r.Header.Values("Sec-Fetch-Mode"); len(got) != 2 {
		t.Fatalf("spellings not merged: %q", got)
	}
	e := newEnv(t, nil)
	tok := e.iss.Mint(t, e.iss.Claims(e.clock.Now()))
	// Kong lower-cases names, but a fake or another front end may not: two
	// names that differ in case are still one Authorization, sent twice.
	r = NewRequest(map[string][]string{"authorization": {"Bearer " + tok}, "AUTHORIZATION": {"Bearer x.y.z"}}, nil, nil)
	wantStatus(t, e.decide(r), http.StatusBadRequest)
}

func TestHeaderLines(t *testing.T) {
	if n := HeaderLines(map[string][]string{"a": {"1", "2"}, "b": {"3"}, "c": nil}); n != 4 {
		t.Fatalf("HeaderLines = %d, want 4", n)
	}
	d := TooManyHeaders(1000, 1000)
	wantStatus(t, d, http.StatusBadRequest)
	if d.Header.Get("WWW-Authenticate") != `Bearer realm="okta-oidc", error="invalid_request"` || string(d.Body) != `{"message":"Bad request"}` {
		t.Fatalf("TooManyHeaders = %q %s", d.Header, d.Body)
	}
}

// TestGroupWithDelimiterNeverReadsAsTwo: a group named "Marketing,
// kong_admins" reaches the upstream as one element that a split on ","
// cannot turn into kong_admins.
func TestGroupWithDelimiterNeverReadsAsTwo(t *testing.T) {
	e := newEnv(t, nil)
	c := e.iss.Claims(e.clock.Now())
	c["groups"] = []string{"kong_group", "Marketing, kong_admins", `"x, kong_admins, y"`}
	d := e.decide(request("GET", "/api", bearer(e.iss.Mint(t, c)), nil))
	wantPass(t, d)
	got := d.Upstream["X-Authenticated-Groups"]
	if len(got) != 1 {
		t.Fatalf("X-Authenticated-Groups = %q", got)
	}
	pieces := strings.Split(got[0], ",")
	if len(pieces) != 3 {
		t.Fatalf("X-Authenticated-Groups = %q: %d elements, want 3", got[0], len(pieces))
	}
	for _, p := range pieces {
		if strings.TrimSpace(p) == "kong_admins" {
			t.Fatalf("X-Authenticated-Groups = %q reads as holding kong_admins", got[0])
		}
	}
}

// FuzzHeaderSpellings: whatever header names and values a client adds next
// to a genuine token (Kong hands the plugin lower-case names; a second
// Authorization may come in any case), the request never passes with a
// second credential, never errors, and on a pass no client-sent spelling of
// a managed header survives: the upstream holds only the plugin's values.
func FuzzHeaderSpellings(f *testing.F) {
	e := newBenchEnv(f, nil)
	good := e.iss.Mint(f, e.iss.Claims(e.clock.Now()))
	managed := e.eng.managed
	for _, s := range [][3]string{
		{"x_authenticated_userid", "admin", "x-probe"},
		{"X-Consumer-ID", "c1", "AUTHORIZATION"},
		{"x_Authenticated-GROUPS", "kong_admins", "Authorization"},
		{"x-authenticated-userid", "", "authorization "},
		{"", "x", "x_anonymous_consumer"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, name, value, name2 string) {
		raw := map[string][]string{"authorization": {"Bearer " + good}}
		raw[strings.ToLower(name)] = append(raw[strings.ToLower(name)], value)
		raw[name2] = append(raw[name2], "Bearer forged."+name2)
		r := NewRequest(raw, func() (string, error) { return "GET", nil }, func() (string, error) { return "/api", nil })
		d := e.eng.Decide(context.Background(), r)
		if d.Reason == ReasonInternal {
			t.Fatalf("internal error: %v", d.Err)
		}
		if d.Action != Pass {
			return
		}
		if len(r.Header.Values("Authorization")) != 1 {
			t.Fatalf("passed with Authorization %q", r.Header.Values("Authorization"))
		}
		ours := map[string]string{}
		for k, v := range d.Upstream {
			if len(v) > 0 {
				ours[strings.ToLower(k)] = strings.Join(v, "|")
			}
		}
		for k, v := range upstreamAfter(raw, d.Upstream) {
			if managed[foldName(k)] && ours[k] != strings.Join(v, "|") {
				t.Fatalf("client's %q: %q reached the upstream (upstream changes %q)", k, v, d.Upstream)
			}
		}
	})
}
