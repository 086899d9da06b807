package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

// TestSessionAndLoginStateBoundToClient: two routes share session_secret,
// cookie name and scope but are different Okta apps (or issuers). A session
// or a login state made on one never opens on the other: that would skip the
// IdP's per-app assignment.
func TestSessionAndLoginStateBoundToClient(t *testing.T) {
	a := newEnv(t, nil) // client kong-web
	set := a.login("alice", "kong_group")
	wantPass(t, a.decide(request("GET", "/web/page", cookieHeader(set), nil)))
	state, _, _, loginCookie := a.startLogin("/web/page")

	otherClient := newEnvWith(t, a.iss, a.clock, func(r *config.Raw) { r.ClientID = sp("kong-other") })
	otherIssuer := newEnvWith(t, testissuer.New(t), a.clock, nil)
	for name, b := range map[string]*env{"other client_id": otherClient, "other issuer": otherIssuer} {
		t.Run(name, func(t *testing.T) {
			d := b.decide(request("GET", "/web/page", cookieHeader(set), nil))
			wantStatus(t, d, http.StatusFound) // back to login, not a pass
			h := browser()
			h.Set("Cookie", loginCookie)
			d = b.decide(request("GET", "/web/callback?code=c0de&state="+state+"&iss="+url.QueryEscape(b.iss.URL), h, nil))
			wantStatus(t, d, http.StatusBadRequest)
			if d.Err == nil || !strings.Contains(d.Err.Error(), "login state") {
				t.Fatalf("the login state opened on another client: %v", d.Err)
			}
		})
	}
}
