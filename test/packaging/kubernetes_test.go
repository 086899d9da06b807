package packaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/test/stack"
)

// dumpFields builds the plugin server and returns its name and the config
// fields of -dump (what Kong and the Ingress Controller validate against),
// each with its type ("array of string" for arrays).
func dumpFields(t *testing.T) (string, map[string]string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "okta-oidc")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/okta-oidc")
	build.Dir = stack.Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-dump").Output()
	if err != nil {
		t.Fatalf("-dump: %v", err)
	}
	var info struct {
		Plugins []struct {
			Name   string
			Schema struct {
				Fields []map[string]struct {
					Fields []map[string]struct {
						Type     string
						Elements struct{ Type string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out, &info); err != nil || len(info.Plugins) != 1 || len(info.Plugins[0].Schema.Fields) != 1 {
		t.Fatalf("-dump: %v\n%s", err, out)
	}
	fields := map[string]string{}
	for _, f := range info.Plugins[0].Schema.Fields[0]["config"].Fields {
		for name, def := range f {
			typ := def.Type
			if typ == "array" {
				typ += " of " + def.Elements.Type
			}
			fields[name] = typ
		}
	}
	return info.Plugins[0].Name, fields
}

func yamlType(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int:
		return "integer"
	case map[string]any:
		return "map"
	case []any:
		for _, e := range x {
			if _, ok := e.(string); !ok {
				return "array of " + yamlType(e)
			}
		}
		return "array of string"
	}
	return fmt.Sprintf("%T", v)
}

type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { s, _ := o.doc["kind"].(string); return s }
func (o k8sObject) meta(k string) string {
	m, _ := o.doc["metadata"].(map[string]any)
	s, _ := m[k].(string)
	return s
}
func (o k8sObject) annotation(k string) string {
	m, _ := o.doc["metadata"].(map[string]any)
	a, _ := m["annotations"].(map[string]any)
	s, _ := a[k].(string)
	return s
}

func loadManifests(t *testing.T) []k8sObject {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stack.Root(), "docs", "kubernetes", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no manifests in docs/kubernetes")
	}
	var objs []k8sObject
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc != nil {
				objs = append(objs, k8sObject{filepath.Base(f), doc})
			}
		}
	}
	return objs
}

