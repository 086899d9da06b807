package devgw

import (
	"net/url"
	"sort"
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/types/known/structpb"
)

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.service.request
		"kong.service.request.set_scheme": func(rq *request, args []byte) pdkResult {
			s, fail := argString(args)
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
			p, fail := argString(args)
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
			q, fail := argString(args)
			if fail != nil {
				return *fail
			}
			rq.args = q // "" sets an empty query: the upstream gets none
			return empty()
		},
		"kong.service.request.set_method": func(rq *request, args []byte) pdkResult {
			m, fail := argString(args)
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
			rq.upstreamBody = append([]byte(nil), b.V...)
			rq.upstreamBodyOK = true
			return empty()
		},
	})
}

// serviceRequestHeaders is the request sent upstream (ngx.req.set_header),
// as written by kong.service.request.*; a Host header sets $upstream_host.
var serviceRequestHeaders = headerTarget{
	clearNilMsg: "header must be a string",
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
