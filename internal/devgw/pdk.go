package devgw

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

type pdkKind int

const (
	pdkOK       pdkKind = iota
	pdkNotFound         // Kong: `method "x" not found` -> pluginserver error -> 500
	pdkThrow            // the Lua PDK function raised an error -> 500
	pdkExit             // kong.response.exit: no reply, stop serving the connection
)

type pdkResult struct {
	kind  pdkKind
	reply []byte
	msg   string
}

type pdkFunc func(rq *request, args []byte) pdkResult

// kongMethodNames are all method names Kong derives from the proto
// (so Kong itself would serve them).
var kongMethodNames = func() map[string]bool {
	out := map[string]bool{}
	svcs := kpp.File_server_kong_plugin_protocol_pluginsocket_proto.Services()
	for i := 0; i < svcs.Len(); i++ {
		ms := svcs.Get(i).Methods()
		for j := 0; j < ms.Len(); j++ {
			out[luaMethodName(ms.Get(j))] = true
		}
	}
	return out
}()

// luaMethodName reproduces Kong's load_service name mangling.
func luaMethodName(m protoreflect.MethodDescriptor) string {
	if opts := m.Options(); opts != nil {
		if v, ok := proto.GetExtension(opts, kpp.E_MethodName).(string); ok && v != "" {
			return v
		}
	}
	name := "Kong." + string(m.Name())
	name = strings.ReplaceAll(name, "_", ".")
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' && i > 0 {
			// previous chars must match [a-z]%d*
			j := i - 1
			for j >= 0 && name[j] >= '0' && name[j] <= '9' {
				j--
			}
			if j >= 0 && name[j] >= 'a' && name[j] <= 'z' {
				b.WriteByte('_')
			}
		}
		b.WriteByte(c)
	}
	return strings.ToLower(b.String())
}

// callPDK services one bridge-loop call.
func (rq *request) callPDK(method string, args []byte) pdkResult {
	if f, ok := pdkMethods[method]; ok {
		return f(rq, args)
	}
	if kongMethodNames[method] {
		rq.g.log.errorf("kong-devgw: PDK method %q is served by Kong but not implemented by kong-devgw; failing the request, request_id: %s", method, rq.id)
		return pdkResult{kind: pdkNotFound, msg: fmt.Sprintf("method %q not implemented by kong-devgw", method)}
	}
	rq.g.log.errorf("kong-devgw: plugin called unknown PDK method %q, request_id: %s", method, rq.id)
	return pdkResult{kind: pdkNotFound, msg: fmt.Sprintf("method %q not found", method)}
}

// ---------------------------------------------------------------------------
// result helpers

func empty() pdkResult { return pdkResult{kind: pdkOK} }

func throw(format string, args ...any) pdkResult {
	return pdkResult{kind: pdkThrow, msg: fmt.Sprintf(format, args...)}
}

func reply(m proto.Message) pdkResult {
	b, err := proto.Marshal(m)
	if err != nil {
		return throw("%v", err)
	}
	return pdkResult{kind: pdkOK, reply: b}
}

// Lua values: nil, bool, float64, string, []any (sequence), map[string]any.

func wrapString(v any) pdkResult {
	switch v := v.(type) {
	case nil:
		return empty()
	case string:
		return reply(&kpp.String{V: v})
	case float64:
		return reply(&kpp.String{V: luaNumber(v)})
	case int:
		return reply(&kpp.String{V: fmt.Sprint(v)})
	case bool:
		return throw("bad argument #2 to 'encode' (string expected for field 'v', got boolean)")
	}
	return throw("bad argument #2 to 'encode' (string expected for field 'v', got table)")
}

func wrapInt(v any) pdkResult {
	switch v := v.(type) {
	case nil:
		return empty()
	case int:
		return reply(&kpp.Int{V: int32(v)})
	case float64:
		return reply(&kpp.Int{V: int32(v)})
	}
	return throw("bad argument #2 to 'encode' (number expected for field 'v')")
}

func wrapNumber(v any) pdkResult {
	switch v := v.(type) {
	case nil:
		return empty()
	case float64:
		return reply(&kpp.Number{V: v})
	case int:
		return reply(&kpp.Number{V: float64(v)})
	}
	return throw("bad argument #2 to 'encode' (number expected for field 'v')")
}

