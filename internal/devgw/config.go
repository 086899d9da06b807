package devgw

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// defaultWorkspaceID stands in for the id of Kong's "default" workspace.
var defaultWorkspaceID = uuidV5("workspaces:default")

// Service is a declarative service entity.
type Service struct {
	ID             string
	Name           string
	Protocol       string
	Host           string
	Port           int
	Path           string // "" when unset
	Retries        int
	ConnectTimeout int // ms
	WriteTimeout   int // ms
	ReadTimeout    int // ms
	TLSVerify      *bool
	Tags           []string
	Enabled        bool
	CreatedAt      int64
}

// Route is a declarative route entity.
type Route struct {
	ID             string
	Name           string
	Protocols      []string
	Methods        []string
	Hosts          []string
	Paths          []string
	Headers        map[string][]string
	HTTPSRedirect  int
	RegexPriority  int
	StripPath      bool
	PreserveHost   bool
	PathHandling   string
	Tags           []string
	Service        *Service
	CreatedAt      int64
	index          int
	serviceRefPath []any
}

// pluginEntity is a declarative plugin entity.
type pluginEntity struct {
	ID           string
	Name         string
	InstanceName string
	Route        *Route
	Service      *Service
	Consumer     *Consumer
	Enabled      bool
	Protocols    []string
	rawConfig    any
	hasConfig    bool
	path         []any  // location in the declarative file, for errors
	where        string // human description for summaries
	// set by the gateway after schema validation
	config map[string]any
	info   *pluginInfo
	seqs   []int64 // __seq__ per worker
}

func (p *pluginEntity) routeID() string {
	if p.Route != nil {
		return p.Route.ID
	}
	return ""
}

func (p *pluginEntity) serviceID() string {
	if p.Service != nil {
		return p.Service.ID
	}
	return ""
}

// cacheKey is Kong's plugins cache key (also sent as __key__).
func (p *pluginEntity) cacheKey() string {
	return "plugins:" + p.Name + ":" + p.routeID() + ":" + p.serviceID() + ":" + p.consumerID() + "::" + defaultWorkspaceID
}

func (p *pluginEntity) consumerID() string {
	if p.Consumer != nil {
		return p.Consumer.ID
	}
	return ""
}

// declConfig is a parsed (not yet plugin-validated) declarative config.
type declConfig struct {
	file      string
	services  []*Service
	routes    []*Route
	plugins   []*pluginEntity
	consumers consumerSet
	warnings  []string
}

// ---------------------------------------------------------------------------
// YAML to generic values

func yamlValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return yamlValue(n.Content[0])
	case yaml.AliasNode:
		return yamlValue(n.Alias)
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, err
			}
			return b, nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err == nil {
				return i, nil
			}
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, err
			}
			return f, nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, err
			}
			return f, nil
		default:
			return n.Value, nil
		}
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
				mv, err := yamlValue(v)
				if err != nil {
					return nil, err
				}
				merge := func(m any) {
					if mm, ok := m.(map[string]any); ok {
						for kk, vv := range mm {
							if _, exists := out[kk]; !exists {
								out[kk] = vv
							}
						}
					}
				}
				if list, ok := mv.([]any); ok {
					for _, m := range list {
						merge(m)
					}
				} else {
					merge(mv)
				}
				continue
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be scalars", k.Line)
			}
			val, err := yamlValue(v)
			if err != nil {
				return nil, err
			}
			out[k.Value] = val
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported YAML node kind %v", n.Kind)
}

// ---------------------------------------------------------------------------
// field checking helpers

type vctx struct {
	tree *errTree
	path []any
}

func (c vctx) at(k ...any) vctx {
	p := append(append([]any(nil), c.path...), k...)
	return vctx{tree: c.tree, path: p}
}

func (c vctx) fail(msg string) { c.tree.set(c.path, msg) }

