package devgw

// The proxy listener's HTTP/1.x front end. Go's net/http server rewrites
// header names (canonical case), loses their order, and forgives what
// nginx refuses, so kong-devgw reads request heads itself the way Kong's
// nginx does (underscores_in_headers on, ignore_invalid_headers on,
// client_header_buffer_size 1k, large_client_header_buffers, unique
// header lines) and answers nginx's refusals through Kong's error handler
// before any plugin runs.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// clientHeaderBufferSize is nginx's client_header_buffer_size (1k;
	// Kong keeps the default): the first buffer a request head is read into.
	clientHeaderBufferSize = 1024
	// clientHeaderTimeout is nginx's client_header_timeout (60s).
	clientHeaderTimeout = 60 * time.Second
	// keepaliveTimeout is nginx's keepalive_timeout (75s; Kong keeps it).
	keepaliveTimeout = 75 * time.Second
	// keepaliveRequests is Kong's nginx_http_keepalive_requests (10000).
	keepaliveRequests = 10000
	// lingeringTimeout bounds how long a refused request's remaining
	// bytes are drained before the connection is closed (nginx's
	// lingering_timeout, 5s).
	lingeringTimeout = 5 * time.Second
)

// HeaderBuffers is nginx's large_client_header_buffers: a request line or
// a header line must fit in one buffer of Size bytes, and the head may use
// at most Num such buffers after the first 1k one.
type HeaderBuffers struct {
	Num  int
	Size int
}

// DefaultHeaderBuffers is nginx's (and Kong's) "4 8k".
var DefaultHeaderBuffers = HeaderBuffers{Num: 4, Size: 8192}

// ParseHeaderBuffers parses a large_client_header_buffers value such as
// "4 8k" or "4 16k" (the form of KONG_NGINX_PROXY_LARGE_CLIENT_HEADER_BUFFERS).
func ParseHeaderBuffers(s string) (HeaderBuffers, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return HeaderBuffers{}, fmt.Errorf("large_client_header_buffers %q: want \"<number> <size>\", e.g. \"4 8k\"", s)
	}
	num, err := strconv.Atoi(f[0])
	if err != nil || num < 1 {
		return HeaderBuffers{}, fmt.Errorf("large_client_header_buffers %q: invalid number %q", s, f[0])
	}
	size, ok := nginxSize(f[1])
	if !ok || size <= 1 {
		return HeaderBuffers{}, fmt.Errorf("large_client_header_buffers %q: invalid size %q", s, f[1])
	}
	if size <= clientHeaderBufferSize {
		// nginx: "the large_client_header_buffers size must be larger than client_header_buffer_size"
		// is not checked by nginx, but a smaller size makes every head refused.
		return HeaderBuffers{}, fmt.Errorf("large_client_header_buffers %q: size must be larger than client_header_buffer_size (1k)", s)
	}
	return HeaderBuffers{Num: num, Size: size}, nil
}

func nginxSize(s string) (int, bool) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1024, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mult, s = 1024*1024, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > (1<<30)/mult {
		return 0, false
	}
	return n * mult, true
}

// uniqueHeaders are the headers nginx 1.25 (OpenResty 1.25.3, Kong 3.9)
// refuses to see twice (ngx_http_process_unique_header_line, and
// ngx_http_process_host for Host): 400 before any phase runs.
var uniqueHeaders = map[string]bool{
	"host": true, "if-modified-since": true, "if-unmodified-since": true, "if-match": true,
	"if-none-match": true, "content-length": true, "content-range": true, "if-range": true,
	"transfer-encoding": true, "expect": true, "authorization": true,
}

// rawHead is a request head as the client sent it.
type rawHead struct {
	method, uri, proto string
	major, minor       int
	lines              []hdr // header lines, names as sent, in order
}

// headRefusal is a request nginx answers itself before any phase runs.
type headRefusal struct {
	status int   // 400, 405, 414, 494 (Kong's error handler), 501, 505 (nginx's page)
	lines  []hdr // header lines parsed before the refusal (Kong's handler reads Accept from them)
	method string
	reason string // nginx's log text
}

