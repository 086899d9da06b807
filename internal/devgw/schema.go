package devgw

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// schemaField is one field definition of a dumped plugin schema (the subset
// of Kong's schema language that go-pdk emits, plus "required"/"default"
// and "set", which other plugin servers may emit).
type schemaField struct {
	Name     string
	Type     string
	Between  []float64
	Elements *schemaField
	Keys     *schemaField
	Values   *schemaField
	Fields   []*schemaField
	Required bool
	Default  any
	HasDef   bool
	OneOf    []any
}

var knownSchemaTypes = map[string]bool{
	"string": true, "boolean": true, "integer": true, "number": true,
	"array": true, "set": true, "map": true, "record": true,
}

// parseSchemaField decodes one field definition ({"type": ..., ...}).
func parseSchemaField(name string, raw json.RawMessage) (*schemaField, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("field %q: expected a table: %v", name, err)
	}
	f := &schemaField{Name: name}
	if t, ok := m["type"]; ok {
		if err := json.Unmarshal(t, &f.Type); err != nil {
			return nil, fmt.Errorf("field %q: type: %v", name, err)
		}
	}
	if !knownSchemaTypes[f.Type] {
		return nil, fmt.Errorf("field %q: unsupported schema type %q", name, f.Type)
	}
	if b, ok := m["between"]; ok {
		if err := json.Unmarshal(b, &f.Between); err != nil || len(f.Between) != 2 {
			return nil, fmt.Errorf("field %q: between must be a pair of numbers", name)
		}
	}
	if r, ok := m["required"]; ok {
		_ = json.Unmarshal(r, &f.Required)
	}
	if d, ok := m["default"]; ok {
		var v any
		if err := json.Unmarshal(d, &v); err == nil && v != nil {
			f.Default, f.HasDef = normalizeJSONValue(v), true
		}
	}
	if o, ok := m["one_of"]; ok {
		var vs []any
		if err := json.Unmarshal(o, &vs); err == nil {
			for _, v := range vs {
				f.OneOf = append(f.OneOf, normalizeJSONValue(v))
			}
		}
	}
	var err error
	switch f.Type {
	case "array", "set":
		e, ok := m["elements"]
		if !ok {
			return nil, fmt.Errorf("field %q: %s without elements", name, f.Type)
		}
		if f.Elements, err = parseSchemaField(name+".elements", e); err != nil {
			return nil, err
		}
	case "map":
		k, ok1 := m["keys"]
		v, ok2 := m["values"]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("field %q: map without keys/values", name)
		}
		if f.Keys, err = parseSchemaField(name+".keys", k); err != nil {
			return nil, err
		}
		if f.Values, err = parseSchemaField(name+".values", v); err != nil {
			return nil, err
		}
	case "record":
		fs, ok := m["fields"]
		if !ok {
			return nil, fmt.Errorf("field %q: record without fields", name)
		}
		if f.Fields, err = parseFieldList(fs); err != nil {
			return nil, fmt.Errorf("field %q: %v", name, err)
		}
	}
	return f, nil
}

// parseFieldList decodes Kong's [{name: def}, ...] field array.
func parseFieldList(raw json.RawMessage) ([]*schemaField, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("fields: expected an array of single-key tables: %v", err)
	}
	var out []*schemaField
	seen := map[string]bool{}
	for _, item := range list {
		if len(item) != 1 {
			return nil, fmt.Errorf("fields: each entry must have exactly one key")
		}
		for name, def := range item {
			f, err := parseSchemaField(name, def)
			if err != nil {
				return nil, err
			}
			if !seen[name] {
				out = append(out, f)
				seen[name] = true
			}
		}
	}
	return out, nil
}

