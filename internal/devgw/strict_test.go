package devgw

// Tests for what Kong's nginx does before and around a plugin: header
// names as sent (underscores_in_headers on), large_client_header_buffers,
// unique header lines, and PDK arguments decoded like lua-protobuf 0.5.2.

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// rawExchange sends raw bytes to addr and reads one response.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// rawUpstream records request heads byte for byte.
type rawUpstream struct {
	ln    net.Listener
	mu    sync.Mutex
	heads []string
}

func newRawUpstream(t *testing.T) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(l)
					if l == "\r\n" {
						break
					}
				}
				u.mu.Lock()
				u.heads = append(u.heads, head.String())
				u.mu.Unlock()
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			}()
		}
	}()
	return u
}

func (u *rawUpstream) last() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.heads) == 0 {
		return ""
	}
	return u.heads[len(u.heads)-1]
}

// pointAt makes the fake environment's route proxy to url.
func (e *fakeEnv) pointAt(t *testing.T, url string) {
	t.Helper()
	writeTestFile(t, e.cfgPath, oneRouteConfig("up", url, "r", "fake", "{mode: x}"))
	if err := e.gw.Reload(); err != nil {
		t.Fatal(err)
	}
}

func events(calls []fakeCall) int {
	n := 0
	for _, c := range calls {
		if c.kind == "event" {
			n++
		}
	}
	return n
}

func TestUnderscoreHeadersReachPluginAndUpstreamAsSent(t *testing.T) {
	e := startFake(t, 1, 3, func(f *fakeServer) {
		f.steps = []pdkStep{
			{"kong.request.get_headers", &kpp.Int{V: 100}},
			{"kong.request.get_header", &kpp.String{V: "x-probe"}},
			{"kong.request.get_header", &kpp.String{V: "X_AUTHENTICATED_USERID"}},
			{"kong.service.request.set_header", &kpp.KV{K: "X-Authenticated-Userid", V: structpb.NewStringValue("ours")}},
		}
	})
	up := newRawUpstream(t)
	e.pointAt(t, "http://"+up.ln.Addr().String())
	resp, body := rawExchange(t, e.gw.Addr(), "GET /r HTTP/1.1\r\nHost: gw.test\r\nX_Probe: u\r\nX-Probe: d\r\n"+
		"X_Authenticated_Userid: admin\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	_, replies := e.fake.settled(4)
	if len(replies) != 4 {
		t.Fatalf("replies %+v", replies)
	}
	var st structpb.Struct
	if err := proto.Unmarshal(replies[0].data, &st); err != nil {
		t.Fatal(err)
	}
	hs := st.AsMap()
	if hs["x_probe"] != "u" || hs["x-probe"] != "d" || hs["x_authenticated_userid"] != "admin" {
		t.Errorf("get_headers keys must be the lower-cased names as sent, '-' and '_' distinct: %v", hs)
	}
	var s kpp.String
	_ = proto.Unmarshal(replies[1].data, &s)
	// $http_x_probe joins both spellings ("u, d"); a value holding ", " is
	// looked up again in get_headers(), where the key "x-probe" is "d"
	if s.V != "d" {
		t.Errorf("get_header(x-probe) = %q, want d (kong/tools/http.lua's \", \" fallback)", s.V)
	}
	_ = proto.Unmarshal(replies[2].data, &s)
	if s.V != "admin" {
		t.Errorf("get_header(X_AUTHENTICATED_USERID) = %q", s.V)
	}
	head := up.last()
	for _, want := range []string{"\r\nX_Probe: u\r\n", "\r\nX-Probe: d\r\n", "\r\nX_Authenticated_Userid: admin\r\n", "\r\nX-Authenticated-Userid: ours\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("upstream head lacks %q (set_header replaces only the exact name, like Kong):\n%s", want, head)
		}
	}
}