// headReader simulates nginx's header buffers while reading lines: the
// first line bytes land in the 1k client_header_buffer; a line that does
// not fit moves (with what was read of it) into a new large buffer; a line
// longer than one large buffer, or a need for more than Num of them, is
// refused.
type headReader struct {
	br    *bufio.Reader
	lim   HeaderBuffers
	cap   int // size of the current buffer
	used  int // bytes used in it
	nbusy int // large buffers in use
}

var errTooLong = errors.New("line does not fit")

// line reads one line (terminator included in the accounting, not in the
// result). errTooLong means nginx's buffers overflowed.
func (h *headReader) line() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := h.br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > h.lim.Size+1 {
			return nil, errTooLong
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return nil, err
	}
	n := len(buf)
	if n > h.cap-h.used {
		// the buffer fills up with the start of this line: move it into a
		// new large buffer (none left, or the line alone is too long: refuse)
		if h.nbusy >= h.lim.Num || n > h.lim.Size {
			return nil, errTooLong
		}
		h.nbusy++
		h.cap, h.used = h.lim.Size, 0
	}
	h.used += n
	buf = buf[:n-1]
	if len(buf) > 0 && buf[len(buf)-1] == '\r' {
		buf = buf[:len(buf)-1]
	}
	return buf, nil
}

