package faults

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/test/faultproxy"
	"github.com/okta-oidc/okta-oidc/test/idp"
)

// recoveryLimit is the acceptance bound: the first request after the IdP
// comes back passes within it.
const recoveryLimit = 2 * time.Second

// latencyLimit bounds any answer while the IdP hangs: the configured
// timeout plus a margin for a loaded machine.
const latencyLimit = idpTimeout + 1500*time.Millisecond

// TestIdPDownAtStart: a plugin server started while the IdP is down fails
// closed (503, JSON for API clients, an HTML page for browsers), and once
// the IdP is back the first request passes within 2 s, by itself, though
// /api's jwks_min_refresh_interval is the default 30 s.
func TestIdPDownAtStart(t *testing.T) {
	heal(t)
	tok := token(t, "")
	if err := env.proxy.SetDown(true); err != nil {
		t.Fatal(err)
	}
	restartPlugin(t)
	deadline := time.Now().Add(2500 * time.Millisecond) // several backoff rounds
	for n := 0; time.Now().Before(deadline); n++ {
		r := get(t, "/api/anything", bearer(tok))
		mustFailClosed(t, "API during the outage", r)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.took > latencyLimit {
			t.Fatalf("API during the outage: %s after %v: %s", r.header.Get("Content-Type"), r.took, r.body)
		}
		if n%10 == 0 {
			b := get(t, "/web/anything", browserHeaders())
			mustFailClosed(t, "browser during the outage", b)
			if !strings.HasPrefix(b.header.Get("Content-Type"), "text/html") ||
				!strings.Contains(b.body, "The sign-in service is unavailable, try again shortly") {
				t.Fatalf("browser during the outage got %s:\n%.300s", b.header.Get("Content-Type"), b.body)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	heal(t)
	took := untilPass(t, "/api/anything", tok, recoveryLimit)
	t.Logf("first request passed %v after the IdP came back", took.Round(time.Millisecond))
	// Login works again too.
	if r := get(t, "/web/anything", browserHeaders()); r.status != 302 {
		t.Fatalf("browser after recovery: %d", r.status)
	}
}

// TestIdPDownAfterStart: with keys cached, valid tokens (even new ones) keep
// passing while the IdP is down; nothing else does.
func TestIdPDownAfterStart(t *testing.T) {
	heal(t)
	restartPlugin(t)
	if r := get(t, "/api/anything", bearer(token(t, ""))); r.status != 200 {
		t.Fatalf("warm-up: %d %s", r.status, r.body)
	}
	fresh := token(t, "")
	if err := env.proxy.SetDown(true); err != nil {
		t.Fatal(err)
	}
	defer heal(t)
	for range 3 {
		if r := get(t, "/api/anything", bearer(fresh)); r.status != 200 {
			t.Fatalf("a valid token during the outage: %d %s", r.status, r.body)
		}
	}
	if r := get(t, "/api/anything", nil); r.status != 401 {
		t.Fatalf("no token during the outage: %d", r.status)
	}
	if r := get(t, "/api/anything", bearer(fresh[:len(fresh)-4]+"AAAA")); r.status != 401 {
		t.Fatalf("a bad signature during the outage: %d", r.status)
	}
	if r := get(t, "/api/anything", bearer(withKid(t, fresh, "unknown"))); r.status == 200 {
		t.Fatalf("an unknown kid passed during the outage: %s", r.body)
	}
}

// TestSlowIdP: an IdP that never answers costs at most the configured
// timeout (then 503), and does not slow down tokens whose keys are cached.
func TestSlowIdP(t *testing.T) {
	heal(t)
	tok := token(t, "")
	restartPlugin(t)
	env.proxy.Set(faultproxy.Rule{Delay: time.Minute})
	defer heal(t)
	for range 2 {
		r := get(t, "/api/anything", bearer(tok))
		mustFailClosed(t, "slow IdP, cold", r)
		if r.took > latencyLimit {
			t.Fatalf("answered after %v, timeout %v", r.took, idpTimeout)
		}
	}
	b := get(t, "/web/anything", browserHeaders())
	mustFailClosed(t, "slow IdP, login", b)
	if b.took > latencyLimit {
		t.Fatalf("login answered after %v, timeout %v", b.took, idpTimeout)
	}
	heal(t)
	untilPass(t, "/api/anything", tok, recoveryLimit)
	env.proxy.Set(faultproxy.Rule{Delay: time.Minute})
	if r := get(t, "/api/anything", bearer(token(t, ""))); r.status != 200 || r.took > time.Second {
		t.Fatalf("a valid token with cached keys and a slow IdP: %d after %v", r.status, r.took)
	}
}

// TestHugeDocuments: a discovery document or JWKS far larger than the cap
// is refused (503) without the plugin server growing or dying.
func TestHugeDocuments(t *testing.T) {
	tok := token(t, "")
	for _, path := range []string{"/.well-known/openid-configuration", "/v1/keys"} {
		t.Run(path, func(t *testing.T) {
			heal(t)
			pid := restartPlugin(t)
			before := pluginRSS(t, pid)
			env.proxy.Set(faultproxy.Rule{Path: path, Huge: 512 << 20})
			defer heal(t)
			for range 3 {
				r := get(t, "/api/anything", bearer(tok))
				mustFailClosed(t, "huge "+path, r)
				if r.took > latencyLimit {
					t.Fatalf("answered after %v", r.took)
				}
				time.Sleep(retryWait)
			}
			if after := pluginRSS(t, pid); after > before+64<<20 {
				t.Fatalf("plugin server grew from %d to %d bytes", before, after)
			}
			heal(t)
			untilPass(t, "/api/anything", tok, recoveryLimit)
			if pids := env.stack.PluginPIDs(); len(pids) != 1 || pids[0] != pid {
				t.Fatalf("plugin server %d restarted (now %v)", pid, pids)
			}
		})
	}
}

// retryWait lets the plugin's backoff allow another fetch.
const retryWait = 1600 * time.Millisecond

// TestMalformedDocuments: a broken discovery document or JWKS on a cold
// start fails closed; the plugin recovers when the IdP is fixed.
func TestMalformedDocuments(t *testing.T) {
	tok := token(t, "")
	issuer := env.stack.Issuer
	cases := []struct {
		name string
		rule faultproxy.Rule
	}{
		{"discovery truncated", faultproxy.Rule{Path: "/openid-configuration", Status: 200, Body: []byte(`{"issuer":`)}},
		{"discovery without jwks_uri", faultproxy.Rule{Path: "/openid-configuration", Status: 200, Body: []byte(`{"issuer":"` + issuer + `"}`)}},
		{"discovery of another issuer", faultproxy.Rule{Path: "/openid-configuration", Status: 200,
			Body: []byte(`{"issuer":"http://127.0.0.1:9410/oauth2/default","jwks_uri":"` + issuer + `/v1/keys"}`)}},
		{"discovery 500", faultproxy.Rule{Path: "/openid-configuration", Status: 500, Body: []byte(`{}`)}},
		{"JWKS is HTML", faultproxy.Rule{Path: "/v1/keys", Status: 200, Body: []byte(`<html>maintenance</html>`)}},
		{"JWKS empty", faultproxy.Rule{Path: "/v1/keys", Status: 200, Body: []byte(`{"keys":[]}`)}},
		{"JWKS with a symmetric key only", faultproxy.Rule{Path: "/v1/keys", Status: 200,
			Body: []byte(`{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","alg":"HS256"}]}`)}},
		{"connection reset", faultproxy.Rule{Reset: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			heal(t)
			restartPlugin(t)
			env.proxy.Set(c.rule)
			defer heal(t)
			for range 2 {
				mustFailClosed(t, c.name, get(t, "/api/anything", bearer(tok)))
			}
			heal(t)
			untilPass(t, "/api/anything", tok, recoveryLimit)
		})
	}
}

// TestEmptyJWKSKeepsLastGoodKeys: once keys are known, a refetch that
// brings an empty set (or garbage) keeps the last good keys. (On /strict,
// whose refetch interval is short.)
func TestEmptyJWKSKeepsLastGoodKeys(t *testing.T) {
	for _, body := range []string{`{"keys":[]}`, `{"keys":[`} {
		t.Run(body, func(t *testing.T) {
			heal(t)
			restartPlugin(t)
			if r := get(t, "/strict/anything", bearer(token(t, ""))); r.status != 200 {
				t.Fatalf("warm-up: %d", r.status)
			}
			env.proxy.Set(faultproxy.Rule{Path: "/v1/keys", Status: 200, Body: []byte(body)})
			defer heal(t)
			time.Sleep(minRefresh) // the refetch allowance is back
			fresh := token(t, "")
			hits := env.proxy.Hits("/v1/keys")
			if r := get(t, "/strict/anything", bearer(withKid(t, fresh, "rotated-in"))); r.status != 401 {
				t.Fatalf("unknown kid: %d", r.status)
			}
			if env.proxy.Hits("/v1/keys") != hits+1 {
				t.Fatalf("the unknown kid caused %d JWKS fetches, want 1", env.proxy.Hits("/v1/keys")-hits)
			}
			if r := get(t, "/strict/anything", bearer(fresh)); r.status != 200 {
				t.Fatalf("a valid token after the bad refetch: %d %s", r.status, r.body)
			}
		})
	}
}

// TestTokenEndpointErrorsAtLogin: a 5xx from the token endpoint at the
// callback is a 503 page and no session; the next login succeeds.
func TestTokenEndpointErrorsAtLogin(t *testing.T) {
	heal(t)
	c := newBrowser(t)
	callback := signInUntilCallback(t, c)
	env.proxy.Set(faultproxy.Rule{Path: "/v1/token", Status: 503, Body: []byte(`{"error":"temporarily_unavailable"}`)})
	r := visit(t, c, callback)
	heal(t)
	mustFailClosed(t, "callback with the token endpoint down", r)
	if sessionSet(r) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("callback: %v\n%.300s", r.header, r.body)
	}
	if p := visit(t, c, gateway()+"/web/anything"); p.status == 200 {
		t.Fatal("a page passed without a session")
	}
	c = newBrowser(t)
	if r := visit(t, c, signInUntilCallback(t, c)); !sessionSet(r) {
		t.Fatalf("login after recovery: %d %v", r.status, r.header)
	}
	if p := visit(t, c, gateway()+"/web/anything"); p.status != 200 {
		t.Fatalf("page after login: %d", p.status)
	}
}

// TestTokenEndpointErrorsAtRefresh: when the access token has expired, a
// 5xx or 429 from the token endpoint is a 503 that keeps the session (it
// refreshes once the IdP is back); invalid_grant sends the browser back to
// login. Each case logs in afresh: the gateway remembers a refresh's result
// for a while.
func TestTokenEndpointErrorsAtRefresh(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
	}{
		{503, `{"error":"temporarily_unavailable"}`},
		{429, `{"error":"too_many_requests"}`},
		{400, `{"error":"invalid_grant"}`},
	} {
		t.Run(http.StatusText(c.status), func(t *testing.T) {
			heal(t)
			b := newBrowser(t)
			if r := visit(t, b, signInUntilCallback(t, b)); !sessionSet(r) {
				t.Fatalf("login: %d %v", r.status, r.header)
			}
			if p := visit(t, b, gateway()+"/web/anything"); p.status != 200 {
				t.Fatalf("page after login: %d", p.status)
			}
			time.Sleep(webTokenTTL + 500*time.Millisecond) // the access token expires
			env.proxy.Set(faultproxy.Rule{Path: "/v1/token", Status: c.status, Body: []byte(c.body)})
			defer heal(t)
			r := visit(t, b, gateway()+"/web/anything")
			if c.status == 400 {
				if r.status != 302 || !strings.Contains(r.header.Get("Location"), "/v1/authorize") {
					t.Fatalf("refresh refused: %d Location %q, want back to login", r.status, r.header.Get("Location"))
				}
				return
			}
			mustFailClosed(t, fmt.Sprintf("refresh meets %d", c.status), r)
			if sessionDeleted(r) || sessionSet(r) {
				t.Fatalf("refresh meets %d: the session changed: %v", c.status, r.header.Values("Set-Cookie"))
			}
			heal(t)
			if r := visit(t, b, gateway()+"/web/anything"); r.status != 200 || !sessionSet(r) {
				t.Fatalf("after the IdP is back: %d, want a refreshed session", r.status)
			}
		})
	}
}

// TestIntrospectionErrors: a 429 or 500 from the introspection endpoint is
// a 503 for a token not seen before, never a pass; an answer cached before
// keeps working.
func TestIntrospectionErrors(t *testing.T) {
	for _, status := range []int{429, 500} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			heal(t)
			known := token(t, idp.OpaqueResource)
			if r := get(t, "/opaque/anything", bearer(known)); r.status != 200 {
				t.Fatalf("warm-up: %d %s", r.status, r.body)
			}
			unseen := token(t, idp.OpaqueResource)
			env.proxy.Set(faultproxy.Rule{Path: "/v1/introspect", Status: status, Body: []byte(`{"error":"too_many_requests"}`)})
			defer heal(t)
			for range 3 {
				mustFailClosed(t, "unseen opaque token", get(t, "/opaque/anything", bearer(unseen)))
				if r := get(t, "/opaque/anything", bearer(known)); r.status != 200 {
					t.Fatalf("cached positive during %d: %d", status, r.status)
				}
			}
			heal(t)
			untilPass(t, "/opaque/anything", unseen, 5*time.Second)
		})
	}
}

