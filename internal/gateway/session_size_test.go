package gateway

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
)

// oktaLike mints what an Okta org answers at login for a user in n groups:
// access and ID tokens with Okta's claims (random jti, at_hash, ids) and a
// refresh token. Group names mix the shapes orgs use (department-app-role,
// AWS account roles with their random account numbers).
type oktaLike struct {
	rng     *rand.Rand
	groups  []string
	refresh string
}

func newOktaLike(n int) *oktaLike {
	o := &oktaLike{rng: rand.New(rand.NewPCG(uint64(n), 7))}
	depts := []string{"engineering", "finance", "sales-emea", "support", "platform", "security", "marketing", "hr"}
	apps := []string{"kong-gateway", "grafana", "jira", "salesforce", "snowflake", "github"}
	roles := []string{"readers", "writers", "admins", "on-call", "contractors"}
	if n > 0 {
		o.groups = append(o.groups, "kong_group")
	}
	for len(o.groups) < n {
		switch o.rng.IntN(3) {
		case 0:
			o.groups = append(o.groups, fmt.Sprintf("AWS_%012d_%s", o.rng.Int64N(1e12), []string{"ReadOnly", "PowerUser", "Admin"}[o.rng.IntN(3)]))
		default:
			o.groups = append(o.groups, fmt.Sprintf("%s-%s-%s", depts[o.rng.IntN(len(depts))], apps[o.rng.IntN(len(apps))], roles[o.rng.IntN(len(roles))]))
		}
	}
	o.refresh = o.random(32)
	return o
}

