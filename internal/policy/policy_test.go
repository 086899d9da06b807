package policy

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/okta-oidc/okta-oidc/internal/config"
)

// claims decodes JSON the way verified token claims are decoded (numbers
// kept as json.Number, arrays as []any, objects as map[string]any).
func claims(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return m
}

// rule builds a Rule the way config does: each entry split into words.
func rule(claim []string, entries ...string) config.Rule {
	r := config.Rule{Claim: config.Claim(claim)}
	for _, e := range entries {
		r.Required = append(r.Required, config.Requirement(strings.Fields(e)))
	}
	return r
}

func TestHolds(t *testing.T) {
	groups := []string{"groups"}
	adminsOrKong := rule(groups, "admins ops", "kong_group")
	cases := []struct {
		name   string
		rule   config.Rule
		claims string
		want   bool
	}{
		// any entry / all words of an entry
		{"all words of first entry", adminsOrKong, `{"groups":["ops","admins"]}`, true},
		{"second entry", adminsOrKong, `{"groups":["kong_group"]}`, true},
		{"second entry among others", adminsOrKong, `{"groups":["x","kong_group","y"]}`, true},
		{"one word of first entry only", adminsOrKong, `{"groups":["admins"]}`, false},
		{"other word of first entry only", adminsOrKong, `{"groups":["ops","everyone"]}`, false},
		{"words spread over entries do not combine", rule(groups, "a b", "c d"), `{"groups":["a","c"]}`, false},
		{"no groups", adminsOrKong, `{"groups":[]}`, false},
		{"claim missing", adminsOrKong, `{"scp":["kong_group"]}`, false},
		{"group name with a space is one group", adminsOrKong, `{"groups":["admins ops"]}`, false},
		{"three-word entry", rule(groups, "a b c"), `{"groups":["c","b","a"]}`, true},
		{"three-word entry, one missing", rule(groups, "a b c"), `{"groups":["c","a"]}`, false},

		// exact, case-sensitive
		{"case differs", adminsOrKong, `{"groups":["Kong_Group"]}`, false},
		{"upper case", adminsOrKong, `{"groups":["KONG_GROUP"]}`, false},
		{"longer name", adminsOrKong, `{"groups":["kong_group_evil"]}`, false},
		{"prefix name", adminsOrKong, `{"groups":["kong_grou"]}`, false},
		{"surrounding space in array element", adminsOrKong, `{"groups":[" kong_group"]}`, false},
		{"unicode look-alike", adminsOrKong, `{"groups":["kong\u2010group"]}`, false},
		{"claim name case differs", adminsOrKong, `{"Groups":["kong_group"]}`, false},

		// space-separated string (scp, scope)
		{"string claim split by spaces", rule([]string{"scp"}, "kong.read kong.write"), `{"scp":"kong.write openid kong.read"}`, true},
		{"string claim, one word missing", rule([]string{"scp"}, "kong.read kong.write"), `{"scp":"kong.write openid"}`, false},
		{"string claim with extra spaces", adminsOrKong, `{"groups":"  kong_group  "}`, true},
		{"string claim containing the word", adminsOrKong, `{"groups":"kong_group_evil"}`, false},
		{"string claim, comma is no separator", adminsOrKong, `{"groups":"kong_group,admins"}`, false},
		{"single string", adminsOrKong, `{"groups":"kong_group"}`, true},

		// wrong shapes never match
		{"number", rule([]string{"level"}, "1"), `{"level":1}`, false},
		{"number as string matches", rule([]string{"level"}, "1"), `{"level":"1"}`, true},
		{"object", adminsOrKong, `{"groups":{"kong_group":true}}`, false},
		{"null", adminsOrKong, `{"groups":null}`, false},
		{"bool", rule([]string{"admin"}, "true"), `{"admin":true}`, false},
		{"array with a number", adminsOrKong, `{"groups":["kong_group",1]}`, false},
		{"array with null", adminsOrKong, `{"groups":["kong_group",null]}`, false},
		{"array with an object", adminsOrKong, `{"groups":["kong_group",{}]}`, false},
		{"nested array", adminsOrKong, `{"groups":[["kong_group"]]}`, false},

		// nested claim paths
		{"nested path", rule([]string{"realm", "roles"}, "kong_group"), `{"realm":{"roles":["kong_group"]}}`, true},
		{"deep nested path", rule([]string{"a", "b", "c"}, "x"), `{"a":{"b":{"c":"x"}}}`, true},
		{"nested path, wrong value", rule([]string{"realm", "roles"}, "kong_group"), `{"realm":{"roles":["other"]}}`, false},
		{"nested path through an array", rule([]string{"realm", "roles"}, "kong_group"), `{"realm":[{"roles":["kong_group"]}]}`, false},
		{"nested path through a string", rule([]string{"realm", "roles"}, "kong_group"), `{"realm":"roles"}`, false},
		{"nested path ends at an object", rule([]string{"realm"}, "kong_group"), `{"realm":{"kong_group":["kong_group"]}}`, false},
		{"nested path is not a dotted name", rule([]string{"realm", "roles"}, "kong_group"), `{"realm.roles":["kong_group"]}`, false},
		{"dotted name is not a nested path", rule([]string{"realm.roles"}, "kong_group"), `{"realm":{"roles":["kong_group"]}}`, false},
		{"dotted name", rule([]string{"realm.roles"}, "kong_group"), `{"realm.roles":["kong_group"]}`, true},
		{"top-level claim is not found by a nested path", rule([]string{"x", "groups"}, "kong_group"), `{"groups":["kong_group"]}`, false},

		// empty rule
		{"empty rule holds without the claim", rule(groups), `{}`, true},
		{"empty rule holds with a wrong shape", rule(groups), `{"groups":1}`, true},
		{"empty rule without claim path", config.Rule{}, `{}`, true},
		{"entries but no claim path", rule(nil, "kong_group"), `{"groups":["kong_group"]}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Holds(claims(t, c.claims), c.rule); got != c.want {
				t.Fatalf("Holds(%s, %v) = %v, want %v", c.claims, c.rule.Required, got, c.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	c := claims(t, `{"a":{"b":{"c":"x"}},"n":null}`)
	cases := []struct {
		path  []string
		found bool
		want  any
	}{
		{[]string{"a", "b", "c"}, true, "x"},
		{[]string{"a", "b", "c", "d"}, false, nil},
		{[]string{"a", "x"}, false, nil},
		{[]string{"n"}, true, nil}, // present, null
		{[]string{"n", "x"}, false, nil},
		{nil, false, nil},
	}
	for _, tc := range cases {
		v, ok := Lookup(c, tc.path)
		if ok != tc.found || (ok && tc.want != nil && v != tc.want) {
			t.Errorf("Lookup(%v) = %v, %v; want %v, %v", tc.path, v, ok, tc.want, tc.found)
		}
	}
}

func TestHeaderValue(t *testing.T) {
	long := strings.Repeat("a", 4096)
	cases := []struct {
		name  string
		value any
		want  string
		ok    bool
	}{
		{"string", "alice@example.com", "alice@example.com", true},
		{"string kept as is", "a  b", "a  b", true},
		{"list joined", []any{"kong_group", "everyone"}, "kong_group, everyone", true},
		{"single-element list", []any{"x"}, "x", true},
		{"integer", json.Number("1700000000"), "1700000000", true},
		{"decimal", json.Number("1.5"), "1.5", true},
		{"exponent", json.Number("1e3"), "1e3", true},
		{"negative", json.Number("-2"), "-2", true},
		{"true", true, "true", true},
		{"false", false, "false", true},
		{"UTF-8", "Zoë", "Zoë", true},
		{"tab-free printable", "a!~", "a!~", true},
		{"at length limit", long, long, true},
		{"over length limit", long + "a", "", false},
		{"list over length limit", []any{long[:2048], long[:2048]}, "", false},
		{"CR LF", "alice\r\nX-Admin: 1", "", false},
		{"LF", "alice\nX-Admin: 1", "", false},
		{"CR", "alice\rX", "", false},
		{"NUL", "a\x00b", "", false},
		{"tab", "a\tb", "", false},
		{"DEL", "a\x7fb", "", false},
		{"CR LF in a list element", []any{"ok", "x\r\nX-Admin: 1"}, "", false},
		{"empty string", "", "", false},
		{"empty list", []any{}, "", false},
		{"object", map[string]any{"a": "b"}, "", false},
		{"null", nil, "", false},
		{"mixed list", []any{"a", json.Number("1")}, "", false},
		{"list with null", []any{"a", nil}, "", false},
		{"nested list", []any{[]any{"a"}}, "", false},
		{"element with the delimiter", []any{"Marketing, kong_admins", "everyone"}, "Marketing%2C kong_admins, everyone", true},
		{"element quoted", []any{`"a, kong_admins, b"`}, "%22a%2C kong_admins%2C b%22", true},
		{"element with ; \\ %", []any{`kong_admins;q=1`, `a\b`, "100%"}, "kong_admins%3Bq=1, a%5Cb, 100%25", true},
		{"element with edge spaces", []any{" kong_admins ", "a b"}, "%20kong_admins%20, a b", true},
		{"element with edge NBSP and BOM", []any{"\u00a0kong_admins\ufeff"}, "%C2%A0kong_admins%EF%BB%BF", true},
		{"element all spaces", []any{"  "}, "%20%20", true},
		{"element with a tab", []any{"\tkong_admins"}, "", false},
		{"plain string with a comma", "Doe, Jane", "Doe, Jane", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := HeaderValue(c.value)
			if ok != c.ok || got != c.want {
				t.Fatalf("HeaderValue(%#v) = %q, %v; want %q, %v", c.value, got, ok, c.want, c.ok)
			}
		})
	}
	// Values decoded from real claims render the same way.
	c := claims(t, `{"groups":["a","b"],"n":42,"o":{"x":1},"s":"a\r\nb"}`)
	for name, want := range map[string]string{"groups": "a, b", "n": "42", "o": "", "s": ""} {
		got, ok := HeaderValue(c[name])
		if got != want || ok != (want != "") {
			t.Errorf("claim %s: %q, %v; want %q", name, got, ok, want)
		}
	}
}

// TestListNeverMisreadByNaiveSplit: a group whose name holds the delimiter
// (or quotes, or trims to another name) never reaches an upstream that
// splits on "," and trims as a group the user does not have.
func TestListNeverMisreadByNaiveSplit(t *testing.T) {
	for _, groups := range [][]string{
		{"Marketing, kong_admins"},
		{`"a, kong_admins, b"`, "everyone"},
		{" kong_admins"},
		{"\u00a0kong_admins"},
		{"kong_admins;x", `kong_admins\`},
	} {
		list := make([]any, len(groups))
		for i, g := range groups {
			list[i] = g
		}
		v, ok := HeaderValue(list)
		if !ok {
			t.Fatalf("HeaderValue(%q) not rendered", groups)
		}
		checkNaiveSplit(t, groups, v)
	}
}

// checkNaiveSplit: splitting v on "," and trimming (as Go's TrimSpace, or a
// trim that also drops a BOM) gives exactly the elements, each of which
// percent-decodes to its group; no piece equals a group the list lacks.
func checkNaiveSplit(t *testing.T, groups []string, v string) {
	t.Helper()
	pieces := strings.Split(v, ",")
	if len(pieces) != len(groups) {
		t.Fatalf("%q rendered as %q: %d pieces", groups, v, len(pieces))
	}
	for i, p := range pieces {
		for _, trimmed := range []string{strings.TrimSpace(p), strings.TrimFunc(p, func(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' })} {
			dec, err := url.PathUnescape(trimmed)
			if err != nil || dec != groups[i] {
				t.Fatalf("%q rendered as %q: piece %q decodes to %q (%v), want %q", groups, v, trimmed, dec, err, groups[i])
			}
		}
	}
}

// FuzzListHeaderValue: whatever the group names, a rendered list splits into
// exactly its elements and decodes back to them.
func FuzzListHeaderValue(f *testing.F) {
	f.Add("Marketing, kong_admins\x00everyone")
	f.Add(`"a, kong_admins, b"\x00 x \x00%2C`)
	f.Add("\u00a0\u2028a\ufeff\x00;\\")
	f.Fuzz(func(t *testing.T, joined string) {
		groups := strings.Split(joined, "\x00")
		list := make([]any, len(groups))
		for i, g := range groups {
			list[i] = g
		}
		v, ok := HeaderValue(list)
		if !ok {
			return
		}
		checkNaiveSplit(t, groups, v)
	})
}

// FuzzHeaderValue: a rendered value never holds a byte that could end or
// split a header line, and is never empty.
func FuzzHeaderValue(f *testing.F) {
	f.Add("a\r\nb", "c")
	f.Add("x", "y")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, v := range []any{a, []any{a, b}, json.Number(a)} {
			s, ok := HeaderValue(v)
			if !ok {
				continue
			}
			if s == "" || bytes.ContainsAny([]byte(s), "\r\n\x00") {
				t.Fatalf("HeaderValue(%q) = %q", v, s)
			}
		}
	})
}

func TestExplain(t *testing.T) {
	rule := config.Rule{Claim: config.Claim{"groups"}, Required: []config.Requirement{{"kong_group"}, {"admins", "ops"}}}
	tests := []struct {
		claims map[string]any
		want   string
	}{
		{map[string]any{"groups": []any{"kong_group"}}, ""},
		{map[string]any{}, `claim groups is absent; needs one of ["kong_group" "admins ops"]`},
		{map[string]any{"groups": []any{"everyone"}}, `claim groups holds ["everyone"]; needs one of ["kong_group" "admins ops"]`},
		{map[string]any{"groups": map[string]any{}}, `claim groups is a map[string]interface {}, not a string or a list of strings; needs one of ["kong_group" "admins ops"]`},
	}
	for _, tt := range tests {
		if got := Explain(tt.claims, rule); got != tt.want {
			t.Errorf("Explain(%v) = %q, want %q", tt.claims, got, tt.want)
		}
	}
}
