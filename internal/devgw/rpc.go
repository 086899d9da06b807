package devgw

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
)

// Pool limits of nginx's per-worker keepalive pool (>= 3.5).
const (
	poolSize        = 256
	poolIdleTimeout = 60 * time.Second
)

// worker models one nginx worker: its own instance cache, RPC sequence
// counters (one Rpc object per plugin) and connection pool.
type worker struct {
	id int
	g  *Gateway

	mu        sync.Mutex
	instances map[string]*instanceInfo // by plugin entity id (kong.plugin.get_id())
	msgIDs    map[string]int64         // per plugin name
	pool      map[string][]pooledConn  // per socket path
}

type pooledConn struct {
	c     net.Conn
	since time.Time
}

type instanceInfo struct {
	id         int32
	hasID      bool
	seq        int64
	pluginID   string
	pluginName string
}

func newWorker(g *Gateway, id int) *worker {
	return &worker{id: id, g: g, instances: map[string]*instanceInfo{}, msgIDs: map[string]int64{}, pool: map[string][]pooledConn{}}
}

// ---------------------------------------------------------------------------
// framing

func readFrame(c net.Conn, timeout time.Duration) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > 256<<20 {
		return nil, fmt.Errorf("frame too large (%d bytes)", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func writeFrame(c net.Conn, data []byte, timeout time.Duration) error {
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4+len(data))
	binary.LittleEndian.PutUint32(buf, uint32(len(data)))
	copy(buf[4:], data)
	_, err := c.Write(buf)
	return err
}

// sockErr renders a socket error the way OpenResty's cosockets report it.
func sockErr(err error) string {
	if err == nil {
		return ""
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ENOENT):
		return "no such file or directory"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EACCES):
		return "permission denied"
	}
	return err.Error()
}

// ---------------------------------------------------------------------------
// connection pool

func (w *worker) getConn(socket string, timeout time.Duration) (net.Conn, error) {
	for {
		w.mu.Lock()
		list := w.pool[socket]
		if len(list) == 0 {
			w.mu.Unlock()
			break
		}
		pc := list[len(list)-1]
		w.pool[socket] = list[:len(list)-1]
		w.mu.Unlock()
		if time.Since(pc.since) > poolIdleTimeout || !connAlive(pc.c) {
			pc.c.Close()
			continue
		}
		return pc.c, nil
	}
	d := net.Dialer{Timeout: timeout}
	return d.Dial("unix", socket)
}

func (w *worker) putConn(socket string, c net.Conn) {
	_ = c.SetDeadline(time.Time{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pool[socket]) >= poolSize {
		c.Close()
		return
	}
	w.pool[socket] = append(w.pool[socket], pooledConn{c: c, since: time.Now()})
}

func (w *worker) closePool() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, list := range w.pool {
		for _, pc := range list {
			pc.c.Close()
		}
		delete(w.pool, k)
	}
}

// ---------------------------------------------------------------------------
// RPC

type rpcKind int

const (
	rpcOK    rpcKind = iota
	rpcErr           // Kong gets (nil, err) back
	rpcThrow         // a Lua error is raised (assert, PDK argument error, ...)
	rpcExit          // kong.response.exit was called in the bridge loop
)

type rpcResult struct {
	kind rpcKind
	ret  *kpp.RpcReturn
	msg  string
	conn net.Conn // rpcExit: closed once the response has been sent
}

