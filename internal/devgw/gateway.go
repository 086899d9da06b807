package devgw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// KongVersion is the Kong version kong-devgw imitates (Server / Via headers).
const KongVersion = "3.9.1"

const serverHeader = "kong/" + KongVersion

// Options configures a Gateway. Zero values select Kong-like defaults.
type Options struct {
	// ConfigPath is the declarative configuration (kong.yml, _format_version "3.0").
	ConfigPath string
	// Listen is the proxy listen address (default "127.0.0.1:8000"; use
	// "127.0.0.1:0" for a random port).
	Listen string
	// Prefix is Kong's prefix: default plugin server sockets live in
	// <Prefix>/<name>.socket. Empty: $KONG_PREFIX, else a new temporary
	// directory (removed by Close).
	Prefix string
	// Workers is the number of emulated nginx workers (default 2).
	Workers int
	// TrustedIPs lists IPs/CIDRs whose X-Forwarded-* and X-Real-IP headers
	// are honoured (Kong's trusted_ips; default none). Empty: $KONG_TRUSTED_IPS.
	TrustedIPs []string
	// Env is the environment read for KONG_* settings and passed to the
	// plugin server processes. Nil means os.Environ().
	Env []string
	// Log receives the gateway log (default os.Stderr).
	Log io.Writer
	// LogLevel is debug, info (default), notice, warn, error, crit, alert.
	// Plugin server output is logged at info, like Kong.
	LogLevel string
	// Timeout is the connect/send/read timeout of plugin server sockets
	// (OpenResty default: 60s).
	Timeout time.Duration
	// MaxEventRetries bounds how often an event is re-run after a "closed"
	// / "no plugin instance" error (Kong: unbounded). Default 3.
	MaxEventRetries int
	// BinDir is where Kong looks for default plugin server binaries
	// (default /usr/local/bin).
	BinDir string
	// LargeClientHeaderBuffers is nginx's large_client_header_buffers,
	// e.g. "4 16k". Empty: $KONG_NGINX_PROXY_LARGE_CLIENT_HEADER_BUFFERS,
	// else $KONG_NGINX_HTTP_LARGE_CLIENT_HEADER_BUFFERS, else "4 8k".
	LargeClientHeaderBuffers string
}

// Stats are counters useful in tests.
type Stats struct {
	StartInstance int64 // successful StartInstance RPCs
	Requests      int64 // proxy requests served
}

// Gateway is a running (or startable) kong-devgw instance.
type Gateway struct {
	opts     Options
	env      []string
	envMap   map[string]string
	log      *logger
	prefix   string
	ownsPfx  bool
	trusted  []netip.Prefix
	servers  []*serverDef
	infos    map[string]*pluginInfo
	enabled  map[string]bool
	workers  []*worker
	nodeID   string
	snap     atomic.Pointer[snapshot]
	seq      atomic.Int64 // Kong's shared "plugins_iterator:__seq__" counter
	rr       atomic.Uint64
	starts   atomic.Int64
	requests atomic.Int64

	transport       *http.Transport
	verifyTransport *http.Transport

	headerBuffers HeaderBuffers

	mu       sync.Mutex
	ln       net.Listener
	front    *front
	started  bool
	closed   bool
	serveErr chan error
}

// snapshot is one loaded declarative configuration.
type snapshot struct {
	cfg     *declConfig
	router  *router
	plugins []*pluginEntity // enabled, http-subsystem plugins
	combos  map[string]map[[3]string]*pluginEntity
	order   []*pluginInfo // plugins in execution order (priority desc, name desc)
}

