package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// DeclarativeResult is the outcome of ValidateDeclarative.
type DeclarativeResult struct {
	Entries  int      // plugin entries found
	Problems []string // each prefixed with the entry's location and the key
	// Found holds every entry, in file order, with its parsed config (nil
	// when it has problems).
	Found []DeclarativeEntry
}

// DeclarativeEntry is one plugin entry of a declarative config.
type DeclarativeEntry struct {
	Where  string   // e.g. "services[0] (service httpbin).routes[1] (route team).plugins[0]"
	Paths  []string // the route's paths (empty for a service or global entry)
	Config *Config  // nil when the entry has problems
}

// ValidateDeclarative checks every entry of plugin name in a declarative Kong
// config (kong.yml): global plugins, plugins under services and routes, and
// nested routes. Each entry's config must hold only known keys of the right
// types (as Kong's schema check would demand) and pass Parse. A plugin whose
// name is a likely typo of name (okta_oidc, okta-odic) is a problem, and so
// is a file without any entry of name: a check that finds nothing to check
// must not pass.
func ValidateDeclarative(data []byte, name string) (DeclarativeResult, error) {
	res, err := walkDeclarative(data, name)
	if err == nil && res.Entries == 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("no %s plugin entry (a plugin with name: %s)", name, name))
	}
	return res, err
}

func walkDeclarative(data []byte, name string) (DeclarativeResult, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return DeclarativeResult{}, fmt.Errorf("parsing YAML: %w", err)
	}
	var res DeclarativeResult
	visit := func(where string, paths []string, plugins any) {
		list, _ := plugins.([]any)
		for i, p := range list {
			entry, _ := p.(map[string]any)
			if entry == nil {
				continue
			}
			loc := fmt.Sprintf("%splugins[%d]", where, i)
			if n, _ := entry["name"].(string); n != name {
				if n != "" && Nearest(n, []string{name}) != "" {
					res.Problems = append(res.Problems, fmt.Sprintf("%s: name: unknown plugin %q (did you mean %s?)", loc, n, name))
				}
				continue
			}
			res.Entries++
			if n, ok := entry["instance_name"].(string); ok {
				loc += " (" + n + ")"
			}
			cfg, probs := checkEntry(entry["config"])
			for _, prob := range probs {
				res.Problems = append(res.Problems, loc+": "+prob)
			}
			res.Found = append(res.Found, DeclarativeEntry{Where: loc, Paths: paths, Config: cfg})
		}
	}
	visit("", nil, doc["plugins"])
	routes := func(prefix string, rs any) {
		list, _ := rs.([]any)
		for j, r := range list {
			route, _ := r.(map[string]any)
			if route == nil {
				continue
			}
			where := fmt.Sprintf("%sroutes[%d]", prefix, j)
			if n, ok := route["name"].(string); ok {
				where += " (route " + n + ")"
			}
			var paths []string
			list, _ := route["paths"].([]any)
			for _, p := range list {
				if s, ok := p.(string); ok {
					paths = append(paths, s)
				}
			}
			visit(where+".", paths, route["plugins"])
		}
	}
	services, _ := doc["services"].([]any)
	for i, s := range services {
		svc, _ := s.(map[string]any)
		if svc == nil {
			continue
		}
		where := fmt.Sprintf("services[%d]", i)
		if n, ok := svc["name"].(string); ok {
			where += " (service " + n + ")"
		}
		visit(where+".", nil, svc["plugins"])
		routes(where+".", svc["routes"])
	}
	routes("", doc["routes"])
	return res, nil
}

// checkEntry checks one plugin entry's config block and parses it.
func checkEntry(cfg any) (*Config, []string) {
	m, ok := cfg.(map[string]any)
	if cfg != nil && !ok {
		return nil, []string{"config: expected a record"}
	}
	problems := CheckKeys(m)
	if len(problems) > 0 {
		return nil, problems
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, []string{"config: " + err.Error()}
	}
	var raw Raw
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return nil, []string{"config: " + err.Error()}
	}
	c, err := Parse(&raw)
	if err != nil {
		for _, p := range Problems(err) {
			problems = append(problems, "config."+p)
		}
		if len(problems) == 0 {
			problems = append(problems, "config: "+err.Error())
		}
		return nil, problems
	}
	return c, nil
}

// fieldTypes maps each kong.yml key to its Go type.
var fieldTypes = func() map[string]reflect.Type {
	t := reflect.TypeOf(Raw{})
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.PkgPath != "" {
			continue
		}
		out[f.Tag.Get("json")] = f.Type
	}
	return out
}()

// Keys returns the config's key names, sorted.
func Keys() []string {
	keys := make([]string, 0, len(fieldTypes))
	for k := range fieldTypes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CheckKeys reports unknown keys and values of the wrong type the way
// Kong's schema validation words them.
func CheckKeys(m map[string]any) []string {
	var problems []string
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t, known := fieldTypes[k]
		if !known {
			msg := "config." + k + ": unknown field"
			if near := Nearest(k, Keys()); near != "" {
				msg += " (did you mean " + near + "?)"
			}
			problems = append(problems, msg)
			continue
		}
		if msg := checkType(t, m[k]); msg != "" {
			problems = append(problems, "config."+k+": "+msg)
		}
	}
	return problems
}

func checkType(t reflect.Type, v any) string {
	if v == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return "expected a string"
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return "expected a boolean"
		}
	case reflect.Int:
		switch n := v.(type) {
		case int:
		case float64:
			if n != float64(int(n)) {
				return "expected an integer"
			}
		default:
			return "expected an integer"
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return "expected an array"
		}
		for i, e := range list {
			if msg := checkType(t.Elem(), e); msg != "" || e == nil {
				if msg == "" {
					msg = "expected a string"
				}
				return fmt.Sprintf("[%d]: %s", i+1, msg)
			}
		}
	case reflect.Map:
		mm, ok := v.(map[string]any)
		if !ok {
			return "expected a map"
		}
		for k, e := range mm {
			if msg := checkType(t.Elem(), e); msg != "" || e == nil {
				if msg == "" {
					msg = "expected a string"
				}
				return strings.TrimSpace(fmt.Sprintf("[%s]: %s", k, msg))
			}
		}
	}
	return ""
}
