package devgw

import (
	"strings"
	"testing"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/types/known/structpb"
)

func bundledConf(t *testing.T, name string, raw map[string]any) map[string]any {
	t.Helper()
	info := bundledInfo(name)
	out, errs := validateRecord(info.schema, raw)
	if !errs.empty() {
		t.Fatalf("%s config: %v", name, errs.flatten("config"))
	}
	if p := info.bundled.check(out); len(p) > 0 {
		t.Fatalf("%s config: %v", name, p)
	}
	return out
}

func TestConsumerScopedLookupOrder(t *testing.T) {
	yml := `_format_version: "3.0"
consumers:
- username: anonymous
services:
- name: s
  url: http://127.0.0.1:1
  routes:
  - {name: r, paths: [/r]}
plugins:
- {name: p, config: {which: global}}
- {name: p, route: r, config: {which: route}}
- {name: p, route: r, consumer: anonymous, config: {which: route+consumer}}
`
	cfg, err := parseDeclarative("k.yml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	snap := &snapshot{}
	for _, pe := range cfg.plugins {
		snap.addCombo(pe)
	}
	which := func(pe *pluginEntity) string { return pe.rawConfig.(map[string]any)["which"].(string) }
	anon := cfg.consumers.byUsername["anonymous"]
	r := cfg.routes[0]
	if got := which(snap.lookup("p", r, r.Service, anon.ID)); got != "route+consumer" {
		t.Fatalf("anonymous: %s", got)
	}
	if got := which(snap.lookup("p", r, r.Service, "")); got != "route" {
		t.Fatalf("no consumer: %s", got)
	}
	if got := which(snap.lookup("p", r, r.Service, "some-other-consumer")); got != "route" {
		t.Fatalf("other consumer: %s", got)
	}
}

// acl on authenticated groups (no consumer), as Kong 3.9.1's handler.lua.
func TestACLAuthenticatedGroups(t *testing.T) {
	cases := []struct {
		name   string
		conf   map[string]any
		groups any // kong.ctx.shared.authenticated_groups; nil = unset
		cred   bool
		want   int // 0 = pass
		header string
	}{
		{"allowed", map[string]any{"allow": []any{"kong_group"}}, []any{"kong_group", "everyone"}, false, 0, "kong_group, everyone"},
		{"not in allow", map[string]any{"allow": []any{"kong_group"}}, []any{"everyone"}, false, 403, ""},
		{"empty groups", map[string]any{"allow": []any{"kong_group"}}, []any{}, false, 403, ""},
		{"denied", map[string]any{"deny": []any{"everyone"}}, []any{"everyone"}, false, 403, ""},
		{"deny, not in it", map[string]any{"deny": []any{"blocked"}}, []any{"everyone"}, false, 0, "everyone"},
		{"no groups, no credential", map[string]any{"allow": []any{"kong_group"}}, nil, false, 401, ""},
		{"no groups, a Lua credential", map[string]any{"allow": []any{"kong_group"}}, nil, true, 403, ""},
		{"number entry matches no group", map[string]any{"allow": []any{"3"}}, []any{float64(3)}, false, 403, ""},
		{"number entry in the header", map[string]any{"allow": []any{"a"}}, []any{"a", float64(3)}, false, 0, "a, 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf := bundledConf(t, "acl", tc.conf)
			rq := &request{ctxShared: map[string]any{}, hdrs: &headerList{}, snap: &snapshot{cfg: &declConfig{}}}
			if tc.groups != nil {
				rq.ctxShared["authenticated_groups"] = tc.groups
			}
			if tc.cred {
				// key-auth's credential: consumer_id is nil on Kong
				rq.authCredential, rq.authCredentialLua = &kpp.AuthenticatedCredential{Id: "c"}, true
			}
			ex, err := aclAccess(rq, conf)
			if err != nil {
				t.Fatal(err)
			}
			checkACLVerdict(t, rq, ex, tc.want, tc.header)
		})
	}
}