func (o *oktaLike) random(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(o.rng.Uint32())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (o *oktaLike) answer(e *env, nonce string) idpAnswer {
	now := e.clock.Now()
	const uid, email = "00u1f9cmxwEOwKbsT5d7", "alice.johnson@example.com"
	at := map[string]any{
		"ver": 1, "jti": "AT." + o.random(32), "iss": e.iss.URL, "aud": "api://default",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "cid": "kong-web", "uid": uid,
		"scp": []string{"openid", "profile", "email", "offline_access", "groups"}, "auth_time": now.Unix(),
		"sub": email, "groups": o.groups,
	}
	id := map[string]any{
		"sub": uid, "name": "Alice Johnson", "email": email, "ver": 1, "iss": e.iss.URL, "aud": "kong-web",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "ID." + o.random(32),
		"amr": []string{"pwd", "mfa", "otp"}, "idp": "00o1f9cmxwEOwKbsT5d7", "nonce": nonce,
		"preferred_username": email, "auth_time": now.Unix(), "at_hash": o.random(16), "groups": o.groups,
	}
	return idpAnswer{idClaims: id, atClaims: at, refresh: o.refresh}
}

// callbackWith runs a login whose IdP answers with o, returning the
// callback's decision and the tokens it handed out.
func (e *env) callbackWith(o *oktaLike) (Decision, idpAnswer) {
	e.t.Helper()
	state, nonce, challenge, cookie := e.startLogin("/web/page")
	a := o.answer(e, nonce)
	e.serveTokens("c0de", challenge, func() idpAnswer { return a })
	h := browser()
	h.Set("Cookie", cookie+"; theme=dark")
	return e.decide(request("GET", "/web/callback?code=c0de&state="+state+"&iss="+url.QueryEscape(e.iss.URL), h, nil)), a
}

// sessionLine is the session's share of the browser's Cookie line: its
// cookies' name=value pairs joined with "; ".
func sessionLine(setCookies []string) string {
	var parts []string
	for _, sc := range setCookies {
		kv, _, _ := strings.Cut(sc, ";")
		if strings.HasPrefix(kv, "okta_session") && !strings.HasPrefix(kv, "okta_session_login_") && !strings.HasSuffix(kv, "=") {
			parts = append(parts, kv)
		}
	}
	return strings.Join(parts, "; ")
}

// TestSessionFitsTheCookieLine: nginx refuses a header line over 8 KiB
// (large_client_header_buffers 4 8k, kept by Kong) and browsers send every
// cookie in one Cookie line. A session for a user in 50 groups (in both
// tokens) with a refresh token and an ID token takes at most 6 KiB of it,
// leaving 2 KiB for the site's other cookies, and it still works.
func TestSessionFitsTheCookieLine(t *testing.T) {
	const budget = 6144
	for _, n := range []int{0, 10, 50} {
		e := newEnv(t, func(r *config.Raw) { r.GroupsRequired = nil })
		o := newOktaLike(n)
		d, a := e.callbackWith(o)
		wantStatus(t, d, http.StatusFound)
		line := sessionLine(d.Header.Values("Set-Cookie"))
		at, id := e.iss.Mint(t, a.atClaims), e.iss.Mint(t, a.idClaims)
		t.Logf("%2d groups: session cookies take %4d bytes of the Cookie line (access token %d, ID token %d, refresh token %d bytes)",
			n, len(line), len(at), len(id), len(a.refresh))
		if n == 50 && len(line) > budget {
			t.Errorf("a 50-group session takes %d bytes of the Cookie line, over %d", len(line), budget)
		}
		h := browser()
		h.Set("Cookie", line+"; theme=dark")
		wantPass(t, e.decide(request("GET", "/web/page", h, nil)))
	}
}

// TestOversizedSessionIsRefusedAndLogged: a session over
// session_cookie_max_size is never written (nginx would refuse every later
// request before the plugin runs): the callback answers a 500 page saying
// the sign-in could not be stored, and Err (which the adapter logs) names
// the size, the budget and nginx's setting, never a token.
func TestOversizedSessionIsRefusedAndLogged(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) {
		r.GroupsRequired = nil
		n := 1024
		r.SessionCookieMaxSize = &n
	})
	d, a := e.callbackWith(newOktaLike(50))
	wantStatus(t, d, http.StatusInternalServerError)
	if d.Reason != ReasonSessionTooLarge || !strings.Contains(string(d.Body), "could not be stored") ||
		!strings.HasPrefix(d.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("reason %s, body %s", d.Reason, d.Body)
	}
	if line := sessionLine(d.Header.Values("Set-Cookie")); line != "" {
		t.Fatalf("an oversized session was written: %.80s", line)
	}
	if d.Err == nil {
		t.Fatal("no cause for the log")
	}
	msg := d.Err.Error()
	for _, want := range []string{"session_cookie_max_size (1024)", "bytes", "large_client_header_buffers", "KONG_NGINX_PROXY_LARGE_CLIENT_HEADER_BUFFERS"} {
		if !strings.Contains(msg, want) {
			t.Errorf("log line %q lacks %q", msg, want)
		}
	}
	for _, secret := range []string{a.refresh, a.atClaims["jti"].(string), a.idClaims["jti"].(string)} {
		if strings.Contains(msg, secret) {
			t.Fatalf("log line holds a token: %s", msg)
		}
	}
}

// TestRefreshedSessionTooLargeIsRefused: a session that outgrows the budget
// at a refresh (the user joined groups) is not written; the old cookies are
// deleted (their refresh token was just rotated) and the log says why.
func TestRefreshedSessionTooLargeIsRefused(t *testing.T) {
	e := newEnv(t, func(r *config.Raw) {
		r.GroupsRequired = nil
		budget, idle := 2048, 3*3600
		r.SessionCookieMaxSize, r.SessionIdlingTimeout = &budget, &idle
	})
	d, _ := e.callbackWith(newOktaLike(0))
	wantStatus(t, d, http.StatusFound)
	line := sessionLine(d.Header.Values("Set-Cookie"))
	e.clock.Add(61 * time.Minute) // the access token expired
	grown := newOktaLike(50)
	e.serveTokens("unused", "unused", func() idpAnswer { return grown.answer(e, "") })
	h := browser()
	h.Set("Cookie", line)
	d = e.decide(request("GET", "/web/page", h, nil))
	wantStatus(t, d, http.StatusInternalServerError)
	if d.Reason != ReasonSessionTooLarge || d.Err == nil || !strings.Contains(d.Err.Error(), "session_cookie_max_size (2048)") {
		t.Fatalf("reason %s, err %v", d.Reason, d.Err)
	}
	if !strings.Contains(strings.Join(d.Header.Values("Set-Cookie"), "\n"), "okta_session=; ") {
		t.Fatalf("old session not deleted: %q", d.Header.Values("Set-Cookie"))
	}
}
