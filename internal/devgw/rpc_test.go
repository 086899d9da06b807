package devgw

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

type fakeCall struct {
	kind     string // start, close, event
	seq      int64
	instance int32
	config   map[string]any
}

type pdkStep struct {
	method string
	arg    proto.Message
}

type pdkReply struct {
	method  string
	data    []byte
	noReply bool
}

// fakeServer speaks the go-pdk side of the protocol on a unix socket.
type fakeServer struct {
	ln        net.Listener
	mu        sync.Mutex
	calls     []fakeCall
	replies   []pdkReply
	started   map[int32]bool
	steps     []pdkStep
	seqDelta  int64
	dropEvent bool // close the connection on HandleEvent without replying
}

func newFakeServer(t *testing.T, socket string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, started: map[int32]bool{}}
	go f.serve()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *fakeServer) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.conn(c)
	}
}

// settled waits until the fake has recorded want PDK replies (the gateway
// may answer the client before the fake notices the closed connection).
func (f *fakeServer) settled(want int) ([]fakeCall, []pdkReply) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		calls, replies := f.snapshot()
		if len(replies) >= want || time.Now().After(deadline) {
			return calls, replies
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fakeServer) snapshot() ([]fakeCall, []pdkReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...), append([]pdkReply(nil), f.replies...)
}

func (f *fakeServer) conn(c net.Conn) {
	defer c.Close()
	for {
		data, err := readFrame(c, 10*time.Second)
		if err != nil {
			return
		}
		var call kpp.RpcCall
		if err := proto.Unmarshal(data, &call); err != nil {
			return
		}
		ret := &kpp.RpcReturn{Sequence: call.Sequence}
		switch x := call.Call.(type) {
		case *kpp.RpcCall_CmdStartInstance:
			var cfg map[string]any
			_ = json.Unmarshal(x.CmdStartInstance.Config, &cfg)
			id := int32(cfg["__seq__"].(float64))
			f.mu.Lock()
			f.calls = append(f.calls, fakeCall{kind: "start", seq: call.Sequence, instance: id, config: cfg})
			f.started[id] = true
			f.mu.Unlock()
			ret.Return = &kpp.RpcReturn_InstanceStatus{InstanceStatus: &kpp.InstanceStatus{Name: x.CmdStartInstance.Name, InstanceId: id}}
		case *kpp.RpcCall_CmdCloseInstance:
			f.mu.Lock()
			f.calls = append(f.calls, fakeCall{kind: "close", seq: call.Sequence, instance: x.CmdCloseInstance.InstanceId})
			delete(f.started, x.CmdCloseInstance.InstanceId)
			f.mu.Unlock()
			ret.Return = &kpp.RpcReturn_InstanceStatus{InstanceStatus: &kpp.InstanceStatus{InstanceId: x.CmdCloseInstance.InstanceId}}
		case *kpp.RpcCall_CmdHandleEvent:
			id := x.CmdHandleEvent.InstanceId
			f.mu.Lock()
			f.calls = append(f.calls, fakeCall{kind: "event", seq: call.Sequence, instance: id})
			known, drop, steps, delta := f.started[id], f.dropEvent, f.steps, f.seqDelta
			f.mu.Unlock()
			if !known || drop {
				return // like go-pdk: log and close, no reply
			}
			for _, st := range steps {
				var arg []byte
				if st.arg != nil {
					arg, _ = proto.Marshal(st.arg)
				}
				if writeFrame(c, []byte(st.method), time.Second) != nil || writeFrame(c, arg, time.Second) != nil {
					return
				}
				rep, err := readFrame(c, 3*time.Second)
				f.mu.Lock()
				f.replies = append(f.replies, pdkReply{method: st.method, data: rep, noReply: err != nil})
				f.mu.Unlock()
				if err != nil {
					return
				}
			}
			if writeFrame(c, nil, time.Second) != nil {
				return
			}
			ret.Sequence += delta
		default:
			return
		}
		out, _ := proto.Marshal(ret)
		if writeFrame(c, out, time.Second) != nil {
			return
		}
	}
}

