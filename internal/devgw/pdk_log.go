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