// TestKeyRotation runs last: it restarts the provider, which then signs
// with a new key. A token signed with it passes after exactly one JWKS
// refetch, and a flood of unknown kids costs at most one fetch per
// jwks_min_refresh_interval. (On /strict, whose interval is short.)
func TestKeyRotation(t *testing.T) {
	heal(t)
	restartPlugin(t)
	if r := get(t, "/strict/anything", bearer(token(t, ""))); r.status != 200 {
		t.Fatalf("warm-up: %d", r.status)
	}
	// Not a context that ends with this test: cancelling it would stop the
	// restarted provider for every later test.
	if err := env.stack.RestartProvider(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(minRefresh)
	rotated := token(t, "")
	hits := env.proxy.Hits("/v1/keys")
	if r := get(t, "/strict/anything", bearer(rotated)); r.status != 200 {
		t.Fatalf("first request with the new key: %d %s", r.status, r.body)
	}
	if n := env.proxy.Hits("/v1/keys") - hits; n != 1 {
		t.Fatalf("%d JWKS fetches for the new key, want 1", n)
	}
	hits = env.proxy.Hits("/v1/keys")
	begin := time.Now()
	for n := range 300 {
		if r := get(t, "/strict/anything", bearer(withKid(t, rotated, fmt.Sprintf("random-%d", n)))); r.status != 401 {
			t.Fatalf("random kid: %d", r.status)
		}
	}
	if r := get(t, "/strict/anything", bearer(token(t, ""))); r.status != 200 {
		t.Fatalf("after the flood: %d", r.status)
	}
	allowed := 1 + int(time.Since(begin)/minRefresh)
	if n := env.proxy.Hits("/v1/keys") - hits; n > allowed {
		t.Fatalf("300 random kids over %v caused %d JWKS fetches, want at most %d", time.Since(begin), n, allowed)
	}
}
