// Package idp runs a local stand-in for an Okta custom authorization server
// ("/oauth2/default") for tests and demos.
//
// The server is node-oidc-provider (an OpenID Certified OP) configured by test/idp/server.mjs
// to use Okta's URL layout (/v1/authorize, /v1/token, /v1/keys, ...), RS256 JWT access tokens
// with aud "api://default", an Okta-style "scp" array, "cid", "uid" and "groups" claims, and the
// static users and clients named by the constants below. It needs Node.js (20 or later) on PATH
// (or OKTA_IDP_NODE pointing at a node binary); node_modules is installed with "npm ci" on first
// use. State is kept in memory: every Start is a clean slate.
package idp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Clients registered in the provider.
const (
	// WebClientID is the confidential web client: authorization_code (PKCE required) and
	// refresh_token, client_secret_basic.
	WebClientID     = "kong-web"
	WebClientSecret = "kong-web-secret"

	// M2MClientID is a client_credentials client allowed the scopes "kong.read kong.write".
	M2MClientID     = "kong-m2m"
	M2MClientSecret = "kong-m2m-secret"

	// M2MShortClientID is like M2MClientID but its access tokens live Options.ShortTTL.
	M2MShortClientID     = "kong-m2m-short"
	M2MShortClientSecret = "kong-m2m-short-secret"

	// IntrospectClientID has no grants; it is meant for calling /v1/introspect.
	IntrospectClientID     = "kong-introspect"
	IntrospectClientSecret = "kong-introspect-secret"
)

// Users and their attributes. Both users have the password Password.
const (
	Alice      = "alice"
	AliceEmail = "alice@example.com"
	AliceName  = "Alice Example"
	Bob        = "bob"
	BobEmail   = "bob@example.com"
	BobName    = "Bob Example"
	Password   = "Passw0rd!"

	// GroupKong is alice's extra group; GroupEveryone is everybody's.
	// groups claim: alice ["kong_group","everyone"], bob ["everyone"].
	GroupKong     = "kong_group"
	GroupEveryone = "everyone"
)

// Scopes, audiences and resource indicators.
const (
	ScopeRead  = "kong.read"
	ScopeWrite = "kong.write"

	// DefaultAudience is the aud of access tokens when no resource parameter is sent.
	DefaultAudience = "api://default"
	// OtherAudience is selected with resource=api://other (for wrong-audience tests).
	OtherAudience = "api://other"
	// OpaqueResource (resource=urn:opaque) yields an opaque access token that the provider
	// itself introspects and revokes.
	OpaqueResource = "urn:opaque"

	// IssuerPath is the path of the issuer, like an Okta custom authorization server.
	IssuerPath = "/oauth2/default"
	// DefaultPort is the port server.mjs uses when PORT is not set.
	DefaultPort = 9400
)

// Defaults used by server.mjs when the matching Options field is empty.
const (
	DefaultRedirectURI           = "http://127.0.0.1:8000/web/callback"
	DefaultPostLogoutRedirectURI = "http://127.0.0.1:8000/"
	DefaultAccessTokenTTL        = time.Hour
	DefaultShortTTL              = 2 * time.Second
)

// Options configures Start. The zero value is usable.
type Options struct {
	// Port to listen on (on 127.0.0.1, or HOST from Env). 0 picks a free port.
	Port int
	// RedirectURIs and PostLogoutRedirectURIs of the kong-web client
	// (defaults DefaultRedirectURI and DefaultPostLogoutRedirectURI).
	RedirectURIs, PostLogoutRedirectURIs []string
	// AccessTokenTTL is the lifetime of kong-web's access tokens (default 1h).
	// ShortTTL is the lifetime of kong-m2m-short's access tokens (default 2s).
	// Both are rounded up to whole seconds.
	AccessTokenTTL, ShortTTL time.Duration
	// Env holds extra KEY=value settings for server.mjs (e.g. "SKIP_CONSENT=0",
	// "FIXED_PASSWORD=", "ISSUER=..."); they win over the fields above.
	Env []string
	// Stdout and Stderr receive the server's output; nil discards it.
	Stdout, Stderr io.Writer
}

