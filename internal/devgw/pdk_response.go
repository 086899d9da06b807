package devgw

import (
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.response
		"kong.response.get_status":  phaseOnly(responsePhases),
		"kong.response.get_header":  phaseOnly(responsePhases),
		"kong.response.get_headers": phaseOnly(responsePhases),
		"kong.response.get_source":  phaseOnly(responsePhases),
		"kong.response.set_status": func(rq *request, args []byte) pdkResult {
			st, fail := argInt(args)
			if fail != nil {
				return *fail
			}
			if st < 100 || st > 599 {
				return throw("code must be a number between 100 and 599")
			}
			return empty() // ngx.status in access is overwritten by the upstream status or exit
		},
		"kong.response.set_header":   responseHeaders.setHeader,
		"kong.response.add_header":   responseHeaders.addHeader,
		"kong.response.clear_header": responseHeaders.clearHeader,
		"kong.response.set_headers":  responseHeaders.setHeaders,
		"kong.response.exit":         pdkResponseExit,
	})
}

// responsePhases are the phases in which Kong allows the kong.response
// getters; in access they throw.
const responsePhases = "header_filter, response, body_filter, log, error, admin_api"

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

func isTransferEncoding(n string) bool {
	l := strings.ToLower(n)
	return l == "transfer-encoding" || l == "transfer_encoding"
}

func pdkResponseExit(rq *request, args []byte) pdkResult {
	var a kpp.ExitArgs
	if !decode(args, &a) {
		return decodeFail("ExitArgs")
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