// New loads the configuration, queries the plugin servers, checks every
// plugin configuration against its dumped schema and prepares the
// workers. Nothing is started: call Start (or use the Start function).
func New(opts Options) (*Gateway, error) {
	if opts.ConfigPath == "" {
		return nil, errors.New("no declarative configuration given")
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8000"
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.MaxEventRetries <= 0 {
		opts.MaxEventRetries = 3
	}
	if opts.BinDir == "" {
		opts.BinDir = "/usr/local/bin"
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	level, err := parseLevel(opts.LogLevel)
	if err != nil {
		return nil, err
	}
	g := &Gateway{opts: opts, log: &logger{w: opts.Log, level: level}, nodeID: randomUUID()}
	g.env = opts.Env
	if g.env == nil {
		g.env = os.Environ()
	}
	g.envMap = envMap(g.env)

	trusted := opts.TrustedIPs
	if len(trusted) == 0 {
		if v, ok := kongSetting(g.envMap, "trusted_ips"); ok {
			trusted = splitList(v)
		}
	}
	for _, t := range trusted {
		p, err := parseTrusted(t)
		if err != nil {
			return nil, err
		}
		g.trusted = append(g.trusted, p...)
	}

	g.headerBuffers = DefaultHeaderBuffers
	hb := opts.LargeClientHeaderBuffers
	if hb == "" {
		hb, _ = kongSetting(g.envMap, "nginx_proxy_large_client_header_buffers")
	}
	if hb == "" {
		hb, _ = kongSetting(g.envMap, "nginx_http_large_client_header_buffers")
	}
	if hb != "" {
		if g.headerBuffers, err = ParseHeaderBuffers(hb); err != nil {
			return nil, err
		}
	}

	g.prefix = opts.Prefix
	if g.prefix == "" {
		if v, ok := kongSetting(g.envMap, "prefix"); ok {
			g.prefix = v
		}
	}
	if g.prefix == "" {
		dir, err := os.MkdirTemp("", "kong-devgw-")
		if err != nil {
			return nil, err
		}
		g.prefix, g.ownsPfx = dir, true
	} else if err := os.MkdirAll(g.prefix, 0o755); err != nil {
		return nil, fmt.Errorf("prefix %s: %v", g.prefix, err)
	}

	fail := func(err error) (*Gateway, error) {
		if g.ownsPfx {
			os.RemoveAll(g.prefix)
		}
		return nil, err
	}
	g.servers, err = serverDefsFromEnv(g.envMap, g.prefix, opts.BinDir)
	if err != nil {
		return fail(err)
	}
	for _, d := range g.servers {
		if d.StartCmd == "" {
			g.log.warnf("pluginserver %s has no start command: assuming it is managed externally (socket %s)", d.Name, d.Socket)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g.infos, g.enabled, err = loadPlugins(ctx, g.servers, g.envMap, g.env, g.log)
	if err != nil {
		return fail(err)
	}
	for _, info := range g.infos {
		if !g.enabled[info.Name] {
			continue
		}
		var ignored []string
		for _, ph := range info.Phases {
			if ph != "access" && ph != "rewrite" {
				ignored = append(ignored, ph)
			}
		}
		if len(ignored) > 0 {
			g.log.warnf("plugin '%s' implements phase(s) %s, which kong-devgw does not run (only access, and rewrite for global plugins)", info.Name, strings.Join(ignored, ", "))
		}
	}
	for i := 0; i < opts.Workers; i++ {
		g.workers = append(g.workers, newWorker(g, i))
	}
	snap, err := g.loadSnapshot()
	if err != nil {
		return fail(err)
	}
	g.snap.Store(snap)
	g.transport = newTransport(false)
	g.verifyTransport = newTransport(true)
	return g, nil
}

func parseTrusted(s string) ([]netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if s == "unix:" {
		return nil, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_ips: invalid CIDR %q", s)
		}
		return []netip.Prefix{p.Masked()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("trusted_ips: invalid IP %q", s)
	}
	return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}, nil
}

func (g *Gateway) isTrusted(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// loadSnapshot parses the declarative config, validates plugin configs
// against their schemas and assigns __seq__ values (one per plugin entity
// per worker, from a process-wide counter, like Kong >= 3.6).
func (g *Gateway) loadSnapshot() (*snapshot, error) {
	cfg, err := loadDeclarative(g.opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.warnings {
		g.log.warnf("%s", w)
	}
	tree := newErrTree()
	var summary []string
	for _, pe := range cfg.plugins {
		if !g.enabled[pe.Name] {
			tree.set(append(append([]any(nil), pe.path...), "name"),
				fmt.Sprintf("plugin '%s' not enabled; add it to the 'plugins' configuration property", pe.Name))
			summary = append(summary, fmt.Sprintf("plugin '%s' (%s): name: plugin not enabled", pe.Name, pe.where))
			continue
		}
		info := g.infos[pe.Name]
		if info == nil {
			info = bundledInfo(pe.Name)
		}
		if info == nil {
			tree.set(append(append([]any(nil), pe.path...), "name"),
				fmt.Sprintf("plugin '%s' is a bundled Kong (Lua) plugin, which kong-devgw cannot run", pe.Name))
			summary = append(summary, fmt.Sprintf("plugin '%s' (%s): bundled Lua plugins are not supported by kong-devgw", pe.Name, pe.where))
			continue
		}
		pe.info = info
		raw := pe.rawConfig
		if !pe.hasConfig {
			raw = map[string]any{}
		}
		cpath := append(append([]any(nil), pe.path...), "config")
		if !luaTypeIsTable(raw) {
			tree.set(cpath, "expected a record")
			summary = append(summary, fmt.Sprintf("plugin '%s' (%s): config: expected a record", pe.Name, pe.where))
			continue
		}
		out, errs := validateRecord(info.schema, raw)
		if !errs.empty() {
			tree.merge(cpath, errs)
			for _, line := range errs.flatten("config") {
				summary = append(summary, fmt.Sprintf("plugin '%s' (%s): %s", pe.Name, pe.where, line))
			}
			continue
		}
		if info.bundled != nil && info.bundled.check != nil {
			if probs := info.bundled.check(out); len(probs) > 0 {
				for _, p := range probs {
					tree.set(cpath, p)
					summary = append(summary, fmt.Sprintf("plugin '%s' (%s): config: %s", pe.Name, pe.where, p))
				}
				continue
			}
		}
		pe.config = out
	}
	if !tree.empty() {
		return nil, &ConfigError{File: cfg.file, tree: tree, Summary: summary}
	}
	snap := &snapshot{cfg: cfg, router: buildRouter(cfg.routes), combos: map[string]map[[3]string]*pluginEntity{}}
	seenInfo := map[string]bool{}
	for _, pe := range cfg.plugins {
		if !pe.Enabled || !runsInHTTP(pe.Protocols) {
			continue
		}
		snap.plugins = append(snap.plugins, pe)
		snap.addCombo(pe)
		if !seenInfo[pe.Name] {
			seenInfo[pe.Name] = true
			snap.order = append(snap.order, pe.info)
		}
	}
	sort.SliceStable(snap.order, func(i, j int) bool {
		a, b := snap.order[i], snap.order[j]
		if a.Priority == b.Priority && a.Priority != 0 {
			return a.Name > b.Name
		}
		return a.Priority > b.Priority
	})
	// __seq__: every worker builds its own plugins iterator, each plugin
	// config taking the next value of the shared counter.
	for range g.workers {
		for _, pe := range snap.plugins {
			pe.seqs = append(pe.seqs, g.seq.Add(1))
		}
	}
	return snap, nil
}

// lookup returns the plugin config that applies to a route, service and
// authenticated consumer, in the order of Kong 3.9.1's lookup_cfg
// (kong/runloop/plugins_iterator.lua): route+service+consumer,
// route+consumer, service+consumer, route+service, consumer, route,
// service, global.
// addCombo files pe under its name and its (route, service, consumer)
// scope, for lookup.
func (s *snapshot) addCombo(pe *pluginEntity) {
	if s.combos == nil {
		s.combos = map[string]map[[3]string]*pluginEntity{}
	}
	if s.combos[pe.Name] == nil {
		s.combos[pe.Name] = map[[3]string]*pluginEntity{}
	}
	s.combos[pe.Name][[3]string{pe.routeID(), pe.serviceID(), pe.consumerID()}] = pe
}

func (s *snapshot) lookup(name string, route *Route, service *Service, consumerID string) *pluginEntity {
	c := s.combos[name]
	if c == nil {
		return nil
	}
	rid, sid, cid := "", "", consumerID
	if route != nil {
		rid = route.ID
	}
	if service != nil {
		sid = service.ID
	}
	try := func(set bool, k [3]string) *pluginEntity {
		if !set {
			return nil
		}
		return c[k]
	}
	for _, p := range []*pluginEntity{
		try(rid != "" && sid != "" && cid != "", [3]string{rid, sid, cid}),
		try(rid != "" && cid != "", [3]string{rid, "", cid}),
		try(sid != "" && cid != "", [3]string{"", sid, cid}),
		try(rid != "" && sid != "", [3]string{rid, sid, ""}),
		try(cid != "", [3]string{"", "", cid}),
		try(rid != "", [3]string{rid, "", ""}),
		try(sid != "", [3]string{"", sid, ""}),
	} {
		if p != nil {
			return p
		}
	}
	return c[[3]string{"", "", ""}]
}

// Start launches the plugin servers (respawned after any exit, at most
// once per second) and the proxy listener. Like Kong >= 3.5 it does not
// wait for plugin server sockets: early requests may fail with 500.
func (g *Gateway) Start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return errors.New("already started")
	}
	if g.closed {
		return errors.New("closed")
	}
	ln, err := net.Listen("tcp", g.opts.Listen)
	if err != nil {
		return err
	}
	g.ln = ln
	for _, d := range g.servers {
		if d.StartCmd != "" {
			d.start(g.env, g.log)
		}
	}
	g.front = &front{g: g, lim: g.headerBuffers, conns: map[net.Conn]bool{}}
	g.serveErr = make(chan error, 1)
	go func() { g.serveErr <- g.front.serve(ln) }()
	g.started = true
	g.log.noticef("kong-devgw %s listening on %s (prefix %s, %d workers)", KongVersion, ln.Addr(), g.prefix, len(g.workers))
	return nil
}

// Start is New followed by Gateway.Start.
func Start(opts Options) (*Gateway, error) {
	g, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := g.Start(); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// Addr is the listening address (after Start).
func (g *Gateway) Addr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil {
		return ""
	}
	return g.ln.Addr().String()
}

// URL is "http://<Addr>".
func (g *Gateway) URL() string { return "http://" + g.Addr() }

// Prefix is the prefix directory in use.
func (g *Gateway) Prefix() string { return g.prefix }

// Stats returns counters.
func (g *Gateway) Stats() Stats {
	return Stats{StartInstance: g.starts.Load(), Requests: g.requests.Load()}
}

func (g *Gateway) countStart() { g.starts.Add(1) }

// PluginServerPID is the pid of a managed plugin server (0 if not running).
func (g *Gateway) PluginServerPID(name string) int {
	for _, d := range g.servers {
		if d.Name == strings.ToLower(name) {
			return d.currentPID()
		}
	}
	return 0
}

// Reload re-reads the declarative configuration (like a new declarative
// config in Kong): new __seq__ values, so every worker starts new plugin
// instances on its next request and closes the old ones. On error the
// running configuration is kept.
func (g *Gateway) Reload() error {
	snap, err := g.loadSnapshot()
	if err != nil {
		return err
	}
	g.snap.Store(snap)
	g.log.noticef("declarative config reloaded from %s", g.opts.ConfigPath)
	return nil
}

// Close stops the listener and the plugin servers (SIGTERM).
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	fr, ln := g.front, g.ln
	g.mu.Unlock()
	if fr != nil {
		fr.mu.Lock()
		fr.closing = true
		fr.mu.Unlock()
		ln.Close()
		fr.shutdown(5 * time.Second)
	}
	for _, d := range g.servers {
		d.stop(5 * time.Second)
	}
	for _, w := range g.workers {
		w.closePool()
	}
	if g.transport != nil {
		g.transport.CloseIdleConnections()
		g.verifyTransport.CloseIdleConnections()
	}
	if g.ownsPfx {
		os.RemoveAll(g.prefix)
	}
	return nil
}

// resetInstancesForPlugin drops cached instances of a plugin in every
// worker (Kong posts a "reset_instances" worker event).
func (g *Gateway) resetInstancesForPlugin(name string) {
	for _, w := range g.workers {
		w.resetInstances(name)
	}
}

// ServeHTTP handles one proxy request like Kong's rewrite and access phases
// followed by proxying or a Kong-produced response.
func (g *Gateway) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	g.requests.Add(1)
	snap := g.snap.Load()
	wk := g.workers[int(g.rr.Add(1)-1)%len(g.workers)]
	rq := newRequest(g, wk, snap, r, start)
	defer func() {
		for _, c := range rq.exitConns {
			c.Close()
		}
	}()

	// rewrite: global plugins only
	for _, info := range snap.order {
		if !info.hasPhase("rewrite") {
			continue
		}
		pe := snap.lookup(info.Name, nil, nil, "")
		if pe == nil {
			continue
		}
		if g.runPlugin(rw, rq, pe, "rewrite") {
			return
		}
	}

	// access.before: the router
	m := snap.router.match(rq.method, rq.host, rq.serverPort, normalizePath(rq.rawPath(), true), rq.hdrs)
	if m == nil {
		g.sendExit(rw, rq, rq.kongError(404, "no Route matched with those values", nil), false)
		return
	}
	rq.route, rq.service = m.route, m.route.Service
	rq.prefix = m.prefix
	g.prepareUpstream(rq, m)
	if resp := g.httpsRedirect(rq); resp != nil {
		g.sendExit(rw, rq, resp, false)
		return
	}

	// access: plugins in priority order, each config resolved per route/service
	for _, info := range snap.order {
		if !info.hasPhase("access") {
			continue
		}
		pe := snap.lookup(info.Name, rq.route, rq.service, rq.authConsumerID())
		if pe == nil {
			continue
		}
		if g.runPlugin(rw, rq, pe, "access") {
			return
		}
	}
	rq.plugin = nil
	if rq.service == nil {
		g.sendExit(rw, rq, jsonExit(503, "no Service found with those values"), false)
		return
	}
	g.proxy(rw, rq)
}

// runPlugin runs one handler; it reports true when a response was sent.
func (g *Gateway) runPlugin(rw http.ResponseWriter, rq *request, pe *pluginEntity, phase string) bool {
	rq.plugin, rq.phase = pe, phase
	if b := pe.info.bundled; b != nil {
		ex, err := b.access(rq, pe.config)
		switch {
		case err != nil:
			g.log.errorf("[kong] init.lua:1 [%s] %v, request_id: %s", pe.Name, err, rq.id)
			rq.unexpected = true
			g.sendExit(rw, rq, rq.kongError(500, "An unexpected error occurred", nil), false)
			return true
		case ex != nil:
			g.sendExit(rw, rq, ex, false)
			return true
		}
		return false
	}
	switch rq.w.handleEvent(rq, pe, phase) {
	case eventOK:
		return false
	case eventExit:
		g.sendExit(rw, rq, rq.exit, false)
	default:
		rq.unexpected = true
		g.sendExit(rw, rq, rq.kongError(500, "An unexpected error occurred", nil), false)
	}
	return true
}