func wrapBool(v any) pdkResult {
	switch v := v.(type) {
	case nil:
		return empty()
	case bool:
		return reply(&kpp.Bool{V: v})
	}
	return throw("bad argument #2 to 'encode' (boolean expected for field 'v')")
}

// luaToValue mirrors pb_rpc.lua's structpb_value wrapper (nil ->
// null_value 1, tables with [1] -> lists, other tables -> structs).
func luaToValue(v any) *structpb.Value {
	switch v := v.(type) {
	case nil:
		return &structpb.Value{Kind: &structpb.Value_NullValue{NullValue: structpb.NullValue(1)}}
	case bool:
		return structpb.NewBoolValue(v)
	case float64:
		return structpb.NewNumberValue(v)
	case int:
		return structpb.NewNumberValue(float64(v))
	case int64:
		return structpb.NewNumberValue(float64(v))
	case string:
		return structpb.NewStringValue(v)
	case []any:
		if len(v) > 0 && v[0] != nil {
			l := &structpb.ListValue{}
			for _, it := range v {
				l.Values = append(l.Values, luaToValue(it))
			}
			return structpb.NewListValue(l)
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{}})
	case map[string]any:
		return structpb.NewStructValue(luaToStruct(v))
	}
	return &structpb.Value{Kind: &structpb.Value_NullValue{NullValue: structpb.NullValue(1)}}
}

func luaToStruct(m map[string]any) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range m {
		s.Fields[k] = luaToValue(v)
	}
	return s
}

// valueToLua mirrors the structpb_value unwrapper: bool false becomes nil
// (`v.bool_value or v.string_value ...`).
func valueToLua(v *structpb.Value) any {
	if v == nil {
		return nil
	}
	switch k := v.Kind.(type) {
	case *structpb.Value_ListValue:
		return listToLua(k.ListValue)
	case *structpb.Value_StructValue:
		return structToLua(k.StructValue)
	case *structpb.Value_BoolValue:
		if k.BoolValue {
			return true
		}
		return nil
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		return k.NumberValue
	}
	return nil
}

func listToLua(l *structpb.ListValue) []any {
	out := []any{}
	if l == nil {
		return out
	}
	for _, v := range l.Values {
		out = append(out, valueToLua(v))
	}
	return out
}

func structToLua(s *structpb.Struct) map[string]any {
	out := map[string]any{}
	if s == nil {
		return out
	}
	for k, v := range s.Fields {
		if lv := valueToLua(v); lv != nil {
			out[k] = lv
		}
	}
	return out
}

func decode(args []byte, m proto.Message) bool {
	return proto.Unmarshal(args, m) == nil
}

func decodeFail(err string) pdkResult { return throw("assertion failed! (pb.decode: %s)", err) }

// argString decodes a String argument; "" is nil (no default values).
func argString(args []byte) (any, bool) {
	var s kpp.String
	if !decode(args, &s) {
		return nil, false
	}
	if s.V == "" {
		return nil, true
	}
	return s.V, true
}

func argInt(args []byte) (any, bool) {
	var i kpp.Int
	if !decode(args, &i) {
		return nil, false
	}
	if i.V == 0 {
		return nil, true
	}
	return float64(i.V), true
}

// argKV decodes a KV into (k, v) Lua values.
func argKV(args []byte) (any, any, bool) {
	var kv kpp.KV
	if !decode(args, &kv) {
		return nil, nil, false
	}
	var k any
	if kv.K != "" {
		k = kv.K
	}
	return k, valueToLua(kv.V), true
}

// headerValues validates a header value like checks.validate_header and
// normalises it (normalize_multi_header).
func headerValues(name string, v any) ([]string, string) {
	one := func(x any) (string, bool) {
		switch x := x.(type) {
		case string:
			return x, true
		case float64:
			return luaNumber(x), true
		case bool:
			if x {
				return "true", true
			}
			return "false", true
		}
		return "", false
	}
	if s, ok := one(v); ok {
		return []string{s}, ""
	}
	bad := fmt.Sprintf("invalid header value for %q: got %s, expected array of string, string, number or boolean", name, luaType(v))
	switch l := v.(type) {
	case []any:
		out := []string{}
		for _, it := range l {
			s, ok := one(it)
			if !ok {
				return nil, bad
			}
			out = append(out, s)
		}
		return out, ""
	case map[string]any:
		if len(l) == 0 {
			return []string{}, ""
		}
	}
	return nil, bad
}

