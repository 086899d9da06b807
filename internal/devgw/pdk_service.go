package devgw

import (
	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.service
		"kong.service.set_upstream": func(rq *request, args []byte) pdkResult {
			if _, fail := argString(args); fail != nil {
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
			// host "" and port 0 are what Kong receives for zero values
			// and accepts (the balancer then fails to connect)
			if t.Port < 0 || t.Port > 65535 {
				return throw("port must be an integer between 0 and 65535: given %d", t.Port)
			}
			rq.targetHost, rq.targetPort = t.Host, int(t.Port)
			return empty()
		},
	})
}