// TestKubernetesPluginManifests checks every KongPlugin and KongClusterPlugin
// in docs/kubernetes against the plugin server's -dump (plugin name, field
// names and types), resolves their configPatches from the Secret shipped
// next to them, and runs the result through -validate's checks; every
// konghq.com/plugins annotation names a plugin that exists.
func TestKubernetesPluginManifests(t *testing.T) {
	name, fields := dumpFields(t)
	objs := loadManifests(t)
	secrets := map[string]map[string]any{} // namespace/name -> stringData
	plugins := map[string]bool{}           // namespace/name, or /name for cluster plugins
	for _, o := range objs {
		switch o.kind() {
		case "Secret":
			d, _ := o.doc["stringData"].(map[string]any)
			secrets[o.meta("namespace")+"/"+o.meta("name")] = d
		case "KongPlugin":
			plugins[o.meta("namespace")+"/"+o.meta("name")] = true
		case "KongClusterPlugin":
			plugins["/"+o.meta("name")] = true
		}
	}
	checked := map[string]int{}
	for _, o := range objs {
		kind := o.kind()
		if kind != "KongPlugin" && kind != "KongClusterPlugin" {
			continue
		}
		where := o.file + ": " + kind + " " + o.meta("name")
		if o.doc["apiVersion"] != "configuration.konghq.com/v1" {
			t.Errorf("%s: apiVersion %v", where, o.doc["apiVersion"])
		}
		if o.doc["plugin"] != name {
			t.Errorf("%s: plugin %v, want %s (the name -dump gives)", where, o.doc["plugin"], name)
			continue
		}
		if kind == "KongPlugin" && o.meta("namespace") == "" {
			t.Errorf("%s: no namespace", where)
		}
		if kind == "KongClusterPlugin" && o.meta("namespace") != "" {
			t.Errorf("%s: a cluster plugin has no namespace", where)
		}
		cfg, _ := o.doc["config"].(map[string]any)
		merged := map[string]any{}
		for k, v := range cfg {
			typ, ok := fields[k]
			if !ok {
				t.Errorf("%s: config.%s is not a field of -dump", where, k)
				continue
			}
			if got := yamlType(v); got != typ {
				t.Errorf("%s: config.%s is %s, -dump says %s", where, k, got, typ)
			}
			merged[k] = v
		}
		patches, _ := o.doc["configPatches"].([]any)
		for _, p := range patches {
			pm, _ := p.(map[string]any)
			path, _ := pm["path"].(string)
			key := strings.TrimPrefix(path, "/")
			if fields[key] != "string" || strings.Contains(key, "/") {
				t.Errorf("%s: configPatches path %q is not a string field of -dump", where, path)
				continue
			}
			vf, _ := pm["valueFrom"].(map[string]any)
			ref, _ := vf["secretKeyRef"].(map[string]any)
			ns, _ := ref["namespace"].(string)
			if ns == "" {
				ns = o.meta("namespace")
			}
			sname, _ := ref["name"].(string)
			skey, _ := ref["key"].(string)
			val, ok := secrets[ns+"/"+sname][skey]
			if !ok {
				t.Errorf("%s: configPatches %s reads secret %s/%s key %q, which docs/kubernetes does not define", where, path, ns, sname, skey)
				continue
			}
			merged[key] = val
		}
		doc := map[string]any{"_format_version": "3.0", "plugins": []any{map[string]any{"name": name, "config": merged}}}
		y, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		res, err := config.ValidateDeclarative(y, name)
		if err != nil || res.Entries != 1 || len(res.Problems) > 0 {
			t.Errorf("%s: config refused (%v): %q", where, err, res.Problems)
		}
		checked[kind]++
	}
	if checked["KongPlugin"] == 0 || checked["KongClusterPlugin"] == 0 {
		t.Fatalf("checked %v: want at least one KongPlugin and one KongClusterPlugin", checked)
	}
	for _, o := range objs {
		ann := o.annotation("konghq.com/plugins")
		if ann == "" {
			continue
		}
		for _, p := range strings.Split(ann, ",") {
			p = strings.TrimSpace(p)
			if !plugins[o.meta("namespace")+"/"+p] && !plugins["/"+p] {
				t.Errorf("%s: %s %s names plugin %q, defined nowhere in docs/kubernetes", o.file, o.kind(), o.meta("name"), p)
			}
		}
	}
}

// TestHelmValuesPluginServer checks the Helm values' plugin-server settings
// the way Kong reads them: the plugin enabled, the commands absolute and
// naming the binary the Dockerfile installs, and the socket inside the
// prefix Kong runs with.
func TestHelmValuesPluginServer(t *testing.T) {
	name, _ := dumpFields(t)
	_, dest, _, _ := dockerfile(t)
	data, err := os.ReadFile(filepath.Join(stack.Root(), "docs", "kubernetes", "helm-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Env map[string]string `yaml:"env"`
	}
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	env := v.Env
	if !slices.Contains(strings.Split(env["plugins"], ","), name) {
		t.Errorf("env.plugins = %q lacks %s", env["plugins"], name)
	}
	if env["pluginserver_names"] != name {
		t.Errorf("env.pluginserver_names = %q", env["pluginserver_names"])
	}
	key := "pluginserver_" + strings.ReplaceAll(name, "-", "_") + "_"
	start := strings.Fields(env[key+"start_cmd"])
	if len(start) == 0 || start[0] != dest {
		t.Fatalf("env.%sstart_cmd = %q, want %s first", key, env[key+"start_cmd"], dest)
	}
	if env[key+"query_cmd"] != dest+" -dump" {
		t.Errorf("env.%squery_cmd = %q, want %q", key, env[key+"query_cmd"], dest+" -dump")
	}
	prefix := "/usr/local/kong"
	for i, a := range start {
		if a == "-kong-prefix" && i+1 < len(start) {
			prefix = start[i+1]
		}
	}
	if kongPrefix := strings.TrimRight(env["prefix"], "/"); kongPrefix != "" && kongPrefix != filepath.Clean(prefix) {
		t.Errorf("Kong runs with prefix %q but the plugin server with -kong-prefix %q", env["prefix"], prefix)
	}
	if env[key+"socket"] != filepath.Join(prefix, name+".socket") {
		t.Errorf("env.%ssocket = %q, the server listens on %s", key, env[key+"socket"], filepath.Join(prefix, name+".socket"))
	}
}