// call performs one RPC like Kong's Rpc:call: a new (or pooled) unix socket
// connection, one RpcCall frame, the bridge loop for HandleEvent, one
// RpcReturn frame, sequence assertion, then the connection is pooled.
func (w *worker) call(rq *request, pluginName string, sd *serverDef, build func(seq int64) *kpp.RpcCall, bridge bool) rpcResult {
	timeout := w.g.opts.Timeout
	w.mu.Lock()
	w.msgIDs[pluginName]++
	seq := w.msgIDs[pluginName] + 1
	w.mu.Unlock()

	conn, err := w.getConn(sd.Socket, timeout)
	if err != nil {
		msg := sockErr(err)
		w.g.log.errorf("trying to connect: %s (unix:%s)", msg, sd.Socket)
		return rpcResult{kind: rpcErr, msg: msg}
	}
	msg, err := proto.Marshal(build(seq))
	if err != nil {
		conn.Close()
		return rpcResult{kind: rpcThrow, msg: err.Error()}
	}
	if err := writeFrame(conn, msg, timeout); err != nil {
		conn.Close()
		return rpcResult{kind: rpcThrow, msg: sockErr(err)}
	}
	keep := false
	defer func() {
		if !keep {
			conn.Close()
		}
	}()
	for bridge {
		name, err := readFrame(conn, timeout)
		if err != nil {
			return rpcResult{kind: rpcErr, msg: sockErr(err)}
		}
		if len(name) == 0 {
			break
		}
		args, err := readFrame(conn, timeout)
		if err != nil {
			return rpcResult{kind: rpcErr, msg: sockErr(err)}
		}
		res := rq.callPDK(string(name), args)
		switch res.kind {
		case pdkNotFound:
			return rpcResult{kind: rpcErr, msg: res.msg}
		case pdkThrow:
			return rpcResult{kind: rpcThrow, msg: res.msg}
		case pdkExit:
			keep = true // never pooled; closed after the response is sent
			return rpcResult{kind: rpcExit, conn: conn}
		}
		if err := writeFrame(conn, res.reply, timeout); err != nil {
			return rpcResult{kind: rpcThrow, msg: sockErr(err)}
		}
	}
	data, err := readFrame(conn, timeout)
	if err != nil {
		return rpcResult{kind: rpcErr, msg: sockErr(err)}
	}
	keep = true
	w.putConn(sd.Socket, conn)
	var ret kpp.RpcReturn
	if err := proto.Unmarshal(data, &ret); err != nil {
		return rpcResult{kind: rpcThrow, msg: "decoding RpcReturn: " + err.Error()}
	}
	if ret.Sequence != seq {
		return rpcResult{kind: rpcThrow, msg: fmt.Sprintf("assertion failed! (RpcReturn sequence %d, expected %d)", ret.Sequence, seq)}
	}
	return rpcResult{kind: rpcOK, ret: &ret}
}

