package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

// build compiles the real binary under its real name: go-pdk reports the
// executable's base name as the plugin name.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "okta-oidc")
	out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDumpSatisfiesKong checks -dump against the rules Kong applies when it
// loads a plugin server's info (kong-pluginserver.md §1.2).
func TestDumpSatisfiesKong(t *testing.T) {
	bin := build(t)
	cmd := exec.Command(bin, "-dump")
	cmd.Stderr = nil
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("-dump: %v", err)
	}
	var info struct {
		Protocol string
		Plugins  []struct {
			Name     string
			Priority json.Number
			Version  string
			Phases   []string
			Schema   struct {
				Name   string
				Fields []map[string]map[string]any
			}
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(stdout)))
	dec.UseNumber()
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("stdout is not JSON (Kong would refuse to start): %v\n%s", err, stdout)
	}
	if info.Protocol != "ProtoBuf:1" || len(info.Plugins) != 1 {
		t.Fatalf("protocol %q, %d plugins", info.Protocol, len(info.Plugins))
	}
	p := info.Plugins[0]
	if p.Name != "okta-oidc" || p.Schema.Name != "okta-oidc" {
		t.Errorf("name %q / schema name %q, want okta-oidc (KONG_PLUGINS must name it)", p.Name, p.Schema.Name)
	}
	if _, err := p.Priority.Int64(); err != nil {
		t.Errorf("priority %q is not an integer", p.Priority)
	}
	if !regexp.MustCompile(`^\d+\.\d+(\.\d+)?$`).MatchString(p.Version) {
		t.Errorf("version %q is not x.y[.z]", p.Version)
	}
	if strings.Join(p.Phases, ",") != "access" {
		t.Errorf("phases %q, want only access (a response phase would buffer every upstream response)", p.Phases)
	}
	if len(p.Schema.Fields) != 1 || p.Schema.Fields[0]["config"] == nil {
		t.Fatalf("schema fields = %v, want one config record", p.Schema.Fields)
	}
	cfg := p.Schema.Fields[0]["config"]
	if cfg["type"] != "record" {
		t.Fatalf("config type %v", cfg["type"])
	}
	have := map[string]bool{}
	for _, f := range cfg["fields"].([]any) {
		for name, def := range f.(map[string]any) {
			have[name] = true
			if strings.ContainsAny(name, ", ") || strings.HasPrefix(name, "__") {
				t.Errorf("field name %q would break Kong's schema", name)
			}
			checkType(t, name, def.(map[string]any))
		}
	}
	for _, k := range config.Keys() {
		if !have[k] {
			t.Errorf("config key %q missing from -dump (dropped by go-pdk's schema generator?)", k)
		}
	}
	if len(have) != len(config.Keys()) {
		t.Errorf("-dump has %d fields, config has %d keys", len(have), len(config.Keys()))
	}
}

func checkType(t *testing.T, name string, def map[string]any) {
	t.Helper()
	switch def["type"] {
	case "string", "boolean", "integer", "number":
	case "array":
		el, ok := def["elements"].(map[string]any)
		if !ok {
			t.Errorf("%s: array without elements", name)
			return
		}
		checkType(t, name+"[]", el)
	case "map":
		k, ok1 := def["keys"].(map[string]any)
		v, ok2 := def["values"].(map[string]any)
		if !ok1 || !ok2 {
			t.Errorf("%s: map without keys/values", name)
			return
		}
		checkType(t, name+".key", k)
		checkType(t, name+".value", v)
	default:
		t.Errorf("%s: type %v is not one Kong accepts here", name, def["type"])
	}
}

// bearerYML is a declarative file with one valid bearer-only entry.
const bearerYML = `_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9402
  routes:
  - name: api
    paths: [/api]
    plugins:
    - name: okta-oidc
      config: {issuer: "https://dev-1.okta.com/oauth2/default", auth_methods: [bearer]}
`