func (c vctx) entityFail(msg string) { c.tree.addEntity(c.path, msg) }

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func checkUnknown(c vctx, m map[string]any, known map[string]bool) {
	for _, k := range sortedKeys(m) {
		if !known[k] {
			c.at(k).fail("unknown field")
		}
	}
}

func getString(c vctx, m map[string]any, k string) (string, bool) {
	v, ok := m[k]
	if !ok || v == nil {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		c.at(k).fail("expected a string")
		return "", false
	}
	if s == "" {
		c.at(k).fail("length must be at least 1")
		return "", false
	}
	return s, true
}

func getInt(c vctx, m map[string]any, k string, min, max int64) (int, bool) {
	v, ok := m[k]
	if !ok || v == nil {
		return 0, false
	}
	n, ok := toNumber(v)
	if !ok || n != math.Trunc(n) {
		c.at(k).fail("expected an integer")
		return 0, false
	}
	if n < float64(min) || n > float64(max) {
		c.at(k).fail(fmt.Sprintf("value should be between %d and %d", min, max))
		return 0, false
	}
	return int(n), true
}

func getBool(c vctx, m map[string]any, k string) (bool, bool) {
	v, ok := m[k]
	if !ok || v == nil {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		c.at(k).fail("expected a boolean")
		return false, false
	}
	return b, true
}

func getStringArray(c vctx, m map[string]any, k string) ([]string, bool) {
	list, ok := getList(c, m, k)
	if !ok {
		return nil, false
	}
	out := []string{}
	good := true
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			c.at(k, i+1).fail("expected a string")
			good = false
			continue
		}
		if s == "" {
			c.at(k, i+1).fail("length must be at least 1")
			good = false
			continue
		}
		out = append(out, s)
	}
	return out, good
}

func getList(c vctx, m map[string]any, k string) ([]any, bool) {
	v, ok := m[k]
	if !ok || v == nil {
		return nil, false
	}
	list, ok := asSequence(v)
	if !ok {
		c.at(k).fail("expected an array")
		return nil, false
	}
	return list, true
}

func asRecord(c vctx, v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail("expected a record")
		return nil, false
	}
	return m, true
}

// ---------------------------------------------------------------------------
// parsing

var topLevelKeys = map[string]bool{
	"_format_version": true, "_transform": true, "_comment": true, "_workspace": true, "_info": true,
	"services": true, "routes": true, "plugins": true, "consumers": true,
}

// Known Kong entities the dev gateway does not implement.
var unsupportedTopLevel = map[string]bool{
	"upstreams": true, "targets": true, "certificates": true, "ca_certificates": true,
	"snis": true, "vaults": true, "keys": true, "key_sets": true, "filter_chains": true,
	"consumer_groups": true, "acls": true, "basicauth_credentials": true, "keyauth_credentials": true,
	"hmacauth_credentials": true, "jwt_secrets": true, "oauth2_credentials": true, "parameters": true,
	"licenses": true, "workspaces": true,
}

var serviceKeys = map[string]bool{
	"id": true, "name": true, "url": true, "protocol": true, "host": true, "port": true, "path": true,
	"retries": true, "connect_timeout": true, "write_timeout": true, "read_timeout": true, "tags": true,
	"client_certificate": true, "tls_verify": true, "tls_verify_depth": true, "ca_certificates": true,
	"enabled": true, "created_at": true, "updated_at": true, "routes": true, "plugins": true,
}

var routeKeys = map[string]bool{
	"id": true, "name": true, "protocols": true, "methods": true, "hosts": true, "paths": true,
	"headers": true, "https_redirect_status_code": true, "regex_priority": true, "strip_path": true,
	"path_handling": true, "preserve_host": true, "request_buffering": true, "response_buffering": true,
	"snis": true, "sources": true, "destinations": true, "tags": true, "service": true,
	"created_at": true, "updated_at": true, "plugins": true,
}

var pluginKeys = map[string]bool{
	"id": true, "name": true, "instance_name": true, "config": true, "enabled": true, "protocols": true,
	"route": true, "service": true, "consumer": true, "tags": true, "ordering": true,
	"created_at": true, "updated_at": true,
}