// A Go plugin's credential without a consumer reaches Lua with consumer_id
// "" (proto3 default), which is truthy: Kong's acl takes the consumer
// branch, ignores authenticated_groups unless always_use_authenticated_groups
// is set, and get_consumer_groups("") throws (500). Same for a Go consumer
// whose id is "".
func TestACLGoIdentityWithoutConsumer(t *testing.T) {
	groups := []any{"kong_group"}
	cases := []struct {
		name     string
		always   bool
		consumer *kpp.Consumer
		cred     *kpp.AuthenticatedCredential
		groups   []any
		wantErr  bool
		want     int // 0 = pass
		header   string
	}{
		{"credential, no flag: 500", false, nil, &kpp.AuthenticatedCredential{Id: "cred"}, groups, true, 0, ""},
		{"credential, flag, in group", true, nil, &kpp.AuthenticatedCredential{Id: "cred"}, groups, false, 0, "kong_group"},
		{"credential, flag, not in group", true, nil, &kpp.AuthenticatedCredential{Id: "cred"}, []any{"other"}, false, 403, ""},
		{"credential, flag, no groups: 500", true, nil, &kpp.AuthenticatedCredential{Id: "cred"}, nil, true, 0, ""},
		{"consumer id \"\", no credential, groups decide", false, &kpp.Consumer{}, nil, groups, false, 0, "kong_group"},
		{"consumer id \"\", no groups: 500", false, &kpp.Consumer{}, nil, nil, true, 0, ""},
		{"consumer id not a uuid: 500", false, &kpp.Consumer{Id: "abc"}, &kpp.AuthenticatedCredential{Id: "cred"}, groups, true, 0, ""},
		{"consumer uuid without acls: 403", false, &kpp.Consumer{Id: "6f0e1c52-3c57-4f5e-9d4a-2f7b1c0e9a11"}, &kpp.AuthenticatedCredential{Id: "cred"}, groups, false, 403, ""},
		{"entry not a string or number: 500", true, nil, &kpp.AuthenticatedCredential{Id: "cred"}, []any{"kong_group", true}, true, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf := bundledConf(t, "acl", map[string]any{"allow": []any{"kong_group"}, "always_use_authenticated_groups": tc.always})
			rq := &request{ctxShared: map[string]any{}, hdrs: &headerList{}, snap: &snapshot{cfg: &declConfig{}}}
			if tc.groups != nil {
				rq.ctxShared["authenticated_groups"] = tc.groups
			}
			rq.authConsumer, rq.authCredential = tc.consumer, tc.cred
			ex, err := aclAccess(rq, conf)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("exit %+v, want an error (500)", ex)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkACLVerdict(t, rq, ex, tc.want, tc.header)
		})
	}
}

// checkACLVerdict checks acl's answer: an exit with status want, or (want
// 0) a pass that sets X-Authenticated-Groups to header.
func checkACLVerdict(t *testing.T, rq *request, ex *exitResponse, want int, header string) {
	t.Helper()
	if want != 0 {
		if ex == nil || ex.status != want {
			t.Fatalf("exit %+v, want %d", ex, want)
		}
		return
	}
	if ex != nil {
		t.Fatalf("exit %d, want pass", ex.status)
	}
	if v, _ := rq.hdrs.get("X-Authenticated-Groups"); v != header {
		t.Fatalf("X-Authenticated-Groups = %q", v)
	}
}

// checks.normalize_multi_header: every header setter of kong.response and
// kong.service.request, and kong.response.exit, sends "" as " ".
func TestHeaderSettersSendBlankAsSpace(t *testing.T) {
	blank := structpb.NewStringValue("")
	list := structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue(""), structpb.NewStringValue("x")}})
	kv := func(v *structpb.Value) []byte { return mustMarshal(t, &kpp.KV{K: "X-B", V: v}) }
	table := func(v *structpb.Value) []byte {
		return mustMarshal(t, &structpb.Struct{Fields: map[string]*structpb.Value{"X-B": v}})
	}
	upstream := func(rq *request) []string { return rq.hdrs.values("X-B") }
	downstream := func(rq *request) []string {
		var out []string
		for _, l := range rq.resp.lines {
			if l.name == "X-B" {
				out = append(out, l.value)
			}
		}
		return out
	}
	exit := func(rq *request) []string {
		var out []string
		for _, l := range rq.exit.headers {
			out = append(out, l.value)
		}
		return out
	}
	cases := []struct {
		name string
		fn   pdkFunc
		args []byte
		read func(*request) []string
		want string
	}{
		{"service.request.set_header", serviceRequestHeaders.setHeader, kv(blank), upstream, " "},
		{"service.request.add_header", serviceRequestHeaders.addHeader, kv(blank), upstream, " "},
		{"service.request.add_header list", serviceRequestHeaders.addHeader, kv(list), upstream, " |x"},
		{"service.request.set_headers", serviceRequestHeaders.setHeaders, table(blank), upstream, " "},
		{"service.request.set_headers list", serviceRequestHeaders.setHeaders, table(list), upstream, " |x"},
		{"response.set_header", responseHeaders.setHeader, kv(blank), downstream, " "},
		{"response.add_header", responseHeaders.addHeader, kv(blank), downstream, " "},
		{"response.set_headers", responseHeaders.setHeaders, table(list), downstream, " |x"},
		{"response.exit", pdkResponseExit, mustMarshal(t, &kpp.ExitArgs{Status: 200, Headers: &structpb.Struct{Fields: map[string]*structpb.Value{"X-B": list}}}), exit, " |x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rq := &request{phase: "access", ctxShared: map[string]any{}, hdrs: &headerList{}}
			if res := tc.fn(rq, tc.args); res.kind == pdkThrow {
				t.Fatalf("threw: %s", res.msg)
			}
			if got := strings.Join(tc.read(rq), "|"); got != tc.want {
				t.Fatalf("X-B = %q, want %q", got, tc.want)
			}
		})
	}
}

