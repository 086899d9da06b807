package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/consumer"
)

const (
	aliceID = "6a0c2e8e-3c5b-4a43-9a55-0e8f6f1c2d11"
	anonID  = "0d6f6c5e-8b1a-4c55-9d0e-7a1b2c3d4e5f"
)

// kongConsumers answers like kong.client.load_consumer and counts calls;
// a call Kong would throw on fails the test.
type kongConsumers struct {
	t     *testing.T
	list  []consumer.Consumer
	calls int
}

func (k *kongConsumers) LoadConsumer(_ context.Context, v string, byUsername bool) (consumer.Consumer, bool, error) {
	k.calls++
	if !consumer.IsUUID(v) && !byUsername {
		k.t.Fatalf("load_consumer(%q, false) throws in Kong (500)", v)
	}
	for _, c := range k.list {
		if (consumer.IsUUID(v) && c.ID == v) || (byUsername && c.Username == v) {
			return c, true, nil
		}
	}
	return consumer.Consumer{}, false, nil
}

func identityEnv(t *testing.T, mod func(*config.Raw)) (*env, *kongConsumers) {
	t.Helper()
	e := newEnv(t, func(r *config.Raw) {
		r.AuthMethods = []string{"bearer"}
		r.GroupsRequired = nil
		if mod != nil {
			mod(r)
		}
	})
	e.eng.consumers = consumer.NewResolver(e.clock.Now) // no state shared between tests
	return e, &kongConsumers{t: t, list: []consumer.Consumer{
		{ID: aliceID, Username: "alice", CustomID: "A-1"},
		{ID: anonID, Username: "anonymous"},
	}}
}

// kreq is a Kong-shaped request (get_headers' lower-case keys) with the
// consumer lookup and get_credential wired.
func kreq(raw map[string][]string, k *kongConsumers, earlier bool) *Request {
	r := kongRequest("GET", "/x", raw)
	r.Consumers = k
	r.Credential = func() (bool, error) { return earlier, nil }
	return r
}

func (e *env) token(sub string, mod func(map[string]any)) string {
	c := e.iss.Claims(e.clock.Now())
	c["sub"], c["groups"] = sub, []string{"kong_group", "everyone"}
	if mod != nil {
		mod(c)
	}
	return e.iss.Mint(e.t, c)
}

func header(up map[string][]string, name string) ([]string, bool) {
	var (
		out   []string
		found bool
	)
	for k, v := range up {
		if strings.EqualFold(k, name) {
			if found {
				panic("two names for one header: " + name)
			}
			out, found = v, true
		}
	}
	return out, found
}

func wantHeader(t *testing.T, up map[string][]string, name, want string) {
	t.Helper()
	v, ok := header(up, name)
	if !ok {
		t.Fatalf("%s not set or cleared in %v", name, up)
	}
	got := strings.Join(v, ",")
	if got != want {
		t.Fatalf("%s = %q, want %q", name, got, want)
	}
}

func TestConsumerMappedFromClaim(t *testing.T) {
	e, k := identityEnv(t, func(r *config.Raw) {
		r.ConsumerClaim = []string{"sub"}
		r.AuthenticatedGroupsClaim = []string{"groups"}
	})
	raw := map[string][]string{
		"authorization":        {"Bearer " + e.token("alice", nil)},
		"x-consumer-username":  {"admin"}, // client-sent, other case
		"x_consumer_id":        {"c1"},
		"x-anonymous-consumer": {"false"},
	}
	d := e.decide(kreq(raw, k, false))
	wantPass(t, d)
	if d.Identity == nil || d.Identity.Consumer == nil || d.Identity.Consumer.ID != aliceID || d.Identity.Anonymous {
		t.Fatalf("identity = %+v", d.Identity)
	}
	wantCred := consumer.CredentialID(e.iss.URL, "alice")
	if d.Identity.CredentialID != wantCred {
		t.Fatalf("credential %q, want %q", d.Identity.CredentialID, wantCred)
	}
	wantHeader(t, d.Upstream, "X-Consumer-Username", "alice")
	wantHeader(t, d.Upstream, "X-Consumer-ID", aliceID)
	wantHeader(t, d.Upstream, "X-Consumer-Custom-ID", "A-1")
	wantHeader(t, d.Upstream, "X-Credential-Identifier", wantCred)
	wantHeader(t, d.Upstream, "X-Anonymous-Consumer", "")
	wantHeader(t, d.Upstream, "x_consumer_id", "") // other spellings still cleared
	if got := strings.Join(d.AuthenticatedGroups, ","); got != "kong_group,everyone" {
		t.Fatalf("authenticated groups %q", got)
	}
	up := upstreamAfter(raw, d.Upstream)
	if up["x-consumer-username"][0] != "alice" || up["x_consumer_id"] != nil {
		t.Fatalf("upstream sees %v", up)
	}
	// a second request is answered from the cache
	e.decide(kreq(raw, k, false))
	if k.calls != 1 {
		t.Fatalf("%d lookups, want 1 (cached)", k.calls)
	}
}