var consumerKeys = map[string]bool{
	"id": true, "username": true, "custom_id": true, "tags": true, "created_at": true, "updated_at": true,
	"plugins": true, "acls": true, "basicauth_credentials": true, "keyauth_credentials": true,
	"hmacauth_credentials": true, "jwt_secrets": true, "oauth2_credentials": true,
}

var pluginProtocols = map[string]string{
	"grpc": "http", "grpcs": "http", "http": "http", "https": "http", "ws": "http", "wss": "http",
	"tcp": "stream", "tls": "stream", "tls_passthrough": "stream", "udp": "stream",
}

var (
	headerNameRe = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_` + "`" + `|~]+$`)
	methodRe     = regexp.MustCompile(`^[A-Z]+$`)
	hostRe       = regexp.MustCompile(`^(\*\.)?[a-zA-Z0-9._\-]*[a-zA-Z0-9_\-](\.\*)?(:[0-9]+)?$`)
)

// loadDeclarative reads and parses a declarative configuration file.
func loadDeclarative(path string) (*declConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("error parsing declarative config file %s:\n%v", path, err)
	}
	return parseDeclarative(path, data)
}

func parseDeclarative(file string, data []byte) (*declConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("error parsing declarative config file %s:\nfailed parsing declarative configuration: %v", file, err)
	}
	root, err := yamlValue(&doc)
	if err != nil {
		return nil, fmt.Errorf("error parsing declarative config file %s:\nfailed parsing declarative configuration: %v", file, err)
	}
	tree := newErrTree()
	c := vctx{tree: tree}
	top, ok := root.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("error parsing declarative config file %s:\nfailed parsing declarative configuration: expected an object", file)
	}
	cfg := &declConfig{file: file}
	now := time.Now().Unix()

	for _, k := range sortedKeys(top) {
		if topLevelKeys[k] {
			continue
		}
		if unsupportedTopLevel[k] {
			c.at(k).fail("'" + k + "' entities are not supported by kong-devgw")
			continue
		}
		c.at(k).fail("unknown field")
	}
	switch fv := top["_format_version"].(type) {
	case nil:
		c.at("_format_version").fail("required field missing")
	case string:
		if fv != "3.0" {
			c.at("_format_version").fail("expected one of: 3.0 (kong-devgw only accepts the 3.x format)")
		}
	default:
		c.at("_format_version").fail("expected a string")
	}

	if list, ok := getList(c, top, "consumers"); ok {
		cfg.consumers = parseConsumers(c, list, now)
	} else {
		cfg.consumers = parseConsumers(c, nil, now)
	}

	servicesByKey := map[string]*Service{}
	routesByKey := map[string]*Route{}
	var pendingRoutes []pendingRoute
	var pendingPlugins []pendingPlugin

	// services and their nested routes/plugins
	if list, ok := getList(c, top, "services"); ok {
		for i, item := range list {
			sc := c.at("services", i+1)
			m, ok := asRecord(sc, item)
			if !ok {
				continue
			}
			svc := parseService(sc, m, now)
			if svc == nil {
				continue
			}
			if svc.Name != "" {
				if _, dup := servicesByKey[svc.Name]; dup {
					sc.at("name").fail(fmt.Sprintf("uniqueness violation: 'services' entity with name set to '%s' already declared", svc.Name))
				}
				servicesByKey[svc.Name] = svc
			}
			if _, dup := servicesByKey[svc.ID]; dup {
				sc.at("id").fail(fmt.Sprintf("uniqueness violation: 'services' entity with primary key set to '%s' already declared", svc.ID))
			}
			servicesByKey[svc.ID] = svc
			cfg.services = append(cfg.services, svc)
			if rl, ok := getList(sc, m, "routes"); ok {
				for j, r := range rl {
					pendingRoutes = append(pendingRoutes, pendingRoute{c: sc.at("routes", j+1), v: r, service: svc})
				}
			}
			if pl, ok := getList(sc, m, "plugins"); ok {
				for j, p := range pl {
					pendingPlugins = append(pendingPlugins, pendingPlugin{c: sc.at("plugins", j+1), v: p, service: svc,
						where: fmt.Sprintf("entry %d of 'plugins' of service '%s'", j+1, nameOr(svc.Name, svc.ID))})
				}
			}
		}
	}
	if list, ok := getList(c, top, "routes"); ok {
		for j, r := range list {
			pendingRoutes = append(pendingRoutes, pendingRoute{c: c.at("routes", j+1), v: r, topLevel: true})
		}
	}
	for idx, pr := range pendingRoutes {
		m, ok := asRecord(pr.c, pr.v)
		if !ok {
			continue
		}
		rt := parseRoute(pr.c, m, now)
		if rt == nil {
			continue
		}
		rt.index = idx
		rt.Service = pr.service
		if pr.topLevel {
			if ref, present := m["service"]; present && ref != nil {
				svc := resolveRef(pr.c.at("service"), ref, servicesByKey, "services")
				rt.Service = svc
			}
		} else if ref, present := m["service"]; present && ref != nil {
			pr.c.at("service").fail("nested routes must not set 'service'")
		}
		if rt.Service != nil && !rt.Service.Enabled {
			cfg.warnings = append(cfg.warnings, fmt.Sprintf("route '%s' belongs to disabled service '%s' and is ignored", nameOr(rt.Name, rt.ID), nameOr(rt.Service.Name, rt.Service.ID)))
		}
		if rt.Name != "" {
			if _, dup := routesByKey[rt.Name]; dup {
				pr.c.at("name").fail(fmt.Sprintf("uniqueness violation: 'routes' entity with name set to '%s' already declared", rt.Name))
			}
			routesByKey[rt.Name] = rt
		}
		routesByKey[rt.ID] = rt
		cfg.routes = append(cfg.routes, rt)
		if pl, ok := getList(pr.c, m, "plugins"); ok {
			for j, p := range pl {
				pendingPlugins = append(pendingPlugins, pendingPlugin{c: pr.c.at("plugins", j+1), v: p, route: rt,
					where: fmt.Sprintf("entry %d of 'plugins' of route '%s'", j+1, nameOr(rt.Name, rt.ID))})
			}
		}
	}
	if list, ok := getList(c, top, "plugins"); ok {
		for j, p := range list {
			pendingPlugins = append(pendingPlugins, pendingPlugin{c: c.at("plugins", j+1), v: p, topLevel: true,
				where: fmt.Sprintf("entry %d of top-level 'plugins'", j+1)})
		}
	}
	seenPlugins := map[string]bool{}
	for _, pp := range pendingPlugins {
		m, ok := asRecord(pp.c, pp.v)
		if !ok {
			continue
		}
		pe := parsePlugin(pp.c, m)
		if pe == nil {
			continue
		}
		pe.Route, pe.Service = pp.route, pp.service
		if pp.topLevel {
			if ref, present := m["route"]; present && ref != nil {
				pe.Route = resolveRef(pp.c.at("route"), ref, routesByKey, "routes")
			}
			if ref, present := m["service"]; present && ref != nil {
				pe.Service = resolveRef(pp.c.at("service"), ref, servicesByKey, "services")
			}
		} else {
			for _, k := range []string{"route", "service"} {
				if ref, present := m[k]; present && ref != nil {
					pp.c.at(k).fail("nested plugins must not set '" + k + "'")
				}
			}
		}
		if ref, present := m["consumer"]; present && ref != nil {
			if cm, ok := ref.(map[string]any); ok {
				if u, ok := cm["username"].(string); ok {
					ref = u
				}
			}
			pe.Consumer = resolveRef(pp.c.at("consumer"), ref, cfg.consumers.byRef, "consumers")
		}
		pe.path = pp.c.path
		pe.where = pp.where
		if pe.ID == "" {
			pe.ID = uuidV5(pe.cacheKey())
		}
		key := pe.cacheKey()
		if seenPlugins[key] {
			desc := fmt.Sprintf("uniqueness violation: 'plugins' entity with name set to '%s'", pe.Name)
			if pe.Route != nil {
				desc += fmt.Sprintf(", route.id set to '%s'", pe.Route.ID)
			}
			if pe.Service != nil {
				desc += fmt.Sprintf(", service.id set to '%s'", pe.Service.ID)
			}
			if pe.Consumer != nil {
				desc += fmt.Sprintf(", consumer.id set to '%s'", pe.Consumer.ID)
			}
			pp.c.entityFail(desc + " already declared")
		}
		seenPlugins[key] = true
		cfg.plugins = append(cfg.plugins, pe)
	}
	if !tree.empty() {
		return nil, &ConfigError{File: file, tree: tree}
	}
	return cfg, nil
}