// parsePluginSchema extracts the "config" record from a dumped Schema
// ({"name": ..., "fields": [{"config": {...}}]}).
func parsePluginSchema(raw json.RawMessage) (*schemaField, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("no schema")
	}
	var top struct {
		Fields json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("schema: %v", err)
	}
	if len(top.Fields) == 0 {
		return nil, fmt.Errorf("error in schema definition: no 'fields' table")
	}
	fields, err := parseFieldList(top.Fields)
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		if f.Name == "config" {
			if f.Type != "record" {
				return nil, fmt.Errorf("schema field 'config' must be a record")
			}
			return f, nil
		}
	}
	return nil, fmt.Errorf("schema has no 'config' record")
}

// normalizeJSONValue converts numbers decoded by encoding/json (float64)
// into int64 when integral, to keep JSON re-encoding stable.
func normalizeJSONValue(v any) any {
	switch v := v.(type) {
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
		return v
	case []any:
		for i := range v {
			v[i] = normalizeJSONValue(v[i])
		}
		return v
	case map[string]any:
		for k := range v {
			v[k] = normalizeJSONValue(v[k])
		}
		return v
	}
	return v
}

// jsonNull marks an explicit null that must be encoded as JSON null.
type jsonNullT struct{}

func (jsonNullT) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

var jsonNull = jsonNullT{}

// emptyArray encodes as [] (cjson.array_mt).
type emptyArrayT struct{}

func (emptyArrayT) MarshalJSON() ([]byte, error) { return []byte("[]"), nil }

func toNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case int:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func luaTypeIsTable(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}

// validateField checks value (never nil here) against f; returns either a
// message or an error sub-tree. Mirrors Schema:validate_field.
func validateField(f *schemaField, v any) (string, *errTree) {
	if _, isNull := v.(jsonNullT); isNull || v == nil {
		if f.Required {
			return "required field missing", nil
		}
		return "", nil
	}
	switch f.Type {
	case "array", "set":
		list, ok := asSequence(v)
		if !ok {
			if f.Type == "set" {
				return "expected a set", nil
			}
			return "expected an array", nil
		}
		el := *f.Elements
		el.Required = true
		errs := newErrTree()
		for i, item := range list {
			msg, sub := validateField(&el, item)
			if msg != "" {
				errs.entries[i+1] = msg
			} else if !sub.empty() {
				errs.entries[i+1] = sub
			}
		}
		if !errs.empty() {
			return "", errs
		}
	case "map":
		if !luaTypeIsTable(v) {
			return "expected a map", nil
		}
		keys := *f.Keys
		keys.Required = true
		vals := *f.Values
		vals.Required = true
		switch m := v.(type) {
		case map[string]any:
			names := make([]string, 0, len(m))
			for k := range m {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				if msg, sub := validateField(&keys, k); msg != "" || !sub.empty() {
					return firstMessage(msg, sub), nil
				}
				if msg, sub := validateField(&vals, m[k]); msg != "" || !sub.empty() {
					return firstMessage(msg, sub), nil
				}
			}
		case []any:
			// A Lua sequence used as a map: keys are the integers 1..n.
			for i, item := range m {
				if msg, sub := validateField(&keys, int64(i+1)); msg != "" || !sub.empty() {
					return firstMessage(msg, sub), nil
				}
				if msg, sub := validateField(&vals, item); msg != "" || !sub.empty() {
					return firstMessage(msg, sub), nil
				}
			}
		}
	case "record":
		if !luaTypeIsTable(v) {
			return "expected a record", nil
		}
		_, errs := validateRecord(f, v)
		if !errs.empty() {
			return "", errs
		}
		return "", nil
	case "integer":
		n, ok := toNumber(v)
		if !ok || n != math.Trunc(n) || math.IsInf(n, 0) {
			return "expected an integer", nil
		}
	case "number":
		if _, ok := toNumber(v); !ok {
			return "expected a number", nil
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return "expected a string", nil
		}
		if len(s) < 1 { // empty strings are not accepted by default (len_min = 1)
			return "length must be at least 1", nil
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return "expected a boolean", nil
		}
	}
	if len(f.OneOf) > 0 {
		found := false
		for _, o := range f.OneOf {
			if fmt.Sprint(o) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			var s []string
			for _, o := range f.OneOf {
				s = append(s, fmt.Sprint(o))
			}
			return "expected one of: " + joinComma(s), nil
		}
	}
	if len(f.Between) == 2 {
		if n, ok := toNumber(v); ok && (n < f.Between[0] || n > f.Between[1]) {
			return fmt.Sprintf("value should be between %s and %s", luaInt(f.Between[0]), luaInt(f.Between[1])), nil
		}
	}
	return "", nil
}