func TestHeaderBuffersLikeNginx(t *testing.T) {
	line := func(name string, total int) string { // a header line of total bytes, CRLF included
		return name + ": " + strings.Repeat("a", total-len(name)-4) + "\r\n"
	}
	req := func(lines ...string) string {
		return "GET /r HTTP/1.1\r\nHost: gw.test\r\nAccept: application/json\r\n" + strings.Join(lines, "") + "Connection: close\r\n\r\n"
	}
	cases := []struct {
		name    string
		buffers string
		raw     string
		status  int
		message string
	}{
		{"cookie line of exactly 8k", "", req(line("Cookie", 8192)), 200, ""},
		{"cookie line one byte over 8k", "", req(line("Cookie", 8193)), 400, "Request header or cookie too large"},
		{"four 7000-byte lines fill the four buffers", "", req(line("X-A", 7000), line("X-B", 7000), line("X-C", 7000), line("X-D", 7000)), 200, ""},
		{"a fifth one needs a fifth buffer", "", req(line("X-A", 7000), line("X-B", 7000), line("X-C", 7000), line("X-D", 7000), line("X-E", 7000)), 400, "Request header or cookie too large"},
		{"16k buffers take a 12k cookie", "4 16k", req(line("Cookie", 12000)), 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startFakeWith(t, func(o *Options) { o.LargeClientHeaderBuffers = tc.buffers })
			checkHeadOutcome(t, e, tc.raw, tc.status, tc.message)
		})
	}
	t.Run("request line over 8k: 414, Accept never read", func(t *testing.T) {
		e := startFake(t, 1, 3, nil)
		resp, body := rawExchange(t, e.gw.Addr(), "GET /r?"+strings.Repeat("q", 8200)+" HTTP/1.1\r\nHost: gw.test\r\nAccept: application/json\r\n\r\n")
		if resp.StatusCode != 414 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
			!strings.HasPrefix(body, "URI too long\nrequest_id: ") {
			t.Errorf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
	t.Run("no Accept: error_default_type text/plain", func(t *testing.T) {
		e := startFake(t, 1, 3, nil)
		resp, body := rawExchange(t, e.gw.Addr(), "GET /r HTTP/1.1\r\nHost: gw.test\r\n"+line("Cookie", 9000)+"\r\n")
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
			!strings.HasPrefix(body, "Request header or cookie too large\nrequest_id: ") {
			t.Errorf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
}

// checkKongRefusal checks a refusal answered by Kong's error handler with
// a JSON body.
func checkKongRefusal(t *testing.T, resp *http.Response, body, message string) {
	t.Helper()
	var m struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.Message != message || len(m.RequestID) != 32 {
		t.Errorf("body %q, want Kong's JSON with message %q (%v)", body, message, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if v := resp.Header.Values("WWW-Authenticate"); len(v) != 0 {
		t.Errorf("WWW-Authenticate %q on an nginx refusal", v)
	}
	if resp.Header.Get("Server") != serverHeader || !resp.Close {
		t.Errorf("headers %v", resp.Header)
	}
}

func TestUniqueHeaderLinesLikeNginx(t *testing.T) {
	const h = "Host: gw.test\r\nAccept: application/json\r\n"
	cases := []struct {
		name    string
		raw     string
		status  int
		message string
	}{
		{"repeated Authorization", "GET /r HTTP/1.1\r\n" + h + "Authorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n", 400, "Bad request"},
		{"repeated Host", "GET /r HTTP/1.1\r\nAccept: application/json\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Bad request"},
		{"repeated Content-Length", "POST /r HTTP/1.1\r\n" + h + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400, "Bad request"},
		{"Content-Length with Transfer-Encoding", "POST /r HTTP/1.1\r\n" + h + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Bad request"},
		{"HTTP/1.1 without Host", "GET /r HTTP/1.1\r\nAccept: application/json\r\n\r\n", 400, "Bad request"},
		{"TRACE", "TRACE /r HTTP/1.1\r\n" + h + "\r\n", 405, "Method not allowed"},
		{"repeated ordinary header passes", "GET /r HTTP/1.1\r\n" + h + "X-Multi: 1\r\nX-Multi: 2\r\nConnection: close\r\n\r\n", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startFake(t, 1, 3, nil)
			checkHeadOutcome(t, e, tc.raw, tc.status, tc.message)
		})
	}
}

func TestLargeClientHeaderBuffersSetting(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want HeaderBuffers
		err  string
	}{
		{"", DefaultHeaderBuffers, ""},
		{"KONG_NGINX_PROXY_LARGE_CLIENT_HEADER_BUFFERS=4 16k", HeaderBuffers{4, 16384}, ""},
		{"KONG_NGINX_HTTP_LARGE_CLIENT_HEADER_BUFFERS=8 1m", HeaderBuffers{8, 1 << 20}, ""},
		{"KONG_NGINX_PROXY_LARGE_CLIENT_HEADER_BUFFERS=16k", HeaderBuffers{}, "large_client_header_buffers"},
	} {
		dir := shortTempDir(t)
		dump := filepath.Join(dir, "dump.json")
		writeTestFile(t, dump, fakeDump)
		cfg := filepath.Join(dir, "kong.yml")
		writeTestFile(t, cfg, oneRouteConfig("up", "http://127.0.0.1:9", "r", "fake", "{mode: x}"))
		env := []string{"KONG_PLUGINS=bundled,fake", "KONG_PLUGINSERVER_NAMES=fake", "KONG_PLUGINSERVER_FAKE_QUERY_CMD=cat " + dump}
		if tc.env != "" {
			env = append(env, tc.env)
		}
		g, err := New(Options{ConfigPath: cfg, Prefix: dir, Env: env, Log: io.Discard, BinDir: dir})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.env, err, tc.err)
			}
			if g != nil {
				g.Close()
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.env, err)
		}
		if g.headerBuffers != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.env, g.headerBuffers, tc.want)
		}
		g.Close()
	}
}

func TestZeroScalarsArriveAsZeroValues(t *testing.T) {
	t.Run("SetRawQuery(\"\") empties the query", func(t *testing.T) {
		e := startFake(t, 1, 3, func(f *fakeServer) {
			f.steps = []pdkStep{{"kong.service.request.set_raw_query", &kpp.String{V: ""}}}
		})
		up := newRawUpstream(t)
		e.pointAt(t, "http://"+up.ln.Addr().String())
		resp, body := get(t, e.gw.URL()+"/r/x?access_token=secret", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if first, _, _ := strings.Cut(up.last(), "\r\n"); first != "GET /x HTTP/1.1" {
			t.Errorf("upstream request line %q, want no query", first)
		}
	})
	t.Run("get_header(\"\") is nil", func(t *testing.T) {
		e := startFake(t, 1, 3, func(f *fakeServer) {
			f.steps = []pdkStep{{"kong.request.get_header", &kpp.String{V: ""}}}
		})
		if resp, body := get(t, e.gw.URL()+"/r", nil); resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		_, replies := e.fake.settled(1)
		if len(replies) != 1 || replies[0].noReply || len(replies[0].data) != 0 {
			t.Errorf("replies %+v", replies)
		}
	})
	t.Run("GetHeaders(0) asks Kong for 0 headers: it throws, 500", func(t *testing.T) {
		e := startFake(t, 1, 3, func(f *fakeServer) {
			f.steps = []pdkStep{{"kong.request.get_headers", &kpp.Int{V: 0}}}
		})
		if resp, _ := get(t, e.gw.URL()+"/r", nil); resp.StatusCode != 500 || e.upHits.Load() != 0 {
			t.Fatalf("status %d, upstream hits %d", resp.StatusCode, e.upHits.Load())
		}
		if !strings.Contains(e.log.String(), "max_headers must be >= 1") {
			t.Errorf("log: %s", e.log.String())
		}
	})
}

// checkHeadOutcome sends raw and checks nginx's verdict on its head: a 200
// means the plugin ran once; a refusal is Kong's error answer, before any
// plugin and without reaching the upstream.
func checkHeadOutcome(t *testing.T, e *fakeEnv, raw string, status int, message string) {
	t.Helper()
	resp, body := rawExchange(t, e.gw.Addr(), raw)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %q", resp.StatusCode, status, body)
	}
	calls, _ := e.fake.snapshot()
	if status == 200 {
		if events(calls) != 1 {
			t.Errorf("the plugin must run once: %v", calls)
		}
		return
	}
	checkKongRefusal(t, resp, body, message)
	if events(calls) != 0 || e.upHits.Load() != 0 {
		t.Errorf("nginx refuses before any plugin runs: calls %v, upstream hits %d", calls, e.upHits.Load())
	}
}
