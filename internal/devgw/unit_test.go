package devgw

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// testSchemaJSON is what go-pdk v0.11.2 dumps for testdata/pdkplugin.
const testSchemaJSON = `{"name":"devgw-test","fields":[{"config":{"type":"record","fields":[
 {"mode":{"type":"string"}},{"status":{"type":"integer"}},{"body":{"type":"string"}},
 {"headers":{"type":"map","keys":{"type":"string"},"values":{"type":"string"}}},
 {"tags":{"type":"array","elements":{"type":"string"}}},
 {"port":{"type":"integer","between":[0,2147483648]}},{"flag":{"type":"boolean"}},
 {"ratio":{"type":"number"}},
 {"nested":{"type":"record","fields":[{"inner":{"type":"string"}},{"count":{"type":"integer"}}]}},
 {"max_headers":{"type":"integer"}}]}}]}`

func testSchema(t *testing.T) *schemaField {
	t.Helper()
	s, err := parsePluginSchema(json.RawMessage(testSchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchemaValidation(t *testing.T) {
	sch := testSchema(t)
	cases := []struct {
		name   string
		config string // YAML flow mapping
		errs   []string
	}{
		{"valid full", `{mode: echo, status: 200, body: x, headers: {a: b}, tags: [x, y], port: 8080, flag: true, ratio: 0.5, nested: {inner: i, count: 2}}`, nil},
		{"unknown field", `{mode: echo, foo: 1}`, []string{"config.foo: unknown field"}},
		{"nested unknown", `{nested: {bar: 1}}`, []string{"config.nested.bar: unknown field"}},
		{"string expected", `{mode: 12}`, []string{"config.mode: expected a string"}},
		{"empty string", `{mode: ""}`, []string{"config.mode: length must be at least 1"}},
		{"integer expected", `{status: "200"}`, []string{"config.status: expected an integer"}},
		{"integer not float", `{status: 1.5}`, []string{"config.status: expected an integer"}},
		{"boolean expected", `{flag: "yes"}`, []string{"config.flag: expected a boolean"}},
		{"number expected", `{ratio: abc}`, []string{"config.ratio: expected a number"}},
		{"array expected", `{tags: x}`, []string{"config.tags: expected an array"}},
		{"array element", `{tags: [ok, 3]}`, []string{"config.tags.2: expected a string"}},
		{"map expected", `{headers: x}`, []string{"config.headers: expected a map"}},
		{"map value", `{headers: {a: 1}}`, []string{"config.headers: expected a string"}},
		{"record expected", `{nested: 3}`, []string{"config.nested: expected a record"}},
		{"nested type", `{nested: {count: x}}`, []string{"config.nested.count: expected an integer"}},
		{"between", `{port: -1}`, []string{"config.port: value should be between 0 and 2147483648"}},
		{"two errors", `{foo: 1, status: x}`, []string{"config.foo: unknown field", "config.status: expected an integer"}},
		{"null allowed", `{mode: null}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseDeclarative("t.yml", []byte("_format_version: \"3.0\"\nplugins:\n- name: devgw-test\n  config: "+tc.config+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			_, errs := validateRecord(sch, cfg.plugins[0].rawConfig)
			got := errs.flatten("config")
			if strings.Join(got, "|") != strings.Join(tc.errs, "|") {
				t.Fatalf("errors = %q, want %q", got, tc.errs)
			}
		})
	}
}

func TestSchemaFillsNullsAndEmptyArrays(t *testing.T) {
	sch := testSchema(t)
	out, errs := validateRecord(sch, map[string]any{"mode": "x", "tags": []any{}, "headers": map[string]any{}})
	if !errs.empty() {
		t.Fatal(errs.flatten(""))
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"mode": `"x"`, "tags": `[]`, "headers": `{}`, "status": `null`, "body": `null`,
		"port": `null`, "flag": `null`, "ratio": `null`, "nested": `null`, "max_headers": `null`}
	if len(m) != len(want) {
		t.Fatalf("keys: got %s", b)
	}
	for k, v := range want {
		if string(m[k]) != v {
			t.Errorf("%s = %s, want %s (all: %s)", k, m[k], v, b)
		}
	}
}

func TestDeclarativeErrors(t *testing.T) {
	cases := []struct {
		name string
		yml  string
		want []string
	}{
		{"unknown top-level", "_format_version: \"3.0\"\nfoo: 1\n", []string{"in 'foo': unknown field"}},
		{"missing format", "services: []\n", []string{"in '_format_version': required field missing"}},
		{"unknown service field", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://x\n  bogus: 1\n",
			[]string{"- in entry 1 of 'services':", "in 'bogus': unknown field"}},
		{"unknown route field", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://x\n  routes:\n  - name: r\n    paths: [/a]\n    stip_path: true\n",
			[]string{"in 'routes':", "in 'stip_path': unknown field"}},
		{"regex path", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://x\n  routes:\n  - paths: [\"~/a$\"]\n",
			[]string{"regex paths (starting with '~') are not supported by kong-devgw"}},
		{"route without criteria", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://x\n  routes:\n  - name: r\n",
			[]string{"must set one of 'methods', 'hosts', 'headers', 'paths'"}},
		{"bad reference", "_format_version: \"3.0\"\nplugins:\n- name: p\n  route: nope\n",
			[]string{"invalid reference 'nope' (no such entry in 'routes')"}},
		{"strip_path type", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://x\n  routes:\n  - paths: [/a]\n    strip_path: yes please\n",
			[]string{"in 'strip_path': expected a boolean"}},
		{"duplicate plugin", "_format_version: \"3.0\"\nplugins:\n- name: p\n- name: p\n",
			[]string{"uniqueness violation: 'plugins' entity with name set to 'p' already declared"}},
		{"service host missing", "_format_version: \"3.0\"\nservices:\n- name: s\n", []string{"in 'host': required field missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDeclarative("kong.yml", []byte(tc.yml))
			if err == nil {
				t.Fatal("expected an error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("not a ConfigError: %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "error parsing declarative config file kong.yml:\n") {
				t.Errorf("prefix: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestDeclarativeDefaultsAndRefs(t *testing.T) {
	yml := `_format_version: "3.0"
services:
- name: s1
  url: https://example.com:8443/base
  routes:
  - name: r1
    paths: [/a]
- name: s2
  protocol: http
  host: up.local
routes:
- name: top
  service: s2
  hosts: [Example.COM]
  strip_path: false
plugins:
- name: p
  route: top
  service: s2
- name: p
  service: s1
- name: p
`
	cfg, err := parseDeclarative("k.yml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	s1 := cfg.services[0]
	if s1.Protocol != "https" || s1.Host != "example.com" || s1.Port != 8443 || s1.Path != "/base" {
		t.Errorf("url shorthand: %+v", s1)
	}
	if cfg.services[1].Port != 80 || cfg.services[1].Path != "" {
		t.Errorf("defaults: %+v", cfg.services[1])
	}
	r1, top := cfg.routes[0], cfg.routes[1]
	if !r1.StripPath || r1.PreserveHost || r1.Service != s1 {
		t.Errorf("route defaults: %+v", r1)
	}
	if top.StripPath || top.Service != cfg.services[1] || top.Hosts[0] != "example.com" {
		t.Errorf("top-level route: %+v", top)
	}
	if len(cfg.plugins) != 3 || cfg.plugins[0].Route != top || cfg.plugins[0].Service != cfg.services[1] ||
		cfg.plugins[1].Service != s1 || cfg.plugins[2].Route != nil || cfg.plugins[2].Service != nil {
		t.Errorf("plugin scoping wrong")
	}
	if !isUUID(cfg.plugins[0].ID) || cfg.plugins[0].ID == cfg.plugins[1].ID {
		t.Errorf("plugin ids: %s %s", cfg.plugins[0].ID, cfg.plugins[1].ID)
	}
	// ids are stable for a config
	cfg2, _ := parseDeclarative("k.yml", []byte(yml))
	if cfg2.plugins[1].ID != cfg.plugins[1].ID || cfg2.routes[0].ID != r1.ID {
		t.Errorf("ids not stable")
	}
}

func TestPluginPrecedence(t *testing.T) {
	yml := `_format_version: "3.0"
services:
- name: s
  url: http://x
  routes:
  - name: r
    paths: [/r]
  - name: r2
    paths: [/r2]
  - name: r3
    paths: [/r3]
plugins:
- {name: p, config: {which: global}}
- {name: p, service: s, config: {which: service}}
- {name: p, route: r, config: {which: route}}
- {name: p, route: r2, service: s, config: {which: route+service}}
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
	s := cfg.services[0]
	cases := []struct {
		route *Route
		svc   *Service
		want  string
	}{
		{cfg.routes[0], s, "route"},
		{cfg.routes[1], s, "route+service"},
		{cfg.routes[2], s, "service"},
		{nil, nil, "global"},
	}
	for _, c := range cases {
		if got := which(snap.lookup("p", c.route, c.svc, "")); got != c.want {
			t.Errorf("route %v: got %s, want %s", c.route, got, c.want)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	cases := map[string]string{
		"/":           "/",
		"/a//b":       "/a/b",
		"/a/./b/../c": "/a/c",
		"/t/Abc%20123%C3%B8%2f/parent/..//test/./": "/t/Abc 123\xc3\xb8%2F/test/",
		"/%61%62": "/ab",
		"/a/..":   "/",
		"/../a":   "/a",
	}
	for in, want := range cases {
		if got := normalizePath(in, true); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUpstreamURIv0(t *testing.T) {
	cases := []struct {
		strip      bool
		path, req  string
		base, want string
	}{
		{true, "/api", "/api/x", "/", "/x"},
		{true, "/api", "/api", "/", "/"},
		{true, "/api", "/api/x", "/base", "/base/x"},
		{true, "/api", "/api", "/base", "/base"},
		{true, "/api", "/api/", "/base", "/base/"},
		{true, "/api", "/apix", "/base", "/base/x"},
		{true, "/api", "/api/x", "/base/", "/base/x"},
		{true, "/api", "/api", "/base/", "/base"},
		{false, "/api", "/api/x", "/", "/api/x"},
		{false, "/api", "/api/x", "/base", "/base/api/x"},
		{false, "/api", "/api/x", "/base/", "/base/api/x"},
	}
	for _, c := range cases {
		postfix := ""
		if c.strip {
			postfix = sanitizeURIPostfix(c.req[len(c.path):])
		}
		if got := upstreamURIv0(c.strip, postfix, c.req, c.base); got != c.want {
			t.Errorf("strip=%v path=%s req=%s base=%s: got %s want %s", c.strip, c.path, c.req, c.base, got, c.want)
		}
	}
}

func TestLuaMethodNames(t *testing.T) {
	for _, n := range []string{"kong.request.get_header", "kong.ctx.shared.set", "kong.nginx.get_tls1_version_str",
		"kong.service.request.set_raw_query", "kong.request.get_http_version", "kong.response.exit"} {
		if !kongMethodNames[n] {
			t.Errorf("%s not derived from the proto", n)
		}
	}
	if kongMethodNames["kong.no_such.method"] {
		t.Error("bogus method considered known")
	}
}

func TestErrorResponseType(t *testing.T) {
	cases := []struct {
		accept  string
		present bool
		want    string
	}{
		{"", false, "application/json; charset=utf-8"},
		{"text/html", true, "text/html; charset=utf-8"},
		{"text/plain;q=0.5, application/xml", true, "application/xml; charset=utf-8"},
		{"*/*", true, "application/json; charset=utf-8"},
		{"text/*", true, "text/plain; charset=utf-8"},
	}
	for _, c := range cases {
		if got := getResponseType(c.accept, c.present); got != c.want {
			t.Errorf("Accept %q: got %q want %q", c.accept, got, c.want)
		}
	}
}

func TestValueEncodingsMatchKong(t *testing.T) {
	// bool false in a Value becomes nil; nil encodes as null_value 1
	if v := valueToLua(structpb.NewBoolValue(false)); v != nil {
		t.Errorf("false -> %v, want nil", v)
	}
	b, err := proto.Marshal(luaToValue(nil))
	if err != nil || len(b) == 0 {
		t.Fatalf("nil Value encodes to %x (%v)", b, err)
	}
	var v structpb.Value
	if err := proto.Unmarshal(b, &v); err != nil || v.AsInterface() != nil {
		t.Errorf("decoded nil Value = %v", v.AsInterface())
	}
	// zero scalars arrive as zero values (lua-protobuf 0.5.2 fills proto3
	// defaults), also from an empty frame
	for _, frame := range [][]byte{mustMarshal(t, &kpp.String{V: ""}), nil} {
		if a, fail := argString(frame); fail != nil || a != "" {
			t.Errorf("empty String arg %x = %q, %v", frame, a, fail)
		}
		if n, fail := argInt(frame); fail != nil || n != 0 {
			t.Errorf("zero Int arg %x = %d, %v", frame, n, fail)
		}
	}
	// headers table: lower-case keys, repeated headers as lists, max honoured
	h := &headerList{}
	h.add("Host", "h")
	h.add("X-Multi", "1")
	h.add("X-Multi", "2")
	h.add("X-Other", "o")
	tbl := h.table(3)
	if len(tbl) != 2 || tbl["host"] != "h" || len(tbl["x-multi"].([]any)) != 2 {
		t.Errorf("table(3) = %v", tbl)
	}
	if v, ok := h.get("X_MULTI"); !ok || v != "1" {
		t.Errorf("get with underscore = %q %v", v, ok)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
