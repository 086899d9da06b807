package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sp(s string) *string { return &s }
func ip(i int) *int       { return &i }
func bp(b bool) *bool     { return &b }

func validRaw() *Raw {
	return &Raw{
		Issuer:        sp("https://dev-1.okta.com/oauth2/default"),
		ClientID:      sp("kong-web"),
		ClientSecret:  sp("secret"),
		RedirectURI:   sp("https://gw.example/web/callback"),
		SessionSecret: sp(strings.Repeat("s", 32)),
	}
}

// TestDebugHeader: debug_header is off unless set to true.
func TestDebugHeader(t *testing.T) {
	for _, c := range []struct {
		v    *bool
		want bool
	}{{nil, false}, {bp(false), false}, {bp(true), true}} {
		raw := validRaw()
		raw.DebugHeader = c.v
		cfg, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DebugHeader != c.want {
			t.Errorf("debug_header %v: DebugHeader = %v", c.v, cfg.DebugHeader)
		}
	}
	var raw Raw
	if err := json.Unmarshal([]byte(`{"debug_header":"yes"}`), &raw); err == nil {
		t.Error(`debug_header "yes" decoded`)
	}
}

func TestParseDefaults(t *testing.T) {
	// Kong sends every key, null when unset.
	var raw Raw
	js := `{"issuer":"https://dev-1.okta.com/oauth2/default","client_id":"kong-web","client_secret":"x",
	"redirect_uri":"https://gw.example/cb","session_secret":"` + strings.Repeat("a", 40) + `",
	"audience_required":null,"auth_methods":null,"scopes":null,"groups_claim":null,"leeway":null,"timeout":null,
	"upstream_headers":null,"run_on_preflight":null,"ssl_verify":null,"hide_credentials":null,
	"__seq__":3,"__key__":"plugins:okta-oidc:r::::x","route_id":"abc","__plugin_id":"p"}`
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(&raw)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"methods", c.Methods, map[string]bool{"bearer": true, "session": true, "authorization_code": true}},
		{"scopes", c.Scopes, []string{"openid", "profile", "email"}},
		{"groups claim", c.Groups.Claim, Claim{"groups"}},
		{"scopes claim", c.ScopesRule.Claim, Claim{"scp"}},
		{"algs", c.SigningAlgs, []string{"RS256"}},
		{"leeway", c.Leeway, 30 * time.Second},
		{"timeout", c.Timeout, 5 * time.Second},
		{"action", c.Unauthenticated, "auto"},
		{"params", c.TokenParams, map[string]bool{"header": true}},
		{"preflight", c.RunOnPreflight, true},
		{"ssl", c.SSLVerify, true},
		{"hide", c.HideCredentials, false},
		{"cookie", c.Cookie, Cookie{Name: "okta_session", Path: "/", Secure: true, HTTPOnly: true, SameSite: "Lax"}},
		{"cookie budget", c.SessionCookieMaxSize, 6144},
		{"logout", c.LogoutPath, "/logout"},
		{"idle timeout", c.IdleTimeout, 15 * time.Minute},
		{"absolute timeout", c.AbsoluteTimeout, 24 * time.Hour},
		{"introspection concurrency", c.IntrospectionMaxConcurrency, 10},
		{"introspection rate", c.IntrospectionRateLimit, 25},
		{"headers", c.UpstreamHeaders, []HeaderClaim{{"X-Authenticated-Groups", Claim{"groups"}}, {"X-Authenticated-Userid", Claim{"sub"}}}},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestParseExplicitZeroValuesKept(t *testing.T) {
	raw := validRaw()
	raw.Leeway = ip(0)
	raw.RunOnPreflight = bp(false)
	raw.UpstreamHeaders = map[string]string{}
	c, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leeway != 0 || c.RunOnPreflight || len(c.UpstreamHeaders) != 0 {
		t.Fatalf("explicit values replaced by defaults: leeway=%v preflight=%v headers=%v", c.Leeway, c.RunOnPreflight, c.UpstreamHeaders)
	}
}