// rate-limiting as Kong 3.9.1: an error_code below 400 makes
// kong.response.error throw (500); only a nil identifier falls back to the
// client IP, so a Go credential with id "" is limited on "" (all such
// clients share one counter); the schema's entity checks.
func TestRateLimiting(t *testing.T) {
	newRq := func(route, addr string) *request {
		return &request{ctxShared: map[string]any{}, hdrs: &headerList{}, remoteAddr: addr,
			plugin: &pluginEntity{Route: &Route{ID: route}}}
	}
	t.Run("error_code below 400 is a 500", func(t *testing.T) {
		conf := bundledConf(t, "rate-limiting", map[string]any{"day": 1, "limit_by": "ip", "error_code": 200})
		rq := newRq("rl-code", "192.0.2.1")
		if ex, err := rateLimitAccess(rq, conf); ex != nil || err != nil {
			t.Fatalf("first request: %+v %v", ex, err)
		}
		ex, err := rateLimitAccess(newRq("rl-code", "192.0.2.1"), conf)
		if err == nil {
			t.Fatalf("over the limit with error_code 200: exit %+v, want an error (500)", ex)
		}
	})
	t.Run("empty credential id is an identifier", func(t *testing.T) {
		conf := bundledConf(t, "rate-limiting", map[string]any{"day": 1, "limit_by": "credential"})
		for i, addr := range []string{"192.0.2.1", "192.0.2.2"} {
			rq := newRq("rl-empty-id", addr)
			rq.authCredential = &kpp.AuthenticatedCredential{}
			ex, err := rateLimitAccess(rq, conf)
			if err != nil {
				t.Fatal(err)
			}
			if i == 1 && (ex == nil || ex.status != 429) {
				t.Fatalf("second client with credential id \"\": %+v, want 429 (one counter for \"\")", ex)
			}
		}
	})
	t.Run("no credential falls back to the IP", func(t *testing.T) {
		conf := bundledConf(t, "rate-limiting", map[string]any{"day": 1, "limit_by": "credential"})
		for _, addr := range []string{"192.0.2.1", "192.0.2.2"} {
			if ex, err := rateLimitAccess(newRq("rl-nil-id", addr), conf); ex != nil || err != nil {
				t.Fatalf("%s: %+v %v", addr, ex, err)
			}
		}
	})
	for _, tc := range []struct {
		conf map[string]any
		want string
	}{
		{map[string]any{"minute": 10, "hour": 5}, "The limit for hour(5.0) cannot be lower than the limit for minute(10.0)"},
		{map[string]any{"second": 10, "day": 5, "hour": 1}, "The limit for hour(1.0) cannot be lower than the limit for second(10.0)"},
		{map[string]any{"minute": 1, "limit_by": "header"}, "header_name: required field missing"},
		{map[string]any{"minute": 1, "error_code": 0}, "error_code: value must be greater than 0"},
	} {
		info := bundledInfo("rate-limiting")
		conf, errs := validateRecord(info.schema, tc.conf)
		if !errs.empty() {
			t.Fatalf("%v: %v", tc.conf, errs.flatten("config"))
		}
		if p := info.bundled.check(conf); strings.Join(p, "; ") != tc.want {
			t.Errorf("%v: problems %q, want %q", tc.conf, p, tc.want)
		}
	}
}