// Server is a running provider.
type Server struct {
	// Issuer is e.g. "http://127.0.0.1:9400/oauth2/default".
	Issuer string
	// URL is the listening base URL, e.g. "http://127.0.0.1:9400".
	URL string
	// Port is the listening port.
	Port int

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// settings that Start controls; inherited values are dropped so that a stray PORT or ISSUER in
// the caller's environment can't change the server.
var controlledEnv = []string{
	"HOST", "PORT", "ISSUER", "REDIRECT_URIS", "POST_LOGOUT_REDIRECT_URIS",
	"ACCESS_TOKEN_TTL", "SHORT_TTL", "FIXED_PASSWORD", "SKIP_CONSENT", "BACKCHANNEL_LOGOUT_URI",
}

const startTimeout = 30 * time.Second

// Start runs server.mjs with node and waits until its discovery document answers.
// Cancelling ctx after Start returned also stops the server (as exec.CommandContext does);
// call Stop when done either way.
func Start(ctx context.Context, opt Options) (*Server, error) {
	node, err := nodePath()
	if err != nil {
		return nil, err
	}
	if err := ensureNodeModules(ctx); err != nil {
		return nil, err
	}
	host := envValue(opt.Env, "HOST", "127.0.0.1")
	const attempts = 3
	for i := 1; ; i++ {
		port := opt.Port
		if port == 0 {
			if port, err = freePort(host); err != nil {
				return nil, err
			}
		}
		s, err := start(ctx, node, host, port, opt)
		if err == nil {
			return s, nil
		}
		// A port picked here may have been taken in between: try another one.
		if opt.Port != 0 || i == attempts || !errors.Is(err, errAddrInUse) {
			return nil, err
		}
	}
}

var errAddrInUse = errors.New("address in use")

func start(ctx context.Context, node, host string, port int, opt Options) (*Server, error) {
	env := make([]string, 0, len(os.Environ())+16)
	for _, kv := range os.Environ() {
		if !isControlled(kv) {
			env = append(env, kv)
		}
	}
	env = append(env, "HOST="+host, "PORT="+strconv.Itoa(port))
	if len(opt.RedirectURIs) > 0 {
		env = append(env, "REDIRECT_URIS="+strings.Join(opt.RedirectURIs, ","))
	}
	if len(opt.PostLogoutRedirectURIs) > 0 {
		env = append(env, "POST_LOGOUT_REDIRECT_URIS="+strings.Join(opt.PostLogoutRedirectURIs, ","))
	}
	if opt.AccessTokenTTL > 0 {
		env = append(env, "ACCESS_TOKEN_TTL="+strconv.Itoa(seconds(opt.AccessTokenTTL)))
	}
	if opt.ShortTTL > 0 {
		env = append(env, "SHORT_TTL="+strconv.Itoa(seconds(opt.ShortTTL)))
	}
	env = append(env, opt.Env...)

	cmd := exec.CommandContext(ctx, node, "server.mjs")
	cmd.Dir = Dir()
	cmd.Env = env
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	setParentDeathSignal(cmd)

	stderrTail := &tailBuffer{max: 8 << 10}
	if opt.Stderr != nil {
		cmd.Stderr = io.MultiWriter(stderrTail, opt.Stderr)
	} else {
		cmd.Stderr = stderrTail
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("idp: starting %s server.mjs: %w", node, err)
	}

	s := &Server{
		Port: port,
		URL:  "http://" + net.JoinHostPort(host, strconv.Itoa(port)),
		cmd:  cmd,
		done: make(chan struct{}),
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if iss, ok := strings.CutPrefix(line, "ready "); ok {
				select {
				case ready <- strings.TrimSpace(iss):
				default:
				}
			}
			if opt.Stdout != nil {
				fmt.Fprintln(opt.Stdout, line)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	fail := func(err error) (*Server, error) {
		_ = s.Stop()
		tail := strings.TrimSpace(stderrTail.String())
		if strings.Contains(tail, "EADDRINUSE") {
			err = fmt.Errorf("%w (%w)", err, errAddrInUse)
		}
		if tail != "" {
			err = fmt.Errorf("%w\nserver.mjs stderr:\n%s", err, tail)
		}
		return nil, err
	}

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case s.Issuer = <-ready:
	case <-s.done:
		return fail(fmt.Errorf("idp: server.mjs exited before it was ready: %v", s.waitErr))
	case <-timer.C:
		return fail(fmt.Errorf("idp: server.mjs not ready after %s", startTimeout))
	case <-ctx.Done():
		return fail(fmt.Errorf("idp: start: %w", ctx.Err()))
	}

	// Wait until this server's discovery answers with our issuer (asked at
	// the listening address: ISSUER may name a proxy in front of it).
	client := &http.Client{Timeout: 2 * time.Second}
	iss, err := url.Parse(s.Issuer)
	if err != nil {
		return fail(fmt.Errorf("idp: bad issuer %q: %w", s.Issuer, err))
	}
	discovery := s.URL + iss.Path + "/.well-known/openid-configuration"
	var lastErr error
	for {
		var doc struct {
			Issuer string `json:"issuer"`
		}
		lastErr = getJSON(ctx, client, discovery, &doc)
		if lastErr == nil && doc.Issuer == s.Issuer {
			return s, nil
		}
		if lastErr == nil {
			lastErr = fmt.Errorf("discovery says issuer %q, want %q", doc.Issuer, s.Issuer)
		}
		select {
		case <-s.done:
			return fail(fmt.Errorf("idp: server.mjs exited: %v", s.waitErr))
		case <-timer.C:
			return fail(fmt.Errorf("idp: %s did not answer within %s: %w", discovery, startTimeout, lastErr))
		case <-ctx.Done():
			return fail(fmt.Errorf("idp: start: %w", ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM, kills the process if it hasn't exited after 5s, and waits for it.
// It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if s.waitErr != nil {
			var ee *exec.ExitError
			if errors.As(s.waitErr, &ee) && ee.ProcessState != nil {
				if st, ok := ee.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() &&
					(st.Signal() == syscall.SIGTERM || st.Signal() == syscall.SIGKILL) {
					return // stopped by us
				}
			}
			s.stopErr = fmt.Errorf("idp: server.mjs: %w", s.waitErr)
		}
	})
	return s.stopErr
}

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// ClientCredentialsToken runs the client_credentials grant at /v1/token with HTTP Basic client
// authentication and returns the access token. scope and resource are sent when not empty.
func (s *Server) ClientCredentialsToken(ctx context.Context, clientID, secret, scope, resource string) (string, error) {
	return ClientCredentials(ctx, s.Issuer, clientID, secret, scope, resource)
}

// ClientCredentials runs the client_credentials grant at issuer's /v1/token (any provider
// with Okta's URL layout, e.g. one behind a proxy or run by docker compose) like
// Server.ClientCredentialsToken.
func ClientCredentials(ctx context.Context, issuer, clientID, secret, scope, resource string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/v1/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("idp: token request for %s: %s: %s", clientID, resp.Status, bytes.TrimSpace(body))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return "", fmt.Errorf("idp: token response: %w", err)
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("idp: token response without access_token: %s", body)
	}
	return tok.AccessToken, nil
}

// Dir returns the absolute path of test/idp (where server.mjs and package.json are).
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("idp: runtime.Caller failed")
	}
	return filepath.Dir(file)
}