func luaType(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "string"
	case float64, int, int64:
		return "number"
	case bool:
		return "boolean"
	}
	return "table"
}

func phaseError(rq *request, allowed string) pdkResult {
	return throw("function cannot be called in %s phase (only in: %s)", rq.phase, allowed)
}

// ---------------------------------------------------------------------------
// argument helpers for the methods below: a nil *pdkResult means success,
// anything else is the result to return as is.

func failed(r pdkResult) *pdkResult { return &r }

// requiredString decodes a String argument Kong requires: nil (an empty
// string on the wire) throws nilMsg.
func requiredString(args []byte, nilMsg string) (string, *pdkResult) {
	v, ok := argString(args)
	if !ok {
		return "", failed(decodeFail("String"))
	}
	if v == nil {
		return "", failed(throw("%s", nilMsg))
	}
	return v.(string), nil
}

// requiredKV decodes a KV whose key Kong requires: a nil key throws nilMsg.
func requiredKV(args []byte, nilMsg string) (string, any, *pdkResult) {
	k, v, ok := argKV(args)
	if !ok {
		return "", nil, failed(decodeFail("KV"))
	}
	if k == nil {
		return "", nil, failed(throw("%s", nilMsg))
	}
	return k.(string), v, nil
}

// argMax decodes the optional max_<what> argument of get_query and
// get_headers: nil means 100, otherwise 1 to 1000.
func argMax(args []byte, what string) (int, *pdkResult) {
	max, ok := argInt(args)
	if !ok {
		return 0, failed(decodeFail("Int"))
	}
	if max == nil {
		return 100, nil
	}
	m := max.(float64)
	if m < 1 {
		return 0, failed(throw("max_%s must be >= 1", what))
	}
	if m > 1000 {
		return 0, failed(throw("max_%s must be <= 1000", what))
	}
	return int(m), nil
}

// ---------------------------------------------------------------------------
// Lua tables: kong.ctx.shared and ngx.ctx (kong.nginx.get_ctx/set_ctx)

func ctxSharedTable(rq *request) map[string]any { return rq.ctxShared }
func ngxCtxTable(rq *request) map[string]any    { return rq.ngxCtx }

func pdkTableGet(table func(*request) map[string]any) pdkFunc {
	return func(rq *request, args []byte) pdkResult {
		k, ok := argString(args)
		if !ok {
			return decodeFail("String")
		}
		if k == nil {
			return reply(luaToValue(nil))
		}
		return reply(luaToValue(table(rq)[k.(string)]))
	}
}

func pdkTableSet(table func(*request) map[string]any) pdkFunc {
	return func(rq *request, args []byte) pdkResult {
		k, v, fail := requiredKV(args, "table index is nil")
		if fail != nil {
			return *fail
		}
		if v == nil {
			delete(table(rq), k)
		} else {
			table(rq)[k] = v
		}
		return empty()
	}
}

// ---------------------------------------------------------------------------
// header setters: kong.response.* and kong.service.request.*

// headerTarget is where a family of header setters writes. Both families
// validate names and values alike (checks.validate_header); how the lines
// are stored differs and is given by set, add and clear.
type headerTarget struct {
	clearNilMsg  string // clear_header's error for a nil name
	blankAsSpace bool   // set_header sends an empty value as " "

	set   func(rq *request, name string, vals []string) // set_header, set_headers
	add   func(rq *request, name string, vals []string) // add_header
	clear func(rq *request, name string)                // clear_header
}

// responseHeaders is ngx.header, as written by kong.response.*.
var responseHeaders = headerTarget{
	clearNilMsg: "header name must be a string",
	set: func(rq *request, name string, vals []string) {
		if isTransferEncoding(name) {
			rq.g.log.warnf("[%s] manually setting Transfer-Encoding. Ignored.", rq.pluginName())
			return
		}
		rq.resp.set(name, vals)
	},
	add: func(rq *request, name string, vals []string) {
		for _, v := range vals {
			rq.resp.add(name, v)
		}
	},
	clear: func(rq *request, name string) { rq.resp.clear(name) },
}