const fakeDump = `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"fake","Phases":["access"],"Version":"1.0.0","Priority":10,
"Schema":{"name":"fake","fields":[{"config":{"type":"record","fields":[{"mode":{"type":"string"}}]}}]}}]}`

type fakeEnv struct {
	gw       *Gateway
	fake     *fakeServer
	log      *syncBuffer
	upHits   *atomic.Int64
	prefix   string
	cfgPath  string
	upstream *httptest.Server
}

func startFake(t *testing.T, workers, retries int, setup func(f *fakeServer)) *fakeEnv {
	t.Helper()
	return startFakeOpts(t, workers, retries, setup, nil)
}

// startFakeWith is startFake (one worker) with changed gateway options.
func startFakeWith(t *testing.T, opts func(o *Options)) *fakeEnv {
	t.Helper()
	return startFakeOpts(t, 1, 3, nil, opts)
}

func startFakeOpts(t *testing.T, workers, retries int, setup func(f *fakeServer), change func(o *Options)) *fakeEnv {
	t.Helper()
	dir := shortTempDir(t)
	e := &fakeEnv{log: &syncBuffer{}, upHits: &atomic.Int64{}, prefix: dir}
	e.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.upHits.Add(1)
		fmt.Fprintf(w, "upstream %s", r.URL.Path)
	}))
	t.Cleanup(e.upstream.Close)
	dump := filepath.Join(dir, "dump.json")
	writeTestFile(t, dump, fakeDump)
	e.cfgPath = filepath.Join(dir, "kong.yml")
	writeTestFile(t, e.cfgPath, oneRouteConfig("up", e.upstream.URL, "r", "fake", "{mode: x}"))
	e.fake = newFakeServer(t, filepath.Join(dir, "fake.socket"))
	if setup != nil {
		setup(e.fake)
	}
	opts := Options{
		ConfigPath: e.cfgPath, Listen: "127.0.0.1:0", Prefix: dir, Workers: workers,
		MaxEventRetries: retries, LogLevel: "debug", Timeout: 5 * time.Second, BinDir: dir,
		Env: []string{"KONG_PLUGINS=bundled,fake", "KONG_PLUGINSERVER_NAMES=Fake",
			"KONG_PLUGINSERVER_FAKE_QUERY_CMD=cat " + dump},
	}
	if change != nil {
		change(&opts)
	}
	e.gw = startGateway(t, opts, e.log)
	return e
}

// perInstance groups the calls by instance id (== __seq__, so per worker).
func perInstance(calls []fakeCall) map[int32][]string {
	out := map[int32][]string{}
	for _, c := range calls {
		out[c.instance] = append(out[c.instance], fmt.Sprintf("%s:%d", c.kind, c.seq))
	}
	return out
}