// readHead reads one request head. It returns (nil, nil, err) when the
// connection ended or timed out (nginx closes without an answer), and a
// refusal for what nginx answers itself.
func readHead(br *bufio.Reader, lim HeaderBuffers) (*rawHead, *headRefusal, error) {
	hr := &headReader{br: br, lim: lim, cap: clientHeaderBufferSize}
	var reqLine []byte
	for {
		l, err := hr.line()
		if errors.Is(err, errTooLong) {
			return nil, &headRefusal{status: 414, reason: "client sent too long URI"}, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if len(l) > 0 {
			reqLine = l
			break
		}
		// nginx skips empty lines before the request line
		hr.cap, hr.used, hr.nbusy = clientHeaderBufferSize, 0, 0
	}
	h := &rawHead{}
	bad := func(reason string) (*rawHead, *headRefusal, error) {
		return nil, &headRefusal{status: 400, lines: h.lines, method: h.method, reason: reason}, nil
	}
	parts := strings.Split(string(reqLine), " ")
	if len(parts) != 3 {
		return bad("client sent invalid request")
	}
	h.method, h.uri, h.proto = parts[0], parts[1], parts[2]
	for i := 0; i < len(h.method); i++ {
		if c := h.method[i]; (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return bad("client sent invalid method")
		}
	}
	if h.method == "" {
		return bad("client sent invalid method")
	}
	if !strings.HasPrefix(h.uri, "/") {
		if u, err := url.Parse(h.uri); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("client sent invalid request")
		}
	}
	for i := 0; i < len(h.uri); i++ {
		if c := h.uri[i]; c <= 0x20 || c == 0x7f {
			return bad("client sent invalid request")
		}
	}
	major, minor, ok := parseHTTPVersion(h.proto)
	if !ok {
		return bad("client sent invalid request")
	}
	h.major, h.minor = major, minor
	if major > 1 {
		return nil, &headRefusal{status: 505, method: h.method, reason: "client sent unsupported HTTP version"}, nil
	}
	seen := map[string]hdr{}
	for {
		l, err := hr.line()
		if errors.Is(err, errTooLong) {
			return nil, &headRefusal{status: 494, lines: h.lines, method: h.method, reason: "client sent too long header line"}, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if len(l) == 0 {
			break
		}
		if bytes.IndexByte(l, 0) >= 0 || bytes.IndexByte(l, '\r') >= 0 {
			return bad("client sent invalid header line")
		}
		name, value, _ := strings.Cut(string(l), ":")
		// ngx_http_parse_header_line: a line starting with ':' (an empty
		// name), or a name holding a space or control character (a line
		// starting with a space or tab, "Foo Bar", "Foo :") is a 400
		if !headerNameParses(name) {
			return bad("client sent invalid header line")
		}
		if !validHeaderName(name) {
			continue // ignore_invalid_headers on: the line is dropped, nothing else happens
		}
		value = strings.Trim(value, " ") // nginx skips spaces around a value, not tabs
		h.lines = append(h.lines, hdr{name: name, value: value})
		lname := strings.ToLower(name)
		if uniqueHeaders[lname] {
			if prev, dup := seen[lname]; dup {
				what := "duplicate header line"
				if lname == "host" {
					what = "duplicate host header"
				}
				return bad(fmt.Sprintf("client sent %s: \"%s: %s\", previous value: \"%s: %s\"", what, name, value, prev.name, prev.value))
			}
			seen[lname] = hdr{name: name, value: value}
		}
		if lname == "host" && !validHost(value) {
			return bad("client sent invalid host header")
		}
	}
	// ngx_http_process_request_header
	if _, ok := seen["host"]; !ok && h.minor >= 1 {
		return bad("client sent HTTP/1.1 request without \"Host\" header")
	}
	if cl, ok := seen["content-length"]; ok {
		if _, err := parseContentLength(cl.value); err != nil {
			return bad("client sent invalid \"Content-Length\" header")
		}
	}
	if te, ok := seen["transfer-encoding"]; ok {
		if h.minor < 1 {
			return bad("client sent HTTP/1.0 request with \"Transfer-Encoding\" header")
		}
		if !strings.EqualFold(te.value, "chunked") {
			return nil, &headRefusal{status: 501, lines: h.lines, method: h.method, reason: "client sent unknown \"Transfer-Encoding\""}, nil
		}
		if _, ok := seen["content-length"]; ok {
			return bad("client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time")
		}
	}
	if h.method == "CONNECT" || h.method == "TRACE" {
		return nil, &headRefusal{status: 405, lines: h.lines, method: h.method, reason: "client sent " + h.method + " method"}, nil
	}
	return h, nil, nil
}

func parseHTTPVersion(s string) (int, int, bool) {
	rest, ok := strings.CutPrefix(s, "HTTP/")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || major < 1 || major > 99 || minor < 0 || minor > 99 || len(a) > 2 || len(b) > 2 {
		return 0, 0, false
	}
	return major, minor, true
}

// validHeaderName is nginx's header name alphabet with
// underscores_in_headers on: letters, digits, '-' and '_'.
// headerNameParses: n is non-empty and has no byte <= 0x20 or 0x7f, so
// nginx's header line parser does not refuse it (it may still be invalid
// and dropped).
func headerNameParses(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c <= 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validHost approximates ngx_http_validate_host.
func validHost(h string) bool {
	if strings.HasPrefix(h, ".") || strings.Contains(h, "..") || strings.ContainsAny(h, "/\\\x00") {
		return false
	}
	return true
}

func parseContentLength(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a number")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// ---------------------------------------------------------------------------
// connections

type rawLinesKey struct{}

// rawLines returns the header lines kong-devgw's front end read for r.
func rawLines(r *http.Request) ([]hdr, bool) {
	l, ok := r.Context().Value(rawLinesKey{}).([]hdr)
	return l, ok
}

// front serves the proxy listener.
type front struct {
	g   *Gateway
	lim HeaderBuffers

	mu      sync.Mutex
	conns   map[net.Conn]bool // true while a request is being served
	closing bool
	wg      sync.WaitGroup
}

func (f *front) serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			f.mu.Lock()
			closing := f.closing
			f.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		f.mu.Lock()
		if f.closing {
			f.mu.Unlock()
			c.Close()
			continue
		}
		f.conns[c] = false
		f.wg.Add(1)
		f.mu.Unlock()
		go f.serveConn(c)
	}
}

// setActive marks a connection busy or idle; it reports false when the
// front end is shutting down and an idle connection should close.
func (f *front) setActive(c net.Conn, active bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[c] = active
	return !f.closing
}

// shutdown closes idle connections at once and waits for busy ones.
func (f *front) shutdown(grace time.Duration) {
	f.mu.Lock()
	f.closing = true
	for c, active := range f.conns {
		if !active {
			c.Close()
		}
	}
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		f.mu.Lock()
		for c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		<-done
	}
}