// serviceRequestHeaders is the request sent upstream (ngx.req.set_header),
// as written by kong.service.request.*; a Host header sets $upstream_host.
var serviceRequestHeaders = headerTarget{
	clearNilMsg:  "header must be a string",
	blankAsSpace: true,
	set: func(rq *request, name string, vals []string) {
		rq.setUpstreamHostFrom(name, vals)
		rq.hdrs.set(name, vals)
	},
	add: func(rq *request, name string, vals []string) {
		rq.setUpstreamHostFrom(name, vals)
		rq.hdrs.set(name, append(rq.hdrs.values(name), vals...))
	},
	clear: func(rq *request, name string) { rq.hdrs.clear(name) },
}

func (rq *request) setUpstreamHostFrom(name string, vals []string) {
	if strings.EqualFold(name, "host") && len(vals) > 0 {
		rq.upstreamHost = vals[0]
	}
}

// headerArg decodes and validates the KV of set_header and add_header.
func headerArg(args []byte) (string, []string, *pdkResult) {
	name, v, fail := requiredKV(args, "header name must be a string")
	if fail != nil {
		return "", nil, fail
	}
	vals, bad := headerValues(name, v)
	if bad != "" {
		return "", nil, failed(throw("%s", bad))
	}
	return name, vals, nil
}

type headerField struct {
	name string
	vals []string
}

// headerTable validates a whole header table (set_headers, exit) before
// anything is applied; the fields come back sorted by name.
func headerTable(hs map[string]any) ([]headerField, string) {
	var out []headerField
	for _, k := range sortedKeys(hs) {
		vals, bad := headerValues(k, hs[k])
		if bad != "" {
			return nil, bad
		}
		out = append(out, headerField{name: k, vals: vals})
	}
	return out, ""
}

func (t headerTarget) setHeader(rq *request, args []byte) pdkResult {
	name, vals, fail := headerArg(args)
	if fail != nil {
		return *fail
	}
	if t.blankAsSpace {
		for i, x := range vals {
			if x == "" {
				vals[i] = " "
			}
		}
	}
	t.set(rq, name, vals)
	return empty()
}

func (t headerTarget) addHeader(rq *request, args []byte) pdkResult {
	name, vals, fail := headerArg(args)
	if fail != nil {
		return *fail
	}
	t.add(rq, name, vals)
	return empty()
}

func (t headerTarget) clearHeader(rq *request, args []byte) pdkResult {
	name, fail := requiredString(args, t.clearNilMsg)
	if fail != nil {
		return *fail
	}
	t.clear(rq, name)
	return empty()
}

func (t headerTarget) setHeaders(rq *request, args []byte) pdkResult {
	var s structpb.Struct
	if !decode(args, &s) {
		return decodeFail("Struct")
	}
	fields, bad := headerTable(structToLua(&s))
	if bad != "" {
		return throw("%s", bad)
	}
	for _, f := range fields {
		t.set(rq, f.name, f.vals)
	}
	return empty()
}

// ---------------------------------------------------------------------------
// methods

// Phases in which Kong allows the response getters; in access they throw.
const (
	responsePhases        = "header_filter, response, body_filter, log, error, admin_api"
	serviceResponsePhases = "header_filter, response, body_filter, log"
)

func phaseOnly(allowed string) pdkFunc {
	return func(rq *request, _ []byte) pdkResult { return phaseError(rq, allowed) }
}

var pdkMethods map[string]pdkFunc