// confJSON builds the StartInstance config: the validated config plus the
// keys Kong injects (route_id, service_id, plugin_instance_name,
// __plugin_id, __ws_id, __key__, __seq__).
func confJSON(pe *pluginEntity, seq int64) ([]byte, error) {
	m := make(map[string]any, len(pe.config)+8)
	for k, v := range pe.config {
		m[k] = v
	}
	if pe.Route != nil {
		m["route_id"] = pe.Route.ID
	}
	if pe.Service != nil {
		m["service_id"] = pe.Service.ID
	}
	if pe.InstanceName != "" {
		m["plugin_instance_name"] = pe.InstanceName
	}
	m["__plugin_id"] = pe.ID
	m["__ws_id"] = defaultWorkspaceID
	m["__key__"] = pe.cacheKey()
	m["__seq__"] = seq
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

type eventOutcome int

const (
	eventOK     eventOutcome = iota
	eventExit                // kong.response.exit: rq.exit is set
	eventError               // pluginserver error: kong.response.error(500)
	eventThrown              // Lua error in the handler: 500
)

// handleEvent mirrors Rpc:handle_event (>= 3.8): get or start the
// instance, run the event, retry the whole event after "closed"/"no plugin
// instance" (bounded by Options.MaxEventRetries), 500 otherwise.
func (w *worker) handleEvent(rq *request, pe *pluginEntity, phase string) eventOutcome {
	sd := pe.info.server
	for attempt := 0; ; attempt++ {
		id, ok := w.getInstanceID(rq, pe)
		if !ok {
			return eventThrown
		}
		res := w.call(rq, pe.Name, sd, func(seq int64) *kpp.RpcCall {
			return &kpp.RpcCall{Sequence: seq, Call: &kpp.RpcCall_CmdHandleEvent{
				CmdHandleEvent: &kpp.CmdHandleEvent{InstanceId: id, EventName: phase}}}
		}, true)
		switch res.kind {
		case rpcOK:
			return eventOK
		case rpcExit:
			rq.exitConns = append(rq.exitConns, res.conn)
			return eventExit
		case rpcThrow:
			w.g.log.errorf("[%s] %s, request_id: %s", pe.Name, res.msg, rq.id)
			return eventThrown
		}
		low := strings.ToLower(res.msg)
		if strings.Contains(low, "no plugin instance") || strings.Contains(low, "closed") {
			w.g.resetInstancesForPlugin(pe.Name)
			w.g.log.warnf("[%s] %s, request_id: %s", pe.Name, res.msg, rq.id)
			if attempt >= w.g.opts.MaxEventRetries {
				w.g.log.errorf("pluginserver error: %s (kong-devgw gave up after %d retries of the %s event; Kong would retry forever), request_id: %s",
					res.msg, attempt, phase, rq.id)
				return eventError
			}
			continue
		}
		w.g.log.errorf("pluginserver error: %s, request_id: %s", res.msg, rq.id)
		return eventError
	}
}

// getInstanceID mirrors plugin.lua's get_instance_id: one StartInstance per
// worker per plugin config, concurrent requests wait (0.1 s steps, 10 s
// max), a config change starts a new instance and closes the old one.
func (w *worker) getInstanceID(rq *request, pe *pluginEntity) (int32, bool) {
	key := pe.ID
	seq := pe.seqs[w.id]
	waits := 0
	for {
		w.mu.Lock()
		info := w.instances[key]
		if info != nil && !info.hasID {
			w.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
			waits++
			if waits > 100 {
				w.mu.Lock()
				if w.instances[key] == info {
					delete(w.instances, key)
				}
				w.mu.Unlock()
				w.g.log.errorf("[%s] Could not claim instance_id for %s (key: %s)", pe.Name, pe.Name, key)
				return 0, false
			}
			continue
		}
		if info != nil && info.hasID && info.seq == seq && info.pluginID == key {
			id := info.id
			w.mu.Unlock()
			return id, true
		}
		var oldID int32
		hadOld := false
		if info == nil {
			info = &instanceInfo{seq: seq, pluginID: key, pluginName: pe.Name}
			w.instances[key] = info
		} else {
			oldID, hadOld = info.id, true
			info.hasID = false
		}
		w.mu.Unlock()

		conf, err := confJSON(pe, seq)
		if err != nil {
			w.mu.Lock()
			delete(w.instances, key)
			w.mu.Unlock()
			w.g.log.errorf("[%s] starting instance: %v", pe.Name, err)
			return 0, false
		}
		res := w.call(nil, pe.Name, pe.info.server, func(s int64) *kpp.RpcCall {
			return &kpp.RpcCall{Sequence: s, Call: &kpp.RpcCall_CmdStartInstance{
				CmdStartInstance: &kpp.CmdStartInstance{Name: pe.Name, Config: conf}}}
		}, false)
		var st *kpp.InstanceStatus
		if res.kind == rpcOK {
			st = res.ret.GetInstanceStatus()
		}
		if res.kind != rpcOK || st == nil {
			msg := res.msg
			if res.kind == rpcOK {
				msg = "attempt to index field 'instance_status' (a nil value)"
			}
			w.mu.Lock()
			if w.instances[key] == info {
				delete(w.instances, key)
			}
			w.mu.Unlock()
			w.g.log.errorf("[%s] starting instance: %s, request_id: %s", pe.Name, msg, rqID(rq))
			return 0, false
		}
		w.g.log.debugf("[%s] started plugin server: seq %d, worker %d, instance id %d", pe.Name, seq, w.id, st.InstanceId)
		w.mu.Lock()
		info.id = st.InstanceId
		info.hasID = true
		info.seq = seq
		info.pluginID = key
		info.pluginName = pe.Name
		w.mu.Unlock()
		w.g.countStart()
		if hadOld {
			// don't care about the result: another thread may have closed it
			w.call(nil, pe.Name, pe.info.server, func(s int64) *kpp.RpcCall {
				return &kpp.RpcCall{Sequence: s, Call: &kpp.RpcCall_CmdCloseInstance{
					CmdCloseInstance: &kpp.CmdCloseInstance{InstanceId: oldID}}}
			}, false)
		}
		return st.InstanceId, true
	}
}

func rqID(rq *request) string {
	if rq == nil {
		return ""
	}
	return rq.id
}

// resetInstances drops this worker's cached instances of a plugin.
func (w *worker) resetInstances(pluginName string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, info := range w.instances {
		if info.pluginName == pluginName {
			delete(w.instances, k)
		}
	}
}