func TestConsumerNotFound(t *testing.T) {
	for _, optional := range []bool{false, true} {
		e, k := identityEnv(t, func(r *config.Raw) {
			r.ConsumerClaim = []string{"sub"}
			r.ConsumerOptional = bp(optional)
		})
		d := e.decide(kreq(map[string][]string{"authorization": {"Bearer " + e.token("carol", nil)}}, k, false))
		if !optional {
			wantStatus(t, d, http.StatusForbidden)
			if d.Reason != ReasonNoConsumer {
				t.Fatalf("reason %s", d.Reason)
			}
			continue
		}
		wantPass(t, d)
		if d.Identity == nil || d.Identity.Consumer != nil || d.Identity.CredentialID == "" {
			t.Fatalf("optional: identity %+v, want a credential without consumer", d.Identity)
		}
		wantHeader(t, d.Upstream, "X-Consumer-ID", "")
	}
}

// A claim that is not a string, or not a UUID with consumer_by [id], never
// reaches kong.client.load_consumer (Kong throws on a non-UUID id: a 500).
func TestClaimNeverLooksUpWhatKongThrowsOn(t *testing.T) {
	cases := []struct {
		name string
		by   []string
		val  any
	}{
		{"number", []string{"username"}, 42},
		{"list", []string{"username"}, []string{"alice"}},
		{"object", []string{"id", "username"}, map[string]any{"id": aliceID}},
		{"empty", []string{"username"}, ""},
		{"not a UUID for id", []string{"id"}, "alice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, k := identityEnv(t, func(r *config.Raw) {
				r.ConsumerClaim = []string{"kong_consumer"}
				r.ConsumerBy = tc.by
			})
			tok := e.token("alice", func(c map[string]any) { c["kong_consumer"] = tc.val })
			d := e.decide(kreq(map[string][]string{"authorization": {"Bearer " + tok}}, k, false))
			wantStatus(t, d, http.StatusForbidden)
			if k.calls != 0 {
				t.Fatalf("%d lookups, want none", k.calls)
			}
		})
	}
}

