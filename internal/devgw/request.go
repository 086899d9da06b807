package devgw

import (
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

// hdr is one header line.
type hdr struct {
	name  string
	value string
}

// headerList is an ordered list of header lines (nginx keeps lines, not a map).
type headerList struct {
	lines []hdr
}

// varName maps a header name to nginx's $http_ variable form.
func varName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "-", "_")
}

// get returns the first value of a header; names are case-insensitive and
// '-' is equivalent to '_'.
func (h *headerList) get(name string) (string, bool) {
	n := varName(name)
	for _, l := range h.lines {
		if varName(l.name) == n {
			return l.value, true
		}
	}
	return "", false
}

// knownHeaderVars are the $http_ variables nginx 1.25 predefines
// (ngx_http_core_variables): they read the header nginx recognised by its
// exact name, so an underscore spelling (User_Agent) is not part of them.
var knownHeaderVars = map[string]string{
	"host": "host", "user_agent": "user-agent", "referer": "referer", "via": "via",
	"x_forwarded_for": "x-forwarded-for", "cookie": "cookie",
}

// joined returns nginx's $http_<name>: every line whose name matches
// (case-insensitive, '-' read as '_'; known headers by their exact name
// only) joined with ", " ("; " for cookies).
func (h *headerList) joined(name string) (string, bool) {
	n := varName(name)
	exact, known := knownHeaderVars[n]
	var vals []string
	for _, l := range h.lines {
		if known && strings.ToLower(l.name) == exact || !known && varName(l.name) == n {
			vals = append(vals, l.value)
		}
	}
	if len(vals) == 0 {
		return "", false
	}
	sep := ", "
	if n == "cookie" {
		sep = "; "
	}
	return strings.Join(vals, sep), true
}

func (h *headerList) kongGetHeader(name string) any {
	v, ok := h.joined(name)
	if !ok {
		return nil
	}
	if !strings.Contains(v, ", ") {
		return v
	}
	t := h.table(100)
	got, found := t[name]
	if !found {
		got = t[strings.ReplaceAll(strings.ToLower(name), "_", "-")]
	}
	if l, ok := got.([]any); ok {
		return l[0]
	}
	return got
}

func (h *headerList) values(name string) []string {
	var out []string
	for _, l := range h.lines {
		if strings.EqualFold(l.name, name) {
			out = append(out, l.value)
		}
	}
	return out
}

// set replaces every line of name by the given values (ngx.req.set_header).
func (h *headerList) set(name string, values []string) {
	h.clear(name)
	for _, v := range values {
		h.lines = append(h.lines, hdr{name: name, value: v})
	}
}

func (h *headerList) add(name, value string) {
	h.lines = append(h.lines, hdr{name: name, value: value})
}

func (h *headerList) clear(name string) {
	out := h.lines[:0]
	for _, l := range h.lines {
		if !strings.EqualFold(l.name, name) {
			out = append(out, l)
		}
	}
	h.lines = out
}

// table mimics ngx.req.get_headers(max): lower-cased keys, repeated headers
// as lists, only the first max lines.
func (h *headerList) table(max int) map[string]any {
	out := map[string]any{}
	for i, l := range h.lines {
		if i >= max {
			break
		}
		k := strings.ToLower(l.name)
		switch cur := out[k].(type) {
		case nil:
			out[k] = l.value
		case string:
			out[k] = []any{cur, l.value}
		case []any:
			out[k] = append(cur, l.value)
		}
	}
	return out
}

// respHeaders models ngx.header: ordered lines, names normalised with
// underscores turned into dashes (lua_transform_underscores_in_response_headers).
type respHeaders struct {
	lines []hdr
}

func respName(n string) string { return strings.ReplaceAll(n, "_", "-") }

func (r *respHeaders) set(name string, values []string) {
	name = respName(name)
	r.clear(name)
	for _, v := range values {
		r.lines = append(r.lines, hdr{name: name, value: v})
	}
}

func (r *respHeaders) add(name, value string) {
	r.lines = append(r.lines, hdr{name: respName(name), value: value})
}

func (r *respHeaders) clear(name string) {
	name = respName(name)
	out := r.lines[:0]
	for _, l := range r.lines {
		if !strings.EqualFold(l.name, name) {
			out = append(out, l)
		}
	}
	r.lines = out
}

func (r *respHeaders) has(name string) bool {
	for _, l := range r.lines {
		if strings.EqualFold(l.name, respName(name)) {
			return true
		}
	}
	return false
}

func (r *respHeaders) first(name string) string {
	for _, l := range r.lines {
		if strings.EqualFold(l.name, respName(name)) {
			return l.value
		}
	}
	return ""
}

// exitResponse is a response produced by Kong itself (kong.response.exit or
// kong.response.error).
type exitResponse struct {
	status  int
	body    []byte
	hasBody bool
	headers []hdr // applied over the access-phase response headers
	viaErr  bool  // produced by kong.response.error
}