func (f *front) serveConn(c net.Conn) {
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		c.Close()
		f.wg.Done()
	}()
	br := bufio.NewReaderSize(c, 16<<10)
	bw := bufio.NewWriterSize(c, 16<<10)
	for n := 1; ; n++ {
		timeout := clientHeaderTimeout
		if n > 1 {
			timeout = keepaliveTimeout
		}
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		if n > 1 {
			// wait for the first byte of the next request while idle
			if _, err := br.Peek(1); err != nil {
				return
			}
		}
		if !f.setActive(c, true) {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(clientHeaderTimeout))
		head, refusal, err := readHead(br, f.lim)
		if err != nil {
			return // closed, or client_header_timeout: nginx closes without answering
		}
		_ = c.SetReadDeadline(time.Time{})
		if refusal != nil {
			f.refuse(c, bw, refusal)
			return
		}
		keep := f.serveOne(c, br, bw, head) && n < keepaliveRequests
		if !keep || !f.setActive(c, false) {
			return
		}
	}
}

// refuse answers a request nginx refuses while reading its head, then
// closes the connection after draining what the client still sends
// (lingering close), so the client reads the answer instead of a reset.
func (f *front) refuse(c net.Conn, bw *bufio.Writer, ref *headRefusal) {
	g := f.g
	rq := &request{g: g, start: time.Now(), id: newRequestID(), method: ref.method,
		hdrs: &headerList{lines: ref.lines}, ctxShared: map[string]any{}, ngxCtx: map[string]any{}}
	if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		rq.realipAddr = host
	}
	g.log.infof("%s while reading client request headers, client: %s, request_id: %s", ref.reason, rq.realipAddr, rq.id)
	rw := newRespWriter(bw, ref.method, true, false)
	switch ref.status {
	case 501, 505:
		g.sendExit(rw, rq, nginxPage(ref.status), false)
	default:
		g.sendExit(rw, rq, rq.errorPage(ref.status), false)
	}
	rw.finish()
	lingeringClose(c)
}

func lingeringClose(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(lingeringTimeout))
	_, _ = io.CopyN(io.Discard, c, 1<<20)
}

// nginxPage is nginx's built-in error page for statuses Kong does not route
// to its error handler.
func nginxPage(status int) *exitResponse {
	text := strconv.Itoa(status) + " " + http.StatusText(status)
	body := "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"
	return &exitResponse{status: status, body: []byte(body), hasBody: true, headers: []hdr{{"Content-Type", "text/html"}}}
}

