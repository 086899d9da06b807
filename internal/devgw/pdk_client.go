package devgw

import (
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.client
		"kong.client.get_ip":             func(rq *request, _ []byte) pdkResult { return wrapString(rq.realipAddr) },
		"kong.client.get_forwarded_ip":   func(rq *request, _ []byte) pdkResult { return wrapString(rq.remoteAddr) },
		"kong.client.get_port":           func(rq *request, _ []byte) pdkResult { return wrapInt(rq.realipPort) },
		"kong.client.get_forwarded_port": func(rq *request, _ []byte) pdkResult { return wrapInt(rq.remotePort) },
		"kong.client.get_protocol":       pdkClientGetProtocol,
	})
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
