package devgw

import (
	"net/url"
	"strings"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

func init() {
	registerPDK(map[string]pdkFunc{
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
			n, fail := argString(args)
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
			n, fail := argString(args)
			if fail != nil {
				return *fail
			}
			return wrapString(rq.hdrs.kongGetHeader(n))
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
	})
}

// splitForwardedHost drops the userinfo of an X-Forwarded-Host value and
// splits off its port.
func splitForwardedHost(v string) (host, port string, hasPort bool) {
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[i+1:]
	}
	return strings.Cut(v, ":")
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