func TestAnonymous(t *testing.T) {
	e, k := identityEnv(t, func(r *config.Raw) {
		r.Anonymous = sp("anonymous")
		r.GroupsRequired = []string{"kong_group"}
		r.HideCredentials = bp(true)
	})
	spoof := func(m map[string][]string) map[string][]string {
		m["x-consumer-username"] = []string{"admin"}
		m["x_authenticated_userid"] = []string{"admin"}
		return m
	}
	for name, raw := range map[string]map[string][]string{
		"no credentials": spoof(map[string][]string{}),
		"invalid token":  spoof(map[string][]string{"authorization": {"Bearer garbage"}}),
		"expired token": spoof(map[string][]string{"authorization": {"Bearer " + e.token("alice", func(c map[string]any) {
			c["exp"] = e.clock.Now().Add(-time.Hour).Unix()
		})}}),
	} {
		t.Run(name, func(t *testing.T) {
			d := e.decide(kreq(raw, k, false))
			wantPass(t, d)
			if d.Reason != ReasonAnonymous || d.Identity == nil || !d.Identity.Anonymous || d.Identity.Consumer.ID != anonID || d.Identity.CredentialID != "" {
				t.Fatalf("reason %s identity %+v", d.Reason, d.Identity)
			}
			wantHeader(t, d.Upstream, "X-Anonymous-Consumer", "true")
			wantHeader(t, d.Upstream, "X-Consumer-Username", "anonymous")
			wantHeader(t, d.Upstream, "X-Credential-Identifier", "")
			wantHeader(t, d.Upstream, "x_authenticated_userid", "")
			if _, ok := raw["authorization"]; ok {
				wantHeader(t, d.Upstream, "Authorization", "") // hide_credentials
			}
		})
	}
	t.Run("valid token failing the policy is still 403", func(t *testing.T) {
		tok := e.token("bob", func(c map[string]any) { c["groups"] = []string{"everyone"} })
		wantStatus(t, e.decide(kreq(map[string][]string{"authorization": {"Bearer " + tok}}, k, false)), http.StatusForbidden)
	})
	t.Run("valid token replaces an earlier anonymous", func(t *testing.T) {
		// An earlier auth plugin with anonymous set fell back to the
		// anonymous consumer: it set Kong's consumer headers, but no
		// credential (get_credential is nil).
		raw := map[string][]string{
			"authorization":           {"Bearer " + e.token("alice", nil)},
			"x-anonymous-consumer":    {"true"},
			"x-consumer-id":           {anonID},
			"x-consumer-username":     {"anonymous"},
			"x-credential-identifier": {"earlier-anon"},
		}
		d := e.decide(kreq(raw, k, false))
		wantPass(t, d)
		if d.Reason == ReasonEarlierCredential || d.Identity == nil || d.Identity.Consumer != nil || d.Identity.CredentialID == "" || d.Identity.Anonymous {
			t.Fatalf("reason %s identity %+v, want this plugin's credential", d.Reason, d.Identity)
		}
		up := upstreamAfter(raw, d.Upstream)
		for _, h := range []string{"x-anonymous-consumer", "x-consumer-id", "x-consumer-username"} {
			if v := up[h]; v != nil {
				t.Errorf("the earlier anonymous %s reaches the upstream: %q", h, v)
			}
		}
		if v := up["x-credential-identifier"]; len(v) != 1 || v[0] != d.Identity.CredentialID {
			t.Errorf("X-Credential-Identifier = %q, want %q", v, d.Identity.CredentialID)
		}
	})
	t.Run("malformed request stays 400", func(t *testing.T) {
		wantStatus(t, e.decide(kreq(map[string][]string{"authorization": {"Bearer a", "Bearer b"}}, k, false)), http.StatusBadRequest)
	})
	t.Run("IdP down is 503, not anonymous", func(t *testing.T) {
		e2, k2 := identityEnv(t, func(r *config.Raw) { r.Anonymous = sp("anonymous") })
		e2.iss.SetDown(true)
		d := e2.decide(kreq(map[string][]string{"authorization": {"Bearer " + e2.token("alice", nil)}}, k2, false))
		wantStatus(t, d, http.StatusServiceUnavailable)
	})
}

func TestAnonymousConsumerMissingIs500(t *testing.T) {
	e, k := identityEnv(t, func(r *config.Raw) { r.Anonymous = sp("nobody") })
	d := e.decide(kreq(map[string][]string{}, k, false))
	wantStatus(t, d, http.StatusInternalServerError)
	if d.Err == nil || !strings.Contains(d.Err.Error(), `"nobody"`) {
		t.Fatalf("err %v should name the consumer for the log", d.Err)
	}
}

