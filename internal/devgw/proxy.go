package devgw

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func readAllLimit(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

type dialTimeoutKey struct{}

func newTransport(verify bool) *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			timeout := 60 * time.Second
			if t, ok := ctx.Value(dialTimeoutKey{}).(time.Duration); ok && t > 0 {
				timeout = t
			}
			d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: !verify}, //nolint:gosec // Kong does not verify upstream certificates unless tls_verify is set
		DisableCompression:  true,
		MaxIdleConnsPerHost: 60,
		IdleConnTimeout:     60 * time.Second,
	}
}

// prepareUpstream is Kong's access.before after routing: forwarded
// headers, upstream URI, scheme, host and Via.
func (g *Gateway) prepareUpstream(rq *request, m *routeMatch) {
	port := rq.serverPort
	if rq.trusted {
		rq.fwdProto = firstNonEmpty(hdrGet(rq, "x_forwarded_proto"), rq.scheme)
		rq.fwdHost = firstNonEmpty(hdrGet(rq, "x_forwarded_host"), rq.host)
		rq.fwdPort = firstNonEmpty(hdrGet(rq, "x_forwarded_port"), strconv.Itoa(port))
		rq.fwdPath = hdrGet(rq, "x_forwarded_path")
		rq.fwdPrefix = hdrGet(rq, "x_forwarded_prefix")
	} else {
		rq.fwdProto, rq.fwdHost, rq.fwdPort = rq.scheme, rq.host, strconv.Itoa(port)
	}
	if rq.fwdPath == "" {
		rq.fwdPath = rq.rawPath()
	}
	if rq.fwdPrefix == "" && m.prefix != "" && m.prefix != "/" {
		rq.fwdPrefix = m.prefix
	}
	if xff, ok := rq.hdrs.get("x_forwarded_for"); ok {
		rq.fwdFor = xff + ", " + rq.realipAddr
	} else {
		rq.fwdFor = rq.remoteAddr
	}
	inbound := luaNumber(rq.httpVer) + " " + serverHeader
	if v, ok := rq.hdrs.get("via"); ok {
		rq.via = v + ", " + inbound
	} else {
		rq.via = inbound
	}
	rq.upstreamURI = escapeURI(m.upstreamURI)
	if s := m.route.Service; s != nil {
		rq.upstreamScheme = s.Protocol
		rq.targetHost, rq.targetPort = s.Host, s.Port
	}
	if m.route.PreserveHost {
		rq.upstreamHost = rq.httpHost
	}
	if te, ok := rq.hdrs.get("te"); ok {
		for _, p := range strings.Split(te, ",") {
			if strings.TrimSpace(strings.ToLower(p)) == "trailers" {
				rq.upstreamTE = "trailers"
			}
		}
	}
}