// serveOne builds the *http.Request for a parsed head, runs the gateway and
// reports whether the connection stays open.
func (f *front) serveOne(c net.Conn, br *bufio.Reader, bw *bufio.Writer, h *rawHead) bool {
	keep := h.minor >= 1
	var host, cl, te, expect string
	header := http.Header{}
	for _, l := range h.lines {
		k := http.CanonicalHeaderKey(l.name)
		header[k] = append(header[k], l.value)
		switch strings.ToLower(l.name) {
		case "connection":
			lv := strings.ToLower(l.value)
			if strings.Contains(lv, "close") {
				keep = false
			} else if strings.Contains(lv, "keep-alive") {
				keep = true
			}
		case "host":
			host = l.value
		case "content-length":
			cl = l.value
		case "transfer-encoding":
			te = l.value
		case "expect":
			expect = l.value
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.LocalAddr())
	ctx = context.WithValue(ctx, rawLinesKey{}, h.lines)
	r := &http.Request{Method: h.method, Proto: h.proto, ProtoMajor: h.major, ProtoMinor: h.minor,
		Header: header, Host: host, RequestURI: h.uri, RemoteAddr: c.RemoteAddr().String(), ContentLength: 0}
	u, err := url.ParseRequestURI(h.uri)
	if err != nil {
		u = &url.URL{Path: h.uri}
	}
	r.URL = u
	var body io.Reader = http.NoBody
	switch {
	case te != "":
		r.TransferEncoding = []string{"chunked"}
		r.ContentLength = -1
		body = httputil.NewChunkedReader(br)
	case cl != "":
		n, _ := parseContentLength(cl)
		r.ContentLength = n
		body = io.LimitReader(br, n)
	}
	rw := newRespWriter(bw, h.method, !keep, h.minor >= 1)
	eb := &expectBody{r: body, rw: rw, expect: h.minor >= 1 && strings.EqualFold(expect, "100-continue")}
	r.Body = eb
	f.g.ServeHTTP(rw, r.WithContext(ctx))
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if err := rw.finish(); err != nil {
		return false
	}
	if rw.closeAfter {
		return false
	}
	// discard what is left of the body (ngx_http_discard_request_body)
	_ = c.SetReadDeadline(time.Now().Add(clientHeaderTimeout))
	if _, err := io.Copy(io.Discard, body); err != nil {
		return false
	}
	return true
}

// expectBody sends "100 Continue" when the body is first read, like nginx.
type expectBody struct {
	r      io.Reader
	rw     *respWriter
	expect bool
}

func (b *expectBody) Read(p []byte) (int, error) {
	if b.expect {
		b.expect = false
		if !b.rw.wroteHeader {
			_, _ = b.rw.w.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			_ = b.rw.w.Flush()
		}
	}
	return b.r.Read(p)
}

func (b *expectBody) Close() error { return nil }

// respWriter writes one HTTP/1.1 response the way nginx frames it.
type respWriter struct {
	w           *bufio.Writer
	h           http.Header
	head        bool // HEAD request: no body
	closeAfter  bool
	http11      bool
	wroteHeader bool
	noBody      bool
	chunked     bool
	err         error
}

func newRespWriter(w *bufio.Writer, method string, closeAfter, http11 bool) *respWriter {
	return &respWriter{w: w, h: http.Header{}, head: method == http.MethodHead, closeAfter: closeAfter, http11: http11}
}

func (rw *respWriter) Header() http.Header { return rw.h }

func (rw *respWriter) WriteHeader(status int) {
	if rw.wroteHeader {
		return
	}
	rw.wroteHeader = true
	h := rw.h
	_, hasCL := h["Content-Length"]
	if len(h["Content-Length"]) == 0 {
		hasCL = false
	}
	switch {
	case status == 204 || status == 304 || status < 200:
		rw.noBody = true
		delete(h, "Content-Length")
	case rw.head:
		rw.noBody = true
	case hasCL:
	case rw.http11:
		rw.chunked = true
		h["Transfer-Encoding"] = []string{"chunked"}
	default:
		rw.closeAfter = true
	}
	if len(h["Date"]) == 0 {
		h["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
	}
	if rw.closeAfter {
		h["Connection"] = []string{"close"}
	} else {
		h["Connection"] = []string{"keep-alive"}
	}
	text := http.StatusText(status)
	fmt.Fprintf(rw.w, "HTTP/1.1 %d %s\r\n", status, text)
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			fmt.Fprintf(rw.w, "%s: %s\r\n", k, v)
		}
	}
	rw.w.WriteString("\r\n")
}

func (rw *respWriter) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.err != nil {
		return 0, rw.err
	}
	if rw.noBody || len(p) == 0 {
		return len(p), nil
	}
	if rw.chunked {
		fmt.Fprintf(rw.w, "%x\r\n", len(p))
		rw.w.Write(p)
		_, rw.err = rw.w.WriteString("\r\n")
		if rw.err != nil {
			return 0, rw.err
		}
		return len(p), nil
	}
	n, err := rw.w.Write(p)
	rw.err = err
	return n, err
}

func (rw *respWriter) Flush() {
	if rw.err == nil {
		rw.err = rw.w.Flush()
	}
}

func (rw *respWriter) finish() error {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.chunked && rw.err == nil {
		_, rw.err = rw.w.WriteString("0\r\n\r\n")
	}
	rw.Flush()
	return rw.err
}