// nodePath finds the node binary: $OKTA_IDP_NODE, else node on PATH.
func nodePath() (string, error) {
	if p := os.Getenv("OKTA_IDP_NODE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("idp: OKTA_IDP_NODE: %w", err)
		}
		return p, nil
	}
	p, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("idp: Node.js is required to run the test IdP (test/idp/server.mjs) but node was not found on PATH (or set OKTA_IDP_NODE): %w", err)
	}
	return p, nil
}

// ensureNodeModules runs "npm ci" in Dir() when node_modules is missing, incomplete or doesn't
// match package-lock.json. A file lock keeps concurrent test binaries from installing twice.
func ensureNodeModules(ctx context.Context) error {
	dir := Dir()
	if nodeModulesOK(dir) {
		return nil
	}
	unlock, err := lockFile(filepath.Join(os.TempDir(), "okta-idp-npm-"+shortHash(dir)+".lock"))
	if err != nil {
		return fmt.Errorf("idp: locking npm install: %w", err)
	}
	defer unlock()
	if nodeModulesOK(dir) {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("idp: %s/node_modules is missing and npm was not found on PATH; run \"npm ci\" in %s: %w", dir, dir, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("idp: npm ci --no-audit --no-fund in %s failed: %w\n%s", dir, err, out)
	}
	if !nodeModulesOK(dir) {
		return fmt.Errorf("idp: npm ci in %s did not install oidc-provider", dir)
	}
	return nil
}

// nodeModulesOK reports whether npm finished installing (it writes node_modules/.package-lock.json
// last) and the installed oidc-provider has the version in package-lock.json.
func nodeModulesOK(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		return false
	}
	var installed struct {
		Version string `json:"version"`
	}
	if !readJSON(filepath.Join(dir, "node_modules", "oidc-provider", "package.json"), &installed) {
		return false
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if !readJSON(filepath.Join(dir, "package-lock.json"), &lock) {
		return false
	}
	want := lock.Packages["node_modules/oidc-provider"].Version
	return want != "" && installed.Version == want
}

func readJSON(path string, v any) bool {
	b, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(b, v) == nil
}

func shortHash(s string) string {
	// FNV-1a, enough to keep lock files of different checkouts apart.
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return strconv.FormatUint(h, 36)
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("idp: picking a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func isControlled(kv string) bool {
	k, _, _ := strings.Cut(kv, "=")
	for _, c := range controlledEnv {
		if k == c {
			return true
		}
	}
	return false
}

// envValue returns the last value of key in env, or def.
func envValue(env []string, key, def string) string {
	v := def
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
