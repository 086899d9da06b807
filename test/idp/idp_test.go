package idp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testRedirectURI   = "http://127.0.0.1:1/web/callback" // never contacted: redirects stop there
	testPostLogoutURI = "http://127.0.0.1:1/bye"
	testShortTTL      = 2 * time.Second
	testAccessTTL     = 300 * time.Second
)

var srv *Server

func TestMain(m *testing.M) {
	var stderr io.Writer
	if os.Getenv("IDP_TEST_VERBOSE") != "" {
		stderr = os.Stderr
	}
	s, err := Start(context.Background(), Options{
		RedirectURIs:           []string{testRedirectURI},
		PostLogoutRedirectURIs: []string{testPostLogoutURI},
		ShortTTL:               testShortTTL,
		AccessTokenTTL:         testAccessTTL,
		Stderr:                 stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test IdP:", err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test IdP:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// ---------------------------------------------------------------------------------------------

func TestDiscovery(t *testing.T) {
	wantIssuer := srv.URL + IssuerPath
	if srv.Issuer != wantIssuer {
		t.Fatalf("Issuer = %q, want %q", srv.Issuer, wantIssuer)
	}
	for _, doc := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		t.Run(doc, func(t *testing.T) {
			var d map[string]any
			getJSONT(t, srv.Issuer+doc, &d)
			want := map[string]string{
				"issuer":                 srv.Issuer,
				"authorization_endpoint": srv.Issuer + "/v1/authorize",
				"token_endpoint":         srv.Issuer + "/v1/token",
				"jwks_uri":               srv.Issuer + "/v1/keys",
				"userinfo_endpoint":      srv.Issuer + "/v1/userinfo",
				"introspection_endpoint": srv.Issuer + "/v1/introspect",
				"revocation_endpoint":    srv.Issuer + "/v1/revoke",
				"end_session_endpoint":   srv.Issuer + "/v1/logout",
			}
			for k, v := range want {
				if d[k] != v {
					t.Errorf("%s = %v, want %q", k, d[k], v)
				}
			}
			if got := strs(d["code_challenge_methods_supported"]); !slices.Equal(got, []string{"S256"}) {
				t.Errorf("code_challenge_methods_supported = %v", got)
			}
			if got := strs(d["grant_types_supported"]); !slices.Contains(got, "client_credentials") || !slices.Contains(got, "refresh_token") {
				t.Errorf("grant_types_supported = %v", got)
			}
			if got := strs(d["scopes_supported"]); !slices.Contains(got, "groups") || !slices.Contains(got, ScopeRead) {
				t.Errorf("scopes_supported = %v", got)
			}
		})
	}
	// Nothing is served outside the issuer path.
	resp, err := http.Get(srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("discovery at the host root: %s, want 404", resp.Status)
	}
}

func TestClientCredentialsJWT(t *testing.T) {
	tok, err := srv.ClientCredentialsToken(t.Context(), M2MClientID, M2MClientSecret, ScopeRead+" "+ScopeWrite, "")
	if err != nil {
		t.Fatal(err)
	}
	header, claims := verifyJWT(t, tok)
	if header["alg"] != "RS256" {
		t.Errorf("alg = %v", header["alg"])
	}
	if claims["iss"] != srv.Issuer {
		t.Errorf("iss = %v, want %s", claims["iss"], srv.Issuer)
	}
	if claims["aud"] != DefaultAudience {
		t.Errorf("aud = %v, want %s", claims["aud"], DefaultAudience)
	}
	if got := strs(claims["scp"]); !slices.Equal(got, []string{ScopeRead, ScopeWrite}) {
		t.Errorf("scp = %#v, want [kong.read kong.write]", claims["scp"])
	}
	if _, ok := claims["scope"]; ok {
		t.Errorf("scope claim present (Okta uses scp only): %v", claims["scope"])
	}
	if claims["cid"] != M2MClientID || claims["sub"] != M2MClientID {
		t.Errorf("cid = %v, sub = %v, want %s", claims["cid"], claims["sub"], M2MClientID)
	}
	if claims["ver"] != 1.0 {
		t.Errorf("ver = %v", claims["ver"])
	}
	if _, ok := claims["uid"]; ok {
		t.Errorf("uid in a client_credentials token: %v", claims["uid"])
	}
	exp, iat := num(t, claims, "exp"), num(t, claims, "iat")
	if now := time.Now().Unix(); exp <= now || iat > now+5 {
		t.Errorf("exp %d / iat %d vs now %d", exp, iat, now)
	}
	if exp-iat != int64(DefaultAccessTokenTTL/time.Second) {
		t.Errorf("exp-iat = %d, want %d", exp-iat, int64(DefaultAccessTokenTTL/time.Second))
	}

	// A scope the client isn't allowed is refused.
	if _, err := srv.ClientCredentialsToken(t.Context(), M2MClientID, M2MClientSecret, "openid", ""); err == nil || !contains(err, "invalid_scope") {
		t.Errorf("scope=openid: err = %v, want invalid_scope", err)
	}
}

func TestOtherAudience(t *testing.T) {
	tok, err := srv.ClientCredentialsToken(t.Context(), M2MClientID, M2MClientSecret, ScopeRead, OtherAudience)
	if err != nil {
		t.Fatal(err)
	}
	_, claims := verifyJWT(t, tok)
	if claims["aud"] != OtherAudience {
		t.Errorf("aud = %v, want %s", claims["aud"], OtherAudience)
	}
	if got := strs(claims["scp"]); !slices.Equal(got, []string{ScopeRead}) {
		t.Errorf("scp = %v", got)
	}
	if _, err := srv.ClientCredentialsToken(t.Context(), M2MClientID, M2MClientSecret, ScopeRead, "api://unknown"); err == nil || !contains(err, "invalid_target") {
		t.Errorf("unknown resource: err = %v, want invalid_target", err)
	}
}

func TestWrongSecret(t *testing.T) {
	tok, err := srv.ClientCredentialsToken(t.Context(), M2MClientID, "wrong", ScopeRead, "")
	if err == nil || !contains(err, "401") || !contains(err, "invalid_client") {
		t.Fatalf("token %q, err %v; want 401 invalid_client", tok, err)
	}
	if _, err := srv.ClientCredentialsToken(t.Context(), "nobody", "x", "", ""); err == nil || !contains(err, "invalid_client") {
		t.Errorf("unknown client: err = %v", err)
	}
}

func TestShortTTL(t *testing.T) {
	t.Parallel()
	tok, err := srv.ClientCredentialsToken(t.Context(), M2MShortClientID, M2MShortClientSecret, ScopeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	_, claims := verifyJWT(t, tok)
	if d := num(t, claims, "exp") - num(t, claims, "iat"); d != int64(testShortTTL/time.Second) {
		t.Fatalf("exp-iat = %d, want %d", d, int64(testShortTTL/time.Second))
	}
	if claims["cid"] != M2MShortClientID {
		t.Errorf("cid = %v", claims["cid"])
	}
	exp := num(t, claims, "exp")
	// On a very busy machine the token may already be past exp: only then is inactive right.
	if r := introspect(t, IntrospectClientID, IntrospectClientSecret, tok); r.status != 200 ||
		(r.body["active"] != true && time.Now().Unix() < exp) {
		t.Fatalf("fresh short token: %d %v", r.status, r.body)
	}
	time.Sleep(time.Until(time.Unix(exp+1, 0)))
	if r := introspect(t, IntrospectClientID, IntrospectClientSecret, tok); r.status != 200 || r.body["active"] != false {
		t.Fatalf("expired short token: %d %v, want active false", r.status, r.body)
	}
}

func TestIntrospection(t *testing.T) {
	tok, err := srv.ClientCredentialsToken(t.Context(), M2MClientID, M2MClientSecret, ScopeRead+" "+ScopeWrite, "")
	if err != nil {
		t.Fatal(err)
	}
	r := introspect(t, IntrospectClientID, IntrospectClientSecret, tok)
	if r.status != 200 || r.body["active"] != true {
		t.Fatalf("valid token: %d %v", r.status, r.body)
	}
	for k, v := range map[string]any{
		"client_id": M2MClientID, "scope": "kong.read kong.write", "aud": DefaultAudience,
		"iss": srv.Issuer, "token_type": "Bearer", "sub": M2MClientID,
	} {
		if r.body[k] != v {
			t.Errorf("introspection %s = %v, want %v", k, r.body[k], v)
		}
	}

	// Flip one character in the middle of the signature.
	i := strings.LastIndexByte(tok, '.') + 40
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	tampered := tok[:i] + string(c) + tok[i+1:]
	if r := introspect(t, IntrospectClientID, IntrospectClientSecret, tampered); r.status != 200 || r.body["active"] != false || len(r.body) != 1 {
		t.Errorf("tampered token: %d %v, want {active:false}", r.status, r.body)
	}
	// A token from a different key (a forged one) is not active either.
	if r := introspect(t, IntrospectClientID, IntrospectClientSecret, forgeJWT(t, tok)); r.body["active"] != false {
		t.Errorf("forged token: %v", r.body)
	}
	if r := introspect(t, IntrospectClientID, "wrong", tok); r.status != 401 || r.body["error"] != "invalid_client" {
		t.Errorf("wrong introspection secret: %d %v, want 401 invalid_client", r.status, r.body)
	}

	// Revoking the JWT (shim) makes it inactive.
	resp := postForm(t, srv.Issuer+"/v1/revoke", M2MClientID, M2MClientSecret, url.Values{"token": {tok}})
	if resp.status != 200 {
		t.Fatalf("revoke: %d %s", resp.status, resp.raw)
	}
	if r := introspect(t, IntrospectClientID, IntrospectClientSecret, tok); r.body["active"] != false {
		t.Errorf("revoked token: %v", r.body)
	}

	// Opaque tokens (resource=urn:opaque) go to the provider's own introspection.
	opaque, err := srv.ClientCredentialsToken(t.Context(), M2MClientID, M2MClientSecret, ScopeRead, OpaqueResource)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(opaque, ".") == 2 {
		t.Fatalf("urn:opaque gave a JWT")
	}
	if r := introspect(t, IntrospectClientID, IntrospectClientSecret, opaque); r.body["active"] != true || r.body["client_id"] != M2MClientID {
		t.Errorf("opaque token: %v", r.body)
	}
}

// ---------------------------------------------------------------------------------------------
// Browser-less authorization code + PKCE login.

type loginResult struct {
	client *http.Client
	tokens map[string]any
	form   url.Values // the code exchange request
}

func newBrowser(t *testing.T) *http.Client { return newBrowserFor(t, srv) }

// newBrowserFor returns a client with a cookie jar that follows redirects within s and stops
// at the first redirect elsewhere (the relying party).
func newBrowserFor(t *testing.T, s *Server) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), s.URL+"/") {
				return http.ErrUseLastResponse // the relying party: stop here
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
}

type authRequest struct {
	state, nonce, verifier string
	url                    string
}

func newAuthRequest(scope string) authRequest { return newAuthRequestFor(srv, scope) }

func newAuthRequestFor(s *Server, scope string) authRequest {
	a := authRequest{state: randString(), nonce: randString(), verifier: randString() + randString()}
	sum := sha256.Sum256([]byte(a.verifier))
	q := url.Values{
		"client_id":             {WebClientID},
		"response_type":         {"code"},
		"scope":                 {scope},
		"redirect_uri":          {testRedirectURI},
		"state":                 {a.state},
		"nonce":                 {a.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	a.url = s.Issuer + "/v1/authorize?" + q.Encode()
	return a
}

var formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)

// startLogin GETs the authorize URL and returns the login form's URL.
func startLogin(t *testing.T, c *http.Client, a authRequest) string {
	t.Helper()
	resp, err := c.Get(a.url)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(resp.Request.URL.Path, IssuerPath+"/interaction/") {
		t.Fatalf("authorize: %s at %s\n%s", resp.Status, resp.Request.URL, body)
	}
	if !strings.Contains(body, `name="login"`) || !strings.Contains(body, `name="password"`) {
		t.Fatalf("no login form:\n%s", body)
	}
	m := formAction.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form action:\n%s", body)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return action.String()
}

// login runs the whole flow and returns the token response.
func login(t *testing.T, user, scope string) loginResult {
	t.Helper()
	c := newBrowser(t)
	a := newAuthRequest(scope)
	action := startLogin(t, c, a)

	resp, err := c.PostForm(action, url.Values{"prompt": {"login"}, "login": {user}, "password": {Password}})
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("after login: %s at %s (no redirect to the client)\n%s", resp.Status, resp.Request.URL, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirectURI {
		t.Fatalf("redirected to %s, want %s", loc, testRedirectURI)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization error: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != a.state {
		t.Errorf("state = %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("iss") != srv.Issuer {
		t.Errorf("iss = %q, want %q", q.Get("iss"), srv.Issuer)
	}
	code := q.Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}

	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {testRedirectURI},
		"code_verifier": {a.verifier},
	}
	tr := postForm(t, srv.Issuer+"/v1/token", WebClientID, WebClientSecret, form)
	if tr.status != 200 {
		t.Fatalf("code exchange: %d %s", tr.status, tr.raw)
	}

	_, idClaims := verifyJWT(t, str(t, tr.body, "id_token"))
	if idClaims["nonce"] != a.nonce {
		t.Errorf("nonce = %v, want %s", idClaims["nonce"], a.nonce)
	}
	return loginResult{client: c, tokens: tr.body, form: form}
}

func TestAuthCodeLogin(t *testing.T) {
	res := login(t, Alice, "openid profile email groups offline_access")
	tr := res.tokens

	_, id := verifyJWT(t, str(t, tr, "id_token"))
	for k, v := range map[string]any{
		"iss": srv.Issuer, "aud": WebClientID, "sub": Alice, "email": AliceEmail,
		"name": AliceName, "preferred_username": Alice,
	} {
		if id[k] != v {
			t.Errorf("id_token %s = %v, want %v", k, id[k], v)
		}
	}
	if got := strs(id["groups"]); !slices.Equal(got, []string{GroupKong, GroupEveryone}) {
		t.Errorf("id_token groups = %#v, want [kong_group everyone]", id["groups"])
	}

	rt, _ := tr["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh_token in %v", keys(tr))
	}
	if tr["token_type"] != "Bearer" || tr["expires_in"] != float64(testAccessTTL/time.Second) {
		t.Errorf("token_type %v, expires_in %v (want Bearer, %d)", tr["token_type"], tr["expires_in"], int(testAccessTTL/time.Second))
	}

	at := str(t, tr, "access_token")
	_, ac := verifyJWT(t, at)
	for k, v := range map[string]any{"aud": DefaultAudience, "iss": srv.Issuer, "cid": WebClientID, "uid": Alice, "sub": Alice} {
		if ac[k] != v {
			t.Errorf("access_token %s = %v, want %v", k, ac[k], v)
		}
	}
	if got := strs(ac["groups"]); !slices.Equal(got, []string{GroupKong, GroupEveryone}) {
		t.Errorf("access_token groups = %v", got)
	}
	if got := strs(ac["scp"]); !slices.Contains(got, "openid") || !slices.Contains(got, "groups") {
		t.Errorf("access_token scp = %v", got)
	}
	if d := num(t, ac, "exp") - num(t, ac, "iat"); d != int64(testAccessTTL/time.Second) {
		t.Errorf("access token lifetime %d, want %d (ACCESS_TOKEN_TTL)", d, int64(testAccessTTL/time.Second))
	}

	// Userinfo accepts the JWT access token (as Okta does).
	var ui map[string]any
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.Issuer+"/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	doJSON(t, req, 200, &ui)
	if ui["sub"] != Alice || ui["email"] != AliceEmail || !slices.Equal(strs(ui["groups"]), []string{GroupKong, GroupEveryone}) {
		t.Errorf("userinfo = %v", ui)
	}

	// Introspection of a user token reports the user.
	if r := introspect(t, IntrospectClientID, IntrospectClientSecret, at); r.body["active"] != true || r.body["username"] != Alice || r.body["uid"] != Alice {
		t.Errorf("introspect user token: %v", r.body)
	}

	// The refresh token works and yields a new access token.
	rr := postForm(t, srv.Issuer+"/v1/token", WebClientID, WebClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if rr.status != 200 {
		t.Fatalf("refresh: %d %s", rr.status, rr.raw)
	}
	if at2 := str(t, rr.body, "access_token"); at2 == at {
		t.Error("refresh returned the same access token")
	} else if _, c2 := verifyJWT(t, at2); c2["uid"] != Alice || c2["aud"] != DefaultAudience {
		t.Errorf("refreshed access token claims: %v", c2)
	}

	// A second authorize in the same "browser" skips the login (session cookie op_session).
	u, _ := url.Parse(srv.URL)
	var names []string
	for _, c := range res.client.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	if !slices.Contains(names, "op_session") || slices.Contains(names, "_session") {
		t.Errorf("cookies = %v, want op_session", names)
	}
	resp, err := res.client.Get(newAuthRequest("openid").url)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, testRedirectURI+"?code=") {
		t.Errorf("second authorize: %s Location %q, want a code without login", resp.Status, loc)
	}

	// RP-initiated logout is confirmed without a page and redirects to post_logout_redirect_uri.
	q := url.Values{"id_token_hint": {str(t, tr, "id_token")}, "post_logout_redirect_uri": {testPostLogoutURI}, "state": {"bye"}}
	resp, err = res.client.Get(srv.Issuer + "/v1/logout?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != testPostLogoutURI+"?state=bye" {
		t.Fatalf("logout: %s Location %q\n%s", resp.Status, loc, body)
	}
	// The session is gone: authorize asks for a login again.
	startLogin(t, res.client, newAuthRequest("openid"))
}

func TestAuthCodeLoginBob(t *testing.T) {
	res := login(t, Bob, "openid groups")
	_, id := verifyJWT(t, str(t, res.tokens, "id_token"))
	if id["sub"] != Bob || !slices.Equal(strs(id["groups"]), []string{GroupEveryone}) {
		t.Errorf("bob id_token sub %v groups %v", id["sub"], id["groups"])
	}
	if _, ok := id["email"]; ok {
		t.Errorf("email released without the email scope: %v", id)
	}

	// The code is single-use (and replaying it revokes the grant, so the refresh token dies too).
	again := postForm(t, srv.Issuer+"/v1/token", WebClientID, WebClientSecret, res.form)
	if again.status != 400 || again.body["error"] != "invalid_grant" {
		t.Errorf("code replay: %d %v, want invalid_grant", again.status, again.body)
	}
	rr := postForm(t, srv.Issuer+"/v1/token", WebClientID, WebClientSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(t, res.tokens, "refresh_token")}})
	if rr.status != 400 || rr.body["error"] != "invalid_grant" {
		t.Errorf("refresh after code replay: %d %v, want invalid_grant", rr.status, rr.body)
	}
}

