package integration

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

// userTokens runs the authorization code flow for user directly against the
// provider, as another app of the same issuer might (no nonce: it is
// optional for the code flow), and returns the access token and the ID
// token.
func userTokens(t *testing.T, user string) (access, id string) {
	t.Helper()
	redirect := env.gateway + "/web/callback"
	c := browserClient(t)
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	verifier := strings.Repeat("w", 43)
	u := env.issuer + "/v1/authorize?" + url.Values{
		"client_id": {idp.WebClientID}, "response_type": {"code"}, "scope": {"openid profile email groups"},
		"redirect_uri": {redirect}, "state": {"t-" + user},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
	}.Encode()
	resp, body := do(t, c, "GET", u, browserHeaders())
	resp, _ = signIn(t, c, resp, body, user)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code in %s (%s)", resp.Header.Get("Location"), resp.Status)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	req, _ := http.NewRequest("POST", env.issuer+"/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(idp.WebClientID, idp.WebClientSecret)
	tr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.NewDecoder(tr.Body).Decode(&out); err != nil || out.AccessToken == "" || out.IDToken == "" {
		t.Fatalf("code exchange: %s %v", tr.Status, err)
	}
	return out.AccessToken, out.IDToken
}

// On a route without audience_required, alice's ID token (same issuer, same
// keys, groups holding kong_group, and no nonce) must not pass as an API
// credential; her access token does.
func TestIDTokenIsNotABearerCredential(t *testing.T) {
	access, id := userTokens(t, idp.Alice)
	resp, body := get(t, "/anyaud/anything", bearer(id))
	mustStatus(t, resp, body, 401)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	resp, body = get(t, "/anyaud/anything", bearer(access))
	mustStatus(t, resp, body, 200)
}
