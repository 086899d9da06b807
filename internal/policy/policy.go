// Package policy decides whether a token's claims satisfy a route's
// groups_required and scopes_required rules, and renders claims as upstream
// header values. Matching is exact and case-sensitive, and a claim of the
// wrong shape never matches.
package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

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
	have, ok := Values(v)
	if !ok {
		return false
	}
	for _, req := range r.Required {
		all := true
		for _, word := range req {
			if !slices.Contains(have, word) {
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

// HeaderValue renders a claim as an upstream header value: strings as they
// are, lists of strings joined with ", ", numbers and booleans as JSON.
// Objects, null, mixed lists and values holding control characters (which
// could split a header) are not rendered.
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
		list, ok := Values(t)
		if !ok {
			return "", false
		}
		s = strings.Join(list, ", ")
	default:
		return "", false
	}
	if s == "" || len(s) > 4096 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return "", false
		}
	}
	return s, true
}

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