// With anonymous set, a request an earlier auth plugin authenticated is left
// alone (Kong's logical OR), but client-sent identity headers the earlier
// plugin did not set are still cleared.
func TestEarlierCredentialIsLeftAlone(t *testing.T) {
	e, k := identityEnv(t, func(r *config.Raw) { r.Anonymous = sp("anonymous") })
	raw := map[string][]string{
		"x-consumer-id":          {"set-by-key-auth"},
		"x_consumer_id":          {"spoofed"},
		"x-authenticated-userid": {"admin"},
	}
	d := e.decide(kreq(raw, k, true))
	wantPass(t, d)
	if d.Reason != ReasonEarlierCredential || d.Identity != nil || d.AuthenticatedGroups != nil || k.calls != 0 {
		t.Fatalf("reason %s identity %+v lookups %d", d.Reason, d.Identity, k.calls)
	}
	up := upstreamAfter(raw, d.Upstream)
	if got := up["x-consumer-id"]; len(got) != 1 || got[0] != "set-by-key-auth" {
		t.Fatalf("the earlier plugin's X-Consumer-ID was touched: %v", up)
	}
	if up["x_consumer_id"] != nil || up["x-authenticated-userid"] != nil {
		t.Fatalf("spoofed headers reach the upstream: %v", up)
	}
}

func TestCredentialReadOnlyWithAnonymous(t *testing.T) {
	e, k := identityEnv(t, func(r *config.Raw) { r.ConsumerClaim = []string{"sub"} })
	r := kreq(map[string][]string{"authorization": {"Bearer " + e.token("alice", nil)}}, k, false)
	r.Credential = func() (bool, error) { t.Fatal("get_credential read without anonymous"); return false, nil }
	wantPass(t, e.decide(r))
	e2, k2 := identityEnv(t, func(r *config.Raw) { r.Anonymous = sp("anonymous") })
	r2 := kreq(map[string][]string{}, k2, false)
	r2.Credential = func() (bool, error) { return false, errors.New("closed") }
	wantStatus(t, e2.decide(r2), http.StatusInternalServerError)
}

// Browsers on a login route still go to login with anonymous set; API
// clients pass as anonymous; unauthenticated_action deny sends everyone
// without credentials through as anonymous.
func TestAnonymousOnLoginRoute(t *testing.T) {
	for _, action := range []string{"auto", "deny"} {
		e, k := identityEnv(t, func(r *config.Raw) {
			r.AuthMethods = nil // bearer, session, authorization_code
			r.Anonymous = sp("anonymous")
			r.UnauthenticatedAction = sp(action)
		})
		raw := browserRaw()
		d := e.decide(kreq(raw, k, false))
		if action == "auto" {
			wantStatus(t, d, http.StatusFound)
		} else {
			wantPass(t, d)
			if d.Reason != ReasonAnonymous {
				t.Fatalf("deny: reason %s", d.Reason)
			}
		}
		d = e.decide(kreq(map[string][]string{"accept": {"application/json"}}, k, false))
		wantPass(t, d)
		if d.Reason != ReasonAnonymous {
			t.Fatalf("%s: API client reason %s", action, d.Reason)
		}
	}
}

func TestAuthenticatedGroups(t *testing.T) {
	cases := []struct {
		name   string
		val    any
		absent bool
		want   string // joined; "403" for a refusal
	}{
		{"list", []string{"a", "b"}, false, "a,b"},
		{"string", "a", false, "a"},
		{"absent", nil, true, ""},
		{"mixed list", []any{"a", 1}, false, "403"},
		{"number", 7, false, "403"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, k := identityEnv(t, func(r *config.Raw) { r.AuthenticatedGroupsClaim = []string{"okta_groups"} })
			tok := e.token("alice", func(c map[string]any) {
				if !tc.absent {
					c["okta_groups"] = tc.val
				}
			})
			d := e.decide(kreq(map[string][]string{"authorization": {"Bearer " + tok}}, k, false))
			if tc.want == "403" {
				wantStatus(t, d, http.StatusForbidden)
				return
			}
			wantPass(t, d)
			if d.AuthenticatedGroups == nil || strings.Join(d.AuthenticatedGroups, ",") != tc.want {
				t.Fatalf("groups %#v, want %q", d.AuthenticatedGroups, tc.want)
			}
			if d.Identity != nil || k.calls != 0 {
				t.Fatalf("groups alone must not authenticate: %+v", d.Identity)
			}
		})
	}
}