type pendingRoute struct {
	c        vctx
	v        any
	service  *Service
	topLevel bool
}

type pendingPlugin struct {
	c        vctx
	v        any
	route    *Route
	service  *Service
	topLevel bool
	where    string
}

func nameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// resolveRef resolves a foreign key (an id or a name, or a record with
// either) against the entities of kind what declared so far.
func resolveRef[E any](c vctx, ref any, by map[string]*E, what string) *E {
	key := ""
	switch r := ref.(type) {
	case string:
		key = r
	case map[string]any:
		if id, ok := r["id"].(string); ok {
			key = id
		} else if n, ok := r["name"].(string); ok {
			key = n
		}
	}
	if key == "" {
		c.fail("expected a primary key or endpoint key ('id' or 'name')")
		return nil
	}
	e, ok := by[key]
	if !ok {
		c.fail(fmt.Sprintf("invalid reference '%s' (no such entry in '%s')", key, what))
		return nil
	}
	return e
}

// getID reads an entity's optional "id" (a UUID, kept lower-case).
func getID(c vctx, m map[string]any) string {
	id, ok := getString(c, m, "id")
	if !ok {
		return ""
	}
	if !isUUID(id) {
		c.at("id").fail("expected a valid UUID")
	}
	return strings.ToLower(id)
}