func TestRPCSequencesAndOneStartPerWorker(t *testing.T) {
	e := startFake(t, 2, 3, nil)
	for i := 0; i < 3; i++ {
		resp, body := get(t, e.gw.URL()+"/r/x", nil)
		if resp.StatusCode != 200 || body != "upstream /x" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	calls, _ := e.fake.snapshot()
	got := perInstance(calls)
	want := map[int32][]string{
		1: {"start:2", "event:3", "event:4"}, // worker 0: __seq__ 1, sequence numbers start at 2
		2: {"start:2", "event:3"},            // worker 1: __seq__ 2, its own counter
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("calls per instance = %v, want %v", got, want)
	}
	start := calls[0].config
	for _, k := range []string{"route_id", "__plugin_id", "__key__", "__ws_id"} {
		if _, ok := start[k].(string); !ok {
			t.Errorf("injected key %s missing: %v", k, start)
		}
	}
	if _, ok := start["service_id"]; ok {
		t.Errorf("service_id must be omitted for a route-scoped plugin: %v", start)
	}
	if start["mode"] != "x" {
		t.Errorf("config not passed: %v", start)
	}

	// a reload bumps __seq__: each worker starts a new instance and closes the old one
	if err := e.gw.Reload(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if resp, _ := get(t, e.gw.URL()+"/r", nil); resp.StatusCode != 200 {
			t.Fatalf("after reload: %d", resp.StatusCode)
		}
	}
	calls, _ = e.fake.snapshot()
	var after []string
	for _, c := range calls[5:] {
		after = append(after, fmt.Sprintf("%s:%d:%d", c.kind, c.instance, c.seq))
	}
	// round robin continues with worker 1 (fourth request), then worker 0
	wantAfter := []string{"start:4:4", "close:2:5", "event:4:6", "start:3:5", "close:1:6", "event:3:7"}
	if strings.Join(after, " ") != strings.Join(wantAfter, " ") {
		t.Fatalf("after reload: %v, want %v", after, wantAfter)
	}
	if n := e.gw.Stats().StartInstance; n != 4 {
		t.Errorf("StartInstance count = %d, want 4", n)
	}
}

func TestRPCBridgeLoop(t *testing.T) {
	e := startFake(t, 1, 3, func(f *fakeServer) {
		f.steps = []pdkStep{
			{"kong.request.get_header", &kpp.String{V: "X_Foo"}},
			{"kong.request.get_header", &kpp.String{V: "x-missing"}},
			{"kong.request.get_headers", &kpp.Int{V: 1}},
			{"kong.request.get_path", nil},
			{"kong.nginx.get_var", &kpp.String{V: "server_port"}},
			{"kong.response.set_header", &kpp.KV{K: "X-From-Fake", V: structpb.NewStringValue("yes")}},
			{"kong.ctx.shared.get", &kpp.String{V: "nothing"}},
		}
	})
	resp, body := get(t, e.gw.URL()+"/r/a/../b", http.Header{"X-Foo": {"bar"}})
	if resp.StatusCode != 200 || body != "upstream /b" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-From-Fake") != "yes" {
		t.Errorf("response header from kong.response.set_header missing: %v", resp.Header)
	}
	_, replies := e.fake.snapshot()
	if len(replies) != 7 {
		t.Fatalf("replies: %+v", replies)
	}
	var s kpp.String
	_ = proto.Unmarshal(replies[0].data, &s)
	if s.V != "bar" {
		t.Errorf("get_header(X_Foo) = %q", s.V)
	}
	if len(replies[1].data) != 0 || replies[1].noReply {
		t.Errorf("missing header must be an empty reply frame: %+v", replies[1])
	}
	var st structpb.Struct
	_ = proto.Unmarshal(replies[2].data, &st)
	if len(st.Fields) != 1 || st.Fields["host"] == nil {
		t.Errorf("get_headers(1) = %v", st.AsMap())
	}
	_ = proto.Unmarshal(replies[3].data, &s)
	if s.V != "/r/b" {
		t.Errorf("get_path = %q", s.V)
	}
	_ = proto.Unmarshal(replies[4].data, &s)
	_, port, _ := net.SplitHostPort(e.gw.Addr())
	if s.V != port {
		t.Errorf("server_port = %q, want %s", s.V, port)
	}
	if len(replies[5].data) != 0 {
		t.Errorf("set_header reply must be empty")
	}
	var v structpb.Value
	_ = proto.Unmarshal(replies[6].data, &v)
	if _, ok := v.Kind.(*structpb.Value_NullValue); !ok || len(replies[6].data) == 0 {
		t.Errorf("missing ctx.shared key = %v (%x)", v.Kind, replies[6].data)
	}
}