// Without the identity keys nothing changes: no identity, no groups, no
// consumer header set (client copies are still cleared).
func TestNoIdentityKeysNoIdentity(t *testing.T) {
	e, k := identityEnv(t, nil)
	raw := map[string][]string{"authorization": {"Bearer " + e.token("alice", nil)}, "x-consumer-id": {"c1"}}
	d := e.decide(kreq(raw, k, false))
	wantPass(t, d)
	if d.Identity != nil || d.AuthenticatedGroups != nil || k.calls != 0 {
		t.Fatalf("identity %+v groups %v lookups %d", d.Identity, d.AuthenticatedGroups, k.calls)
	}
	wantHeader(t, d.Upstream, "x-consumer-id", "")
	wantStatus(t, e.decide(kreq(map[string][]string{}, k, false)), http.StatusUnauthorized)
}

// TestAnonymousNeverAnswersAFailedLogin: anonymous stands in only for a
// request without (valid) credentials; the IdP refusing a login at the
// callback (a 401 page) stays an answer, never an anonymous pass upstream.
func TestAnonymousNeverAnswersAFailedLogin(t *testing.T) {
	e, k := anonymousLoginEnv(t)
	raw := browserRaw()
	r := kreq(raw, k, false)
	r.Target = func() (string, error) { return "/web/page", nil }
	d := e.decide(r)
	wantStatus(t, d, http.StatusFound)
	loc, _ := url.Parse(d.Header.Get("Location"))
	c := d.Header.Values("Set-Cookie")
	name, rest, _ := strings.Cut(c[len(c)-1], "=")
	value, _, _ := strings.Cut(rest, ";")
	raw["cookie"] = []string{name + "=" + value}
	r = kreq(raw, k, false)
	r.Target = func() (string, error) {
		return "/web/callback?error=access_denied&state=" + loc.Query().Get("state"), nil
	}
	d = e.decide(r)
	wantStatus(t, d, http.StatusUnauthorized)
	if d.Reason != ReasonCallbackFailed {
		t.Fatalf("reason %s, want %s", d.Reason, ReasonCallbackFailed)
	}
}

// TestEarlierCredentialLeavesThePluginsOwnPaths: with anonymous set and
// another auth plugin already authenticated, ordinary requests are left to
// that plugin, but logout (and the callback) are still this plugin's to
// answer: a logout proxied upstream would leave the session alive.
func TestEarlierCredentialLeavesThePluginsOwnPaths(t *testing.T) {
	e, k := anonymousLoginEnv(t)
	raw := browserRaw()
	r := kreq(raw, k, true)
	r.Target = func() (string, error) { return "/web/page", nil }
	if d := e.decide(r); d.Action != Pass || d.Reason != ReasonEarlierCredential {
		t.Fatalf("page: action %d reason %s, want the earlier credential's pass", d.Action, d.Reason)
	}
	r = kreq(raw, k, true)
	r.Target = func() (string, error) { return "/web/logout", nil }
	d := e.decide(r)
	wantStatus(t, d, http.StatusFound)
	if d.Reason != ReasonLogout {
		t.Fatalf("logout: reason %s, want %s", d.Reason, ReasonLogout)
	}
}

// anonymousLoginEnv is a login route (bearer, session, authorization_code)
// with anonymous set.
func anonymousLoginEnv(t *testing.T) (*env, *kongConsumers) {
	return identityEnv(t, func(r *config.Raw) {
		r.AuthMethods = nil // bearer, session, authorization_code
		r.Anonymous = sp("anonymous")
	})
}

// browserRaw is a browser navigation's headers as get_headers returns them.
func browserRaw() map[string][]string {
	raw := map[string][]string{}
	for name, v := range browser() {
		raw[strings.ToLower(name)] = v
	}
	return raw
}
