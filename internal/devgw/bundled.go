package devgw

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

// Emulations of a few of Kong 3.9.1's bundled Lua plugins, run in-process
// with their priorities: key-auth (1250), acl (950), rate-limiting (910)
// and request-termination (2). Each follows its handler.lua; what differs
// is listed in DIFFERENCES.md.

type bundledPlugin struct {
	priority int
	schema   string // Kong-style schema JSON ({"fields":[{"config":...}]})
	check    func(conf map[string]any) []string
	access   func(rq *request, conf map[string]any) (*exitResponse, error)
}

var bundledImpls = map[string]*bundledPlugin{
	"key-auth": {priority: 1250, access: keyAuthAccess, schema: `{"fields":[{"config":{"type":"record","fields":[
		{"key_names":{"type":"array","elements":{"type":"string"},"required":true,"default":["apikey"]}},
		{"hide_credentials":{"type":"boolean","required":true,"default":false}},
		{"anonymous":{"type":"string"}},
		{"key_in_header":{"type":"boolean","required":true,"default":true}},
		{"key_in_query":{"type":"boolean","required":true,"default":true}},
		{"key_in_body":{"type":"boolean","required":true,"default":false}},
		{"run_on_preflight":{"type":"boolean","required":true,"default":true}},
		{"realm":{"type":"string"}}]}}]}`,
		check: func(conf map[string]any) []string {
			if cfgBool(conf, "key_in_body") {
				return []string{"key_in_body: not supported by kong-devgw"}
			}
			return nil
		}},
	"acl": {priority: 950, access: aclAccess, schema: `{"fields":[{"config":{"type":"record","fields":[
		{"allow":{"type":"array","elements":{"type":"string"}}},
		{"deny":{"type":"array","elements":{"type":"string"}}},
		{"hide_groups_header":{"type":"boolean","required":true,"default":false}},
		{"always_use_authenticated_groups":{"type":"boolean","required":true,"default":false}}]}}]}`,
		check: func(conf map[string]any) []string {
			a, d := cfgStrings(conf, "allow") != nil, cfgStrings(conf, "deny") != nil
			switch {
			case a && d:
				return []string{"only one of these fields must be non-empty: 'config.allow', 'config.deny'"}
			case !a && !d:
				return []string{"at least one of these fields must be non-empty: 'config.allow', 'config.deny'"}
			}
			return nil
		}},
	"rate-limiting": {priority: 910, access: rateLimitAccess, schema: `{"fields":[{"config":{"type":"record","fields":[
		{"second":{"type":"number"}},{"minute":{"type":"number"}},{"hour":{"type":"number"}},
		{"day":{"type":"number"}},{"month":{"type":"number"}},{"year":{"type":"number"}},
		{"limit_by":{"type":"string","default":"consumer","one_of":["consumer","credential","ip","service","header","path"]}},
		{"header_name":{"type":"string"}},{"path":{"type":"string"}},
		{"policy":{"type":"string","default":"local","one_of":["local","redis"]}},
		{"fault_tolerant":{"type":"boolean","required":true,"default":true}},
		{"hide_client_headers":{"type":"boolean","required":true,"default":false}},
		{"error_code":{"type":"number","default":429}},
		{"error_message":{"type":"string","default":"API rate limit exceeded"}},
		{"sync_rate":{"type":"number","required":true,"default":-1}}]}}]}`,
		check: rateLimitCheck},
	"request-termination": {priority: 2, access: terminationAccess, schema: `{"fields":[{"config":{"type":"record","fields":[
		{"status_code":{"type":"integer","required":true,"default":503,"between":[100,599]}},
		{"message":{"type":"string"}},{"content_type":{"type":"string"}},{"body":{"type":"string"}},
		{"echo":{"type":"boolean","required":true,"default":false}},
		{"trigger":{"type":"string"}}]}}]}`,
		check: func(conf map[string]any) []string {
			msg, ct, body := cfgString(conf, "message"), cfgString(conf, "content_type"), cfgString(conf, "body")
			switch {
			case msg != "" && (ct != "" || body != ""):
				return []string{"message cannot be used with content_type or body"}
			case ct != "" && body == "":
				return []string{"content_type requires a body"}
			case cfgBool(conf, "echo"):
				return []string{"echo: not supported by kong-devgw"}
			}
			return nil
		}},
}

var (
	bundledInfosOnce sync.Once
	bundledInfos     map[string]*pluginInfo
)

