package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestLuaSchemaHasEveryKey(t *testing.T) {
	lua := LuaSchema("okta-oidc")
	if !strings.Contains(lua, `name = "okta-oidc"`) || !strings.Contains(lua, "typedefs.protocols_http") {
		t.Fatalf("schema head:\n%s", lua)
	}
	want := map[string]string{
		"issuer": `{ type = "string" }`, "leeway": `{ type = "integer" }`, "hide_credentials": `{ type = "boolean" }`,
		"groups_required":  `{ type = "array", elements = { type = "string" } }`,
		"upstream_headers": `{ type = "map", keys = { type = "string" }, values = { type = "string" } }`,
	}
	for k, typ := range want {
		if !strings.Contains(lua, "{ "+k+" = "+typ+" },") {
			t.Errorf("%s is not %s in:\n%s", k, typ, lua)
		}
	}
	fields := regexp.MustCompile(`(?m)^          \{ (\w+) = `).FindAllStringSubmatch(lua, -1)
	if len(fields) != len(Keys()) {
		t.Fatalf("%d fields in the Lua schema, %d config keys", len(fields), len(Keys()))
	}
	if strings.Count(lua, "{") != strings.Count(lua, "}") {
		t.Fatal("unbalanced braces")
	}
}

// TestLuaSchemaLoads runs the generated module in a real Lua interpreter
// (with a stub for Kong's typedefs) and checks the config fields it returns.
func TestLuaSchemaLoads(t *testing.T) {
	lua, err := exec.LookPath("lua5.4")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("lua5.4 not found; .ci/run installs it")
		}
		t.Skip("lua5.4 not installed (apt-get install lua5.4)")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "kong", "db", "schema"), 0o755); err != nil {
		t.Fatal(err)
	}
	stub := `return { protocols_http = { type = "set", elements = { type = "string" } } }`
	if err := os.WriteFile(filepath.Join(dir, "kong", "db", "schema", "typedefs.lua"), []byte(stub), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schema.lua"), []byte(LuaSchema("okta-oidc")), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `package.path = "./?.lua;" .. package.path
local s = dofile("schema.lua")
assert(s.name == "okta-oidc")
local cfg = s.fields[2].config
assert(cfg.type == "record")
local n = 0
for _, f in ipairs(cfg.fields) do
  for k, v in pairs(f) do n = n + 1; io.write(k, "=", v.type, "\n") end
end
io.write("count=", n, "\n")`
	cmd := exec.Command(lua, "-e", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lua: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "count="+strconv.Itoa(len(Keys()))+"\n") || !strings.Contains(string(out), "upstream_headers=map\n") {
		t.Fatalf("lua saw:\n%s", out)
	}
}
