package introspect

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/token"
)

// answerTransport answers every request with body.
type answerTransport string

func (a answerTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(a)))}, nil
}

// FuzzIntrospectionAnswer: no answer panics, and an answer only yields
// claims when it says "active": true (the JSON boolean, once), names no
// other issuer, holds the audience and has not expired.
func FuzzIntrospectionAnswer(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(answer(now, nil))
	f.Add(answer(now, func(m map[string]any) { m["iss"] = "https://evil" }))
	f.Add(answer(now, func(m map[string]any) { m["exp"] = now.Add(-time.Hour).Unix() }))
	f.Add(answer(now, func(m map[string]any) { m["active"] = "true" }))
	f.Add(answer(now, func(m map[string]any) { delete(m, "active") }))
	f.Add(answer(now, func(m map[string]any) { m["aud"] = []string{"x", "api://default"} }))
	f.Add(`{"active":false,"active":true,"iss":"` + issuer + `","aud":"api://default"}`)
	f.Add(`{"Active":true,"aud":"api://default"}`)
	f.Add(`{"active":true,"aud":"api://default","exp":1e400}`)
	f.Add(`{"active":true,"aud":"api://default","nbf":"0"}`)
	f.Add(`[true]`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, body string) {
		c := New(Config{
			Endpoint: func(context.Context) (string, error) { return "https://idp.example/introspect", nil },
			ClientID: "id", ClientSecret: "secret", Issuer: issuer, Audiences: []string{"api://default"},
			Leeway: 30 * time.Second, CacheTTL: time.Minute, HTTP: &http.Client{Transport: answerTransport(body)},
			Cache: token.NewCache(10, 1<<20), Now: func() time.Time { return now },
			Guard: NewGuard(Limits{MaxConcurrent: 1, PerSecond: 1}),
		})
		cl, err := c.Introspect(context.Background(), opaque("fuzz"))
		if err != nil {
			if cl != nil {
				t.Fatalf("claims with an error: %v", err)
			}
			return
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&m) != nil {
			t.Fatalf("claims from an answer that is not a JSON object: %q", body)
		}
		if m["active"] != true || cl["active"] != true {
			t.Fatalf("claims from an answer without active: true: %q", body)
		}
		if iss, present := m["iss"]; present && iss != issuer {
			t.Fatalf("claims from another issuer: %q", body)
		}
		if !token.AudienceMatches(m["aud"], []string{"api://default"}) {
			t.Fatalf("claims without the audience: %q", body)
		}
		if exp, present := m["exp"]; present && exp != nil {
			n, err := exp.(json.Number).Float64()
			if err != nil || time.Unix(int64(n), 0).Add(30*time.Second).Before(now) {
				t.Fatalf("claims from an expired answer: %q", body)
			}
		}
	})
}
