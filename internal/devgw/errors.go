package devgw

import (
	"fmt"
	"sort"
	"strings"
)

// errTree is a Kong-style nested validation error table: string keys are
// field names, int keys are 1-based entry indexes; leaves are messages.
type errTree struct {
	fields  map[string]any // string or *errTree
	entries map[int]any    // string or *errTree
}

func newErrTree() *errTree { return &errTree{fields: map[string]any{}, entries: map[int]any{}} }

func (t *errTree) empty() bool { return t == nil || (len(t.fields) == 0 && len(t.entries) == 0) }

func (t *errTree) get(k any) any {
	switch k := k.(type) {
	case int:
		return t.entries[k]
	case string:
		return t.fields[k]
	}
	panic(fmt.Sprintf("bad error key %T", k))
}

func (t *errTree) put(k any, v any) {
	switch k := k.(type) {
	case int:
		t.entries[k] = v
	case string:
		t.fields[k] = v
	default:
		panic(fmt.Sprintf("bad error key %T", k))
	}
}

// set stores msg at path (creating intermediate tables). An existing message
// at the same place is kept (first error wins, like Kong's per-field errors).
func (t *errTree) set(path []any, msg string) {
	cur := t
	for i, k := range path {
		if i == len(path)-1 {
			if cur.get(k) == nil {
				cur.put(k, msg)
			}
			return
		}
		next, ok := cur.get(k).(*errTree)
		if !ok {
			if cur.get(k) != nil {
				return // a leaf message already explains this subtree
			}
			next = newErrTree()
			cur.put(k, next)
		}
		cur = next
	}
}

// addEntity appends an entity-level message under "@entity".
func (t *errTree) addEntity(path []any, msg string) {
	cur := t
	for _, k := range path {
		next, ok := cur.get(k).(*errTree)
		if !ok {
			if cur.get(k) != nil {
				return
			}
			next = newErrTree()
			cur.put(k, next)
		}
		cur = next
	}
	ent, ok := cur.fields["@entity"].(*errTree)
	if !ok {
		ent = newErrTree()
		cur.fields["@entity"] = ent
	}
	ent.entries[len(ent.entries)+1] = msg
}

// merge copies all errors of o below path.
func (t *errTree) merge(path []any, o *errTree) {
	if o.empty() {
		return
	}
	for _, k := range o.keys() {
		v := o.get(k)
		p := append(append([]any(nil), path...), k)
		if sub, ok := v.(*errTree); ok {
			t.merge(p, sub)
		} else {
			t.set(p, v.(string))
		}
	}
}

// keys returns numbers first (ascending) then strings (sorted), like Kong's
// sorted_pairs.
func (t *errTree) keys() []any {
	ints := make([]int, 0, len(t.entries))
	for k := range t.entries {
		ints = append(ints, k)
	}
	sort.Ints(ints)
	strs := make([]string, 0, len(t.fields))
	for k := range t.fields {
		strs = append(strs, k)
	}
	sort.Strings(strs)
	out := make([]any, 0, len(ints)+len(strs))
	for _, k := range ints {
		out = append(out, k)
	}
	for _, k := range strs {
		out = append(out, k)
	}
	return out
}

// pretty renders the tree like kong.db.declarative's pretty_print_error.
func (t *errTree) pretty(item, indent string) string {
	var lines []string
	for _, k := range t.keys() {
		var key string
		switch k := k.(type) {
		case int:
			key = fmt.Sprintf("- in entry %d of '%s'", k, item)
		case string:
			key = "in '" + k + "'"
		}
		switch v := t.get(k).(type) {
		case *errTree:
			lines = append(lines, indent+key+":")
			sub := item
			if s, ok := k.(string); ok {
				sub = s
			}
			lines = append(lines, v.pretty(sub, indent+"  "))
		case string:
			lines = append(lines, indent+key+": "+v)
		}
	}
	return strings.Join(lines, "\n")
}

// flatten lists "a.b.c: message" strings (entry indexes appear as numbers).
func (t *errTree) flatten(prefix string) []string {
	var out []string
	for _, k := range t.keys() {
		name := fmt.Sprint(k)
		if prefix != "" {
			name = prefix + "." + name
		}
		switch v := t.get(k).(type) {
		case *errTree:
			out = append(out, v.flatten(name)...)
		case string:
			out = append(out, name+": "+v)
		}
	}
	return out
}

// ConfigError is returned when the declarative configuration (including
// plugin configurations validated against their dumped schemas) is invalid.
// Its message mimics Kong's "error parsing declarative config file" output,
// followed by one summary line per plugin error naming the plugin.
type ConfigError struct {
	File    string
	tree    *errTree
	Summary []string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "error parsing declarative config file %s:\n", e.File)
	b.WriteString(e.tree.pretty("", ""))
	if len(e.Summary) > 0 {
		b.WriteString("\n")
		for _, s := range e.Summary {
			b.WriteString("\n" + s)
		}
	}
	return b.String()
}
