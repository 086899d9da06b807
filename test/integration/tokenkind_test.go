package integration

import (
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

// On a route without audience_required, alice's ID token (same issuer, same
// keys, groups holding kong_group, and no nonce) must not pass as an API
// credential; her access token does.
func TestIDTokenIsNotABearerCredential(t *testing.T) {
	// Another app of the same issuer, not using a nonce (it is optional in
	// the code flow).
	access, id := codeFlowTokens(t, idp.Alice, false)
	resp, body := get(t, "/anyaud/anything", bearer(id))
	mustStatus(t, resp, body, 401)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	resp, body = get(t, "/anyaud/anything", bearer(access))
	mustStatus(t, resp, body, 200)
}