func luaInt(f float64) string { return strconv.FormatInt(int64(f), 10) }

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

func firstMessage(msg string, sub *errTree) string {
	if msg != "" {
		return msg
	}
	if fl := sub.flatten(""); len(fl) > 0 {
		return fl[0]
	}
	return "invalid value"
}

// asSequence reports whether v is a Lua sequence (an empty table counts).
func asSequence(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case map[string]any:
		if len(v) == 0 {
			return nil, true
		}
	}
	return nil, false
}

// validateRecord validates a record value and returns the processed value
// (every schema key present, missing ones null or their default; arrays
// encoding as []). It mirrors process_auto_fields + validate.
func validateRecord(f *schemaField, v any) (map[string]any, *errTree) {
	errs := newErrTree()
	in := map[string]any{}
	switch m := v.(type) {
	case map[string]any:
		in = m
	case []any:
		for i, item := range m {
			in[strconv.Itoa(i+1)] = item
		}
	}
	byName := map[string]*schemaField{}
	for _, sf := range f.Fields {
		byName[sf.Name] = sf
	}
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		sf, ok := byName[k]
		if !ok {
			errs.fields[k] = "unknown field"
			continue
		}
		msg, sub := validateField(sf, in[k])
		if msg != "" {
			errs.fields[k] = msg
		} else if !sub.empty() {
			errs.fields[k] = sub
		}
	}
	out := map[string]any{}
	for _, sf := range f.Fields {
		val, present := in[sf.Name]
		_, isNull := val.(jsonNullT)
		if !present || val == nil || isNull {
			if !present && sf.HasDef {
				out[sf.Name] = processValue(sf, sf.Default)
				continue
			}
			if sf.Required && (present || sf.Type != "record") {
				errs.set([]any{sf.Name}, "required field missing")
			}
			if present {
				out[sf.Name] = jsonNull
			} else {
				out[sf.Name] = missingValue(sf)
			}
			continue
		}
		out[sf.Name] = processValue(sf, val)
	}
	return out, errs
}

// missingValue is what Kong stores for an absent field: its default, an
// expanded record when required, or null.
func missingValue(sf *schemaField) any {
	if sf.HasDef {
		return processValue(sf, sf.Default)
	}
	if sf.Required && sf.Type == "record" {
		out, _ := validateRecord(sf, map[string]any{})
		return out
	}
	return jsonNull
}

// processValue converts a validated value into its JSON-encodable form.
func processValue(sf *schemaField, v any) any {
	if v == nil {
		return jsonNull
	}
	if _, ok := v.(jsonNullT); ok {
		return v
	}
	switch sf.Type {
	case "record":
		out, _ := validateRecord(sf, v)
		return out
	case "array", "set":
		list, ok := asSequence(v)
		if !ok {
			return v
		}
		if len(list) == 0 {
			return emptyArrayT{}
		}
		out := make([]any, 0, len(list))
		seen := map[string]bool{}
		for _, item := range list {
			if sf.Type == "set" {
				key := fmt.Sprintf("%T:%v", item, item)
				if seen[key] {
					continue
				}
				seen[key] = true
			}
			out = append(out, processValue(sf.Elements, item))
		}
		return out
	case "map":
		switch m := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, item := range m {
				out[k] = processValue(sf.Values, item)
			}
			return out
		case []any:
			if len(m) == 0 {
				return map[string]any{}
			}
			out := make([]any, 0, len(m))
			for _, item := range m {
				out = append(out, processValue(sf.Values, item))
			}
			return out
		}
	}
	return v
}
