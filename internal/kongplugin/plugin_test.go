package kongplugin

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/bridge"
	"github.com/Kong/go-pdk/bridge/bridgetest"
	"github.com/Kong/go-pdk/client"
	"github.com/Kong/go-pdk/ctx"
	"github.com/Kong/go-pdk/ip"
	"github.com/Kong/go-pdk/log"
	"github.com/Kong/go-pdk/nginx"
	"github.com/Kong/go-pdk/node"
	"github.com/Kong/go-pdk/request"
	"github.com/Kong/go-pdk/response"
	"github.com/Kong/go-pdk/router"
	"github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"github.com/Kong/go-pdk/service"
	service_request "github.com/Kong/go-pdk/service/request"
	service_response "github.com/Kong/go-pdk/service/response"
	"github.com/Kong/go-pdk/test"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/gateway"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
	"github.com/okta-oidc/okta-oidc/internal/testredis"
	"github.com/okta-oidc/okta-oidc/internal/token"
)

// counting wraps go-pdk's test environment and records every PDK call the
// plugin makes: each is a round trip to Kong.
type counting struct {
	*test.TestEnv
	mu    sync.Mutex
	calls []string
	logs  []string // arguments of kong.log.* calls
	// lines, when set, are the request's header lines in order, answered to
	// get_headers the way Kong does (see kongHeaders) instead of the
	// harness's unbounded map.
	lines [][2]string
	// kong, when set, answers a method first (ok true), e.g. the
	// kong.client.* methods the harness answers with fixed values.
	kong func(method string, args []byte) (reply []byte, ok bool)
}

// kongHeaders is what kong.request.get_headers(max) returns for these header
// lines: ngx.req.get_headers(max) keeps the first max lines, names
// lower-cased, repeated names as lists, and silently drops the rest.
func kongHeaders(lines [][2]string, max int) map[string][]string {
	out := map[string][]string{}
	for i, l := range lines {
		if i == max {
			break
		}
		k := strings.ToLower(l[0])
		out[k] = append(out[k], l[1])
	}
	return out
}

func (c *counting) Handle(method string, args []byte) []byte {
	c.mu.Lock()
	c.calls = append(c.calls, method)
	if method == "kong.request.get_headers" && c.lines != nil {
		var max kong_plugin_protocol.Int
		if err := proto.Unmarshal(args, &max); err != nil {
			c.TestEnv.Errorf("get_headers argument: %v", err)
		}
		c.mu.Unlock()
		st, err := bridge.WrapHeaders(kongHeaders(c.lines, int(max.V)))
		if err != nil {
			c.TestEnv.Errorf("wrapping headers: %v", err)
		}
		out, _ := proto.Marshal(st)
		return out
	}
	if c.kong != nil {
		if out, ok := c.kong(method, args); ok {
			c.mu.Unlock()
			return out
		}
	}
	if strings.HasPrefix(method, "kong.log.") {
		var l structpb.ListValue
		if proto.Unmarshal(args, &l) == nil {
			c.logs = append(c.logs, fmt.Sprint(l.AsSlice()...))
		}
	}
	c.mu.Unlock()
	return c.TestEnv.Handle(method, args)
}

// kongHook, when set, is the counting wrapper's kong for the next runs.
var kongHook func(method string, args []byte) ([]byte, bool)

// lastLogs holds the log lines of the last run.
var lastLogs []string

func run(t *testing.T, cfg *Config, req test.Request) (*test.TestEnv, []string) {
	t.Helper()
	return runLines(t, cfg, req, nil)
}

