// Package policy decides whether a token's claims satisfy a route's
// groups_required and scopes_required rules, and renders claims as upstream
// header values. Matching is exact and case-sensitive, and a claim of the
// wrong shape never matches.
package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/okta-oidc/okta-oidc/internal/config"
)

// Lookup walks path through nested objects of claims.
func Lookup(claims map[string]any, path []string) (any, bool) {
	if len(path) == 0 {
		return nil, false
	}
	var cur any = claims
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Values returns a claim as a list of strings: a JSON array of strings, a
// space-separated string, or a single string. Anything else (numbers,
// objects, null, arrays holding anything but strings) is not a list.
func Values(v any) ([]string, bool) {
	switch t := v.(type) {
	case string:
		return strings.Fields(t), true
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// Holds reports whether claims satisfy r: some entry of r.Required has all
// its words in the claim. A rule without entries always holds.
func Holds(claims map[string]any, r config.Rule) bool {
	if len(r.Required) == 0 {
		return true
	}
	v, ok := Lookup(claims, r.Claim)
	if !ok {
		return false
	}
	if !isList(v) {
		return false
	}
	for _, req := range r.Required {
		all := true
		for _, word := range req {
			if !contains(v, word) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// isList reports whether Values would accept v, without building the list:
// Holds runs on every request.
func isList(v any) bool {
	switch t := v.(type) {
	case string:
		return true
	case []any:
		for _, e := range t {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// contains reports whether the list Values makes of v (v passed isList)
// holds word.
func contains(v any, word string) bool {
	switch t := v.(type) {
	case string:
		if word == "" || !strings.Contains(t, word) {
			return false // fast path: no field can equal a missing substring
		}
		for f := range strings.FieldsSeq(t) {
			if f == word {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if e.(string) == word {
				return true
			}
		}
	}
	return false
}

// HeaderValue renders a claim as an upstream header value: strings as they
// are, lists of strings joined with ", " (each element encoded by
// ListElement), numbers and booleans as JSON. Objects, null, mixed lists and
// values holding control characters (which could split a header) are not
// rendered.
func HeaderValue(v any) (string, bool) {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case json.Number:
		s = t.String()
	case bool:
		if t {
			s = "true"
		} else {
			s = "false"
		}
	case []any:
		if !isList(t) {
			return "", false
		}
		var b strings.Builder
		n := 2 * len(t)
		for _, e := range t {
			n += len(e.(string))
		}
		b.Grow(n)
		for i, e := range t {
			e := e.(string)
			if hasControl(e) {
				return "", false
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ListElement(e))
		}
		s = b.String()
	default:
		return "", false
	}
	if s == "" || len(s) > 4096 {
		return "", false
	}
	if hasControl(s) {
		return "", false
	}
	return s, true
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// listSpecial are the bytes a list element must not carry raw: the list
// delimiter ",", the quote and backslash of quoted strings (RFC 9110,
// RFC 8941), the parameter delimiter ";" (RFC 8941 items, media-type style
// parsers), and "%" because it starts the encoding itself.
const listSpecial = `,;"\%`

// ListElement encodes one element of a list rendered into a header so that
// no parser of the list can read it as anything but one element with its
// own name: each byte of listSpecial, and the bytes of white space at
// either end (a split-then-trim parser would drop it), is percent-encoded
// (%2C, %3B, %22, %5C, %25, %20, %C2%A0...). Elements without those bytes, nearly every group name, are
// unchanged; percent-decoding each element after splitting on "," gives the
// claim's exact strings back. Control characters are not encoded: the
// caller refuses them.
//
// Why not RFC 8941 quoted strings ("Marketing, kong_admins")? A quoted
// element still holds raw commas, and an upstream that splits on "," and
// trims, the commonest parser, reads "a, kong_admins, b" quoted as three
// pieces, the middle one exactly kong_admins. After this encoding a raw ","
// only ever separates elements, so every parser, naive or not, sees the same
// elements: a group named "Marketing, kong_admins" reaches the upstream as
// "Marketing%2C kong_admins", never as kong_admins.
func ListElement(e string) string {
	lead := len(e) - len(strings.TrimLeftFunc(e, trimmed))
	trail := len(e) - lead - len(strings.TrimRightFunc(e[lead:], trimmed))
	if lead == 0 && trail == 0 && !strings.ContainsAny(e, listSpecial) {
		return e
	}
	var b strings.Builder
	for i := 0; i < len(e); i++ {
		c := e[i]
		if i < lead || i >= len(e)-trail || strings.IndexByte(listSpecial, c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// trimmed reports whether a trim function of a common language may drop r
// at an element's end: Unicode white space (Go, Python, Java's strip) and
// the byte-order mark (JavaScript's trim).
func trimmed(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' }

// Explain says why claims do not satisfy r, for operators' logs: which claim
// path was read, what it held, and what was needed. It returns "" when the
// rule holds.
func Explain(claims map[string]any, r config.Rule) string {
	if Holds(claims, r) {
		return ""
	}
	need := make([]string, len(r.Required))
	for i, req := range r.Required {
		need[i] = strings.Join(req, " ")
	}
	want := fmt.Sprintf("needs one of %q", need)
	v, ok := Lookup(claims, r.Claim)
	if !ok {
		return fmt.Sprintf("claim %s is absent; %s", r.Claim, want)
	}
	have, ok := Values(v)
	if !ok {
		return fmt.Sprintf("claim %s is a %T, not a string or a list of strings; %s", r.Claim, v, want)
	}
	const most = 20
	if len(have) > most {
		have = append(have[:most:most], fmt.Sprintf("... %d more", len(have)-most))
	}
	return fmt.Sprintf("claim %s holds %q; %s", r.Claim, have, want)
}
