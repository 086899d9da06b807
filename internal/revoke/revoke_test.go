package revoke

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type call struct {
	user, pass, token, hint, ctype string
	extra                          int // other form fields
}

func server(t *testing.T, answer func(w http.ResponseWriter, c call)) (*httptest.Server, func() []call) {
	var (
		mu    sync.Mutex
		calls []call
	)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(405)
			return
		}
		_ = r.ParseForm()
		c := call{token: r.PostForm.Get("token"), hint: r.PostForm.Get("token_type_hint"), ctype: r.Header.Get("Content-Type")}
		c.user, c.pass, _ = r.BasicAuth()
		c.extra = len(r.PostForm) - 2
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		answer(w, c)
	}))
	t.Cleanup(s.Close)
	return s, func() []call {
		mu.Lock()
		defer mu.Unlock()
		return append([]call(nil), calls...)
	}
}

const (
	refresh = "refresh-token-value"
	access  = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
)

func TestAllRevokesBothTokens(t *testing.T) {
	s, calls := server(t, func(w http.ResponseWriter, _ call) { w.WriteHeader(200) })
	c := &Client{HTTP: s.Client(), ClientID: "kong web", ClientSecret: "s3cret:&="}
	err := c.All(context.Background(), s.URL, Token{refresh, HintRefresh}, Token{access, HintAccess}, Token{"", HintAccess})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]call{}
	for _, c := range calls() {
		got[c.hint] = c
	}
	if len(calls()) != 2 {
		t.Fatalf("%d calls, want 2 (an empty token is not sent)", len(calls()))
	}
	for hint, tok := range map[string]string{HintRefresh: refresh, HintAccess: access} {
		c := got[hint]
		if c.token != tok || c.extra != 0 || c.ctype != "application/x-www-form-urlencoded" {
			t.Errorf("%s: call %+v", hint, c)
		}
		// client_secret_basic: each credential form-encoded, then Basic.
		if c.user != "kong+web" || c.pass != "s3cret%3A%26%3D" {
			t.Errorf("%s: Basic auth %q:%q", hint, c.user, c.pass)
		}
	}
}

func TestRevokeAnswers(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		unsupported bool
		fails       bool
		wantInErr   string
	}{
		{"ok", 200, "", false, false, ""},
		{"unsupported type", 400, `{"error":"unsupported_token_type","error_description":"revocation of the presented token type is not supported"}`, true, false, ""},
		{"bad client", 401, `{"error":"invalid_client"}`, false, true, "status 401 invalid_client"},
		{"server error", 500, `<html>` + refresh + `</html>`, false, true, "status 500"},
		{"free text code", 400, `{"error":"see ` + refresh + `"}`, false, true, "status 400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := server(t, func(w http.ResponseWriter, _ call) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			c := &Client{HTTP: s.Client(), ClientID: "id", ClientSecret: "secret"}
			err := c.Revoke(context.Background(), s.URL, Token{refresh, HintRefresh})
			if errors.Is(err, ErrUnsupported) != tt.unsupported || (err != nil) != (tt.fails || tt.unsupported) {
				t.Fatalf("err = %v", err)
			}
			if err != nil && (!strings.Contains(err.Error(), tt.wantInErr) || strings.Contains(err.Error(), refresh) || strings.Contains(err.Error(), "secret")) {
				t.Fatalf("err = %q", err)
			}
			all := c.All(context.Background(), s.URL, Token{refresh, HintRefresh})
			if (all != nil) != tt.fails {
				t.Fatalf("All: %v (an unsupported type is not a failure)", all)
			}
		})
	}
}

func TestAllIsBoundedByTheContext(t *testing.T) {
	release := make(chan struct{})
	s, _ := server(t, func(w http.ResponseWriter, _ call) { <-release })
	defer close(release)
	c := &Client{HTTP: s.Client(), ClientID: "id", ClientSecret: "secret"}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.All(ctx, s.URL, Token{refresh, HintRefresh}, Token{access, HintAccess})
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), refresh) || strings.Contains(err.Error(), access) {
		t.Fatalf("err = %v, want the deadline, without tokens", err)
	}
}

func TestNoEndpoint(t *testing.T) {
	c := &Client{HTTP: http.DefaultClient}
	if err := c.All(context.Background(), "", Token{refresh, HintRefresh}); err == nil || !strings.Contains(err.Error(), "revocation_endpoint") {
		t.Fatalf("err = %v", err)
	}
}
