// Package stack starts the whole local stack the way a platform team would
// run it on Kong: the dev gateway driving the real okta-oidc plugin server
// with the repository's kong.yml, the OpenID provider standing in for Okta,
// and go-httpbin as the upstream. Integration tests, browser tests and
// `make demo` use it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/testredis"
	"github.com/okta-oidc/okta-oidc/test/idp"
)

// The fixed addresses kong.yml is written for.
const (
	GatewayAddr = "127.0.0.1:8000"
	IdPPort     = 9400
	HTTPBinAddr = "127.0.0.1:9402"
	// RedisPort is where kong.yml's session_storage: redis routes find
	// Redis (redis_port).
	RedisPort = 6390
	// Gateway2Addr is the second gateway ("Kong node 2") when
	// Options.SecondGateway is set.
	Gateway2Addr = "127.0.0.1:8010"
	// BackchannelLogoutURI is kong-web's back-channel logout URI at the
	// provider: kong.yml's /webr route on the first gateway.
	BackchannelLogoutURI = "http://" + GatewayAddr + "/webr/backchannel-logout"
)

// Options configure Start.
type Options struct {
	KongYML string    // default: the repository's kong.yml
	Dir     string    // binaries, sockets and logs; default: a new temp dir
	Log     io.Writer // every process's output; nil discards it
	// AccessTokenTTL for the web client's tokens (default 1h).
	AccessTokenTTL time.Duration
	// ProviderPort, when not zero, moves the provider off IdPPort: it
	// listens there while its issuer stays http://127.0.0.1:9400/oauth2/default,
	// so the caller serves IdPPort itself (a fault proxy forwarding to
	// ProviderURL) once Start returns.
	ProviderPort int
	// SecondGateway starts a second dev gateway on Gateway2Addr with its
	// own plugin server and the same kong.yml: two Kong nodes sharing the
	// Redis on RedisPort.
	SecondGateway bool
	// NoWait makes Start fail at once when another stack holds the lock
	// (make demo), instead of waiting for it (test suites).
	NoWait bool
}

// Stack is a running stack.
type Stack struct {
	GatewayURL string // http://127.0.0.1:8000
	Issuer     string // http://127.0.0.1:9400/oauth2/default
	HTTPBinURL string // http://127.0.0.1:9402
	Dir        string
	// ProviderURL is where the provider listens: http://127.0.0.1:9400, or
	// the ProviderPort when set.
	ProviderURL string
	// Gateway2URL is the second gateway (http://127.0.0.1:8010), when
	// Options.SecondGateway is set.
	Gateway2URL string
	// Redis is the redis-server on RedisPort; nil when redis-server is not
	// installed (outside CI).
	Redis *testredis.Server

	idpOpts idp.Options
	idp     *idp.Server
	mu      sync.Mutex
	procs   []*exec.Cmd
	lock    *os.File
	ownDir  bool // Dir was made by Start: Stop removes it (unless KEEP_STACK=1)
}

// lockPath serializes stacks on one machine: they use fixed ports, and
// `go test ./...` runs the integration and browser packages in parallel.
// OKTA_OIDC_STACK_LOCK moves it (a test that holds the real lock while it
// occupies a port runs a stack with a lock of its own).
var lockPath = func() string {
	if p := os.Getenv("OKTA_OIDC_STACK_LOCK"); p != "" {
		return p
	}
	return filepath.Join(os.TempDir(), "okta-oidc-stack.lock")
}()

// LockPath returns the lock file that serializes stacks on this machine.
func LockPath() string { return lockPath }

// ErrBusy is returned by Start with NoWait when another stack runs.
var ErrBusy = errors.New("another okta-oidc stack is running (make demo or a test suite): stop it first")

// Root returns the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Build compiles the plugin server, the dev gateway and go-httpbin into dir.
// -buildvcs=false: a checkout owned by another uid (compose's tests
// container runs as root on a bind mount) makes git, and so go build, refuse
// to stamp VCS data; nothing reads the stamp.
func Build(ctx context.Context, dir string) error {
	for _, b := range []struct{ out, pkg string }{
		{"okta-oidc", "./cmd/okta-oidc"},
		{"kong-devgw", "./cmd/kong-devgw"},
		{"go-httpbin", "github.com/mccutchen/go-httpbin/v2/cmd/go-httpbin"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = Root()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("stack: building %s: %w\n%s", b.pkg, err, out)
		}
	}
	return nil
}