func hdrGet(rq *request, name string) string {
	v, _ := rq.hdrs.get(name)
	return v
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// httpsRedirect implements the https-only route check (426 or redirect).
func (g *Gateway) httpsRedirect(rq *request) *exitResponse {
	r := rq.route
	hasHTTP, hasHTTPS := containsStr(r.Protocols, "http"), containsStr(r.Protocols, "https")
	if !hasHTTPS || hasHTTP || rq.fwdProto == "https" {
		return nil
	}
	switch r.HTTPSRedirect {
	case 301, 302, 307, 308:
		return &exitResponse{status: r.HTTPSRedirect, headers: []hdr{{"Location", "https://" + rq.fwdHost + rq.rawURI}}}
	}
	return rq.kongError(426, "Please use HTTPS protocol", []hdr{{"Connection", "Upgrade"}, {"Upgrade", "TLS/1.2, HTTP/1.1"}})
}

// ---------------------------------------------------------------------------
// Kong-produced responses

var mimeTypes = map[string]string{
	"application/grpc": "",
	"text/html":        "text/html; charset=utf-8",
	"application/json": "application/json; charset=utf-8",
	"text/plain":       "text/plain; charset=utf-8",
	"application/xml":  "application/xml; charset=utf-8",
	"application":      "application/json; charset=utf-8",
	"text":             "text/plain; charset=utf-8",
	"default":          "application/json; charset=utf-8",
}

var errorTemplates = map[string]string{
	"application/json; charset=utf-8": "{\n  \"message\":\"%s\",\n  \"request_id\":\"%s\"\n}",
	"text/html; charset=utf-8":        "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>%s.</p>\n    <p>request_id: %s</p>\n  </body>\n</html>\n",
	"text/plain; charset=utf-8":       "%s\nrequest_id: %s\n",
	"application/xml; charset=utf-8":  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>%s</message>\n  <requestid>%s</requestid>\n</error>\n",
}

// getMimeType mirrors kong.tools.http.get_mime_type (use_default = true).
func getMimeType(header string) string {
	h := strings.TrimSpace(header)
	h = strings.TrimSpace(strings.SplitN(h, ";", 2)[0])
	parts := strings.Split(h, "/")
	mt := ""
	if len(parts) > 1 {
		if parts[1] == "*" {
			if parts[0] == "*" {
				mt = mimeTypes["default"]
			} else {
				mt = mimeTypes[parts[0]]
			}
		} else {
			mt = mimeTypes[h]
		}
	}
	if mt == "" {
		return mimeTypes["default"]
	}
	return mt
}

var acceptRe = regexp.MustCompile(`(?i)^((?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*)/(?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*))(?:\s*;\s*q=(1(?:\.0{0,3}|)|0(?:\.\d{0,3}|))|\s*;\s*[a-z0-9][a-z0-9\-!#$&^_+.]+(?:=[^;]*|))*$`)

// getResponseType mirrors kong.tools.http.get_response_type (Accept based).
func getResponseType(accept string, present bool) string {
	ct := mimeTypes["default"]
	if !present {
		return ct
	}
	maxQ := 0.0
	for _, v := range strings.Split(accept, ",") {
		v = strings.TrimSpace(v)
		m := acceptRe.FindStringSubmatch(v)
		if m == nil {
			continue
		}
		q := 1.0
		if m[2] != "" {
			q, _ = strconv.ParseFloat(m[2], 64)
		}
		if q > maxQ {
			maxQ = q
			ct = getMimeType(m[1])
		}
	}
	return ct
}

// kongError mirrors kong.response.error(status, message, headers).
func (rq *request) kongError(status int, msg string, headers []hdr) *exitResponse {
	accept, ok := rq.hdrs.joined("accept")
	ct := getResponseType(accept, ok)
	ex := &exitResponse{status: status, viaErr: true}
	ex.headers = append(ex.headers, headers...)
	ex.headers = append(ex.headers, hdr{"Content-Type", ct})
	if tpl, ok := errorTemplates[ct]; ok {
		ex.body = []byte(fmt.Sprintf(tpl, msg, rq.id))
		ex.hasBody = true
	}
	return ex
}

// jsonExit mirrors kong.response.exit(status, { message = msg }).
func jsonExit(status int, msg string) *exitResponse {
	b, _ := json.Marshal(map[string]string{"message": msg})
	return &exitResponse{status: status, body: b, hasBody: true,
		headers: []hdr{{"Content-Type", "application/json; charset=utf-8"}}}
}

// errorBodies are kong/error_handlers.lua's messages (3.9.1).
var errorBodies = map[int]string{
	400: "Bad request",
	404: "Not found",
	405: "Method not allowed",
	408: "Request timeout",
	411: "Length required",
	412: "Precondition failed",
	413: "Payload too large",
	414: "URI too long",
	417: "Expectation failed",
	494: "Request header or cookie too large",
	500: "An unexpected error occurred",
	502: "An invalid response was received from the upstream server",
	503: "The upstream server is currently unavailable",
	504: "The upstream server is timing out",
}

// errorPage mirrors kong/error_handlers.lua for errors nginx routes to
// /kong_error_handler (400, 405, 414, 494 while reading the head; 502, 504
// from the upstream). nginx's 494 is answered as 400.
func (rq *request) errorPage(status int) *exitResponse {
	msg, ok := errorBodies[status]
	if !ok {
		msg = fmt.Sprintf("The upstream server responded with %d", status)
	}
	// kong.request.get_header: $http_accept, or its first line when the
	// joined value holds ", "
	accept, ok := rq.hdrs.kongGetHeader("accept").(string)
	if !ok {
		accept, ok = rq.hdrs.kongGetHeader("content-type").(string)
		if !ok {
			accept = "text/plain" // error_default_type
		}
	}
	if status == 494 {
		status = 400
	}
	ct := getResponseType(accept, true)
	ex := &exitResponse{status: status, headers: []hdr{{"Content-Type", ct}}}
	if tpl, ok := errorTemplates[ct]; ok {
		ex.body, ex.hasBody = []byte(fmt.Sprintf(tpl, msg, rq.id)), true
	}
	return ex
}

func latencyMS(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// sendExit writes a response produced by Kong (kong.response.exit/error):
// access-phase response headers, then the exit headers, Content-Length,
// no Content-Type unless given, then Kong's header_filter headers.
func (g *Gateway) sendExit(rw http.ResponseWriter, rq *request, ex *exitResponse, proxied bool) {
	hs := respHeaders{lines: append([]hdr(nil), rq.resp.lines...)}
	if proxied {
		hs.lines = nil
	}
	groups := map[string][]string{}
	var order []string
	for _, h := range ex.headers {
		if _, ok := groups[h.name]; !ok {
			order = append(order, h.name)
		}
		if h.value != "\x00clear" {
			groups[h.name] = append(groups[h.name], h.value)
		} else if groups[h.name] == nil {
			groups[h.name] = []string{}
		}
	}
	hasCL := false
	for _, name := range order {
		if isTransferEncoding(name) {
			g.log.warnf("[%s] manually setting Transfer-Encoding. Ignored.", rq.pluginName())
			continue
		}
		hs.set(name, groups[name])
		if strings.EqualFold(respName(name), "content-length") {
			hasCL = true
		}
	}
	if !hasCL {
		hs.set("Content-Length", []string{strconv.Itoa(len(ex.body))})
	}
	// header_filter (Kong.header_filter after)
	latency := latencyMS(time.Since(rq.start))
	if proxied {
		// upstream failure (502/504): Kong has no waiting time, so no
		// X-Kong-Upstream-Latency (unverified, see DIFFERENCES.md)
		hs.set("X-Kong-Proxy-Latency", []string{latency})
		hs.set("Via", []string{"1.1 " + serverHeader})
		if !hs.has("Server") {
			hs.set("Server", []string{serverHeader})
		}
	} else {
		hs.set("X-Kong-Response-Latency", []string{latency})
		if hs.first("Via") != serverHeader {
			hs.set("Server", []string{serverHeader})
		}
	}
	hs.set("X-Kong-Request-Id", []string{rq.id})
	writeHeaders(rw, hs.lines)
	if _, ok := rw.Header()["Content-Type"]; !ok {
		rw.Header()["Content-Type"] = nil // nginx default_type '': no sniffing
	}
	rw.WriteHeader(ex.status)
	if rq.method != http.MethodHead && ex.hasBody && ex.status != 204 && ex.status != 304 {
		_, _ = rw.Write(ex.body)
	}
	g.log.debugf("%s %s -> %d (kong), request_id: %s", rq.method, rq.rawURI, ex.status, rq.id)
}

func writeHeaders(rw http.ResponseWriter, lines []hdr) {
	h := rw.Header()
	for _, l := range lines {
		k := http.CanonicalHeaderKey(l.name)
		h[k] = append(h[k], l.value)
	}
}

// hop-by-hop and proxy_set_header-controlled request headers.
var upstreamSkip = map[string]bool{
	"host": true, "connection": true, "keep-alive": true, "te": true, "upgrade": true,
	"expect": true, "content-length": true, "transfer-encoding": true,
	"x-forwarded-for": true, "x-forwarded-proto": true, "x-forwarded-host": true,
	"x-forwarded-port": true, "x-forwarded-path": true, "x-forwarded-prefix": true,
	"x-real-ip": true, "via": true, "x-kong-request-id": true, "proxy": true, "proxy-connection": true,
}

// single-valued response headers nginx stores once (upstream replaces).
var singleRespHeaders = map[string]bool{
	"content-type": true, "content-length": true, "location": true, "last-modified": true,
	"server": true, "date": true, "etag": true,
}

// proxy sends the request upstream (Kong's access.after, balancer and
// header_filter phases) and streams the response back.
func (g *Gateway) proxy(rw http.ResponseWriter, rq *request) {
	svc := rq.service
	uri := rq.upstreamURI
	if strings.HasSuffix(rq.rawURI, "?") || rq.args != "" {
		uri += "?" + rq.args
	}
	scheme := rq.upstreamScheme
	host, port := rq.targetHost, rq.targetPort
	hostHeader := rq.upstreamHost
	if hostHeader == "" {
		hostHeader = host
		if (port != 80 && port != 443) || (port == 80 && scheme != "http") || (port == 443 && scheme != "https") {
			hostHeader += ":" + strconv.Itoa(port)
		}
	}
	// clear hop-by-hop headers named in Connection
	skip := map[string]bool{}
	if c, ok := rq.hdrs.joined("connection"); ok {
		lc := strings.ToLower(c)
		if lc != "keep-alive" && lc != "close" && lc != "upgrade" {
			for _, n := range strings.Split(lc, ",") {
				if n = strings.TrimSpace(n); n != "" {
					skip[n] = true
				}
			}
		}
	}
	var body []byte
	if rq.upstreamBodyOK {
		body = rq.upstreamBody
	} else {
		if err := rq.readBody(); err != nil {
			g.log.errorf("reading client request body: %v, request_id: %s", err, rq.id)
			g.sendExit(rw, rq, rq.errorPage(400), false)
			return
		}
		body = rq.body
	}
	method := rq.method
	if rq.upstreamMethod != "" {
		method = rq.upstreamMethod
	}
	target := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + uri
	readTimeout := time.Duration(svc.ReadTimeout) * time.Millisecond
	ctx, cancel := context.WithCancel(context.WithValue(rq.r.Context(), dialTimeoutKey{}, time.Duration(svc.ConnectTimeout)*time.Millisecond))
	defer cancel()
	var bodyReader io.Reader
	if len(body) > 0 {
		bodyReader = bytes.NewReader(body)
	}
	ureq, err := http.NewRequestWithContext(ctx, method, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+"/", bodyReader)
	if err != nil {
		g.log.errorf("building upstream request for %q: %v, request_id: %s", target, err, rq.id)
		g.sendExit(rw, rq, rq.errorPage(502), true)
		return
	}
	// send $upstream_uri byte for byte
	pathPart, query, hasQuery := strings.Cut(uri, "?")
	ureq.URL.Opaque = pathPart
	ureq.URL.RawQuery = query
	ureq.URL.ForceQuery = hasQuery && query == ""
	ureq.Host = hostHeader
	ureq.ContentLength = int64(len(body))
	ureq.Header = http.Header{}
	for _, l := range rq.hdrs.lines {
		ln := strings.ToLower(l.name)
		// nginx matches proxy_set_header names exactly (lower-cased), so an
		// underscore spelling such as X_Forwarded_For travels upstream as sent.
		if upstreamSkip[ln] || skip[ln] {
			continue
		}
		ureq.Header[l.name] = append(ureq.Header[l.name], l.value)
	}
	set := func(k, v string) {
		if v != "" {
			ureq.Header[k] = []string{v}
		}
	}
	set("X-Forwarded-For", rq.fwdFor)
	set("X-Forwarded-Proto", rq.fwdProto)
	set("X-Forwarded-Host", rq.fwdHost)
	set("X-Forwarded-Port", rq.fwdPort)
	set("X-Forwarded-Path", rq.fwdPath)
	set("X-Forwarded-Prefix", rq.fwdPrefix)
	set("X-Real-IP", rq.remoteAddr)
	set("Via", rq.via)
	set("X-Kong-Request-Id", rq.id)
	set("TE", rq.upstreamTE)
	if _, ok := ureq.Header["User-Agent"]; !ok && ureq.Header.Get("User-Agent") == "" {
		ureq.Header["User-Agent"] = []string{""} // Go must not invent one
	}
	tr := g.transport
	if svc.TLSVerify != nil && *svc.TLSVerify {
		tr = g.verifyTransport
	}
	upStart := time.Now()
	proxyLatency := upStart.Sub(rq.start)
	timer := time.AfterFunc(readTimeout, cancel)
	resp, err := tr.RoundTrip(ureq)
	timer.Stop()
	waiting := time.Since(upStart)
	if err != nil {
		status := 502
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			if rq.r.Context().Err() == nil {
				status = 504
			}
		}
		g.log.errorf("upstream %s failed: %v, client: %s, request: \"%s %s %s\", request_id: %s", target, err, rq.realipAddr, rq.method, rq.rawURI, rq.proto, rq.id)
		g.sendExit(rw, rq, rq.errorPage(status), true)
		return
	}
	defer resp.Body.Close()
	// response headers: access-phase ngx.header first, then upstream's
	hs := respHeaders{lines: append([]hdr(nil), rq.resp.lines...)}
	hop := map[string]bool{"connection": true, "keep-alive": true, "transfer-encoding": true, "proxy-connection": true}
	for _, n := range strings.Split(strings.ToLower(resp.Header.Get("Connection")), ",") {
		if n = strings.TrimSpace(n); n != "" && n != "close" && n != "upgrade" && n != "keep-alive" {
			hop[n] = true
		}
	}
	if rq.upstreamTE == "" {
		hop["trailer"] = true
	}
	hop["upgrade"] = true
	for k, vals := range resp.Header {
		lk := strings.ToLower(k)
		if hop[lk] {
			continue
		}
		if singleRespHeaders[lk] {
			hs.set(k, vals[:1])
			continue
		}
		for _, v := range vals {
			hs.add(k, v)
		}
	}
	if resp.ContentLength >= 0 && !hs.has("Content-Length") && rq.method != http.MethodHead {
		hs.set("Content-Length", []string{strconv.FormatInt(resp.ContentLength, 10)})
	}
	// header_filter after (proxied)
	hs.set("X-Kong-Upstream-Latency", []string{latencyMS(waiting)})
	hs.set("X-Kong-Proxy-Latency", []string{latencyMS(proxyLatency)})
	outVia := "1.1 " + serverHeader
	if v := resp.Header.Get("Via"); v != "" {
		outVia = v + ", " + outVia
	}
	hs.set("Via", []string{outVia})
	if !hs.has("Server") {
		hs.set("Server", []string{serverHeader})
	}
	hs.set("X-Kong-Request-Id", []string{rq.id})
	writeHeaders(rw, hs.lines)
	if _, ok := rw.Header()["Content-Type"]; !ok {
		rw.Header()["Content-Type"] = nil
	}
	rw.WriteHeader(resp.StatusCode)
	flusher, _ := rw.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := rw.Write(buf[:n]); werr != nil {
				break
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				g.log.errorf("upstream prematurely closed connection while reading response body: %v, request_id: %s", rerr, rq.id)
			}
			break
		}
	}
	g.log.debugf("%s %s -> %d (upstream %s), request_id: %s", rq.method, rq.rawURI, resp.StatusCode, target, rq.id)
}