// request is the per-request state the PDK methods work on.
type request struct {
	g     *Gateway
	w     *worker
	snap  *snapshot
	r     *http.Request
	start time.Time
	id    string

	method     string
	rawURI     string // $request_uri
	args       string // $args
	proto      string
	httpVer    float64
	hdrs       *headerList
	host       string // $host
	httpHost   string // Host header as received
	scheme     string
	remoteAddr string // $remote_addr (after realip)
	remotePort int
	realipAddr string // $realip_remote_addr (the TCP peer)
	realipPort int
	serverAddr string
	serverPort int
	trusted    bool

	bodyRead bool
	body     []byte
	bodyFile string

	route   *Route
	service *Service
	prefix  string // matched path prefix ("/" when none)

	upstreamURI    string // $upstream_uri (escaped, no query)
	upstreamScheme string
	upstreamHost   string // $upstream_host (preserve_host or set_header("host"))
	targetHost     string
	targetPort     int
	upstreamMethod string
	upstreamBody   []byte
	upstreamBodyOK bool

	fwdFor, fwdProto, fwdHost, fwdPort, fwdPath, fwdPrefix string
	via                                                    string
	upstreamTE                                             string

	resp       respHeaders
	ctxShared  map[string]any
	ngxCtx     map[string]any
	plugin     *pluginEntity
	phase      string
	exit       *exitResponse
	exitConns  []net.Conn
	unexpected bool

	// ngx.ctx.authenticated_consumer / authenticated_credential, as the
	// PDK would encode them for a Go plugin (nil: not set).
	authConsumer   *kpp.Consumer
	authCredential *kpp.AuthenticatedCredential
	// authCredentialLua: authCredential was set by an emulated Lua plugin,
	// whose credential table has no consumer_id (nil, not "").
	authCredentialLua bool
}

// authConsumerID is the consumer id the plugins iterator scopes plugins by
// (ctx.authenticated_consumer.id).
func (rq *request) authConsumerID() string {
	if rq.authConsumer != nil {
		return rq.authConsumer.Id
	}
	return ""
}

func parsePort(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// newRequest captures everything nginx would know about the request.
func newRequest(g *Gateway, w *worker, snap *snapshot, r *http.Request, start time.Time) *request {
	rq := &request{g: g, w: w, snap: snap, r: r, start: start, id: newRequestID(),
		method: r.Method, rawURI: r.RequestURI, proto: r.Proto, scheme: "http",
		ctxShared: map[string]any{}, ngxCtx: map[string]any{}}
	if r.TLS != nil {
		rq.scheme = "https"
	}
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		rq.httpVer = 1.0
	case r.ProtoMajor == 2:
		rq.httpVer = 2.0
	default:
		rq.httpVer = 1.1
	}
	if i := strings.IndexByte(rq.rawURI, '?'); i >= 0 {
		rq.args = rq.rawURI[i+1:]
	}
	// Client address and realip (real_ip_header X-Real-IP, recursive off).
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	rq.realipAddr, rq.realipPort = host, parsePort(port)
	rq.remoteAddr, rq.remotePort = rq.realipAddr, rq.realipPort
	rq.trusted = g.isTrusted(rq.realipAddr)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if h, p, err := net.SplitHostPort(la.String()); err == nil {
			rq.serverAddr, rq.serverPort = h, parsePort(p)
		}
	}
	// Request headers: the lines as the client sent them (names, order,
	// underscores: nginx with underscores_in_headers on), read by the
	// front end. A request that did not come through it (a test calling
	// ServeHTTP) has Host first, then the rest sorted by name.
	rq.hdrs = &headerList{}
	rq.httpHost = r.Host
	if lines, ok := rawLines(r); ok {
		rq.hdrs.lines = append([]hdr(nil), lines...)
	} else {
		if r.Host != "" {
			rq.hdrs.add("Host", r.Host)
		}
		names := make([]string, 0, len(r.Header))
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			for _, v := range r.Header[k] {
				rq.hdrs.add(k, v)
			}
		}
		if len(r.TransferEncoding) > 0 {
			rq.hdrs.add("Transfer-Encoding", strings.Join(r.TransferEncoding, ", "))
		}
	}
	if rq.trusted {
		if xr, ok := rq.hdrs.get("x-real-ip"); ok {
			if a, err := netip.ParseAddr(strings.TrimSpace(xr)); err == nil {
				rq.remoteAddr, rq.remotePort = a.String(), rq.realipPort
			}
		}
	}
	rq.host = nginxHost(r.Host)
	if rq.host == "" {
		rq.host = rq.serverAddr
	}
	return rq
}

