package devgw

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
)

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.log
		"kong.log.alert":  pdkLog(levelAlert),
		"kong.log.crit":   pdkLog(levelCrit),
		"kong.log.err":    pdkLog(levelErr),
		"kong.log.warn":   pdkLog(levelWarn),
		"kong.log.notice": pdkLog(levelNotice),
		"kong.log.info":   pdkLog(levelInfo),
		"kong.log.debug":  pdkLog(levelDebug),
	})
}

// logContext is what nginx appends to a line logged while serving a
// request (Kong adds request_id with lua_kong_error_log_request_id).
func (rq *request) logContext() string {
	return fmt.Sprintf(", client: %s, server: kong, request: \"%s %s %s\", host: \"%s\", request_id: \"%s\"",
		rq.realipAddr, rq.method, rq.rawURI, rq.proto, rq.httpHost, rq.id)
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
		// Kong binds kong.log.* once, when pb_rpc.lua loads the service
		// table, to its core (not plugin-namespaced) logger, so every line
		// reads as if logged from pb_rpc.lua:233 (Rpc's call_pdk).
		rq.g.log.logf(level, "[kong] pb_rpc.lua:233 %s%s", b.String(), rq.logContext())
		return empty()
	}
}