func TestValidateFlag(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	const y = bearerYML
	if err := os.WriteFile(good, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(y, "auth_methods: [bearer]", "auth_methods: [bearer], leway: 3", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-validate", good).CombinedOutput(); err != nil {
		t.Fatalf("good file refused: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-validate", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("bad file accepted:\n%s", out)
	}
	if !strings.Contains(string(out), "config.leway: unknown field") {
		t.Fatalf("message does not name the key:\n%s", out)
	}
}

// TestValidateExitCodes: 0 good; 1 the file has problems (each named, with a
// suggestion for a likely typo); 2 the file could not be read or parsed, or
// the command line is wrong. A file without an okta-oidc entry, or with a
// misspelled plugin name, is a problem: a CI check must not go green.
func TestValidateExitCodes(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	const y = bearerYML
	tests := []struct {
		name    string
		content string // "" with noFile: no file at all
		args    []string
		code    int
		want    []string
	}{
		{"good", y, nil, 0, []string{"1 okta-oidc plugin entry OK"}},
		{"two entries", y + "plugins:\n- name: okta-oidc\n  config: {issuer: \"https://dev-1.okta.com/oauth2/default\", auth_methods: [bearer]}\n", nil, 0, []string{"2 okta-oidc plugin entries OK"}},
		{"underscore name", strings.Replace(y, "name: okta-oidc", "name: okta_oidc", 1), nil, 1,
			[]string{`unknown plugin "okta_oidc" (did you mean okta-oidc?)`, "no okta-oidc plugin entry", "2 problems in 0 okta-oidc plugin entries"}},
		{"transposed name", strings.Replace(y, "name: okta-oidc", "name: okta-odic", 1), nil, 1, []string{"did you mean okta-oidc?"}},
		{"no entry", strings.Replace(y, "name: okta-oidc", "name: key-auth", 1), nil, 1, []string{"no okta-oidc plugin entry"}},
		{"unknown key", strings.Replace(y, "auth_methods: [bearer]", "auth_methods: [bearer], leway: 3", 1), nil, 1,
			[]string{"config.leway: unknown field (did you mean leeway?)", "1 problem in 1 okta-oidc plugin entry"}},
		{"bad YAML", "services: [\n", nil, 2, []string{"parsing YAML"}},
		{"missing file", "", nil, 2, []string{"no such file"}},
		{"unknown flag", y, []string{"-no-such-flag"}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yml")
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := append(append([]string{}, tt.args...), "-validate", path)
			out, err := exec.Command(bin, args...).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "(s)") || strings.Contains(string(out), "(ies)") {
				t.Errorf("output says (s)/(ies):\n%s", out)
			}
		})
	}
}

// TestDoctorExitCodes: doctor exits 0 without errors (warnings allowed), 1
// with errors, 2 when kong.yml cannot be read or the command line is wrong;
// it reads the token from a file, never from the command line.
func TestDoctorExitCodes(t *testing.T) {
	bin := build(t)
	iss := testissuer.New(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(iss.Mint(t, iss.Claims(time.Now()))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := strings.ReplaceAll(`_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9402
  routes:
  - name: api
    paths: [/api]
    plugins:
    - name: okta-oidc
      config: {issuer: ISSUER, auth_methods: [bearer], audience_required: [api://default], groups_required: [kong_group]}
`, "ISSUER", iss.URL)
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	_ = os.WriteFile(good, []byte(y), 0o644)
	_ = os.WriteFile(bad, []byte(strings.Replace(y, "api://default", "api://wrong", 1)), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"good", []string{"doctor", "-token-file", tokenFile, good}, 0, "0 errors, 1 warning"},
		{"wrong audience", []string{"doctor", "-token-file", tokenFile, bad}, 1, "audience_required: [api://wrong], but the token's aud is [api://default]"},
		{"missing file", []string{"doctor", filepath.Join(dir, "nope.yml")}, 2, "no such file"},
		{"no file", []string{"doctor"}, 2, "usage: okta-oidc doctor"},
		{"client id without secret", []string{"doctor", "-client-id", "x", good}, 2, "OKTA_OIDC_CLIENT_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), "OKTA_OIDC_CLIENT_SECRET=", "OKTA_OIDC_TOKEN=")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s", code, tt.code, tt.want, out)
			}
		})
	}
	// A refused client secret, echoed back by the IdP, appears nowhere in
	// the doctor's stdout or stderr.
	t.Run("refused client secret is never printed", func(t *testing.T) {
		const secret = "Echoed-S3cret-k9Vq"
		iss.SetTokenHandler(func(w http.ResponseWriter, r *http.Request) {
			_, p, _ := r.BasicAuth()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "bad secret " + p})
		})
		cmd := exec.Command(bin, "doctor", "-client-id", "kong-m2m", good)
		cmd.Env = append(os.Environ(), "OKTA_OIDC_CLIENT_SECRET="+secret, "OKTA_OIDC_TOKEN=")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit %v, want 1:\n%s%s", err, stdout.String(), stderr.String())
		}
		if !strings.Contains(stdout.String()+stderr.String(), "invalid_client") {
			t.Fatalf("the refusal is not reported:\n%s%s", stdout.String(), stderr.String())
		}
		for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
			if strings.Contains(out, secret) {
				t.Errorf("%s holds the client secret:\n%s", name, out)
			}
		}
	})
}