func init() {
	pdkMethods = map[string]pdkFunc{
		// kong.client
		"kong.client.get_ip":             func(rq *request, _ []byte) pdkResult { return wrapString(rq.realipAddr) },
		"kong.client.get_forwarded_ip":   func(rq *request, _ []byte) pdkResult { return wrapString(rq.remoteAddr) },
		"kong.client.get_port":           func(rq *request, _ []byte) pdkResult { return wrapInt(rq.realipPort) },
		"kong.client.get_forwarded_port": func(rq *request, _ []byte) pdkResult { return wrapInt(rq.remotePort) },
		"kong.client.get_protocol":       pdkClientGetProtocol,

		// kong.ctx.shared
		"kong.ctx.shared.set": pdkTableSet(ctxSharedTable),
		"kong.ctx.shared.get": pdkTableGet(ctxSharedTable),

		// kong.ip
		"kong.ip.is_trusted": func(rq *request, args []byte) pdkResult {
			ip, ok := argString(args)
			if !ok {
				return decodeFail("String")
			}
			s, _ := ip.(string)
			return wrapBool(rq.g.isTrusted(s))
		},

		// kong.log
		"kong.log.alert":  pdkLog(levelAlert),
		"kong.log.crit":   pdkLog(levelCrit),
		"kong.log.err":    pdkLog(levelErr),
		"kong.log.warn":   pdkLog(levelWarn),
		"kong.log.notice": pdkLog(levelNotice),
		"kong.log.info":   pdkLog(levelInfo),
		"kong.log.debug":  pdkLog(levelDebug),

		// kong.nginx
		"kong.nginx.get_var": func(rq *request, args []byte) pdkResult {
			n, fail := requiredString(args, "bad variable name")
			if fail != nil {
				return *fail
			}
			v, found := rq.nginxVar(n)
			if !found {
				return empty()
			}
			return wrapString(v)
		},
		"kong.nginx.get_tls1_version_str": func(rq *request, _ []byte) pdkResult { return empty() },
		"kong.nginx.get_subsystem":        func(rq *request, _ []byte) pdkResult { return wrapString("http") },
		"kong.nginx.req_start_time": func(rq *request, _ []byte) pdkResult {
			return wrapNumber(float64(rq.start.UnixMilli()) / 1000)
		},
		"kong.nginx.get_ctx": pdkTableGet(ngxCtxTable),
		"kong.nginx.set_ctx": pdkTableSet(ngxCtxTable),

		// kong.node
		"kong.node.get_id": func(rq *request, _ []byte) pdkResult { return wrapString(rq.g.nodeID) },

		// kong.request
		"kong.request.get_scheme": func(rq *request, _ []byte) pdkResult { return wrapString(rq.scheme) },
		"kong.request.get_host":   func(rq *request, _ []byte) pdkResult { return wrapString(rq.host) },
		"kong.request.get_port":   func(rq *request, _ []byte) pdkResult { return wrapInt(rq.serverPort) },
		"kong.request.get_forwarded_scheme": func(rq *request, _ []byte) pdkResult {
			if rq.trusted {
				if v, ok := rq.hdrs.get("X-Forwarded-Proto"); ok {
					return wrapString(strings.ToLower(v))
				}
			}
			return wrapString(rq.scheme)
		},
		"kong.request.get_forwarded_host": func(rq *request, _ []byte) pdkResult {
			if rq.trusted {
				if v, ok := rq.hdrs.get("X-Forwarded-Host"); ok {
					host, _, _ := splitForwardedHost(v)
					return wrapString(strings.ToLower(host))
				}
			}
			return wrapString(rq.host)
		},
		"kong.request.get_forwarded_port": func(rq *request, _ []byte) pdkResult {
			if rq.trusted {
				if v, ok := rq.hdrs.get("X-Forwarded-Port"); ok {
					if p, ok := luaToNumber10(v); ok && p >= 1 && p <= 65535 {
						return wrapInt(p)
					}
				}
				if v, ok := rq.hdrs.get("X-Forwarded-Host"); ok {
					if _, port, hasPort := splitForwardedHost(v); hasPort {
						if p, ok := luaToNumber10(port); ok && p >= 1 && p <= 65535 {
							return wrapInt(p)
						}
					}
				}
			}
			return wrapInt(rq.serverPort)
		},
		"kong.request.get_http_version": func(rq *request, _ []byte) pdkResult { return wrapNumber(rq.httpVer) },
		"kong.request.get_method":       func(rq *request, _ []byte) pdkResult { return wrapString(rq.method) },
		"kong.request.get_path": func(rq *request, _ []byte) pdkResult {
			return wrapString(normalizePath(rq.rawPath(), true))
		},
		"kong.request.get_path_with_query": func(rq *request, _ []byte) pdkResult { return wrapString(rq.rawURI) },
		"kong.request.get_raw_query":       func(rq *request, _ []byte) pdkResult { return wrapString(rq.args) },
		"kong.request.get_query_arg": func(rq *request, args []byte) pdkResult {
			n, fail := requiredString(args, "query argument name must be a string")
			if fail != nil {
				return *fail
			}
			v := decodeArgs(rq.args, 100)[n]
			if l, ok := v.([]any); ok {
				v = l[0]
			}
			return wrapString(v)
		},
		"kong.request.get_query": func(rq *request, args []byte) pdkResult {
			n, fail := argMax(args, "args")
			if fail != nil {
				return *fail
			}
			return reply(luaToStruct(decodeArgs(rq.args, n)))
		},
		"kong.request.get_header": func(rq *request, args []byte) pdkResult {
			n, fail := requiredString(args, "header name must be a string")
			if fail != nil {
				return *fail
			}
			if v, found := rq.hdrs.get(n); found {
				return wrapString(v)
			}
			return empty()
		},
		"kong.request.get_headers": func(rq *request, args []byte) pdkResult {
			n, fail := argMax(args, "headers")
			if fail != nil {
				return *fail
			}
			return reply(luaToStruct(rq.hdrs.table(n)))
		},
		"kong.request.get_raw_body": func(rq *request, _ []byte) pdkResult {
			if err := rq.readBody(); err != nil {
				return reply(&kpp.RawBodyResult{Kind: &kpp.RawBodyResult_Error{Error: err.Error()}})
			}
			if rq.bodyFile != "" {
				return reply(&kpp.RawBodyResult{Kind: &kpp.RawBodyResult_BodyFilepath{BodyFilepath: rq.bodyFile}})
			}
			return reply(&kpp.RawBodyResult{Kind: &kpp.RawBodyResult_Content{Content: rq.body}})
		},
		"kong.request.get_uri_captures": func(rq *request, _ []byte) pdkResult {
			return reply(&kpp.UriCapturesResult{})
		},

		// kong.response
		"kong.response.get_status":  phaseOnly(responsePhases),
		"kong.response.get_header":  phaseOnly(responsePhases),
		"kong.response.get_headers": phaseOnly(responsePhases),
		"kong.response.get_source":  phaseOnly(responsePhases),
		"kong.response.set_status": func(rq *request, args []byte) pdkResult {
			st, ok := argInt(args)
			if !ok {
				return decodeFail("Int")
			}
			if st == nil {
				return throw("code must be a number")
			}
			if s := st.(float64); s < 100 || s > 599 {
				return throw("code must be a number between 100 and 599")
			}
			return empty() // ngx.status in access is overwritten by the upstream status or exit
		},
		"kong.response.set_header":   responseHeaders.setHeader,
		"kong.response.add_header":   responseHeaders.addHeader,
		"kong.response.clear_header": responseHeaders.clearHeader,
		"kong.response.set_headers":  responseHeaders.setHeaders,
		"kong.response.exit":         pdkResponseExit,

		// kong.router
		"kong.router.get_route":   pdkRouterGetRoute,
		"kong.router.get_service": pdkRouterGetService,

		// kong.service
		"kong.service.set_upstream": func(rq *request, args []byte) pdkResult {
			if _, fail := requiredString(args, "host must be a string"); fail != nil {
				return *fail
			}
			// kong-devgw has no upstream entities: Kong returns nil, "could not find an Upstream named ..."
			return wrapBool(nil)
		},
		"kong.service.set_target": func(rq *request, args []byte) pdkResult {
			var t kpp.Target
			if !decode(args, &t) {
				return decodeFail("Target")
			}
			if t.Host == "" {
				return throw("host must be a string")
			}
			if t.Port == 0 {
				return throw("port must be an integer")
			}
			if t.Port < 0 || t.Port > 65535 {
				return throw("port must be an integer between 0 and 65535: given %d", t.Port)
			}
			rq.targetHost, rq.targetPort = t.Host, int(t.Port)
			return empty()
		},

		// kong.service.request
		"kong.service.request.set_scheme": func(rq *request, args []byte) pdkResult {
			s, fail := requiredString(args, "scheme must be a string")
			if fail != nil {
				return *fail
			}
			if s != "http" && s != "https" {
				return throw("invalid scheme: %s", s)
			}
			rq.upstreamScheme = s
			return empty()
		},
		"kong.service.request.set_path": func(rq *request, args []byte) pdkResult {
			p, fail := requiredString(args, "path must be a string")
			if fail != nil {
				return *fail
			}
			if !strings.HasPrefix(p, "/") {
				return throw("path must start with /")
			}
			rq.upstreamURI = escapeURI(p)
			return empty()
		},
		"kong.service.request.set_raw_query": func(rq *request, args []byte) pdkResult {
			var s kpp.String
			if !decode(args, &s) {
				return decodeFail("String")
			}
			if s.V == "" {
				return throw("query must be a string")
			}
			rq.args = s.V
			return empty()
		},
		"kong.service.request.set_method": func(rq *request, args []byte) pdkResult {
			m, fail := requiredString(args, "method must be a string")
			if fail != nil {
				return *fail
			}
			switch m {
			case "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE",
				"PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH", "TRACE":
				rq.upstreamMethod = m
				return empty()
			}
			return throw("invalid method: %s", m)
		},
		"kong.service.request.set_query": func(rq *request, args []byte) pdkResult {
			var s structpb.Struct
			if !decode(args, &s) {
				return decodeFail("Struct")
			}
			q, err := encodeArgsOrdered(structToLua(&s))
			if err != "" {
				return throw("%s", err)
			}
			rq.args = q
			return empty()
		},
		"kong.service.request.set_header":   serviceRequestHeaders.setHeader,
		"kong.service.request.add_header":   serviceRequestHeaders.addHeader,
		"kong.service.request.clear_header": serviceRequestHeaders.clearHeader,
		"kong.service.request.set_headers":  serviceRequestHeaders.setHeaders,
		"kong.service.request.set_raw_body": func(rq *request, args []byte) pdkResult {
			var b kpp.ByteString
			if !decode(args, &b) {
				return decodeFail("ByteString")
			}
			if len(b.V) == 0 {
				return throw("body must be a string")
			}
			rq.upstreamBody = append([]byte(nil), b.V...)
			rq.upstreamBodyOK = true
			return empty()
		},

		// kong.service.response (only after the response arrived)
		"kong.service.response.get_status":   phaseOnly(serviceResponsePhases),
		"kong.service.response.get_header":   phaseOnly(serviceResponsePhases),
		"kong.service.response.get_headers":  phaseOnly(serviceResponsePhases),
		"kong.service.response.get_raw_body": phaseOnly("response, body_filter"),
	}
}