func TestParseReportsEveryProblemByKey(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Raw)
		want []string // each must appear as a problem prefix
	}{
		{"missing issuer", func(r *Raw) { r.Issuer = nil }, []string{"issuer: required"}},
		{"non-URL issuer", func(r *Raw) { r.Issuer = sp("dev-1.okta.com") }, []string{"issuer: "}},
		{"ftp issuer", func(r *Raw) { r.Issuer = sp("ftp://x/oauth2/default") }, []string{"issuer: "}},
		{"unknown method", func(r *Raw) { r.AuthMethods = []string{"bearer", "password"} }, []string{`auth_methods: "password"`}},
		{"no method", func(r *Raw) { r.AuthMethods = []string{} }, []string{"auth_methods: must name"}},
		{"bad action", func(r *Raw) { r.UnauthenticatedAction = sp("login") }, []string{`unauthenticated_action: "login"`}},
		{"short secret", func(r *Raw) { r.SessionSecret = sp("short") }, []string{"session_secret: must be at least 32"}},
		{"no secret", func(r *Raw) { r.SessionSecret = nil }, []string{"session_secret: required"}},
		{"short previous secret", func(r *Raw) { r.SessionSecretsPrevious = []string{"x"} }, []string{"session_secrets_previous: entry 1"}},
		{"hmac alg", func(r *Raw) { r.SigningAlgs = []string{"HS256"} }, []string{`signing_algs: "HS256"`}},
		{"none alg", func(r *Raw) { r.SigningAlgs = []string{"none"} }, []string{`signing_algs: "none"`}},
		{"no redirect", func(r *Raw) { r.RedirectURI = nil }, []string{"redirect_uri: required"}},
		{"relative redirect", func(r *Raw) { r.RedirectURI = sp("/callback") }, []string{"redirect_uri: "}},
		{"no client", func(r *Raw) { r.ClientID = nil; r.ClientSecret = nil }, []string{"client_id: required", "client_secret: required"}},
		{"scopes without openid", func(r *Raw) { r.Scopes = []string{"profile"} }, []string{"scopes: must include openid"}},
		{"bad param", func(r *Raw) { r.BearerTokenParamType = []string{"body"} }, []string{`bearer_token_param_type: "body"`}},
		{"cookie param without name", func(r *Raw) { r.BearerTokenParamType = []string{"cookie"} }, []string{"bearer_token_cookie_name: required"}},
		{"leeway range", func(r *Raw) { r.Leeway = ip(-1) }, []string{"leeway: -1"}},
		{"timeout range", func(r *Raw) { r.Timeout = ip(10) }, []string{"timeout: 10"}},
		{"samesite", func(r *Raw) { r.SessionCookieSameSite = sp("lax") }, []string{`session_cookie_samesite: "lax"`}},
		{"cookie budget low", func(r *Raw) { r.SessionCookieMaxSize = ip(1000) }, []string{"session_cookie_max_size: 1000 is out of range"}},
		{"cookie budget high", func(r *Raw) { r.SessionCookieMaxSize = ip(40000) }, []string{"session_cookie_max_size: 40000 is out of range"}},
		{"samesite none insecure", func(r *Raw) { r.SessionCookieSameSite = sp("None"); r.SessionCookieSecure = bp(false) }, []string{"session_cookie_samesite: None requires"}},
		{"header name", func(r *Raw) { r.UpstreamHeaders = map[string]string{"X Bad": "sub"} }, []string{`upstream_headers: "X Bad"`}},
		{"header reserved", func(r *Raw) { r.UpstreamHeaders = map[string]string{"authorization": "sub"} }, []string{`upstream_headers: "authorization"`}},
		{"header twice", func(r *Raw) { r.UpstreamHeaders = map[string]string{"X-A": "sub", "x-a": "uid"} }, []string{"upstream_headers: "}},
		{"header twice, _ and -", func(r *Raw) { r.UpstreamHeaders = map[string]string{"X-A": "sub", "X_A": "uid"} }, []string{"upstream_headers: "}},
		{"header empty claim", func(r *Raw) { r.UpstreamHeaders = map[string]string{"X-A": "a..b"} }, []string{`upstream_headers: "X-A"`}},
		{"empty group entry", func(r *Raw) { r.GroupsRequired = []string{" "} }, []string{"groups_required: entry 1 is empty"}},
		{"empty claim", func(r *Raw) { r.GroupsClaim = []string{} }, []string{"groups_claim: must name a claim"}},
		{"logout is callback", func(r *Raw) { r.LogoutPath = sp("/web/callback") }, []string{"logout_path: "}},
		{"signed-out page is callback", func(r *Raw) { r.SignedOutPath = sp("/web/callback") }, []string{"signed_out_path: "}},
		{"signed-out page is logout", func(r *Raw) { r.LogoutPath = sp("/bye"); r.SignedOutPath = sp("/bye") }, []string{"signed_out_path: "}},
		{"signed-out page relative", func(r *Raw) { r.SignedOutPath = sp("bye") }, []string{"signed_out_path: "}},
		{"signed-out page without login", func(r *Raw) { r.AuthMethods = []string{"bearer"}; r.SignedOutPath = sp("/bye") }, []string{"signed_out_path: only served"}},
		{"introspection without client", func(r *Raw) {
			r.AuthMethods = []string{"introspection"}
			r.ClientID = nil
		}, []string{"client_id: required when auth_methods has introspection"}},
		{"introspection ttl", func(r *Raw) { r.IntrospectionCacheTTL = ip(-5) }, []string{"introspection_cache_ttl: -5"}},
		{"introspection concurrency 0", func(r *Raw) { r.IntrospectionMaxConcurrency = ip(0) }, []string{"introspection_max_concurrency: 0 is out of range"}},
		{"introspection rate 0", func(r *Raw) { r.IntrospectionRateLimit = ip(0) }, []string{"introspection_rate_limit: 0 is out of range"}},
		{"introspection rate huge", func(r *Raw) { r.IntrospectionRateLimit = ip(1 << 30) }, []string{"introspection_rate_limit: "}},
		{"idle timeout 0", func(r *Raw) { r.SessionIdlingTimeout = ip(0) }, []string{"session_idling_timeout: 0 is refused"}},
		{"absolute timeout 0", func(r *Raw) { r.SessionAbsoluteTimeout = ip(0) }, []string{"session_absolute_timeout: 0 is refused"}},
		{"idle timeout negative", func(r *Raw) { r.SessionIdlingTimeout = ip(-1) }, []string{"session_idling_timeout: -1 is refused"}},
		{"absolute timeout negative", func(r *Raw) { r.SessionAbsoluteTimeout = ip(-60) }, []string{"session_absolute_timeout: -60 is refused"}},
		{"absolute timeout huge", func(r *Raw) { r.SessionAbsoluteTimeout = ip(31 * 24 * 3600) }, []string{"session_absolute_timeout: 2678400 is out of range"}},
		{"several at once", func(r *Raw) { r.Issuer = nil; r.SessionSecret = sp("x"); r.Leeway = ip(9999) },
			[]string{"issuer: required", "session_secret: must be", "leeway: 9999"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := validRaw()
			tt.mod(raw)
			c, err := Parse(raw)
			if err == nil {
				t.Fatalf("Parse accepted the config: %+v", c)
			}
			probs := Problems(err)
			for _, w := range tt.want {
				found := false
				for _, p := range probs {
					if strings.HasPrefix(p, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("problems %q lack one starting with %q", probs, w)
				}
			}
		})
	}
}

func TestBearerOnlyNeedsNoSessionSettings(t *testing.T) {
	c, err := Parse(&Raw{Issuer: sp("https://dev-1.okta.com/oauth2/default"), AuthMethods: []string{"bearer"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.LoginEnabled() {
		t.Fatal("login enabled on a bearer-only route")
	}
}

func TestRuleEntriesSplitIntoWords(t *testing.T) {
	raw := validRaw()
	raw.GroupsRequired = []string{"admins  ops", "kong_group"}
	c, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []Requirement{{"admins", "ops"}, {"kong_group"}}
	if !reflect.DeepEqual(c.Groups.Required, want) {
		t.Fatalf("required = %v, want %v", c.Groups.Required, want)
	}
}
