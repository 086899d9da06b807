package devgw

import (
	"fmt"
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

// Arguments are decoded like lua-protobuf 0.5.2 (pinned by Kong 3.9.1)
// with its default auto_default_values: proto3 zero scalars arrive as
// zero values ("" / 0 / false), never as nil.

// argString decodes a String argument.
func argString(args []byte) (string, *pdkResult) {
	var s kpp.String
	if !decode(args, &s) {
		return "", failed(decodeFail("String"))
	}
	return s.V, nil
}

// argInt decodes an Int argument.
func argInt(args []byte) (int32, *pdkResult) {
	var i kpp.Int
	if !decode(args, &i) {
		return 0, failed(decodeFail("Int"))
	}
	return i.V, nil
}

// argKV decodes a KV into its key and Lua value.
func argKV(args []byte) (string, any, *pdkResult) {
	var kv kpp.KV
	if !decode(args, &kv) {
		return "", nil, failed(decodeFail("KV"))
	}
	return kv.K, valueToLua(kv.V), nil
}

// headerValues validates a header value like checks.validate_header and
// normalises it (normalize_multi_header: "" becomes " "), for every setter
// of kong.response and kong.service.request and for exit's headers.
func headerValues(name string, v any) ([]string, string) {
	one := func(x any) (string, bool) {
		switch x := x.(type) {
		case string:
			if x == "" {
				return " ", true // normalize_multi_header: "" is sent as " "
			}
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

// argMax decodes the max_<what> argument of get_query and get_headers
// (go-pdk sends 100 for -1): Kong accepts 1 to 1000 and throws otherwise,
// also for 0.
func argMax(args []byte, what string) (int, *pdkResult) {
	m, fail := argInt(args)
	if fail != nil {
		return 0, fail
	}
	if m < 1 {
		return 0, failed(throw("max_%s must be >= 1", what))
	}
	if m > 1000 {
		return 0, failed(throw("max_%s must be <= 1000", what))
	}
	return int(m), nil
}

// ---------------------------------------------------------------------------
// header setters: kong.response.* and kong.service.request.*

// headerTarget is where a family of header setters writes. Both families
// validate names and values alike (checks.validate_header); how the lines
// are stored differs and is given by set, add and clear.
type headerTarget struct {
	clearNilMsg string // clear_header's error for a nil name

	set   func(rq *request, name string, vals []string) // set_header, set_headers
	add   func(rq *request, name string, vals []string) // add_header
	clear func(rq *request, name string)                // clear_header
}

// headerArg decodes and validates the KV of set_header and add_header.
func headerArg(args []byte) (string, []string, *pdkResult) {
	name, v, fail := argKV(args)
	if fail != nil {
		return "", nil, fail
	}
	if name == "" {
		// Kong's validate_header accepts "", then nginx's header API
		// refuses it (unverified, see DIFFERENCES.md)
		return "", nil, failed(throw("header name must be a non-empty string"))
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
	name, fail := argString(args)
	if fail != nil {
		return *fail
	}
	if name == "" {
		return throw("%s", t.clearNilMsg) // unverified, see DIFFERENCES.md
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

// phaseOnly is a method Kong forbids in the phases kong-devgw runs.
func phaseOnly(allowed string) pdkFunc {
	return func(rq *request, _ []byte) pdkResult { return phaseError(rq, allowed) }
}

func (rq *request) pluginName() string {
	if rq.plugin != nil {
		return rq.plugin.Name
	}
	return "kong"
}

var pdkMethods = map[string]pdkFunc{}

// registerPDK adds the methods of one kong.* module (one file per module,
// like Kong's kong/pdk/*.lua).
func registerPDK(methods map[string]pdkFunc) {
	for k, f := range methods {
		if _, dup := pdkMethods[k]; dup {
			panic("PDK method registered twice: " + k)
		}
		pdkMethods[k] = f
	}
}