// defaultID derives the id of an entity declared without one from its
// name, or else from its place in the file.
func defaultID(c vctx, entity, name string) string {
	if name != "" {
		return uuidV5(entity + ":" + name)
	}
	return uuidV5(fmt.Sprintf("%s:%v", entity, c.path))
}

// checkProtocol checks a service's protocol or one of a route's protocols.
func checkProtocol(c vctx, proto string) {
	switch proto {
	case "http", "https":
	case "grpc", "grpcs", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss":
		c.fail("protocol '" + proto + "' is not supported by kong-devgw (only http and https)")
	default:
		c.fail("expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss")
	}
}

// checkTimestamps checks the created_at and updated_at any entity may carry.
func checkTimestamps(c vctx, m map[string]any) {
	getInt(c, m, "created_at", 0, math.MaxInt64)
	getInt(c, m, "updated_at", 0, math.MaxInt64)
}

func parseService(c vctx, m map[string]any, now int64) *Service {
	checkUnknown(c, m, serviceKeys)
	s := &Service{Protocol: "http", Port: 80, Retries: 5, ConnectTimeout: 60000, WriteTimeout: 60000,
		ReadTimeout: 60000, Enabled: true, CreatedAt: now}
	s.ID = getID(c, m)
	s.Name, _ = getString(c, m, "name")
	if p, ok := getString(c, m, "protocol"); ok {
		s.Protocol = p
	}
	if h, ok := getString(c, m, "host"); ok {
		s.Host = h
	}
	if p, ok := getInt(c, m, "port", 0, 65535); ok {
		s.Port = p
	}
	if p, ok := getString(c, m, "path"); ok {
		s.Path = p
	}
	if u, ok := getString(c, m, "url"); ok {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme == "" || pu.Host == "" {
			c.at("url").fail("missing host in url")
		} else {
			s.Protocol = strings.ToLower(pu.Scheme)
			s.Host = pu.Hostname()
			s.Path = pu.EscapedPath()
			if pu.Port() != "" {
				n, err := strconv.Atoi(pu.Port())
				if err != nil || n < 0 || n > 65535 {
					c.at("url").fail("invalid port number")
				}
				s.Port = n
			} else if s.Protocol == "https" {
				s.Port = 443
			} else {
				s.Port = 80
			}
		}
	}
	if v, ok := getInt(c, m, "retries", 0, 32767); ok {
		s.Retries = v
	}
	if v, ok := getInt(c, m, "connect_timeout", 1, 2147483646); ok {
		s.ConnectTimeout = v
	}
	if v, ok := getInt(c, m, "write_timeout", 1, 2147483646); ok {
		s.WriteTimeout = v
	}
	if v, ok := getInt(c, m, "read_timeout", 1, 2147483646); ok {
		s.ReadTimeout = v
	}
	s.Tags, _ = getStringArray(c, m, "tags")
	if b, ok := getBool(c, m, "enabled"); ok {
		s.Enabled = b
	}
	if b, ok := getBool(c, m, "tls_verify"); ok {
		s.TLSVerify = &b
	}
	getInt(c, m, "tls_verify_depth", 0, 64)
	checkTimestamps(c, m)
	if v, ok := m["client_certificate"]; ok && v != nil {
		c.at("client_certificate").fail("client certificates are not supported by kong-devgw")
	}
	if l, ok := getList(c, m, "ca_certificates"); ok && len(l) > 0 {
		c.at("ca_certificates").fail("CA certificates are not supported by kong-devgw")
	}
	checkProtocol(c.at("protocol"), s.Protocol)
	if s.Host == "" {
		if _, bad := m["url"]; !bad {
			c.at("host").fail("required field missing")
		}
	}
	if s.Path != "" && !strings.HasPrefix(s.Path, "/") {
		c.at("path").fail("should start with: /")
	}
	if s.ID == "" {
		s.ID = defaultID(c, "services", s.Name)
	}
	return s
}