// Start builds and starts everything and waits until the gateway answers.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.KongYML == "" {
		o.KongYML = filepath.Join(Root(), "kong.yml")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	s := &Stack{GatewayURL: "http://" + GatewayAddr, HTTPBinURL: "http://" + HTTPBinAddr}
	if s.lock, err = os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := syscall.Flock(int(s.lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("stack: locking %s: %w", lockPath, err)
		}
		if o.NoWait {
			return nil, fmt.Errorf("stack: %w (lock %s)", ErrBusy, lockPath)
		}
		if err := syscall.Flock(int(s.lock.Fd()), syscall.LOCK_EX); err != nil {
			return nil, fmt.Errorf("stack: waiting for another stack: %w", err)
		}
	}
	// With the lock held no other stack runs: a port in use belongs to
	// something else, and waiting would not free it.
	ports := []string{GatewayAddr, HTTPBinAddr, fmt.Sprintf("127.0.0.1:%d", IdPPort)}
	if o.ProviderPort != 0 {
		ports[2] = fmt.Sprintf("127.0.0.1:%d", o.ProviderPort)
	}
	if err := PortsFree(ports...); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "okta-oidc-stack-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	s.Dir = o.Dir
	if err := Build(ctx, o.Dir); err != nil {
		return nil, err
	}
	s.idpOpts = idp.Options{
		Port:                   IdPPort,
		RedirectURIs:           []string{s.GatewayURL + "/web/callback", s.GatewayURL + "/webr/callback"},
		PostLogoutRedirectURIs: []string{s.GatewayURL + "/web/signed-out"},
		AccessTokenTTL:         o.AccessTokenTTL,
		Env:                    []string{"BACKCHANNEL_LOGOUT_URI=" + BackchannelLogoutURI},
		Stdout:                 prefixed(o.Log, "idp"),
		Stderr:                 prefixed(o.Log, "idp"),
	}
	if o.ProviderPort != 0 {
		s.idpOpts.Port = o.ProviderPort
		s.idpOpts.Env = append(s.idpOpts.Env, fmt.Sprintf("ISSUER=http://127.0.0.1:%d%s", IdPPort, idp.IssuerPath))
	}
	if s.idp, err = idp.Start(ctx, s.idpOpts); err != nil {
		return nil, fmt.Errorf("stack: provider: %w", err)
	}
	s.Issuer, s.ProviderURL = s.idp.Issuer, s.idp.URL
	host, port, _ := strings.Cut(HTTPBinAddr, ":")
	if err := s.start(o, "httpbin", filepath.Join(o.Dir, "go-httpbin"), nil, "-host", host, "-port", port); err != nil {
		return nil, err
	}
	switch {
	case testredis.Available():
		redisDir := filepath.Join(o.Dir, "redis")
		if err := os.MkdirAll(redisDir, 0o700); err != nil {
			return nil, err
		}
		if s.Redis, err = testredis.Run(RedisPort, redisDir); err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
	case os.Getenv("CI") == "true":
		return nil, errors.New("stack: redis-server is not installed (apt-get install redis-server)")
	}
	if err := s.startGateway(o, "gateway", GatewayAddr, o.Dir); err != nil {
		return nil, err
	}
	if o.SecondGateway {
		dir2 := filepath.Join(o.Dir, "node2")
		if err := os.MkdirAll(dir2, 0o700); err != nil {
			return nil, err
		}
		if err := s.startGateway(o, "gateway2", Gateway2Addr, dir2); err != nil {
			return nil, err
		}
		s.Gateway2URL = "http://" + Gateway2Addr
	}
	if err := waitHTTP(ctx, s.HTTPBinURL+"/get", 200); err != nil {
		return nil, fmt.Errorf("stack: httpbin: %w", err)
	}
	if err := waitHTTP(ctx, s.GatewayURL+"/public/get", 200); err != nil {
		return nil, fmt.Errorf("stack: gateway: %w", err)
	}
	// The plugin server is started by the gateway: wait until it serves.
	if err := waitHTTP(ctx, s.GatewayURL+"/api/get", 401); err != nil {
		return nil, fmt.Errorf("stack: plugin server: %w", err)
	}
	if s.Gateway2URL != "" {
		if err := waitHTTP(ctx, s.Gateway2URL+"/api/get", 401); err != nil {
			return nil, fmt.Errorf("stack: second gateway: %w", err)
		}
	}
	return s, nil
}