func TestWrongPassword(t *testing.T) {
	for _, tc := range []struct{ user, password string }{
		{Alice, "wrong"},
		{Alice, ""},
		{"mallory", Password},
	} {
		t.Run(tc.user+"/"+tc.password, func(t *testing.T) {
			c := newBrowser(t)
			action := startLogin(t, c, newAuthRequest("openid"))
			resp, err := c.PostForm(action, url.Values{"prompt": {"login"}, "login": {tc.user}, "password": {tc.password}})
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `id="error"`) {
				t.Fatalf("%s, Location %q\n%s", resp.Status, resp.Header.Get("Location"), body)
			}
			// The interaction is still usable: the right password now succeeds.
			if tc.user == Alice {
				resp, err := c.PostForm(action, url.Values{"prompt": {"login"}, "login": {Alice}, "password": {Password}})
				if err != nil {
					t.Fatal(err)
				}
				readAll(t, resp)
				if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, testRedirectURI+"?code=") {
					t.Errorf("retry: %s Location %q", resp.Status, loc)
				}
			}
		})
	}
}

func TestPKCERequired(t *testing.T) {
	c := newBrowser(t)
	u := strings.Replace(newAuthRequest("openid").url, "code_challenge=", "x_code_challenge=", 1)
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("authorize without code_challenge: %s Location %q, want error=invalid_request", resp.Status, resp.Header.Get("Location"))
	}
}

