package config

import (
	"strings"
	"testing"
)

const goodYAML = `
_format_version: "3.0"
services:
- name: api
  url: http://127.0.0.1:9402
  routes:
  - name: api
    paths: [/api]
    plugins:
    - name: okta-oidc
      config:
        issuer: http://127.0.0.1:9400/oauth2/default
        auth_methods: [bearer]
        audience_required: [api://default]
        groups_required: [kong_group]
        leeway: 10
- name: other
  url: http://127.0.0.1:9402
  plugins:
  - name: key-auth
    config: {anything: goes}
plugins:
- name: okta-oidc
  config:
    issuer: https://dev-1.okta.com/oauth2/default
    auth_methods: [bearer]
`

func TestValidateDeclarativeGood(t *testing.T) {
	res, err := ValidateDeclarative([]byte(goodYAML), "okta-oidc")
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 2 || len(res.Problems) != 0 {
		t.Fatalf("entries=%d problems=%q, want 2 entries and none", res.Entries, res.Problems)
	}
}

func TestValidateDeclarativeBad(t *testing.T) {
	tests := []struct {
		name, from, to, want string
	}{
		{"unknown field", "leeway: 10", "leway: 10", "services[0] (service api).routes[0] (route api).plugins[0]: config.leway: unknown field"},
		{"wrong type", "leeway: 10", "leeway: ten", "config.leeway: expected an integer"},
		{"wrong element type", "groups_required: [kong_group]", "groups_required: [1]", "config.groups_required: [1]: expected a string"},
		{"bool as string", "leeway: 10", "hide_credentials: yes-please", "config.hide_credentials: expected a boolean"},
		{"semantic", "auth_methods: [bearer]\n        audience", "auth_methods: [bearer, magic]\n        audience", `config.auth_methods: "magic"`},
		{"missing issuer global", "    issuer: https://dev-1.okta.com/oauth2/default\n", "", "plugins[0]: config.issuer: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(goodYAML, tt.from, tt.to, 1)
			if y == goodYAML {
				t.Fatal("test edit did not apply")
			}
			res, err := ValidateDeclarative([]byte(y), "okta-oidc")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range res.Problems {
				if strings.Contains(p, tt.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("problems %q lack %q", res.Problems, tt.want)
			}
		})
	}
}

func TestValidateDeclarativeBadYAML(t *testing.T) {
	if _, err := ValidateDeclarative([]byte("services: [\n"), "okta-oidc"); err == nil {
		t.Fatal("broken YAML accepted")
	}
}

func TestSchemaKeysCoverContract(t *testing.T) {
	// The fixed key names of the design's config contract.
	contract := []string{"issuer", "audience_required", "client_id", "client_secret", "auth_methods", "scopes",
		"redirect_uri", "groups_claim", "groups_required", "scopes_claim", "scopes_required", "signing_algs",
		"leeway", "unauthenticated_action", "bearer_token_param_type", "upstream_headers", "hide_credentials",
		"run_on_preflight", "session_secret", "session_cookie_name", "logout_path", "ssl_verify", "timeout"}
	have := map[string]bool{}
	for _, k := range Keys() {
		have[k] = true
		if strings.Contains(k, ",") || strings.HasPrefix(k, "__") || k == "route_id" || k == "service_id" {
			t.Errorf("key %q would break Kong's schema or collide with injected keys", k)
		}
	}
	for _, k := range contract {
		if !have[k] {
			t.Errorf("contract key %q missing from the schema", k)
		}
	}
}

func TestNearest(t *testing.T) {
	keys := Keys()
	tests := []struct{ word, want string }{
		{"leway", "leeway"},
		{"groups_requried", "groups_required"},
		{"audience", ""}, // too far from audience_required: no guess
		{"issuer", "issuer"},
		{"x", ""},
		{"redirect_url", "redirect_uri"},
	}
	for _, tt := range tests {
		if got := Nearest(tt.word, keys); got != tt.want {
			t.Errorf("Nearest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
	for _, n := range []string{"okta_oidc", "okta-odic", "Okta-OIDC", "okta-oid"} {
		if Nearest(n, []string{"okta-oidc"}) == "" {
			t.Errorf("%q not taken for okta-oidc", n)
		}
	}
	for _, n := range []string{"key-auth", "openid-connect", "oidc", "acl"} {
		if got := Nearest(n, []string{"okta-oidc"}); got != "" {
			t.Errorf("%q taken for %q", n, got)
		}
	}
}

func TestValidateDeclarativeNoEntryOrTypo(t *testing.T) {
	for _, name := range []string{"okta_oidc", "okta-odic", "key-auth"} {
		res, err := ValidateDeclarative([]byte(strings.ReplaceAll(goodYAML, "name: okta-oidc", "name: "+name)), "okta-oidc")
		if err != nil {
			t.Fatal(err)
		}
		if res.Entries != 0 || len(res.Problems) == 0 || !strings.Contains(strings.Join(res.Problems, "\n"), "no okta-oidc plugin entry") {
			t.Fatalf("%s: entries %d problems %q", name, res.Entries, res.Problems)
		}
		typo := strings.Contains(strings.Join(res.Problems, "\n"), "did you mean okta-oidc?")
		if typo != (name != "key-auth") {
			t.Errorf("%s: did-you-mean %v in %q", name, typo, res.Problems)
		}
	}
}