// bundledInfo is the pluginInfo of an emulated bundled plugin (nil if the
// plugin is not emulated).
func bundledInfo(name string) *pluginInfo {
	bundledInfosOnce.Do(func() {
		bundledInfos = map[string]*pluginInfo{}
		for n, b := range bundledImpls {
			sch, err := parsePluginSchema(json.RawMessage(b.schema))
			if err != nil {
				panic("bundled schema " + n + ": " + err.Error())
			}
			bundledInfos[n] = &pluginInfo{Name: n, Priority: b.priority, Version: KongVersion, Phases: []string{"access"}, schema: sch, bundled: b}
		}
	})
	return bundledInfos[name]
}

// ---------------------------------------------------------------------------
// config accessors (validated configs: missing keys are null)

func cfgString(conf map[string]any, k string) string {
	s, _ := conf[k].(string)
	return s
}

func cfgBool(conf map[string]any, k string) bool {
	b, _ := conf[k].(bool)
	return b
}

func cfgNumber(conf map[string]any, k string) (float64, bool) {
	return toNumber(conf[k])
}

func cfgStrings(conf map[string]any, k string) []string {
	var out []string
	switch l := conf[k].(type) {
	case []any:
		for _, v := range l {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = l
	}
	return out
}

// ---------------------------------------------------------------------------
// shared by the auth plugins: kong/plugins/key-auth/handler.lua set_consumer

func setConsumer(rq *request, c *Consumer, credID string) error {
	var consumer *kpp.Consumer
	if c != nil {
		consumer = c.proto()
	}
	var cred *kpp.AuthenticatedCredential
	if credID != "" {
		// a keyauth_credentials row has consumer = { id = ... }, no
		// consumer_id: a Go plugin reads consumer_id as ""
		cred = &kpp.AuthenticatedCredential{Id: credID}
	}
	if consumer == nil && cred == nil {
		return fmt.Errorf("either credential or consumer must be provided")
	}
	rq.authConsumer, rq.authCredential, rq.authCredentialLua = consumer, cred, cred != nil
	set := func(name, v string) { serviceRequestHeaders.set(rq, name, []string{v}) }
	clear := func(name string) { serviceRequestHeaders.clear(rq, name) }
	if c != nil && c.ID != "" {
		set("X-Consumer-ID", c.ID)
	} else {
		clear("X-Consumer-ID")
	}
	if c != nil && c.CustomID != "" {
		set("X-Consumer-Custom-ID", c.CustomID)
	} else {
		clear("X-Consumer-Custom-ID")
	}
	if c != nil && c.Username != "" {
		set("X-Consumer-Username", c.Username)
	} else {
		clear("X-Consumer-Username")
	}
	if credID != "" {
		set("X-Credential-Identifier", credID)
		clear("X-Anonymous-Consumer")
	} else {
		clear("X-Credential-Identifier")
		set("X-Anonymous-Consumer", "true")
	}
	return nil
}

// queryArgs is kong.request.get_query(): a bare name is true, a repeated
// one a list.
func queryArgs(raw string) map[string]any { return decodeArgs(raw, 100) }

// headerTableGet reads ngx.req.get_headers()[name]: the raw lower-cased
// key, then the name normalised (lower case, "_" as "-").
func headerTableGet(t map[string]any, name string) any {
	if v, ok := t[name]; ok {
		return v
	}
	return t[strings.ReplaceAll(strings.ToLower(name), "_", "-")]
}

// ---------------------------------------------------------------------------
// key-auth (kong/plugins/key-auth/handler.lua)

func keyAuthAccess(rq *request, conf map[string]any) (*exitResponse, error) {
	if !cfgBool(conf, "run_on_preflight") && rq.method == "OPTIONS" {
		return nil, nil
	}
	anonymous := cfgString(conf, "anonymous")
	if anonymous == "" {
		return keyAuthenticate(rq, conf)
	}
	// logical OR: already authenticated by an earlier plugin
	if rq.authCredential != nil {
		return nil, nil
	}
	if ex, err := keyAuthenticate(rq, conf); ex == nil && err == nil {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return nil, setConsumer(rq, rq.snap.cfg.consumers.load(anonymous, true), "")
}

func keyAuthenticate(rq *request, conf map[string]any) (*exitResponse, error) {
	www := "Key"
	if realm := cfgString(conf, "realm"); realm != "" {
		www = fmt.Sprintf("Key realm=%q", realm)
	}
	unauthorized := func(msg string) *exitResponse {
		return rq.kongError(401, msg, []hdr{{"WWW-Authenticate", www}})
	}
	headers := rq.hdrs.table(100)
	query := queryArgs(rq.args)
	key := ""
	for _, name := range cfgStrings(conf, "key_names") {
		var v any
		if cfgBool(conf, "key_in_header") {
			v = headerTableGet(headers, name)
		}
		if v == nil && cfgBool(conf, "key_in_query") {
			v = query[name]
		}
		switch v := v.(type) {
		case string:
			key = v
			if cfgBool(conf, "hide_credentials") {
				delete(query, name)
				rq.args = clearQueryArg(rq.args, name)
				serviceRequestHeaders.clear(rq, name)
			}
		case []any:
			return unauthorized("Duplicate API key found"), nil
		default:
			continue
		}
		break
	}
	if key == "" {
		return unauthorized("No API key found in request"), nil
	}
	cred := rq.snap.cfg.consumers.byKey[key]
	if cred == nil {
		return unauthorized("Unauthorized"), nil
	}
	return nil, setConsumer(rq, cred.Consumer, cred.ID)
}

// clearQueryArg is kong.service.request.clear_query_arg(name).
func clearQueryArg(raw, name string) string {
	var kept []string
	for _, part := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); part == "" || (err == nil && uk == name) {
			continue
		}
		kept = append(kept, part)
	}
	return strings.Join(kept, "&")
}