// runLines is run with the request's headers given as ordered lines, read
// back by the plugin as Kong would return them.
func runLines(t *testing.T, cfg *Config, req test.Request, lines [][2]string) (*test.TestEnv, []string) {
	t.Helper()
	env, err := test.New(t, req)
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{TestEnv: env, lines: lines, kong: kongHook}
	b := bridge.New(bridgetest.MockFunc(c))
	k := &pdk.PDK{
		Client: client.Client{PdkBridge: b}, Ctx: ctx.Ctx{PdkBridge: b}, Log: log.Log{PdkBridge: b},
		Nginx: nginx.Nginx{PdkBridge: b}, Request: request.Request{PdkBridge: b}, Response: response.Response{PdkBridge: b},
		Router: router.Router{PdkBridge: b}, IP: ip.Ip{PdkBridge: b}, Node: node.Node{PdkBridge: b},
		Service: service.Service{PdkBridge: b}, ServiceRequest: service_request.Request{PdkBridge: b},
		ServiceResponse: service_response.Response{PdkBridge: b},
	}
	cfg.Access(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	lastLogs = append([]string(nil), c.logs...)
	return env, append([]string(nil), c.calls...)
}

func sp(s string) *string { return &s }
func bp(b bool) *bool     { return &b }

func bearerConfig(iss *testissuer.Issuer) *Config {
	return &Config{
		Issuer:           sp(iss.URL),
		AuthMethods:      []string{"bearer"},
		AudienceRequired: []string{"api://default"},
		GroupsRequired:   []string{"kong_group"},
	}
}

func TestPDKCallBudget(t *testing.T) {
	iss := testissuer.New(t)
	now := time.Now()
	good := iss.Mint(t, iss.Claims(now))
	outsider := iss.Claims(now)
	outsider["groups"] = []string{"everyone"}
	bad := iss.Mint(t, outsider)

	hidden := bearerConfig(iss)
	hidden.HideCredentials = bp(true)
	traced := bearerConfig(iss)
	traced.DebugHeader = bp(true)

	tests := []struct {
		name      string
		cfg       *Config
		headers   http.Header
		status    int // ClientRes status; 0 = passed
		wantCalls []string
	}{
		{"valid bearer", bearerConfig(iss), http.Header{"Authorization": {"Bearer " + good}}, 0,
			[]string{"kong.request.get_headers", "kong.service.request.set_headers"}},
		{"valid bearer, hide_credentials", hidden, http.Header{"Authorization": {"Bearer " + good}}, 0,
			[]string{"kong.request.get_headers", "kong.service.request.set_headers"}},
		{"no token", bearerConfig(iss), http.Header{}, 401,
			[]string{"kong.request.get_headers", "kong.response.exit"}},
		{"bad token", bearerConfig(iss), http.Header{"Authorization": {"Bearer x.y.z"}}, 401,
			[]string{"kong.request.get_headers", "kong.response.exit"}},
		{"forbidden", bearerConfig(iss), http.Header{"Authorization": {"Bearer " + bad}}, 403,
			[]string{"kong.request.get_headers", "kong.response.exit"}},
		// debug_header costs a pass one call (the trace is a response
		// header); a denial carries it in its exit.
		{"valid bearer, debug_header", traced, http.Header{"Authorization": {"Bearer " + good}}, 0,
			[]string{"kong.request.get_headers", "kong.service.request.set_headers", "kong.response.set_headers"}},
		{"forbidden, debug_header", traced, http.Header{"Authorization": {"Bearer " + bad}}, 403,
			[]string{"kong.request.get_headers", "kong.response.exit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, calls := run(t, tt.cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: tt.headers})
			if strings.Join(calls, ",") != strings.Join(tt.wantCalls, ",") {
				t.Fatalf("PDK calls = %q, want %q", calls, tt.wantCalls)
			}
			if tt.status == 0 {
				if env.ClientRes.Status != 0 && env.ClientRes.Status != 200 {
					t.Fatalf("request was answered %d", env.ClientRes.Status)
				}
				return
			}
			if env.ClientRes.Status != tt.status {
				t.Fatalf("status = %d, want %d", env.ClientRes.Status, tt.status)
			}
		})
	}
}

func TestUpstreamHeadersAndSpoofing(t *testing.T) {
	iss := testissuer.New(t)
	cfg := bearerConfig(iss)
	cfg.HideCredentials = bp(true)
	tok := iss.Mint(t, iss.Claims(time.Now()))
	env, _ := run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: http.Header{
		"Authorization":          {"Bearer " + tok},
		"X-Authenticated-Userid": {"admin"},
		"X-Authenticated-Groups": {"admins"},
	}})
	h := env.ServiceReq.Headers
	if got := h.Values("X-Authenticated-Userid"); len(got) != 1 || got[0] != "alice@example.com" {
		t.Errorf("X-Authenticated-Userid upstream = %q", got)
	}
	if got := h.Values("X-Authenticated-Groups"); len(got) != 1 || got[0] != "kong_group, everyone" {
		t.Errorf("X-Authenticated-Groups upstream = %q", got)
	}
	if got := strings.Join(h.Values("Authorization"), ""); got != "" {
		t.Errorf("Authorization reached the upstream with hide_credentials: %q", got)
	}
}

