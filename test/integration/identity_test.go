package integration

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/test/idp"
)

// Kong's identity model: the routes acl-groups, consumers, per-consumer and
// either of kong.yml, with Kong's bundled acl, rate-limiting, key-auth and
// request-termination next to okta-oidc. Everything asserted here is what
// Kong 3.9 itself answers.

const partnerKey = "demo-partner-key-change-me"

func TestACLOnOktaGroups(t *testing.T) {
	resp, body := get(t, "/acl-groups/anything", bearer(userToken(t, idp.Alice)))
	mustStatus(t, resp, body, 200)
	resp, body = get(t, "/acl-groups/anything", bearer(userToken(t, idp.Bob)))
	mustStatus(t, resp, body, 403)
	if m := jsonMessage(t, body); m["message"] != "You cannot consume this service" {
		t.Fatalf("bob's 403 is not acl's: %s", body)
	}
}

func TestConsumerMappedFromToken(t *testing.T) {
	h := bearer(userToken(t, idp.Alice))
	h.Set("X-Consumer-Username", "admin") // a client-sent copy never survives
	h.Set("X-Anonymous-Consumer", "false")
	resp, body := get(t, "/consumers/anything", h)
	mustStatus(t, resp, body, 200)
	e := parseEcho(t, body)
	if got := e.header("X-Consumer-Username"); len(got) != 1 || got[0] != idp.Alice {
		t.Fatalf("X-Consumer-Username = %q, want alice", got)
	}
	if got := e.header("X-Consumer-Id"); len(got) != 1 || len(got[0]) != 36 {
		t.Fatalf("X-Consumer-ID = %q", got)
	}
	if got := e.header("X-Credential-Identifier"); len(got) != 1 || got[0] == "" {
		t.Fatalf("X-Credential-Identifier = %q", got)
	}
	if got := e.header("X-Anonymous-Consumer"); got != nil {
		t.Fatalf("X-Anonymous-Consumer = %q reached the upstream", got)
	}
	// a token whose subject names no consumer: 403
	m2m := m2mToken(t)
	resp, body = get(t, "/consumers/anything", bearer(m2m))
	mustStatus(t, resp, body, 403)
}

func remainingMinute(t *testing.T, resp *http.Response) int {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining-Minute"))
	if err != nil {
		t.Fatalf("X-RateLimit-Remaining-Minute = %q", resp.Header.Get("X-RateLimit-Remaining-Minute"))
	}
	return n
}

// waitForRoomInMinute sleeps into the next minute when fewer than 20
// seconds are left: rate-limiting counts per UTC minute.
func waitForRoomInMinute() {
	now := time.Now()
	if left := now.Truncate(time.Minute).Add(time.Minute).Sub(now); left < 20*time.Second {
		time.Sleep(left + time.Second)
	}
}

func TestRateLimitingCountsConsumersApart(t *testing.T) {
	alice, bob := bearer(userToken(t, idp.Alice)), bearer(userToken(t, idp.Bob))
	waitForRoomInMinute()
	resp, body := get(t, "/per-consumer/anything", bob)
	if resp.StatusCode == 429 { // an earlier run used up bob's minute
		now := time.Now()
		time.Sleep(now.Truncate(time.Minute).Add(time.Minute).Sub(now) + time.Second)
		resp, body = get(t, "/per-consumer/anything", bob)
	}
	mustStatus(t, resp, body, 200)
	bobLeft := remainingMinute(t, resp)

	limited := false
	for i := 0; i < 7 && !limited; i++ {
		resp, body = get(t, "/per-consumer/anything", alice)
		switch resp.StatusCode {
		case 200:
		case 429:
			limited = true
			if m := jsonMessage(t, body); m["message"] != "API rate limit exceeded" {
				t.Fatalf("429 body %s", body)
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			mustStatus(t, resp, body, 200)
		}
	}
	if !limited {
		t.Fatal("alice was never limited (minute: 5)")
	}
	resp, body = get(t, "/per-consumer/anything", bob)
	mustStatus(t, resp, body, 200)
	if got := remainingMinute(t, resp); got != bobLeft-1 {
		t.Fatalf("bob's remaining went %d -> %d: alice's requests counted against bob", bobLeft, got)
	}
}

func TestEitherKeyAuthOrOktaToken(t *testing.T) {
	t.Run("API key", func(t *testing.T) {
		h := http.Header{"Apikey": {partnerKey}, "X_Consumer_Username": {"admin"}}
		resp, body := get(t, "/either/anything", h)
		mustStatus(t, resp, body, 200)
		e := parseEcho(t, body)
		if got := e.header("X-Consumer-Username"); len(got) != 1 || got[0] != "partner" {
			t.Fatalf("X-Consumer-Username = %q, want partner", got)
		}
		if got := e.header("X-Anonymous-Consumer"); got != nil {
			t.Fatalf("X-Anonymous-Consumer = %q", got)
		}
		if got := e.header("X_Consumer_Username"); got != nil {
			t.Fatalf("client-sent X_Consumer_Username reached the upstream: %q", got)
		}
	})
	t.Run("Okta token", func(t *testing.T) {
		resp, body := get(t, "/either/anything", bearer(userToken(t, idp.Alice)))
		mustStatus(t, resp, body, 200)
		e := parseEcho(t, body)
		if got := e.header("X-Anonymous-Consumer"); got != nil {
			t.Fatalf("X-Anonymous-Consumer = %q after a valid token", got)
		}
		if got := e.header("X-Consumer-Username"); got != nil {
			t.Fatalf("X-Consumer-Username = %q: the anonymous consumer was not replaced", got)
		}
		if got := e.header("X-Credential-Identifier"); len(got) != 1 || got[0] == "" {
			t.Fatalf("X-Credential-Identifier = %q", got)
		}
	})
	for name, h := range map[string]http.Header{
		"neither":       {},
		"wrong key":     {"Apikey": {"not-a-key"}},
		"invalid token": bearer("not.a.token"),
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			resp, body := get(t, "/either/anything", h)
			mustStatus(t, resp, body, 401)
			if m := jsonMessage(t, body); m["message"] != "Unauthorized" || strings.Contains(body, "headers") {
				t.Fatalf("body %s", body)
			}
		})
	}
}
