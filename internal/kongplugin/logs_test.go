package kongplugin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Kong/go-pdk/test"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/session"
	"github.com/okta-oidc/okta-oidc/internal/sessionstore"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
	"github.com/okta-oidc/okta-oidc/internal/testredis"
	"github.com/okta-oidc/okta-oidc/internal/token"
)

// TestLogsNeverHoldSecretsOnSessionPaths drives the session paths that log
// (Redis unavailable with redis_password set, back-channel logout refusals,
// refresh failures, log_denials on a session route) and checks that no
// token, cookie value, session secret, client secret or Redis password
// reaches any log line, even where the IdP echoes what it was sent.
func TestLogsNeverHoldSecretsOnSessionPaths(t *testing.T) {
	const (
		redisPW       = "redis-pw-Zq81vX"
		sessionSecret = "session-secret-0123456789abcdef-Kp2"
		clientSecret  = "client-secret-Wm4tY"
	)
	srv := testredis.StartWith(t, "--requirepass", redisPW)
	iss := testissuer.New(t)
	port := srv.Port
	cfg := &Config{
		Issuer: sp(iss.URL), ClientID: sp("kong-web"), ClientSecret: sp(clientSecret),
		RedirectURI: sp("https://gw.example/cb"), SessionSecret: sp(sessionSecret),
		AuthMethods: []string{"session", "authorization_code"}, AudienceRequired: []string{"api://default"},
		GroupsRequired: []string{"kong_group"}, LogDenials: bp(true),
		SessionStorage: sp("redis"), RedisHost: sp("127.0.0.1"), RedisPort: &port, RedisPassword: sp(redisPW),
		BackchannelLogoutPath: sp("/bc"),
	}
	parsed, err := config.Parse((*config.Raw)(cfg))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sessionstore.NewRedis(sessionstore.RedisOptions{
		Settings: parsed.Redis, Secrets: parsed.SessionSecrets, Issuer: parsed.Issuer, ClientID: parsed.ClientID,
		CookieName: parsed.Cookie.Name, Absolute: parsed.AbsoluteTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{redisPW, sessionSecret, clientSecret}
	// login stores a session whose access token is minted from claims and
	// returns its Cookie header value.
	login := func(claims map[string]any, refresh string) string {
		t.Helper()
		at, idt := iss.Mint(t, claims), iss.Mint(t, with(claims, "aud", "kong-web"))
		now := time.Now()
		s := session.Session{Subject: "alice", SID: "sid-" + rand.Text(), AccessToken: at, RefreshToken: refresh, IDToken: idt,
			AccessExpiry: time.Unix(claims["exp"].(int64), 0), Created: now, LastSeen: now}
		cs, err := store.Save(context.Background(), &s)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, c := range cs {
			parts = append(parts, c.Name+"="+c.Value)
			secrets = append(secrets, c.Value)
		}
		secrets = append(secrets, at, idt, strings.Split(at, ".")[2], strings.Split(idt, ".")[2])
		if refresh != "" {
			secrets = append(secrets, refresh)
		}
		return strings.Join(parts, "; ")
	}
	var logs []string
	// step runs one request and expects its status and, if mustLog, a log line.
	step := func(name string, req test.Request, status int, mustLog bool) {
		t.Helper()
		env, calls := run(t, cfg, req)
		if env.ClientRes.Status != status {
			t.Fatalf("%s: status %d, want %d (calls %q, logs %q)", name, env.ClientRes.Status, status, calls, lastLogs)
		}
		if mustLog && len(lastLogs) == 0 {
			t.Fatalf("%s: nothing logged (calls %q)", name, calls)
		}
		logs = append(logs, lastLogs...)
	}
	page := func(cookie string) test.Request {
		return test.Request{Method: "GET", Url: "http://gw.example/web/page", Headers: http.Header{
			"Cookie": {cookie}, "Accept": {"text/html"},
		}}
	}

	// log_denials on a session route: a session outside kong_group.
	outsider := iss.Claims(time.Now())
	outsider["groups"] = []string{"everyone"}
	step("session denied", page(login(outsider, "")), http.StatusForbidden, true)

	// Refresh failures. The IdP echoes the refresh token and the client
	// credentials it was sent.
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			u, p, _ := r.BasicAuth()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant",
				"error_description": "refresh_token " + r.PostForm.Get("refresh_token") + " client " + u + ":" + p + " " + r.PostForm.Get("client_secret")})
		}
	}
	expired := iss.Claims(time.Now().Add(-2 * time.Hour))
	iss.SetTokenHandler(echo(http.StatusBadRequest))
	env, _ := run(t, cfg, page(login(expired, "refresh-token-"+rand.Text())))
	if env.ClientRes.Status == http.StatusOK {
		t.Fatal("refused refresh: the request passed")
	}
	logs = append(logs, lastLogs...)
	iss.SetTokenHandler(echo(http.StatusInternalServerError))
	step("refresh, IdP error", page(login(expired, "refresh-token-"+rand.Text())), http.StatusServiceUnavailable, true)
	iss.SetTokenHandler(nil)

	// Back-channel logout refusals: the logout_token never reaches a log.
	now := time.Now()
	lc := map[string]any{
		"iss": iss.URL, "aud": "kong-web", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text(),
		"sub": "alice", "events": map[string]any{token.BackchannelLogoutEvent: map[string]any{}},
	}
	for name, tok := range map[string]string{
		"nonce":       testissuer.Sign(t, iss.Signer(), with(lc, "nonce", "n"), nil),
		"foreign key": testissuer.Sign(t, testissuer.NewRSAKey(t, iss.Signer().ID), lc, nil),
		"other aud":   testissuer.Sign(t, iss.Signer(), with(lc, "aud", "other"), nil),
	} {
		secrets = append(secrets, tok, strings.Split(tok, ".")[2])
		body := "logout_token=" + tok
		step("logout token: "+name, test.Request{Method: "POST", Url: "http://gw.example/bc",
			Headers: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Content-Length": {strconv.Itoa(len(body))}},
			Body:    []byte(body)}, http.StatusBadRequest, false)
	}

	// Redis down: the session route fails closed, and says so in the log.
	live := login(iss.Claims(time.Now()), "refresh-token-"+rand.Text())
	step("Redis up", page(live), 0, false) // a pass: no response of the plugin's
	srv.Stop()
	step("Redis down", page(live), http.StatusServiceUnavailable, true)

	if len(logs) < 3 {
		t.Fatalf("only %d log lines: %q", len(logs), logs)
	}
	for _, line := range logs {
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line holds a secret (%.12s…): %s", s, line)
			}
		}
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}
