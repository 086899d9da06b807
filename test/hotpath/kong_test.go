// Package hotpath measures the plugin server the way Kong drives it: an
// independent harness speaks the plugin-server protocol (protobuf frames
// over the Unix socket, kong-pluginserver.md §2) to the real okta-oidc
// binary and to the cheapest go-pdk plugin doing the same PDK calls
// (testdata/floorplugin), in the same run.
package hotpath

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// buildBinary compiles pkg (relative to this package) into dir/name: go-pdk
// names the plugin and its socket after the executable.
func buildBinary(t testing.TB, dir, name, pkg string, tags ...string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	args := []string{"build", "-buildvcs=false", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// server is a running plugin server.
type server struct {
	name   string
	socket string
	cmd    *exec.Cmd
}

// startServer runs bin with -kong-prefix dir (plus extra flags) and waits for
// its socket.
func startServer(t testing.TB, bin, dir string, env []string, extra ...string) *server {
	t.Helper()
	name := filepath.Base(bin)
	cmd := exec.Command(bin, append([]string{"-kong-prefix", dir}, extra...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{name: name, socket: filepath.Join(dir, name+".socket"), cmd: cmd}
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", s.socket)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: socket %s not ready: %v", name, s.socket, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM (as Kong does) and waits.
func (s *server) stop() {
	if s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// cpu returns the CPU time (user + system) the server has used so far.
func (s *server) cpu(t testing.TB) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// peakRSS returns the server's peak resident set (VmHWM) in bytes.
func (s *server) peakRSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// kong plays one nginx worker's side of the protocol on one pooled
// connection: frames are a little-endian uint32 length and a payload.
type kong struct {
	srv  *server
	conn net.Conn
	seq  int64
	hdr  [4]byte
	buf  []byte
	out  []byte
}

func dialKong(t testing.TB, s *server) *kong {
	t.Helper()
	k := &kong{srv: s, seq: 1}
	if err := k.redial(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.conn.Close() })
	return k
}

func (k *kong) redial() error {
	if k.conn != nil {
		k.conn.Close()
	}
	c, err := net.Dial("unix", k.srv.socket)
	k.conn = c
	return err
}

func (k *kong) write(p []byte) error {
	k.out = binary.LittleEndian.AppendUint32(k.out[:0], uint32(len(p)))
	k.out = append(k.out, p...)
	_, err := k.conn.Write(k.out)
	return err
}

// read returns the next frame; it is valid until the next read.
func (k *kong) read() ([]byte, error) {
	if _, err := io.ReadFull(k.conn, k.hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(k.hdr[:]))
	if cap(k.buf) < n {
		k.buf = make([]byte, n)
	}
	k.buf = k.buf[:n]
	_, err := io.ReadFull(k.conn, k.buf)
	return k.buf, err
}

func (k *kong) rpc(call *kpp.RpcCall) error {
	k.seq += 2 // Kong increments twice per call
	call.Sequence = k.seq
	b, err := proto.Marshal(call)
	if err != nil {
		return err
	}
	return k.write(b)
}

// start sends cmd_start_instance and returns the instance id.
func (k *kong) start(name string, config []byte) (int32, error) {
	if err := k.rpc(&kpp.RpcCall{Call: &kpp.RpcCall_CmdStartInstance{
		CmdStartInstance: &kpp.CmdStartInstance{Name: name, Config: config}}}); err != nil {
		return 0, err
	}
	b, err := k.read()
	if err != nil {
		return 0, fmt.Errorf("start instance: %w", err)
	}
	var ret kpp.RpcReturn
	if err := proto.Unmarshal(b, &ret); err != nil {
		return 0, err
	}
	return ret.GetInstanceStatus().GetInstanceId(), nil
}

// pdkAnswer answers one PDK call; exit reports kong.response.exit.
type pdkAnswer func(method string, args []byte) (reply []byte, err error)

// errExit is returned by event when the plugin called kong.response.exit:
// Kong never answers that call and drops the connection.
type errExit struct{ status int32 }

func (e errExit) Error() string { return fmt.Sprintf("kong.response.exit %d", e.status) }

// event runs one access event through the bridge loop (§2.3).
func (k *kong) event(id int32, answer pdkAnswer) error {
	if err := k.rpc(&kpp.RpcCall{Call: &kpp.RpcCall_CmdHandleEvent{
		CmdHandleEvent: &kpp.CmdHandleEvent{InstanceId: id, EventName: "access"}}}); err != nil {
		return err
	}
	for {
		name, err := k.read()
		if err != nil {
			return fmt.Errorf("reading method: %w", err)
		}
		if len(name) == 0 {
			break
		}
		method := string(name)
		args, err := k.read()
		if err != nil {
			return fmt.Errorf("reading %s args: %w", method, err)
		}
		if method == "kong.response.exit" {
			var ea kpp.ExitArgs
			_ = proto.Unmarshal(args, &ea)
			_ = k.redial()
			return errExit{ea.Status}
		}
		reply, err := answer(method, args)
		if err != nil {
			return err
		}
		if err := k.write(reply); err != nil {
			return err
		}
	}
	b, err := k.read()
	if err != nil {
		return fmt.Errorf("reading RpcReturn: %w", err)
	}
	var ret kpp.RpcReturn
	if err := proto.Unmarshal(b, &ret); err != nil {
		return err
	}
	if ret.Sequence != k.seq {
		return fmt.Errorf("RpcReturn sequence %d, want %d", ret.Sequence, k.seq)
	}
	return nil
}

// headersReply encodes what kong.request.get_headers returns for h (names
// lower-case, every value a list as Kong's Struct holds repeated headers).
func headersReply(t testing.TB, h map[string]string) []byte {
	t.Helper()
	m := map[string]any{}
	for k, v := range h {
		m[strings.ToLower(k)] = v
	}
	st, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upstreamHeaders decodes a kong.service.request.set_headers argument.
func upstreamHeaders(args []byte) (map[string]any, error) {
	var st structpb.Struct
	if err := proto.Unmarshal(args, &st); err != nil {
		return nil, err
	}
	return st.AsMap(), nil
}

var errUnexpected = errors.New("unexpected PDK call")