// splitForwardedHost drops the userinfo of an X-Forwarded-Host value and
// splits off its port.
func splitForwardedHost(v string) (host, port string, hasPort bool) {
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[i+1:]
	}
	return strings.Cut(v, ":")
}

func isTransferEncoding(n string) bool {
	l := strings.ToLower(n)
	return l == "transfer-encoding" || l == "transfer_encoding"
}

func (rq *request) pluginName() string {
	if rq.plugin != nil {
		return rq.plugin.Name
	}
	return "kong"
}

func luaToNumber10(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
		if n > 1<<30 {
			return 0, false
		}
	}
	return n, true
}

// decodeArgs mimics ngx.req.get_uri_args(max): decoded keys and values,
// '+' as space, bare keys as true, repeated keys as lists.
func decodeArgs(q string, max int) map[string]any {
	out := map[string]any{}
	count := 0
	for _, part := range strings.Split(q, "&") {
		if part == "" {
			continue
		}
		if count >= max {
			break
		}
		count++
		k, v, hasEq := strings.Cut(part, "=")
		key := unescapeArg(k)
		if key == "" {
			continue
		}
		var val any = true
		if hasEq {
			val = unescapeArg(v)
		}
		switch cur := out[key].(type) {
		case nil:
			out[key] = val
		case []any:
			out[key] = append(cur, val)
		default:
			out[key] = []any{cur, val}
		}
	}
	return out
}