func parseRoute(c vctx, m map[string]any, now int64) *Route {
	checkUnknown(c, m, routeKeys)
	r := &Route{Protocols: []string{"http", "https"}, StripPath: true, PathHandling: "v0",
		HTTPSRedirect: 426, CreatedAt: now}
	r.ID = getID(c, m)
	r.Name, _ = getString(c, m, "name")
	if p, ok := getStringArray(c, m, "protocols"); ok {
		r.Protocols = p
		for i, proto := range p {
			checkProtocol(c.at("protocols", i+1), proto)
		}
	}
	if v, ok := getStringArray(c, m, "methods"); ok {
		for i, meth := range v {
			if !methodRe.MatchString(meth) {
				c.at("methods", i+1).fail("invalid value: " + meth)
			}
		}
		r.Methods = v
	}
	if v, ok := getStringArray(c, m, "hosts"); ok {
		for i, h := range v {
			if !hostRe.MatchString(h) || (strings.HasPrefix(h, "*.") && strings.HasSuffix(h, ".*")) {
				c.at("hosts", i+1).fail("invalid wildcard: must have at most one wildcard")
			}
			v[i] = strings.ToLower(h)
		}
		r.Hosts = v
	}
	if v, ok := getStringArray(c, m, "paths"); ok {
		for i, p := range v {
			switch {
			case strings.HasPrefix(p, "~"):
				c.at("paths", i+1).fail("regex paths (starting with '~') are not supported by kong-devgw")
			case !strings.HasPrefix(p, "/"):
				c.at("paths", i+1).fail("should start with: / (fixed path) or ~ (regex path)")
			case normalizePath(p, true) != p:
				c.at("paths", i+1).fail("non-normalized path, consider use '" + normalizePath(p, true) + "' instead")
			}
		}
		r.Paths = v
	}
	if hv, ok := m["headers"]; ok && hv != nil {
		hm, ok := hv.(map[string]any)
		if !ok {
			c.at("headers").fail("expected a map")
		} else {
			r.Headers = map[string][]string{}
			for _, name := range sortedKeys(hm) {
				if !headerNameRe.MatchString(name) {
					c.at("headers").fail("invalid header name: " + name)
					continue
				}
				if strings.EqualFold(name, "host") {
					c.at("headers").fail("cannot contain 'host' header, which must be specified in the 'hosts' attribute")
					continue
				}
				vals, ok := getStringArray(c.at("headers"), hm, name)
				if ok {
					r.Headers[strings.ToLower(name)] = vals
				}
			}
		}
	}
	if v, ok := getInt(c, m, "https_redirect_status_code", 0, 999); ok {
		switch v {
		case 426, 301, 302, 307, 308:
			r.HTTPSRedirect = v
		default:
			c.at("https_redirect_status_code").fail("expected one of: 426, 301, 302, 307, 308")
		}
	}
	if v, ok := getInt(c, m, "regex_priority", math.MinInt32, math.MaxInt32); ok {
		r.RegexPriority = v
	}
	if b, ok := getBool(c, m, "strip_path"); ok {
		r.StripPath = b
	}
	if b, ok := getBool(c, m, "preserve_host"); ok {
		r.PreserveHost = b
	}
	getBool(c, m, "request_buffering")
	getBool(c, m, "response_buffering")
	if s, ok := getString(c, m, "path_handling"); ok {
		switch s {
		case "v0":
		case "v1":
			c.at("path_handling").fail("path_handling 'v1' is not supported by kong-devgw (only the default 'v0')")
		default:
			c.at("path_handling").fail("expected one of: v0, v1")
		}
		r.PathHandling = s
	}
	for _, k := range []string{"snis", "sources", "destinations"} {
		if l, ok := getList(c, m, k); ok && len(l) > 0 {
			c.at(k).fail("'" + k + "' is not supported by kong-devgw")
		}
	}
	r.Tags, _ = getStringArray(c, m, "tags")
	checkTimestamps(c, m)
	if len(r.Methods) == 0 && len(r.Hosts) == 0 && len(r.Paths) == 0 && len(r.Headers) == 0 {
		c.entityFail("must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http' or 'https'")
	}
	if r.ID == "" {
		r.ID = defaultID(c, "routes", r.Name)
	}
	return r
}

