package devgw

import (
	"testing"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
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
	snap := &snapshot{combos: map[string]map[[3]string]*pluginEntity{}}
	for _, pe := range cfg.plugins {
		if snap.combos[pe.Name] == nil {
			snap.combos[pe.Name] = map[[3]string]*pluginEntity{}
		}
		snap.combos[pe.Name][[3]string{pe.routeID(), pe.serviceID(), pe.consumerID()}] = pe
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
		{"no groups, a credential", map[string]any{"allow": []any{"kong_group"}}, nil, true, 403, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf := bundledConf(t, "acl", tc.conf)
			rq := &request{ctxShared: map[string]any{}, hdrs: &headerList{}, snap: &snapshot{cfg: &declConfig{}}}
			if tc.groups != nil {
				rq.ctxShared["authenticated_groups"] = tc.groups
			}
			if tc.cred {
				rq.authCredential = &kpp.AuthenticatedCredential{Id: "c"}
			}
			ex, err := aclAccess(rq, conf)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != 0 {
				if ex == nil || ex.status != tc.want {
					t.Fatalf("exit %+v, want %d", ex, tc.want)
				}
				return
			}
			if ex != nil {
				t.Fatalf("exit %d, want pass", ex.status)
			}
			if v, _ := rq.hdrs.get("X-Authenticated-Groups"); v != tc.header {
				t.Fatalf("X-Authenticated-Groups = %q", v)
			}
		})
	}
}
