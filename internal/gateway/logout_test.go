package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

// revocations records the calls to the issuer's revocation endpoint.
type revocations struct {
	mu      sync.Mutex
	calls   []url.Values
	auth    []string
	revoked map[string]bool
}

func (rv *revocations) handler(answer func(w http.ResponseWriter, form url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		user, pass, _ := r.BasicAuth()
		rv.mu.Lock()
		rv.calls = append(rv.calls, r.PostForm)
		rv.auth = append(rv.auth, r.Method+" "+r.Header.Get("Content-Type")+" "+user+":"+pass)
		if answer == nil {
			rv.revoked[r.PostForm.Get("token")] = true
		}
		rv.mu.Unlock()
		if answer != nil {
			answer(w, r.PostForm)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

func (rv *revocations) isRevoked(tok string) bool {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.revoked[tok]
}

func TestLogoutRevokesTheSessionTokens(t *testing.T) {
	e := newEnv(t, nil)
	rv := &revocations{revoked: map[string]bool{}}
	e.iss.SetRevokeHandler(rv.handler(nil))
	set, _ := e.loginTTL(5*time.Minute, "alice", "kong_group")
	copied := cookieHeader(set) // a copy of the session cookie, taken before logout

	d := e.decide(request("GET", "/web/logout", cookieHeader(set), nil))
	wantStatus(t, d, http.StatusFound)
	if d.Err != nil {
		t.Fatalf("a clean logout carries a failure: %v", d.Err)
	}
	if !strings.HasPrefix(d.Header.Get("Location"), e.iss.URL+"/v1/logout?") {
		t.Fatalf("Location = %q", d.Header.Get("Location"))
	}
	rv.mu.Lock()
	calls, auth := rv.calls, rv.auth
	rv.mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("%d revocation calls, want 2 (refresh and access token)", len(calls))
	}
	hints := map[string]string{}
	for i, form := range calls {
		if auth[i] != "POST application/x-www-form-urlencoded kong-web:web-secret" {
			t.Errorf("revocation call %d: %q, want a form POST with client_secret_basic", i, auth[i])
		}
		if len(form) != 2 {
			t.Errorf("revocation call %d: form %v, want token and token_type_hint only", i, form)
		}
		hints[form.Get("token_type_hint")] = form.Get("token")
	}
	if hints["refresh_token"] != "rt-1" {
		t.Errorf("refresh token revoked: %q, want rt-1", hints["refresh_token"])
	}
	if at := hints["access_token"]; strings.Count(at, ".") != 2 || displayClaims(at).String("sub") != "alice" {
		t.Errorf("access token revoked: %q, want the session's", at)
	}

	// The copied cookie: its access token still verifies until it expires;
	// then the refresh is refused (the refresh token is revoked) and the
	// copy is sent back to login.
	e.iss.SetTokenHandler(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if rv.isRevoked(r.PostForm.Get("refresh_token")) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": e.iss.Mint(t, e.atClaims("alice", 5*time.Minute, "kong_group")), "token_type": "Bearer",
			"expires_in": 300, "refresh_token": "rt-2",
		})
	})
	wantPass(t, e.decide(request("GET", "/web/page", copied, nil)))
	e.clock.Add(6 * time.Minute)
	d = e.decide(request("GET", "/web/page", copied, nil))
	wantStatus(t, d, http.StatusFound)
	if d.Reason != ReasonLogin {
		t.Fatalf("the copied cookie after logout: %s, want login", d.Reason)
	}
}

func TestLogoutSurvivesRevocationFailures(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter, form url.Values)
		down    bool
		wantErr string // "" = no failure logged
	}{
		{"ok", func(w http.ResponseWriter, _ url.Values) { w.WriteHeader(200) }, false, ""},
		{"access token type unsupported", func(w http.ResponseWriter, form url.Values) {
			if form.Get("token_type_hint") == "access_token" {
				w.WriteHeader(400)
				_, _ = w.Write([]byte(`{"error":"unsupported_token_type"}`))
			}
		}, false, ""},
		{"server error", func(w http.ResponseWriter, _ url.Values) { w.WriteHeader(500) }, false, "status 500"},
		{"bad client", func(w http.ResponseWriter, _ url.Values) {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		}, false, "invalid_client"},
		{"slower than timeout", nil, false, "exceeded"}, // blocks until the call gives up: see below
		{"discovery down", nil, true, "not revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slow := tt.name == "slower than timeout"
			e := newEnv(t, func(r *config.Raw) {
				if slow {
					// Only this case needs a short timeout; it still
					// leaves the login before it room on a loaded machine.
					ms := 1000
					r.Timeout = &ms
				}
			})
			set := e.login("alice", "kong_group")
			if tt.answer != nil {
				e.iss.SetRevokeHandler((&revocations{revoked: map[string]bool{}}).handler(tt.answer))
			}
			if slow {
				// Answers only after the plugin gave up (its timeout ended
				// the request), or after far longer than the timeout.
				e.iss.SetRevokeHandler(func(w http.ResponseWriter, r *http.Request) {
					_ = r.ParseForm() // the request's context ends on disconnect once its body is read
					select {
					case <-r.Context().Done():
					case <-time.After(20 * time.Second):
						w.WriteHeader(http.StatusOK)
					}
				})
			}
			if tt.down {
				// A fresh engine (no cached metadata) for the same
				// config, whose issuer is down: nothing can be revoked.
				down := testissuer.New(t)
				e = newEnvWith(t, down, e.clock, func(r *config.Raw) {
					r.Issuer = sp(e.iss.URL)
				})
				e.iss.SetDown(true)
			}
			d := e.decide(request("GET", "/web/logout", cookieHeader(set), nil))
			wantStatus(t, d, http.StatusFound)
			cleared := strings.Join(d.Header.Values("Set-Cookie"), "\n")
			if !strings.Contains(cleared, "okta_session=; ") || !strings.Contains(cleared, "Max-Age=0") {
				t.Fatalf("the session was not cleared: %s", cleared)
			}
			if d.Header.Get("Location") == "" {
				t.Fatal("no redirect")
			}
			switch {
			case tt.wantErr == "" && d.Err != nil:
				t.Fatalf("a failure was reported: %v", d.Err)
			case tt.wantErr != "" && (d.Err == nil || !strings.Contains(d.Err.Error(), tt.wantErr)):
				t.Fatalf("Err = %v, want one naming %q", d.Err, tt.wantErr)
			case d.Err != nil && (strings.Contains(d.Err.Error(), "rt-1") || strings.Contains(d.Err.Error(), "web-secret")):
				t.Fatalf("Err holds a token or secret: %v", d.Err)
			}
		})
	}
}