func unescapeArg(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// encodeArgsOrdered mirrors make_ordered_args + ngx.encode_args.
func encodeArgsOrdered(args map[string]any) (string, string) {
	var parts []string
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	for k, v := range args {
		switch v := v.(type) {
		case string:
			parts = append(parts, esc(k)+"="+esc(v))
		case bool:
			if v {
				parts = append(parts, esc(k))
			}
		case float64:
			parts = append(parts, esc(k)+"="+esc(luaNumber(v)))
		case []any:
			var sub []string
			for _, it := range v {
				switch it := it.(type) {
				case string:
					sub = append(sub, esc(k)+"="+esc(it))
				case bool:
					if it {
						sub = append(sub, esc(k))
					}
				case float64:
					sub = append(sub, esc(k)+"="+esc(luaNumber(it)))
				default:
					return "", "attempt to use a table as query arg value"
				}
			}
			parts = append(parts, strings.Join(sub, "&"))
		default:
			return "", "attempt to use a table as query arg value"
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&"), ""
}

func pdkLog(level int) pdkFunc {
	return func(rq *request, args []byte) pdkResult {
		var l structpb.ListValue
		if !decode(args, &l) {
			return decodeFail("ListValue")
		}
		var b strings.Builder
		for _, v := range listToLua(&l) {
			switch v := v.(type) {
			case nil:
				b.WriteString("nil")
			case string:
				b.WriteString(v)
			case float64:
				b.WriteString(luaNumber(v))
			case bool:
				b.WriteString("true")
			default:
				b.WriteString(fmt.Sprintf("table: %p", &v))
			}
		}
		rq.g.log.logf(level, "[kong] [%s] %s, client: %s, request_id: %s", rq.pluginName(), b.String(), rq.realipAddr, rq.id)
		return empty()
	}
}

func pdkClientGetProtocol(rq *request, args []byte) pdkResult {
	var b kpp.Bool
	if !decode(args, &b) {
		return decodeFail("Bool")
	}
	if rq.route == nil {
		return empty() // nil, "No active route found"
	}
	if len(rq.route.Protocols) == 1 {
		return wrapString(rq.route.Protocols[0])
	}
	if rq.scheme == "https" {
		return wrapString("https")
	}
	if b.V && rq.trusted {
		if v, ok := rq.hdrs.joined("x-forwarded-proto"); ok {
			if strings.Contains(v, ",") {
				return empty() // nil, "Only one X-Forwarded-Proto header allowed"
			}
			if strings.EqualFold(v, "https") {
				return wrapString("https")
			}
		}
	}
	return wrapString("http")
}

func pdkResponseExit(rq *request, args []byte) pdkResult {
	var a kpp.ExitArgs
	if !decode(args, &a) {
		return decodeFail("ExitArgs")
	}
	if a.Status == 0 {
		return throw("code must be a number")
	}
	if a.Status < 100 || a.Status > 599 {
		return throw("code must be a number between 100 and 599")
	}
	ex := &exitResponse{status: int(a.Status)}
	if len(a.Body) > 0 {
		ex.body, ex.hasBody = append([]byte(nil), a.Body...), true
	}
	if a.Headers != nil {
		fields, bad := headerTable(structToLua(a.Headers))
		if bad != "" {
			return throw("%s", bad)
		}
		for _, f := range fields {
			for _, v := range f.vals {
				ex.headers = append(ex.headers, hdr{name: f.name, value: v})
			}
			if len(f.vals) == 0 {
				ex.headers = append(ex.headers, hdr{name: f.name, value: "\x00clear"})
			}
		}
	}
	rq.exit = ex
	return pdkResult{kind: pdkExit}
}

func pdkRouterGetRoute(rq *request, _ []byte) pdkResult {
	r := rq.route
	if r == nil {
		return empty()
	}
	out := &kpp.Route{
		Id: r.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.CreatedAt, Name: r.Name,
		Protocols: r.Protocols, Methods: r.Methods, Hosts: r.Hosts, Paths: r.Paths,
		HttpsRedirectStatusCode: int32(r.HTTPSRedirect), RegexPriority: int32(r.RegexPriority),
		StripPath: r.StripPath, PreserveHost: r.PreserveHost, Tags: r.Tags,
	}
	if r.Service != nil {
		out.Service = &kpp.ServiceKey{Id: r.Service.ID}
	}
	return reply(out)
}

func pdkRouterGetService(rq *request, _ []byte) pdkResult {
	s := rq.service
	if s == nil {
		return empty()
	}
	return reply(&kpp.Service{
		Id: s.ID, CreatedAt: s.CreatedAt, UpdatedAt: s.CreatedAt, Name: s.Name, Retries: int32(s.Retries),
		Protocol: s.Protocol, Host: s.Host, Port: int32(s.Port), Path: s.Path,
		ConnectTimeout: int32(s.ConnectTimeout), WriteTimeout: int32(s.WriteTimeout),
		ReadTimeout: int32(s.ReadTimeout), Tags: s.Tags,
	})
}