func TestBadConfigFailsClosed(t *testing.T) {
	cfg := &Config{Issuer: sp("not a url"), AuthMethods: []string{"bearer", "magic"}}
	env, calls := run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: http.Header{"Authorization": {"Bearer x"}}})
	if env.ClientRes.Status != 500 {
		t.Fatalf("status = %d, want 500", env.ClientRes.Status)
	}
	var body map[string]string
	if err := json.Unmarshal(env.ClientRes.Body, &body); err != nil || body["message"] != "An unexpected error occurred" {
		t.Fatalf("body = %s", env.ClientRes.Body)
	}
	if calls[0] != "kong.log.err" {
		t.Fatalf("config problems not logged: %q", calls)
	}
	// Logged once per instance, not on every request.
	_, calls = run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api"})
	for _, c := range calls {
		if c == "kong.log.err" {
			t.Fatalf("config problems logged again: %q", calls)
		}
	}
}

func TestPanicFailsClosed(t *testing.T) {
	old := newEngine
	newEngine = func(*config.Config, string) (*gateway.Engine, error) { panic("boom") }
	defer func() { newEngine = old }()
	iss := testissuer.New(t)
	env, _ := run(t, bearerConfig(iss), test.Request{Method: "GET", Url: "http://gw.example/api"})
	if env.ClientRes.Status != 500 {
		t.Fatalf("status after a panic = %d, want 500", env.ClientRes.Status)
	}
}

func TestEngineBuiltOncePerInstance(t *testing.T) {
	iss := testissuer.New(t)
	builds := 0
	old := newEngine
	newEngine = func(c *config.Config, route string) (*gateway.Engine, error) { builds++; return old(c, route) }
	defer func() { newEngine = old }()
	cfg := bearerConfig(iss)
	for i := 0; i < 3; i++ {
		run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api"})
	}
	other := bearerConfig(iss)
	run(t, other, test.Request{Method: "GET", Url: "http://gw.example/api"})
	if builds != 2 {
		t.Fatalf("engines built = %d, want one per instance (2)", builds)
	}
}

