package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// namesKey reports whether problem (after its location) names a kong.yml
// key: "config.<key>: ...", "config.<unknown>: unknown field", or refuses
// the config block as a whole.
func namesKey(problem string) bool {
	if strings.HasSuffix(problem, "config: expected a record") {
		return true
	}
	if strings.Contains(problem, "config.") && strings.Contains(problem, ": unknown field") {
		return true // names the unknown key as written
	}
	for _, k := range Keys() {
		if strings.Contains(problem, "config."+k+": ") {
			return true
		}
	}
	return false
}

// FuzzValidateDeclarative: no kong.yml panics the validator, and every
// problem it reports names the key it is about.
func FuzzValidateDeclarative(f *testing.F) {
	f.Add(goodYAML)
	f.Add(strings.Replace(goodYAML, "leeway: 10", "leeway: 1e30", 1))
	f.Add(strings.Replace(goodYAML, "leeway: 10", "leeway: 9223372036854775807", 1))
	f.Add(strings.Replace(goodYAML, "leeway: 10", "leeway: .nan", 1))
	f.Add(strings.Replace(goodYAML, "leeway: 10", "session_idling_timeout: 0", 1))
	f.Add(strings.Replace(goodYAML, "leeway: 10", "upstream_headers: {1: 2}", 1))
	f.Add(strings.Replace(goodYAML, "groups_required: [kong_group]", "groups_required: [[a]]", 1))
	f.Add("plugins: [{name: okta-oidc, config: [1]}]")
	f.Add("plugins: [{name: okta-oidc, config: {}}]")
	f.Add("routes: [{plugins: [{name: okta-oidc, config: {issuer: x, timeout: -1}}]}]")
	f.Add("- a")
	f.Add("")
	f.Fuzz(func(t *testing.T, doc string) {
		res, err := ValidateDeclarative([]byte(doc), "okta-oidc")
		if err != nil {
			return
		}
		if res.Entries == 0 {
			// A file without an okta-oidc entry is itself the problem (a
			// CI check must not go green on it), and nothing else is said.
			if len(res.Problems) == 0 {
				t.Fatal("a file without an okta-oidc entry validated")
			}
			for _, p := range res.Problems {
				if !strings.HasPrefix(p, "no okta-oidc plugin entry") && !strings.Contains(p, "(did you mean okta-oidc?)") {
					t.Fatalf("problem of a file without an entry: %q", p)
				}
			}
			return
		}
		for _, p := range res.Problems {
			if !namesKey(p) && !strings.Contains(p, "(did you mean okta-oidc?)") {
				t.Fatalf("problem names no key: %q", p)
			}
		}
	})
}

// FuzzParse: no plugin config (as Kong sends it, JSON) panics Parse, every
// problem starts with a kong.yml key, and a config Parse accepts has
// sessions that end.
func FuzzParse(f *testing.F) {
	f.Add(`{"issuer":"https://dev-1.okta.com/oauth2/default","auth_methods":["bearer"]}`)
	f.Add(`{"issuer":"https://dev-1.okta.com/oauth2/default","client_id":"a","client_secret":"b","redirect_uri":"https://gw/cb","session_secret":"` + strings.Repeat("s", 40) + `"}`)
	f.Add(`{"issuer":"https://x/","session_idling_timeout":0,"session_absolute_timeout":-1,"session_secret":"` + strings.Repeat("s", 40) + `"}`)
	f.Add(`{"issuer":null,"upstream_headers":{"X-A":"a..b"},"groups_required":[" "]}`)
	f.Add(`{"auth_methods":["introspection"],"introspection_rate_limit":0}`)
	f.Add(`{}`)
	keys := map[string]bool{}
	for _, k := range Keys() {
		keys[k] = true
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var raw Raw
		if json.Unmarshal([]byte(doc), &raw) != nil {
			return
		}
		c, err := Parse(&raw)
		if err != nil {
			probs := Problems(err)
			if len(probs) == 0 {
				t.Fatalf("an error without problems: %v", err)
			}
			for _, p := range probs {
				k, _, ok := strings.Cut(p, ": ")
				if !ok || !keys[k] {
					t.Fatalf("problem names no key: %q", p)
				}
			}
			return
		}
		if (c.Has(MethodSession) || c.Has(MethodAuthorizationCode)) && (c.IdleTimeout <= 0 || c.AbsoluteTimeout <= 0) {
			t.Fatalf("accepted immortal sessions: idle %v, absolute %v", c.IdleTimeout, c.AbsoluteTimeout)
		}
	})
}
