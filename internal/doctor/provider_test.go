package doctor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

// TestAgainstTheTestProvider runs the doctor against the real OpenID
// provider standing in for Okta (node-oidc-provider, test/idp), with a
// token it issues by client_credentials: a right config has no error, and
// each wrong one gets its finding.
func TestAgainstTheTestProvider(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := idp.Start(ctx, idp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	const right = `_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9402
  routes:
  - name: api
    paths: [/api]
    plugins:
    - name: okta-oidc
      config:
        issuer: ISSUER
        auth_methods: [bearer]
        audience_required: [api://default]
        scopes_required: [kong.read]
`
	o := Options{ClientID: idp.M2MClientID, ClientSecret: idp.M2MClientSecret, Scope: idp.ScopeRead}
	run := func(y string) []Finding {
		t.Helper()
		fs, err := Run(ctx, []byte(strings.ReplaceAll(y, "ISSUER", p.Issuer)), o)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	if fs := run(right); Failed(fs) {
		t.Fatalf("right config has errors:\n%s", dump(fs))
	}
	tests := []struct {
		name, from, to, check string
		sev                   Severity
	}{
		{"scope instead of scp", "scopes_required: [kong.read]", "scopes_required: [kong.read]\n        scopes_claim: [scope]", "scopes-claim", Error},
		{"wrong audience", "audience_required: [api://default]", "audience_required: [api://other]", "audience", Error},
		{"group check on a client token", "scopes_required: [kong.read]", "scopes_required: [kong.read]\n        groups_required: [kong_group]", "groups-claim", Warn},
		{"scope not granted", "scopes_required: [kong.read]", "scopes_required: [kong.write]", "scopes-missing", Warn},
		{"org authorization server", "issuer: ISSUER", "issuer: " + p.URL, "org-authorization-server", Error},
		{"issuer with trailing slash", "issuer: ISSUER", "issuer: ISSUER/", "discovery-issuer", Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(strings.Replace(right, tt.from, tt.to, 1))
			if !has(fs, tt.check, tt.sev) {
				t.Fatalf("want %s %s:\n%s", tt.sev, tt.check, dump(fs))
			}
		})
	}
	// A wrong client secret.
	o.ClientSecret = "wrong"
	if fs := run(right); !has(fs, "token-request", Error) {
		t.Fatalf("refused client not reported:\n%s", dump(fs))
	}
}