// nginxHost returns $host: lower-case host name without the port.
func nginxHost(h string) string {
	if h == "" {
		return ""
	}
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return strings.ToLower(h[:i+1])
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[:i], ":") {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// readBody buffers the request body (nginx reads it before proxying).
func (rq *request) readBody() error {
	if rq.bodyRead {
		return nil
	}
	rq.bodyRead = true
	if rq.r.Body == nil {
		return nil
	}
	b, err := readAllLimit(rq.r.Body)
	rq.body = b
	if err != nil {
		return err
	}
	if len(b) > clientBodyBufferSize {
		f, err := os.CreateTemp(rq.g.prefix, "client_body_*")
		if err == nil {
			_, _ = f.Write(b)
			f.Close()
			rq.bodyFile = f.Name()
		}
	}
	return nil
}

// clientBodyBufferSize is nginx's client_body_buffer_size (Kong: 8k).
const clientBodyBufferSize = 8192

// path returns the raw path of $request_uri (no query).
func (rq *request) rawPath() string {
	u := rq.rawURI
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

func (rq *request) isArgs() string {
	if rq.args != "" {
		return "?"
	}
	return ""
}

// nginxVar implements ngx.var[name] for the variables a plugin is likely to
// read. Unknown variables are nil, like undefined nginx variables.
func (rq *request) nginxVar(name string) (string, bool) {
	switch name {
	case "request_uri":
		return rq.rawURI, true
	case "uri", "document_uri":
		return nginxURI(rq.rawPath()), true
	case "args", "query_string":
		if rq.args == "" && !strings.Contains(rq.rawURI, "?") {
			return "", false
		}
		return rq.args, true
	case "is_args":
		return rq.isArgs(), true
	case "scheme":
		return rq.scheme, true
	case "https":
		if rq.scheme == "https" {
			return "on", true
		}
		return "", true
	case "host":
		return rq.host, true
	case "hostname":
		h, _ := os.Hostname()
		return h, true
	case "server_name":
		return "kong", true
	case "server_port":
		return strconv.Itoa(rq.serverPort), true
	case "server_addr":
		return rq.serverAddr, true
	case "server_protocol":
		return rq.proto, true
	case "remote_addr":
		return rq.remoteAddr, true
	case "remote_port":
		return strconv.Itoa(rq.remotePort), true
	case "realip_remote_addr":
		return rq.realipAddr, true
	case "realip_remote_port":
		return strconv.Itoa(rq.realipPort), true
	case "binary_remote_addr":
		if a, err := netip.ParseAddr(rq.remoteAddr); err == nil {
			return string(a.AsSlice()), true
		}
		return "", false
	case "request_method":
		return rq.method, true
	case "request":
		return rq.method + " " + rq.rawURI + " " + rq.proto, true
	case "content_type":
		return rq.hdrs.joined("content-type")
	case "content_length":
		return rq.hdrs.joined("content-length")
	case "request_id", "kong_request_id":
		return rq.id, true
	case "upstream_uri":
		if rq.route == nil {
			return "", false
		}
		return rq.upstreamURI, true
	case "upstream_scheme":
		return rq.upstreamScheme, rq.route != nil
	case "upstream_host":
		return rq.upstreamHost, rq.route != nil
	case "upstream_x_forwarded_for":
		return rq.fwdFor, rq.route != nil
	case "upstream_x_forwarded_proto":
		return rq.fwdProto, rq.route != nil
	case "upstream_x_forwarded_host":
		return rq.fwdHost, rq.route != nil
	case "upstream_x_forwarded_port":
		return rq.fwdPort, rq.route != nil
	case "upstream_x_forwarded_path":
		return rq.fwdPath, rq.route != nil
	case "upstream_x_forwarded_prefix":
		return rq.fwdPrefix, rq.route != nil
	case "upstream_via":
		return rq.via, rq.route != nil
	case "msec":
		return strconv.FormatFloat(float64(time.Now().UnixMilli())/1000, 'f', 3, 64), true
	case "time_iso8601":
		return time.Now().Format("2006-01-02T15:04:05-07:00"), true
	case "request_time":
		return strconv.FormatFloat(time.Since(rq.start).Seconds(), 'f', 3, 64), true
	}
	switch {
	case strings.HasPrefix(name, "http_"):
		return rq.hdrs.joined(name[5:])
	case strings.HasPrefix(name, "arg_"):
		want := strings.ToLower(name[4:])
		for _, part := range strings.Split(rq.args, "&") {
			k, v, _ := strings.Cut(part, "=")
			if strings.ToLower(k) == want {
				return v, true
			}
		}
		return "", false
	case strings.HasPrefix(name, "cookie_"):
		want := name[7:]
		c, ok := rq.hdrs.joined("cookie")
		if !ok {
			return "", false
		}
		for _, part := range strings.Split(c, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == want {
				return v, true
			}
		}
		return "", false
	}
	return "", false
}