// TestNoSpellingOfIdentityHeadersReachesUpstream: through the adapter, with
// a valid token, no client-sent spelling of an identity header reaches the
// upstream, an unmanaged underscore header does, and the pass still costs 2
// PDK calls.
func TestNoSpellingOfIdentityHeadersReachesUpstream(t *testing.T) {
	iss := testissuer.New(t)
	tok := iss.Mint(t, iss.Claims(time.Now()))
	env, calls := run(t, bearerConfig(iss), test.Request{Method: "GET", Url: "http://gw.example/api", Headers: http.Header{
		"Authorization":           {"Bearer " + tok},
		"X_Authenticated_Userid":  {"admin"},
		"x-authenticated-userid":  {"admin"},
		"X_AUTHENTICATED_GROUPS":  {"kong_admins"},
		"X_Consumer_Username":     {"admin"},
		"X-Consumer-ID":           {"c1"},
		"X_Credential_Identifier": {"admin"},
		"X_Probe":                 {"1"},
	}})
	if strings.Join(calls, ",") != "kong.request.get_headers,kong.service.request.set_headers" {
		t.Fatalf("PDK calls = %q", calls)
	}
	h := env.ServiceReq.Headers
	managed := map[string]bool{"x-authenticated-userid": true, "x-authenticated-groups": true, "x-consumer-username": true,
		"x-consumer-id": true, "x-credential-identifier": true}
	for k, v := range h {
		f := strings.ReplaceAll(strings.ToLower(k), "_", "-")
		if !managed[f] {
			continue
		}
		switch {
		case k == "X-Authenticated-Userid" && len(v) == 1 && v[0] == "alice@example.com":
		case k == "X-Authenticated-Groups" && len(v) == 1 && v[0] == "kong_group, everyone":
		default:
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if h.Get("X_Probe") != "1" {
		t.Errorf("an unmanaged underscore header was dropped: %v", h)
	}
}

// TestSecondAuthorizationPastHeaderLimitNeverPasses: Kong's get_headers(1000)
// drops the lines past 1000, so a second Authorization placed there is
// invisible. A request whose lines fill the limit is refused (400) instead.
func TestSecondAuthorizationPastHeaderLimitNeverPasses(t *testing.T) {
	iss := testissuer.New(t)
	good := iss.Mint(t, iss.Claims(time.Now()))
	build := func(fillers int, second bool) [][2]string {
		lines := [][2]string{{"Host", "gw.example"}, {"Authorization", "Bearer " + good}}
		for i := 0; i < fillers; i++ {
			lines = append(lines, [2]string{fmt.Sprintf("X-Filler-%d", i), "x"})
		}
		if second {
			lines = append(lines, [2]string{"Authorization", "Bearer attacker.token.here"})
		}
		return lines
	}
	tests := []struct {
		name   string
		lines  [][2]string
		status int // 0: passed
	}{
		{"second Authorization past line 1000", build(1000, true), 400},
		{"second Authorization at line 1001", build(998, true), 400},
		{"second Authorization at line 1000", build(997, true), 400},
		{"1000 lines, one Authorization", build(998, false), 400},
		{"999 lines, one Authorization", build(997, false), 0},
		{"second Authorization within the limit", build(10, true), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, calls := runLines(t, bearerConfig(iss), test.Request{Method: "GET", Url: "http://gw.example/api"}, tt.lines)
			if tt.status == 0 {
				if env.ClientRes.Status != 0 {
					t.Fatalf("status = %d, want a pass", env.ClientRes.Status)
				}
				return
			}
			if env.ClientRes.Status != tt.status {
				t.Fatalf("status = %d, want %d (calls %q)", env.ClientRes.Status, tt.status, calls)
			}
			if got := env.ClientRes.Headers.Get("WWW-Authenticate"); got != `Bearer realm="okta-oidc", error="invalid_request"` {
				t.Fatalf("WWW-Authenticate = %q", got)
			}
			if len(calls) != 2 || calls[1] != "kong.response.exit" {
				t.Fatalf("calls = %q", calls)
			}
		})
	}
}

// TestLogsNeverHoldTokensOrSecrets drives the paths that log (IdP down, bad
// config) and checks that no token, cookie or secret reaches the log.
func TestLogsNeverHoldTokensOrSecrets(t *testing.T) {
	iss := testissuer.New(t)
	tok := iss.Mint(t, iss.Claims(time.Now()))
	iss.SetDown(true) // no keys can be had: 503 and a log line
	cfg := bearerConfig(iss)
	cfg.ClientSecret = sp("client-secret-value")
	env, calls := run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: http.Header{
		"Authorization": {"Bearer " + tok}, "Cookie": {"okta_session=SESSIONVALUE"},
	}})
	if env.ClientRes.Status != 503 {
		t.Fatalf("status = %d, want 503", env.ClientRes.Status)
	}
	if !strings.Contains(strings.Join(calls, ","), "kong.log.err") || len(lastLogs) == 0 {
		t.Fatalf("the outage was not logged: %q", calls)
	}
	logs := append([]string(nil), lastLogs...)
	bad := &Config{Issuer: sp("https://x.example/oauth2/default"), AuthMethods: []string{"session"},
		SessionSecret: sp("too-short-secret"), ClientSecret: sp("client-secret-value")}
	run(t, bad, test.Request{Method: "GET", Url: "http://gw.example/web"})
	if len(lastLogs) == 0 {
		t.Fatal("the bad config was not logged")
	}
	logs = append(logs, lastLogs...)
	for _, line := range logs {
		for _, secret := range []string{tok, strings.Split(tok, ".")[2], "SESSIONVALUE", "client-secret-value", "too-short-secret"} {
			if strings.Contains(line, secret) {
				t.Fatalf("log line leaks a secret: %s", line)
			}
		}
	}
}