func parsePlugin(c vctx, m map[string]any) *pluginEntity {
	checkUnknown(c, m, pluginKeys)
	p := &pluginEntity{Enabled: true, Protocols: []string{"grpc", "grpcs", "http", "https"}}
	p.ID = getID(c, m)
	name, ok := getString(c, m, "name")
	if !ok {
		if _, present := m["name"]; !present {
			c.at("name").fail("required field missing")
		}
		return nil
	}
	p.Name = name
	p.InstanceName, _ = getString(c, m, "instance_name")
	if b, ok := getBool(c, m, "enabled"); ok {
		p.Enabled = b
	}
	if v, ok := getStringArray(c, m, "protocols"); ok {
		for i, proto := range v {
			if _, known := pluginProtocols[proto]; !known {
				c.at("protocols", i+1).fail("expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss")
			}
		}
		p.Protocols = v
	}
	getStringArray(c, m, "tags")
	checkTimestamps(c, m)
	if v, ok := m["ordering"]; ok && v != nil {
		c.at("ordering").fail("dynamic plugin ordering is not supported by kong-devgw")
	}
	if cfgv, ok := m["config"]; ok && cfgv != nil {
		p.rawConfig = cfgv
		p.hasConfig = true
	}
	return p
}

// runsInHTTP reports whether a plugin with these protocols is processed by
// the http subsystem (Kong's should_process_plugin).
func runsInHTTP(protocols []string) bool {
	for _, p := range protocols {
		if pluginProtocols[p] == "http" {
			return true
		}
	}
	return false
}