func TestRPCFailures(t *testing.T) {
	cases := []struct {
		name      string
		setup     func(f *fakeServer)
		wantLog   string
		wantCalls func(calls []fakeCall, replies []pdkReply) string
	}{
		{
			name:    "unknown method abandons the connection",
			setup:   func(f *fakeServer) { f.steps = []pdkStep{{"kong.no_such.method", nil}} },
			wantLog: `pluginserver error: method "kong.no_such.method" not found`,
			wantCalls: func(_ []fakeCall, replies []pdkReply) string {
				if len(replies) != 1 || !replies[0].noReply {
					return fmt.Sprintf("expected no reply, got %+v", replies)
				}
				return ""
			},
		},
		{
			name:    "method Kong has but kong-devgw does not implement",
			setup:   func(f *fakeServer) { f.steps = []pdkStep{{"kong.node.get_memory_stats", nil}} },
			wantLog: `"kong.node.get_memory_stats" is served by Kong but not implemented by kong-devgw`,
		},
		{
			name:    "sequence mismatch",
			setup:   func(f *fakeServer) { f.seqDelta = 1 },
			wantLog: "assertion failed!",
		},
		{
			name:    "PDK function throws",
			setup:   func(f *fakeServer) { f.steps = []pdkStep{{"kong.request.get_headers", &kpp.Int{V: 5000}}} },
			wantLog: "max_headers must be <= 1000",
		},
		{
			name:    "closed connection retries are bounded",
			setup:   func(f *fakeServer) { f.dropEvent = true },
			wantLog: "gave up after 2 retries",
			wantCalls: func(calls []fakeCall, _ []pdkReply) string {
				starts, events := 0, 0
				for _, c := range calls {
					switch c.kind {
					case "start":
						starts++
					case "event":
						events++
					}
				}
				if starts != 3 || events != 3 {
					return fmt.Sprintf("starts=%d events=%d, want 3 and 3 (first try + 2 retries, instance reset each time)", starts, events)
				}
				return ""
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startFake(t, 1, 2, tc.setup)
			resp, body := get(t, e.gw.URL()+"/r", nil)
			if resp.StatusCode != 500 {
				t.Fatalf("status %d, body %q", resp.StatusCode, body)
			}
			var msg struct {
				Message   string `json:"message"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &msg); err != nil || msg.Message != "An unexpected error occurred" ||
				msg.RequestID != resp.Header.Get("X-Kong-Request-Id") || len(msg.RequestID) != 32 {
				t.Errorf("body %q (%v)", body, err)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("content-type %q", ct)
			}
			if e.upHits.Load() != 0 {
				t.Errorf("request reached the upstream")
			}
			if !strings.Contains(e.log.String(), tc.wantLog) {
				t.Errorf("log does not contain %q:\n%s", tc.wantLog, e.log.String())
			}
			if tc.wantCalls != nil {
				calls, replies := e.fake.settled(len(e.fake.steps))
				if msg := tc.wantCalls(calls, replies); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func TestRPCExitIsNeverAnswered(t *testing.T) {
	e := startFake(t, 1, 3, func(f *fakeServer) {
		hs, _ := structpb.NewStruct(map[string]any{"X-Deny": []any{"1", "2"}})
		f.steps = []pdkStep{{"kong.response.exit", &kpp.ExitArgs{Status: 403, Body: []byte("denied"), Headers: hs}}}
	})
	resp, body := get(t, e.gw.URL()+"/r", nil)
	checkExit(t, resp, body, 403, "denied", "X-Deny", "1,2")
	_, replies := e.fake.settled(1)
	if len(replies) != 1 || !replies[0].noReply {
		t.Errorf("exit must get no reply frame (connection closed after the response): %+v", replies)
	}
	if e.upHits.Load() != 0 {
		t.Errorf("upstream hit")
	}
}

func TestRPCStatusOutOfRangeThrows(t *testing.T) {
	e := startFake(t, 1, 3, func(f *fakeServer) {
		f.steps = []pdkStep{{"kong.response.exit", &kpp.ExitArgs{Status: 600}}}
	})
	resp, _ := get(t, e.gw.URL()+"/r", nil)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !strings.Contains(e.log.String(), "code must be a number between 100 and 599") {
		t.Errorf("log: %s", e.log.String())
	}
}

func TestPluginServerNotListening(t *testing.T) {
	e := startFake(t, 1, 3, nil)
	e.fake.ln.Close()
	os.Remove(filepath.Join(e.prefix, "fake.socket"))
	resp, _ := get(t, e.gw.URL()+"/r", nil)
	if resp.StatusCode != 500 || e.upHits.Load() != 0 {
		t.Fatalf("status %d, upstream hits %d", resp.StatusCode, e.upHits.Load())
	}
	if !strings.Contains(e.log.String(), "starting instance: no such file or directory") {
		t.Errorf("log: %s", e.log.String())
	}
}
