package devgw

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	pluginOnce sync.Once
	pluginBin  string
	pluginErr  error
	buildDir   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testPlugin builds testdata/pdkplugin once; the binary (and so the plugin
// name go-pdk reports) is "devgw-test".
func testPlugin(t *testing.T) string {
	t.Helper()
	pluginOnce.Do(func() {
		buildDir, pluginErr = os.MkdirTemp("", "dgwbin")
		if pluginErr != nil {
			return
		}
		pluginBin = filepath.Join(buildDir, "devgw-test")
		out, err := exec.Command("go", "build", "-buildvcs=false", "-o", pluginBin, "./testdata/pdkplugin").CombinedOutput()
		if err != nil {
			pluginErr = fmt.Errorf("building the test plugin: %v\n%s", err, out)
		}
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
	return pluginBin
}

// upstreamRecorder is the test service.
type upstreamRecorder struct {
	srv  *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last *http.Request
}

func newUpstream(t *testing.T) *upstreamRecorder {
	u := &upstreamRecorder{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Clone(r.Context())
		u.mu.Unlock()
		w.Header().Set("X-Upstream", "yes")
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstreamRecorder) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

type e2eEnv struct {
	gw     *Gateway
	log    *syncBuffer
	prefix string
	events string
	up     *upstreamRecorder
	cfg    string
}

func pluginEnv(bin, prefix, plugins string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"KONG_PLUGINS=" + plugins,
		"KONG_PLUGINSERVER_NAMES=devgw-test",
		"KONG_PLUGINSERVER_DEVGW_TEST_START_CMD=" + bin + " -kong-prefix " + prefix,
		"KONG_PLUGINSERVER_DEVGW_TEST_QUERY_CMD=" + bin + " -dump",
		"DEVGW_TEST_EVENTS=" + filepath.Join(prefix, "events.jsonl"),
	}
}

func startE2E(t *testing.T, workers int, trusted []string, yml func(up string) string) *e2eEnv {
	t.Helper()
	bin := testPlugin(t)
	e := &e2eEnv{log: &syncBuffer{}, prefix: shortTempDir(t), up: newUpstream(t)}
	e.events = filepath.Join(e.prefix, "events.jsonl")
	e.cfg = filepath.Join(e.prefix, "kong.yml")
	writeTestFile(t, e.cfg, yml(e.up.srv.URL))
	e.gw = startGateway(t, Options{ConfigPath: e.cfg, Listen: "127.0.0.1:0", Prefix: e.prefix, Workers: workers,
		TrustedIPs: trusted, LogLevel: "debug", Env: pluginEnv(bin, e.prefix, "bundled,devgw-test"), BinDir: e.prefix}, e.log)
	waitReady(t, e)
	return e
}

// waitReady waits for the plugin server socket (Kong does not wait: early
// requests would get 500).
func waitReady(t *testing.T, e *e2eEnv) {
	t.Helper()
	sock := filepath.Join(e.prefix, "devgw-test.socket")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("plugin server never listened on %s", sock)
}

type startEvent struct {
	PID    int            `json:"pid"`
	Config map[string]any `json:"config"`
}

func readEvents(t *testing.T, path string) []startEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	var out []startEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev startEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

func waitLog(t *testing.T, log *syncBuffer, substr string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(log.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q", substr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const mainConfig = `_format_version: "3.0"
services:
- name: up
  url: %[1]s/base
  routes:
  - name: echo
    paths: [/echo]
    plugins:
    - name: devgw-test
      config: {mode: echo, tags: []}
  - name: echo-max
    paths: [/echo-max]
    plugins:
    - name: devgw-test
      config: {mode: echo, max_headers: 2}
  - name: exit
    paths: [/exit]
    plugins:
    - name: devgw-test
      config: {mode: exit, status: 418, body: "short and stout", headers: {X-Exit: "a|b"}}
  - name: pass
    paths: [/pass]
    plugins:
    - name: devgw-test
      config: {mode: upstream}
  - name: unknown
    paths: [/unknown]
    plugins: [{name: devgw-test, config: {mode: unknown}}]
  - name: unimplemented
    paths: [/unimplemented]
    plugins: [{name: devgw-test, config: {mode: unimplemented}}]
  - name: ctx
    paths: [/ctx]
    plugins: [{name: devgw-test, config: {mode: ctx}}]
  - name: log
    paths: [/log]
    plugins: [{name: devgw-test, config: {mode: log}}]
  - name: plain
    paths: [/api]
  - name: plain-v1
    paths: [/api/v1]
    strip_path: false
- name: hosted
  url: %[1]s/hosted
  routes:
  - name: hosted
    hosts: [example.test]
    paths: [/api]
    preserve_host: true
- name: posts
  url: %[1]s/posts/
  routes:
  - name: posts
    methods: [POST]
    paths: [/api]
- name: down
  url: http://127.0.0.1:1
  routes:
  - name: down
    paths: [/down]
`

func TestE2E(t *testing.T) {
	e := startE2E(t, 2, nil, func(up string) string { return fmt.Sprintf(mainConfig, up) })
	snap := e.gw.snap.Load()
	pluginFor := func(route string) *pluginEntity {
		for _, pe := range snap.plugins {
			if pe.Route != nil && pe.Route.Name == route {
				return pe
			}
		}
		t.Fatalf("no plugin on route %s", route)
		return nil
	}
	_, gwPort, _ := net.SplitHostPort(e.gw.Addr())

	t.Run("dump", func(t *testing.T) {
		info := e.gw.infos["devgw-test"]
		if info == nil || info.Priority != 1000 || info.Version != "0.1.0" || strings.Join(info.Phases, ",") != "access" {
			t.Fatalf("dumped info = %+v", info)
		}
	})

	t.Run("echo: injected keys and request getters", func(t *testing.T) {
		hdr := http.Header{"X-Test-Header": {"hi"}, "X-Multi": {"1", "2"}, "X-Forwarded-Host": {"evil.test"},
			"X-Forwarded-Proto": {"https"}, "X_underscore": {"kept"}}
		resp, body := do(t, "GET", e.gw.URL()+"/echo/a//b?a=1&a=2&flag", hdr, "Example.Test:1234")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var got struct {
			Config          map[string]json.RawMessage `json:"config"`
			Headers         map[string][]string        `json:"headers"`
			Header          string                     `json:"header"`
			MissingHeader   string                     `json:"missing_header"`
			Path            string                     `json:"path"`
			PathWithQuery   string                     `json:"path_with_query"`
			RawQuery        string                     `json:"raw_query"`
			Query           map[string][]string        `json:"query"`
			QueryArgA       string                     `json:"query_arg_a"`
			Scheme          string                     `json:"scheme"`
			Host            string                     `json:"host"`
			Port            int                        `json:"port"`
			Method          string                     `json:"method"`
			ForwardedScheme string                     `json:"forwarded_scheme"`
			ForwardedHost   string                     `json:"forwarded_host"`
			ForwardedPort   int                        `json:"forwarded_port"`
			HTTPVersion     float64                    `json:"http_version"`
			ClientIP        string                     `json:"client_ip"`
			VarRequestURI   string                     `json:"var_request_uri"`
			VarUpstreamURI  string                     `json:"var_upstream_uri"`
			RouteName       string                     `json:"route_name"`
			ServiceName     string                     `json:"service_name"`
			Errors          []string                   `json:"errors"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		pe := pluginFor("echo")
		wantRaw := map[string]string{
			"route_id":    strconv.Quote(pe.Route.ID),
			"__plugin_id": strconv.Quote(pe.ID),
			"__key__":     strconv.Quote("plugins:devgw-test:" + pe.Route.ID + "::::" + defaultWorkspaceID),
			"__ws_id":     strconv.Quote(defaultWorkspaceID),
			"mode":        `"echo"`,
			"tags":        `[]`,
			"body":        `null`,
			"nested":      `null`,
			"headers":     `null`,
		}
		for k, v := range wantRaw {
			if string(got.Config[k]) != v {
				t.Errorf("config[%s] = %s, want %s", k, got.Config[k], v)
			}
		}
		if _, ok := got.Config["service_id"]; ok {
			t.Errorf("service_id must be omitted for a route plugin")
		}
		if seq, err := strconv.Atoi(string(got.Config["__seq__"])); err != nil || seq < 1 {
			t.Errorf("__seq__ = %s", got.Config["__seq__"])
		}
		for k := range got.Headers {
			if k != strings.ToLower(k) {
				t.Errorf("header key %q not lower-case", k)
			}
		}
		if strings.Join(got.Headers["x-multi"], ",") != "1,2" || got.Headers["host"][0] != "Example.Test:1234" {
			t.Errorf("headers = %v", got.Headers)
		}
		if v := got.Headers["x_underscore"]; len(v) != 1 || v[0] != "kept" {
			t.Errorf("a header with underscores must reach the plugin under its own lower-cased name (underscores_in_headers on): %v", got.Headers)
		}
		checkAll(t, []check{
			{"get_header(X_Test-Header)", got.Header, "hi"},
			{"missing header", got.MissingHeader, ""},
			{"path", got.Path, "/echo/a/b"},
			{"path_with_query", got.PathWithQuery, "/echo/a//b?a=1&a=2&flag"},
			{"raw_query", got.RawQuery, "a=1&a=2&flag"},
			{"query a", strings.Join(got.Query["a"], ","), "1,2"},
			{"query_arg a", got.QueryArgA, "1"},
			{"scheme", got.Scheme, "http"},
			{"host", got.Host, "example.test"},
			{"port", strconv.Itoa(got.Port), gwPort},
			{"method", got.Method, "GET"},
			{"forwarded scheme (untrusted)", got.ForwardedScheme, "http"},
			{"forwarded host (untrusted)", got.ForwardedHost, "example.test"},
			{"forwarded port", strconv.Itoa(got.ForwardedPort), gwPort},
			{"http version", fmt.Sprint(got.HTTPVersion), "1.1"},
			{"client ip", got.ClientIP, "127.0.0.1"},
			{"nginx request_uri", got.VarRequestURI, "/echo/a//b?a=1&a=2&flag"},
			{"nginx upstream_uri", got.VarUpstreamURI, "/base/a/b"},
			{"route", got.RouteName, "echo"},
			{"service", got.ServiceName, "up"},
			{"errors", strings.Join(got.Errors, ";"), ""},
			{"Server", resp.Header.Get("Server"), serverHeader},
			{"Content-Type", resp.Header.Get("Content-Type"), "application/json"},
		})
		if resp.Header.Get("X-Kong-Response-Latency") == "" || len(resp.Header.Get("X-Kong-Request-Id")) != 32 {
			t.Errorf("kong headers missing: %v", resp.Header)
		}
	})

	t.Run("get_headers honours max", func(t *testing.T) {
		hdr := http.Header{"X-A": {"1"}, "X-B": {"2"}, "X-C": {"3"}}
		_, body := do(t, "GET", e.gw.URL()+"/echo-max", hdr, "")
		var got struct {
			Headers map[string][]string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range got.Headers {
			n += len(v)
		}
		if n != 2 || got.Headers["host"] == nil {
			t.Errorf("GetHeaders(2) returned %d values: %v", n, got.Headers)
		}
	})

	t.Run("exit reaches the client with Kong's headers", func(t *testing.T) {
		hits := e.up.hits.Load()
		resp, body := do(t, "GET", e.gw.URL()+"/exit", nil, "")
		checkExit(t, resp, body, 418, "short and stout", "X-Exit", "a,b")
		if resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) || resp.Header.Get("Server") != serverHeader ||
			resp.Header.Get("X-Kong-Response-Latency") == "" || len(resp.Header.Get("X-Kong-Request-Id")) != 32 ||
			resp.Header.Get("Via") != "" {
			t.Errorf("headers: %v", resp.Header)
		}
		if e.up.hits.Load() != hits {
			t.Errorf("exit must not reach the upstream")
		}
	})

	t.Run("service request headers reach the upstream", func(t *testing.T) {
		hdr := http.Header{"X-Remove-Me": {"gone"}, "X-Forwarded-For": {"10.0.0.1"}, "Via": {"1.0 proxy"}}
		resp, body := do(t, "GET", e.gw.URL()+"/pass/sub?q=1", hdr, "")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		up := e.up.lastRequest()
		upHost := strings.TrimPrefix(e.up.srv.URL, "http://")
		checkAll(t, []check{
			{"path", up.URL.Path, "/base/sub"},
			{"query", up.URL.RawQuery, "q=1"},
			{"Host", up.Host, upHost},
			{"X-From-Plugin", up.Header.Get("X-From-Plugin"), "set"},
			{"X-Added", strings.Join(up.Header.Values("X-Added"), ","), "one,two"},
			{"X-Remove-Me", up.Header.Get("X-Remove-Me"), ""},
			{"get_header sees set_header", up.Header.Get("X-Seen-By-Plugin"), "set"},
			{"get_header sees clear_header", up.Header.Get("X-Removed-Seen"), "[]"},
			{"X-Forwarded-For", up.Header.Get("X-Forwarded-For"), "10.0.0.1, 127.0.0.1"},
			{"X-Forwarded-Proto", up.Header.Get("X-Forwarded-Proto"), "http"},
			{"X-Forwarded-Host", up.Header.Get("X-Forwarded-Host"), "127.0.0.1"},
			{"X-Forwarded-Port", up.Header.Get("X-Forwarded-Port"), gwPort},
			{"X-Forwarded-Path", up.Header.Get("X-Forwarded-Path"), "/pass/sub"},
			{"X-Forwarded-Prefix", up.Header.Get("X-Forwarded-Prefix"), "/pass"},
			{"X-Real-IP", up.Header.Get("X-Real-IP"), "127.0.0.1"},
			{"Via upstream", up.Header.Get("Via"), "1.0 proxy, 1.1 " + serverHeader},
			{"request id upstream", up.Header.Get("X-Kong-Request-Id"), resp.Header.Get("X-Kong-Request-Id")},
			{"Via downstream", resp.Header.Get("Via"), "1.1 " + serverHeader},
			{"Server", resp.Header.Get("Server"), serverHeader},
			{"X-Resp-Plugin", resp.Header.Get("X-Resp-Plugin"), "r1"},
			{"X-Resp-Added", resp.Header.Get("X-Resp-Added"), "a1"},
			{"X-Upstream", resp.Header.Get("X-Upstream"), "yes"},
			{"X-Kong-Response-Latency", resp.Header.Get("X-Kong-Response-Latency"), ""},
		})
		for _, h := range []string{"X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency"} {
			if _, err := strconv.Atoi(resp.Header.Get(h)); err != nil {
				t.Errorf("%s = %q", h, resp.Header.Get(h))
			}
		}
	})

	t.Run("route matching and strip_path", func(t *testing.T) {
		cases := []struct {
			method, path, host string
			status             int
			upPath, upHost     string
		}{
			{"GET", "/api/x", "", 200, "/base/x", ""},
			{"GET", "/apix", "", 200, "/base/x", ""},
			{"GET", "/api", "", 200, "/base", ""},
			{"GET", "/api/v1/y", "", 200, "/base/api/v1/y", ""},
			{"GET", "/api/x", "example.test", 200, "/hosted/x", "example.test"},
			{"POST", "/api/x", "", 200, "/posts/x", ""},
			{"GET", "/API/x", "", 404, "", ""},
			{"GET", "/nothing", "", 404, "", ""},
		}
		for _, c := range cases {
			resp, body := do(t, c.method, e.gw.URL()+c.path, nil, c.host)
			if resp.StatusCode != c.status {
				t.Errorf("%s %s (host %q): status %d, want %d (%s)", c.method, c.path, c.host, resp.StatusCode, c.status, body)
				continue
			}
			if c.status == 404 {
				var m map[string]string
				if err := json.Unmarshal([]byte(body), &m); err != nil || m["message"] != "no Route matched with those values" {
					t.Errorf("404 body %q", body)
				}
				continue
			}
			up := e.up.lastRequest()
			if up.URL.Path != c.upPath {
				t.Errorf("%s %s (host %q): upstream path %q, want %q", c.method, c.path, c.host, up.URL.Path, c.upPath)
			}
			if c.upHost != "" && up.Host != c.upHost {
				t.Errorf("preserve_host: upstream Host %q, want %q", up.Host, c.upHost)
			}
		}
	})

	t.Run("unknown and unimplemented PDK methods fail with 500", func(t *testing.T) {
		for path, method := range map[string]string{"/unknown": `"kong.no_such.method"`, "/unimplemented": `"kong.node.get_memory_stats"`} {
			hits := e.up.hits.Load()
			resp, body := do(t, "GET", e.gw.URL()+path, nil, "")
			var m map[string]string
			if resp.StatusCode != 500 || json.Unmarshal([]byte(body), &m) != nil || m["message"] != "An unexpected error occurred" || m["request_id"] == "" {
				t.Errorf("%s: %d %q", path, resp.StatusCode, body)
			}
			if e.up.hits.Load() != hits {
				t.Errorf("%s reached the upstream", path)
			}
			if !strings.Contains(e.log.String(), method) {
				t.Errorf("log does not name %s", method)
			}
		}
	})

	t.Run("ctx.shared", func(t *testing.T) {
		_, body := do(t, "GET", e.gw.URL()+"/ctx", nil, "")
		var m struct {
			V          string   `json:"v"`
			MissingErr string   `json:"missing_err"`
			Errors     []string `json:"errors"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil || m.V != "v" || m.MissingErr != "expected type: string" || len(m.Errors) != 0 {
			t.Errorf("%q (%v)", body, err)
		}
	})

	t.Run("kong.log", func(t *testing.T) {
		resp, _ := do(t, "GET", e.gw.URL()+"/log", nil, "")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if !strings.Contains(e.log.String(), "[error] [kong] pb_rpc.lua:233 hello from the plugin 42, client: 127.0.0.1, server: kong, request: \"GET /log HTTP/1.1\"") {
			t.Errorf("plugin log line missing (Kong's core logger, called from pb_rpc.lua:233)")
		}
	})

	t.Run("upstream down gives 502", func(t *testing.T) {
		resp, body := do(t, "GET", e.gw.URL()+"/down", http.Header{"Accept": {"application/json"}}, "")
		var m map[string]string
		if resp.StatusCode != 502 || json.Unmarshal([]byte(body), &m) != nil ||
			m["message"] != "An invalid response was received from the upstream server" {
			t.Errorf("%d %q", resp.StatusCode, body)
		}
	})

	t.Run("one StartInstance per worker per config, again after reload", func(t *testing.T) {
		pe := pluginFor("echo")
		echo4 := func() {
			t.Helper()
			for i := 0; i < 4; i++ {
				if resp, body := do(t, "GET", e.gw.URL()+"/echo", nil, ""); resp.StatusCode != 200 {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
			}
		}
		echo4()
		starts := func() []float64 {
			var seqs []float64
			for _, ev := range readEvents(t, e.events) {
				if ev.Config["__plugin_id"] == pe.ID {
					seqs = append(seqs, ev.Config["__seq__"].(float64))
				}
			}
			return seqs
		}
		before := starts()
		if len(before) != 2 || before[0] == before[1] {
			t.Fatalf("StartInstance for the echo config: seqs %v, want 2 distinct (one per worker)", before)
		}
		if err := e.gw.Reload(); err != nil {
			t.Fatal(err)
		}
		echo4()
		after := starts()
		if len(after) != 4 || after[2] <= before[1] || after[3] <= before[1] {
			t.Fatalf("after reload seqs %v, want two more with higher __seq__", after)
		}
		waitLog(t, e.log, fmt.Sprintf("closed instance %d", int(before[0])))
		waitLog(t, e.log, fmt.Sprintf("closed instance %d", int(before[1])))
	})
}

func TestE2ETrustedIPs(t *testing.T) {
	e := startE2E(t, 1, []string{"127.0.0.0/8"}, func(up string) string {
		return oneRouteConfig("up", up, "echo", "devgw-test", "{mode: echo}")
	})
	hdr := http.Header{"X-Forwarded-Host": {"user@Public.Example:8443"}, "X-Forwarded-Proto": {"HTTPS"}, "X-Real-IP": {"203.0.113.7"}}
	_, body := do(t, "GET", e.gw.URL()+"/echo", hdr, "")
	var got struct {
		ForwardedScheme string `json:"forwarded_scheme"`
		ForwardedHost   string `json:"forwarded_host"`
		ForwardedPort   int    `json:"forwarded_port"`
		ForwardedIP     string `json:"forwarded_ip"`
		ClientIP        string `json:"client_ip"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.ForwardedScheme != "https" || got.ForwardedHost != "public.example" || got.ForwardedPort != 8443 ||
		got.ForwardedIP != "203.0.113.7" || got.ClientIP != "127.0.0.1" {
		t.Errorf("trusted forwarded getters: %+v", got)
	}
}

func TestE2EPluginServerRestart(t *testing.T) {
	e := startE2E(t, 2, nil, func(up string) string {
		return oneRouteConfig("up", up, "p", "devgw-test", "{mode: panic}")
	})
	url := e.gw.URL() + "/p"
	oks := int64(0)
	request := func(h http.Header) int {
		resp, _ := do(t, "GET", url, h, "")
		if resp.StatusCode == 200 {
			oks++
		}
		if got := e.up.hits.Load(); got != oks {
			t.Fatalf("upstream hits %d != successful responses %d: a failed request was proxied", got, oks)
		}
		return resp.StatusCode
	}
	if st := request(nil); st != 200 {
		t.Fatalf("first request: %d", st)
	}
	if e.up.lastRequest().Header.Get("X-Plugin-Ran") != "yes" {
		t.Fatalf("plugin did not run")
	}
	waitRecovery := func(oldPID int) {
		t.Helper()
		start := time.Now()
		for {
			st := request(nil)
			if st == 200 {
				break
			}
			if st != 500 {
				t.Fatalf("unexpected status %d while the plugin server is down", st)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("plugin server not back after %v", time.Since(start))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("recovery took %v", d)
		}
		if pid := e.gw.PluginServerPID("devgw-test"); pid == 0 || pid == oldPID {
			t.Errorf("plugin server pid %d (old %d): not respawned", pid, oldPID)
		}
	}

	// Kong's lifecycle lines (kong/runloop/plugin_servers/process.lua@3.9.1)
	pid := e.gw.PluginServerPID("devgw-test")
	waitLog(t, e.log, "[notice] [kong] process.lua:158 [pluginserver] started, pid "+strconv.Itoa(pid))

	// 1. a handler panic kills the server (go-pdk has no recover)
	if st := request(http.Header{"X-Panic": {"now"}}); st != 500 {
		t.Fatalf("panicking request: %d, want 500", st)
	}
	waitLog(t, e.log, "panic: boom: asked to panic")
	waitRecovery(pid)

	// 2. the server is killed from outside
	pid = e.gw.PluginServerPID("devgw-test")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitLog(t, e.log, fmt.Sprintf("[kong] process.lua:173 external pluginserver 'devgw-test' terminated: signal %d", int(syscall.SIGKILL)))
	waitRecovery(pid)

	// 3. shutdown
	pid = e.gw.PluginServerPID("devgw-test")
	e.gw.Close()
	waitLog(t, e.log, fmt.Sprintf("[notice] [kong] process.lua:213 [pluginserver] successfully stopped pluginserver 'devgw-test', pid %d", pid))
}

func TestE2EStartupChecks(t *testing.T) {
	bin := testPlugin(t)
	dir := shortTempDir(t)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeTestFile(t, p, content)
		return p
	}
	plugin := func(config string) string {
		return oneRouteConfig("s", "http://127.0.0.1:9", "r", "devgw-test", config)
	}
	badPrio := write("prio.json", `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"devgw-test","Phases":["access"],"Version":"1.0.0","Priority":"high","Schema":{"name":"x","fields":[{"config":{"type":"record","fields":[]}}]}}]}`)
	badVer := write("ver.json", `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"devgw-test","Phases":["access"],"Version":"1.0.0.1","Priority":5,"Schema":{"name":"x","fields":[{"config":{"type":"record","fields":[]}}]}}]}`)
	cases := []struct {
		name    string
		config  string
		env     []string
		wantErr []string
	}{
		{"valid", plugin("{mode: echo, status: 200}"), nil, nil},
		{"unknown field", plugin("{mode: echo, foo: bar}"), nil,
			[]string{"in 'plugins':", "- in entry 1 of 'plugins':", "in 'config':", "in 'foo': unknown field",
				"plugin 'devgw-test' (entry 1 of 'plugins' of route 'r'): config.foo: unknown field"}},
		{"wrong types", plugin("{status: x, flag: 1, tags: a, headers: [], nested: {count: 1.5}}"), nil,
			[]string{"config.status: expected an integer", "config.flag: expected a boolean", "config.tags: expected an array",
				"config.nested.count: expected an integer"}},
		{"not enabled", plugin("{}"), []string{"KONG_PLUGINS=bundled"},
			[]string{"plugin 'devgw-test' not enabled; add it to the 'plugins' configuration property"}},
		{"enabled but not installed", plugin("{}"), []string{"KONG_PLUGINS=bundled,devgw-test,other-plugin"},
			[]string{"error loading plugin schemas: on plugin 'other-plugin': other-plugin plugin is enabled but not installed"}},
		{"query output not JSON", plugin("{}"), []string{"KONG_PLUGINSERVER_DEVGW_TEST_QUERY_CMD=echo hello"},
			[]string{"Not a plugin info table"}},
		{"priority", plugin("{}"), []string{"KONG_PLUGINSERVER_DEVGW_TEST_QUERY_CMD=cat " + badPrio},
			[]string{`Plugin "devgw-test" cannot be loaded because its PRIORITY field is not a valid integer number, got: "high"`}},
		{"version", plugin("{}"), []string{"KONG_PLUGINSERVER_DEVGW_TEST_QUERY_CMD=cat " + badVer},
			[]string{`Plugin "devgw-test" cannot be loaded because its VERSION field does not follow the "x.y.z" format, got: "1.0.0.1"`}},
		{"no query command", plugin("{}"), []string{"KONG_PLUGINSERVER_NAMES=devgw-test,Other-Server"},
			[]string{"query_command undefined for pluginserver other-server"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := write("kong.yml", tc.config)
			env := append(pluginEnv(bin, dir, "bundled,devgw-test"), tc.env...)
			g, err := New(Options{ConfigPath: cfg, Prefix: dir, Env: env, Log: io.Discard, BinDir: dir})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				g.Close()
				return
			}
			if err == nil {
				g.Close()
				t.Fatalf("expected an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}