// A second provider with SKIP_CONSENT=0 and FIXED_PASSWORD= (any password) shows the consent
// page after the login, and its tokens don't verify against the first provider's keys.
func TestConsentAndSecondInstance(t *testing.T) {
	t.Parallel()
	s2, err := Start(t.Context(), Options{
		RedirectURIs: []string{testRedirectURI},
		Env:          []string{"SKIP_CONSENT=0", "FIXED_PASSWORD="},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s2.Stop(); err != nil {
			t.Error(err)
		}
	}()
	if s2.Port == srv.Port || s2.Issuer == srv.Issuer {
		t.Fatalf("second instance on the same port: %s", s2.Issuer)
	}

	c := newBrowserFor(t, s2)
	resp, err := c.Get(newAuthRequestFor(s2, "openid groups").url)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	m := formAction.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login form: %s\n%s", resp.Status, body)
	}
	action, _ := resp.Request.URL.Parse(html.UnescapeString(m[1]))
	resp, err = c.PostForm(action.String(), url.Values{"prompt": {"login"}, "login": {Bob}, "password": {"anything"}})
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="prompt" value="consent"`) {
		t.Fatalf("after login with SKIP_CONSENT=0: %s at %s, Location %q, want the consent page\n%s",
			resp.Status, resp.Request.URL, resp.Header.Get("Location"), body)
	}
	resp, err = c.PostForm(resp.Request.URL.String(), url.Values{"prompt": {"consent"}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, testRedirectURI+"?code=") {
		t.Fatalf("after consent: %s Location %q", resp.Status, loc)
	}

	tok, err := s2.ClientCredentialsToken(t.Context(), M2MClientID, M2MClientSecret, ScopeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := introspect(t, IntrospectClientID, IntrospectClientSecret, tok); r.body["active"] != false {
		t.Errorf("the first IdP says a token of the second is %v", r.body)
	}
}

// ---------------------------------------------------------------------------------------------
// helpers

type jsonResp struct {
	status int
	body   map[string]any
	raw    string
}

func postForm(t *testing.T, u, id, secret string, form url.Values) jsonResp {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := readAll(t, resp)
	r := jsonResp{status: resp.StatusCode, raw: raw}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &r.body); err != nil {
			t.Fatalf("POST %s: %s: not JSON: %q", u, resp.Status, raw)
		}
	}
	return r
}

func introspect(t *testing.T, id, secret, token string) jsonResp {
	t.Helper()
	return postForm(t, srv.Issuer+"/v1/introspect", id, secret, url.Values{"token": {token}, "token_type_hint": {"access_token"}})
}

func getJSONT(t *testing.T, u string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	doJSON(t, req, 200, v)
}

func doJSON(t *testing.T, req *http.Request, want int, v any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", req.Method, req.URL, resp.Status, want, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%s %s: %v: %q", req.Method, req.URL, err, body)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// verifyJWT checks an RS256 JWT against the server's /v1/keys and returns header and claims.
func verifyJWT(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	decode := func(i int, v any) {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("JWT part %d: %v", i, err)
			}
		}
	}
	decode(0, &header)
	decode(1, &claims)
	if header["alg"] != "RS256" {
		t.Fatalf("alg = %v, want RS256", header["alg"])
	}
	kid, _ := header["kid"].(string)
	if kid == "" {
		t.Fatalf("no kid in header %v", header)
	}
	var jwks struct {
		Keys []struct {
			Kty, Kid, Alg, Use, N, E string
		} `json:"keys"`
	}
	getJSONT(t, srv.Issuer+"/v1/keys", &jwks)
	var pub *rsa.PublicKey
	for _, k := range jwks.Keys {
		if k.Kid != kid {
			continue
		}
		if k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" {
			t.Fatalf("key %s: kty %s alg %s use %s", kid, k.Kty, k.Alg, k.Use)
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	if pub == nil {
		t.Fatalf("kid %q not in /v1/keys", kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("JWT signature: %v", err)
	}
	return header, claims
}

// forgeJWT re-signs token's header and claims with a fresh key, keeping the kid.
func forgeJWT(t *testing.T, token string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func strs(v any) []string {
	arr, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, ok := x.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

func str(t *testing.T, m map[string]any, k string) string {
	t.Helper()
	s, ok := m[k].(string)
	if !ok || s == "" {
		t.Fatalf("%s missing in %v", k, m)
	}
	return s
}

func num(t *testing.T, m map[string]any, k string) int64 {
	t.Helper()
	f, ok := m[k].(float64)
	if !ok {
		t.Fatalf("%s missing or not a number in %v", k, m)
	}
	return int64(f)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func contains(err error, s string) bool { return strings.Contains(err.Error(), s) }

func randString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