// ---------------------------------------------------------------------------
// acl (kong/plugins/acl/handler.lua, groups.lua)

func aclAccess(rq *request, conf map[string]any) (*exitResponse, error) {
	deny := cfgStrings(conf, "deny")
	isDeny := len(deny) > 0
	groups := cfgStrings(conf, "allow")
	if isDeny {
		groups = deny
	}
	forbidden := func() *exitResponse { return rq.kongError(403, "You cannot consume this service", nil) }
	// groups.get_current_consumer_id: (get_consumer() or EMPTY).id or
	// (get_credential() or EMPTY).consumer_id. A Go plugin's consumer or
	// credential arrives with proto3 defaults, so its "" id is a (truthy)
	// consumer id; only a credential set by an emulated Lua plugin has a nil
	// consumer_id.
	consumerID, hasConsumer := "", false
	if rq.authConsumer != nil {
		consumerID, hasConsumer = rq.authConsumer.Id, true
	} else if rq.authCredential != nil && !rq.authCredentialLua {
		consumerID, hasConsumer = rq.authCredential.ConsumerId, true
	}
	var (
		have    []any
		blocked bool
	)
	if !hasConsumer {
		ag, ok := authenticatedGroups(rq)
		if !ok {
			if rq.authCredential != nil {
				return forbidden(), nil
			}
			return rq.kongError(401, "Unauthorized", nil), nil
		}
		have = ag
		blocked = isDeny == intersects(groups, ag)
	} else {
		var (
			ag []any
			ok bool
		)
		if rq.authCredential == nil || cfgBool(conf, "always_use_authenticated_groups") {
			ag, ok = authenticatedGroups(rq)
		}
		if ok {
			hasConsumer = false
			have = ag
			blocked = isDeny == intersects(groups, ag)
		} else {
			// acls:each_for_consumer validates the id as a uuid: an
			// invalid one is an error, which the handler throws (500)
			if !isUUIDAnyCase(consumerID) {
				return nil, fmt.Errorf("acl: invalid consumer id %q: expected a valid UUID", consumerID)
			}
			var cg []string
			if c := rq.snap.cfg.consumers.byID[consumerID]; c != nil {
				cg = c.Groups
			}
			if len(cg) == 0 && !isDeny {
				if rq.authCredential != nil {
					return forbidden(), nil
				}
				return rq.kongError(401, "Unauthorized", nil), nil
			}
			for _, g := range cg {
				have = append(have, g)
			}
			blocked = isDeny == intersects(groups, have)
		}
	}
	if blocked {
		return forbidden(), nil
	}
	if !cfgBool(conf, "hide_groups_header") {
		name := "X-Authenticated-Groups"
		if hasConsumer {
			name = "X-Consumer-Groups"
		}
		v, err := luaConcat(have, ", ")
		if err != nil {
			return nil, fmt.Errorf("acl: %w", err)
		}
		if v == "" {
			v = " " // kong.service.request.set_header sends "" as " "
		}
		serviceRequestHeaders.set(rq, name, []string{v})
	}
	return nil, nil
}