func TestLogDenialsExplainsThePolicy(t *testing.T) {
	iss := testissuer.New(t)
	c := iss.Claims(time.Now())
	c["groups"] = []string{"everyone"}
	tok := iss.Mint(t, c)
	cfg := bearerConfig(iss)
	cfg.LogDenials = bp(true)
	env, calls := run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: http.Header{"Authorization": {"Bearer " + tok}}})
	if env.ClientRes.Status != 403 {
		t.Fatalf("status = %d", env.ClientRes.Status)
	}
	if strings.Join(calls, ",") != "kong.request.get_headers,kong.log.notice,kong.response.exit" {
		t.Fatalf("calls = %q", calls)
	}
	want := `okta-oidc: 403 forbidden sub="alice@example.com": groups: claim groups holds ["everyone"]; needs one of ["kong_group"]`
	if len(lastLogs) != 1 || lastLogs[0] != want {
		t.Fatalf("log = %q, want %q", lastLogs, want)
	}
	// An expired token: the reason, never the token.
	c = iss.Claims(time.Now().Add(-2 * time.Hour))
	tok = iss.Mint(t, c)
	run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: http.Header{"Authorization": {"Bearer " + tok}}})
	if len(lastLogs) != 1 || !strings.Contains(lastLogs[0], "401 invalid_token") || !strings.Contains(lastLogs[0], "expired") || strings.Contains(lastLogs[0], tok[:20]) {
		t.Fatalf("log = %q", lastLogs)
	}
}

// TestNonErrorAnswerWithCauseIsLoggedAsWarning: a logout whose revocation
// failed still redirects, and the failure reaches the log as a warning; a
// clean one costs no log call.
func TestNonErrorAnswerWithCauseIsLoggedAsWarning(t *testing.T) {
	redirect := func(err error) gateway.Decision {
		return gateway.Decision{Action: gateway.Respond, Reason: gateway.ReasonLogout, Status: 302,
			Header: http.Header{"Location": {"https://idp.example/v1/logout"}}, Err: err}
	}
	tests := []struct {
		name  string
		d     gateway.Decision
		calls string
		log   string
	}{
		{"clean logout", redirect(nil), "kong.response.exit", ""},
		{"revocation failed", redirect(errors.New("revoke: refresh_token: status 500")),
			"kong.log.warn,kong.response.exit", "okta-oidc: logout: revoke: refresh_token: status 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := test.New(t, test.Request{Method: "GET", Url: "http://gw.example/web/logout"})
			if err != nil {
				t.Fatal(err)
			}
			c := &counting{TestEnv: env}
			b := bridge.New(bridgetest.MockFunc(c))
			k := &pdk.PDK{Log: log.Log{PdkBridge: b}, Response: response.Response{PdkBridge: b},
				ServiceRequest: service_request.Request{PdkBridge: b}}
			apply(k, tt.d, false)
			if got := strings.Join(c.calls, ","); got != tt.calls {
				t.Fatalf("calls = %q, want %q", got, tt.calls)
			}
			if env.ClientRes.Status != 302 {
				t.Fatalf("status = %d, want the redirect", env.ClientRes.Status)
			}
			if tt.log != "" && (len(c.logs) != 1 || c.logs[0] != tt.log) {
				t.Fatalf("logs = %q, want %q", c.logs, tt.log)
			}
		})
	}
}

// TestBackchannelLogoutReadsTheBody: the back-channel logout path is the
// one place the plugin reads the request body: one more PDK call
// (kong.request.get_raw_body), and the logout token in it is honoured.
func TestBackchannelLogoutReadsTheBody(t *testing.T) {
	srv := testredis.Start(t)
	iss := testissuer.New(t)
	port := srv.Port
	cfg := &Config{
		Issuer: sp(iss.URL), ClientID: sp("kong-web"), ClientSecret: sp("s"),
		RedirectURI: sp("https://gw.example/cb"), SessionSecret: sp(strings.Repeat("s", 40)),
		SessionStorage: sp("redis"), RedisHost: sp("127.0.0.1"), RedisPort: &port,
		BackchannelLogoutPath: sp("/bc"),
	}
	now := time.Now()
	tok := testissuer.Sign(t, iss.Signer(), map[string]any{
		"iss": iss.URL, "aud": "kong-web", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text(),
		"sub": "alice", "events": map[string]any{token.BackchannelLogoutEvent: map[string]any{}},
	}, nil)
	body := "logout_token=" + tok
	env, calls := run(t, cfg, test.Request{Method: "POST", Url: "http://gw.example/bc",
		Headers: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Content-Length": {strconv.Itoa(len(body))}},
		Body:    []byte(body)})
	if env.ClientRes.Status != 200 {
		t.Fatalf("status %d, calls %q", env.ClientRes.Status, calls)
	}
	want := "kong.request.get_headers,kong.request.get_path_with_query,kong.request.get_method,kong.request.get_raw_body,kong.response.exit"
	if strings.Join(calls, ",") != want {
		t.Fatalf("PDK calls = %q, want %s", calls, want)
	}
}