// startGateway starts a dev gateway on addr with its own prefix directory
// (plugin server socket, logs), running the plugin binary built in o.Dir.
func (s *Stack) startGateway(o Options, name, addr, prefix string) error {
	plugin := filepath.Join(o.Dir, "okta-oidc")
	env := []string{
		"KONG_PLUGINS=bundled,okta-oidc",
		"KONG_PLUGINSERVER_NAMES=okta-oidc",
		"KONG_PLUGINSERVER_OKTA_OIDC_SOCKET=" + filepath.Join(prefix, "okta-oidc.socket"),
		"KONG_PLUGINSERVER_OKTA_OIDC_START_CMD=" + plugin + " -kong-prefix " + prefix,
		"KONG_PLUGINSERVER_OKTA_OIDC_QUERY_CMD=" + plugin + " -dump",
	}
	return s.start(o, name, filepath.Join(o.Dir, "kong-devgw"), env,
		"-config", o.KongYML, "-listen", addr, "-prefix", prefix)
}

// StopRedis stops the stack's Redis, keeping its data for StartRedis (as a
// Redis with persistence would).
func (s *Stack) StopRedis() error {
	if s.Redis == nil {
		return errors.New("stack: no redis-server")
	}
	return s.Redis.StopKeepingData()
}

// StartRedis starts the stack's Redis again after StopRedis.
func (s *Stack) StartRedis() error {
	if s.Redis == nil {
		return errors.New("stack: no redis-server")
	}
	return s.Redis.Restart()
}

func (s *Stack) start(o Options, name, bin string, env []string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = prefixed(o.Log, name)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("stack: starting %s: %w", name, err)
	}
	s.mu.Lock()
	s.procs = append(s.procs, cmd)
	s.mu.Unlock()
	return nil
}

// RestartProvider stops the provider and starts a new one with the same
// options: a clean slate with a new signing key (a key rotation).
func (s *Stack) RestartProvider(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.idp.Stop(); err != nil {
		return fmt.Errorf("stack: stopping the provider: %w", err)
	}
	p, err := idp.Start(ctx, s.idpOpts)
	if err != nil {
		return fmt.Errorf("stack: restarting the provider: %w", err)
	}
	s.idp = p
	return nil
}

// PluginPIDs returns the process ids of running plugin servers started by
// this stack's (first) gateway.
func (s *Stack) PluginPIDs() []int { return s.pluginPIDs(s.Dir) }

// Plugin2PIDs returns those of the second gateway.
func (s *Stack) Plugin2PIDs() []int { return s.pluginPIDs(filepath.Join(s.Dir, "node2")) }

// pluginPIDs finds the plugin servers started with -kong-prefix prefix.
func (s *Stack) pluginPIDs(prefix string) []int {
	want := filepath.Join(s.Dir, "okta-oidc")
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != want {
			continue
		}
		args, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if a := strings.Split(strings.TrimRight(string(args), "\x00"), "\x00"); len(a) >= 2 && a[len(a)-2] == "-kong-prefix" && a[len(a)-1] != prefix {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// Stop stops every process, the gateway first.
func (s *Stack) Stop() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	if s.idp != nil {
		_ = s.idp.Stop()
	}
	if s.Redis != nil {
		s.Redis.Stop()
	}
	if s.ownDir && os.Getenv("KEEP_STACK") != "1" {
		_ = os.RemoveAll(s.Dir)
		s.ownDir = false
	}
	if s.lock != nil {
		_ = s.lock.Close() // releases the flock
		s.lock = nil
	}
}

// Kept reports whether Stop leaves the stack's folder behind (KEEP_STACK=1).
func (s *Stack) Kept() bool { return !s.ownDir || os.Getenv("KEEP_STACK") == "1" }

// PortsFree returns an error naming every address that cannot be listened
// on, with the system's reason ("address already in use").
func PortsFree(addrs ...string) error {
	var errs []error
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (another program listens there: stop it or free the port)", a, unwrapSyscall(err)))
			continue
		}
		_ = l.Close()
	}
	return errors.Join(errs...)
}

// unwrapSyscall turns "listen tcp 127.0.0.1:8000: bind: address already in
// use" into "address already in use".
func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

func waitHTTP(ctx context.Context, url string, status int) error {
	deadline := time.Now().Add(60 * time.Second)
	c := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var last error
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return nil
			}
			err = fmt.Errorf("status %d, want %d", resp.StatusCode, status)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return errors.Join(errors.New("not ready after 60s"), last)
}

type prefixWriter struct {
	mu  *sync.Mutex
	w   io.Writer
	pfx string
	buf []byte
}

var logMu sync.Mutex

func prefixed(w io.Writer, name string) io.Writer {
	if w == io.Discard {
		return w
	}
	return &prefixWriter{mu: &logMu, w: w, pfx: "[" + name + "] "}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(p.w, "%s%s\n", p.pfx, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