// authenticatedGroups is groups.get_authenticated_groups: the sequence in
// kong.ctx.shared.authenticated_groups when it is a table, entries as they
// are (a group matches only a string entry).
func authenticatedGroups(rq *request) ([]any, bool) {
	switch t := rq.ctxShared["authenticated_groups"].(type) {
	case []any:
		out := []any{}
		for _, v := range t {
			if v == nil {
				break // #t stops at the first nil
			}
			out = append(out, v)
		}
		return out, true
	case map[string]any:
		return []any{}, true // a table without a sequence part
	}
	return nil, false
}

// luaConcat is table.concat(t, sep): strings and numbers only, anything
// else throws.
func luaConcat(t []any, sep string) (string, error) {
	parts := make([]string, len(t))
	for i, v := range t {
		switch v := v.(type) {
		case string:
			parts[i] = v
		case float64:
			parts[i] = luaNumber(v)
		default:
			return "", fmt.Errorf("invalid value (at index %d) in table for 'concat'", i+1)
		}
	}
	return strings.Join(parts, sep), nil
}

func intersects(want []string, have []any) bool {
	for _, w := range want {
		for _, h := range have {
			if s, ok := h.(string); ok && w == s {
				return true
			}
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// rate-limiting, policy local (kong/plugins/rate-limiting/handler.lua,
// policies/init.lua)

var ratePeriods = []struct {
	name   string
	window int64 // seconds (expiration.lua)
}{{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}}

func rateLimitCheck(conf map[string]any) []string {
	var probs []string
	any := false
	for _, p := range []string{"second", "minute", "hour", "day", "month", "year"} {
		v, ok := cfgNumber(conf, p)
		if !ok {
			continue
		}
		any = true
		if v <= 0 {
			probs = append(probs, p+": value must be greater than 0")
		}
		if p == "month" || p == "year" {
			probs = append(probs, p+": not supported by kong-devgw (second, minute, hour, day)")
		}
	}
	if !any {
		probs = append(probs, "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'")
	}
	// validate_periods_order
	periods := []string{"second", "minute", "hour", "day", "month", "year"}
order:
	for i, lower := range periods {
		v1, ok := cfgNumber(conf, lower)
		if !ok {
			continue
		}
		for _, upper := range periods[i+1:] {
			if v2, ok := cfgNumber(conf, upper); ok && v2 < v1 {
				probs = append(probs, fmt.Sprintf("The limit for %s(%.1f) cannot be lower than the limit for %s(%.1f)", upper, v2, lower, v1))
				break order
			}
		}
	}
	if cfgString(conf, "limit_by") == "header" && cfgString(conf, "header_name") == "" {
		probs = append(probs, "header_name: required field missing")
	}
	if v, ok := cfgNumber(conf, "error_code"); ok && v <= 0 {
		probs = append(probs, "error_code: value must be greater than 0")
	}
	if cfgString(conf, "policy") != "local" {
		probs = append(probs, "policy: only 'local' is supported by kong-devgw")
	}
	if cfgString(conf, "limit_by") == "path" {
		probs = append(probs, "limit_by: 'path' is not supported by kong-devgw")
	}
	if v, _ := cfgNumber(conf, "sync_rate"); v != -1 {
		probs = append(probs, "sync_rate can only be used with the redis policy")
	}
	return probs
}

// rateCounters is the kong_rate_limiting_counters shared dict: one for all
// workers.
var rateCounters = struct {
	sync.Mutex
	m map[string]rateCount
}{m: map[string]rateCount{}}

type rateCount struct {
	n       int64
	expires time.Time
}

func rateLimitAccess(rq *request, conf map[string]any) (*exitResponse, error) {
	now := time.Now()
	nowMS := now.UnixMilli()
	// get_identifier: only a nil identifier falls back to the client IP;
	// a Go plugin's consumer or credential with id "" limits on "".
	identifier, found := "", false
	switch cfgString(conf, "limit_by") {
	case "service":
		if rq.service != nil {
			identifier, found = rq.service.ID, true
		}
	case "consumer":
		if rq.authConsumer != nil {
			identifier, found = rq.authConsumer.Id, true
		} else if rq.authCredential != nil {
			identifier, found = rq.authCredential.Id, true
		}
	case "credential":
		if rq.authCredential != nil {
			identifier, found = rq.authCredential.Id, true
		}
	case "header":
		identifier, found = rq.hdrs.kongGetHeader(cfgString(conf, "header_name")).(string)
	}
	if !found {
		identifier = rq.remoteAddr // kong.client.get_forwarded_ip()
	}
	rid, sid := "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"
	if pe := rq.plugin; pe != nil && pe.Route != nil {
		rid = pe.Route.ID
	}
	if pe := rq.plugin; pe != nil && pe.Service != nil {
		sid = pe.Service.ID
	}
	type use struct {
		name           string
		limit, remain  int64
		window, period int64 // period start, ms
		key            string
	}
	var (
		usage []use
		stop  string
	)
	rateCounters.Lock()
	for _, p := range ratePeriods {
		lim, ok := cfgNumber(conf, p.name)
		if !ok {
			continue
		}
		start := nowMS - nowMS%(p.window*1000)
		key := fmt.Sprintf("ratelimit:%s:%s:%s:%d:%s", rid, sid, identifier, start, p.name)
		cur := rateCounters.m[key]
		if now.After(cur.expires) {
			cur.n = 0
		}
		u := use{name: p.name, limit: int64(lim), window: p.window, period: start, key: key}
		u.remain = u.limit - cur.n
		if u.remain <= 0 {
			stop = p.name
		}
		usage = append(usage, u)
	}
	rateCounters.Unlock()

	reset := int64(0)
	if !cfgBool(conf, "hide_client_headers") {
		var (
			limit, remaining, window int64
			chosen                   bool
		)
		for _, u := range usage {
			cur := u.remain
			if stop == "" || stop == u.name {
				cur--
			}
			cur = max(0, cur)
			if !chosen || cur < remaining || (cur == remaining && u.window > window) {
				chosen, limit, window, remaining = true, u.limit, u.window, cur
				reset = max(1, u.window-int64(math.Floor(float64(nowMS-u.period)/1000)))
			}
			title := strings.ToUpper(u.name[:1]) + u.name[1:]
			rq.resp.set("X-RateLimit-Limit-"+title, []string{fmt.Sprint(u.limit)})
			rq.resp.set("X-RateLimit-Remaining-"+title, []string{fmt.Sprint(cur)})
		}
		rq.resp.set("RateLimit-Limit", []string{fmt.Sprint(limit)})
		rq.resp.set("RateLimit-Remaining", []string{fmt.Sprint(remaining)})
		rq.resp.set("RateLimit-Reset", []string{fmt.Sprint(reset)})
	}
	if stop != "" {
		if !cfgBool(conf, "hide_client_headers") {
			rq.resp.set("Retry-After", []string{fmt.Sprint(reset)})
		}
		code, _ := cfgNumber(conf, "error_code")
		if code < 400 || code > 599 || code != math.Trunc(code) {
			// kong.response.error throws: "code must be a number between 400 and 599"
			return nil, fmt.Errorf("rate-limiting: code must be a number between 400 and 599")
		}
		return rq.kongError(int(code), cfgString(conf, "error_message"), nil), nil
	}
	// Kong increments in a timer right after the access phase.
	rateCounters.Lock()
	for _, u := range usage {
		cur := rateCounters.m[u.key]
		if now.After(cur.expires) {
			cur = rateCount{expires: time.UnixMilli(u.period).Add(time.Duration(u.window) * time.Second)}
		}
		cur.n++
		rateCounters.m[u.key] = cur
	}
	for k, v := range rateCounters.m {
		if now.After(v.expires) {
			delete(rateCounters.m, k)
		}
	}
	rateCounters.Unlock()
	return nil, nil
}

// ---------------------------------------------------------------------------
// request-termination (kong/plugins/request-termination/handler.lua)

var terminationDefaults = map[int]string{
	401: "Unauthorized", 404: "Not found", 405: "Method not allowed",
	500: "An unexpected error occurred", 502: "Bad Gateway", 503: "Service unavailable",
}

func terminationAccess(rq *request, conf map[string]any) (*exitResponse, error) {
	st, _ := cfgNumber(conf, "status_code")
	status := int(st)
	if trigger := cfgString(conf, "trigger"); trigger != "" {
		if headerTableGet(rq.hdrs.table(100), trigger) == nil && queryArgs(rq.args)[trigger] == nil {
			return nil, nil
		}
	}
	if body := cfgString(conf, "body"); body != "" {
		ex := &exitResponse{status: status, body: []byte(body), hasBody: true}
		if ct := cfgString(conf, "content_type"); ct != "" {
			ex.headers = []hdr{{"Content-Type", ct}}
		}
		return ex, nil
	}
	msg := cfgString(conf, "message")
	if msg == "" {
		msg = terminationDefaults[status]
	}
	if msg == "" {
		return &exitResponse{status: status}, nil
	}
	return jsonExit(status, msg), nil
}
