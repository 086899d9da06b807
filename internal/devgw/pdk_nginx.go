package devgw

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.nginx
		"kong.nginx.get_var": func(rq *request, args []byte) pdkResult {
			n, fail := argString(args) // ngx.var[""] is nil
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
	})
}

func ngxCtxTable(rq *request) map[string]any { return rq.ngxCtx }
