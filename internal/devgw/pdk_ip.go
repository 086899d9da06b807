package devgw

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.ip
		"kong.ip.is_trusted": func(rq *request, args []byte) pdkResult {
			ip, fail := argString(args)
			if fail != nil {
				return *fail
			}
			return wrapBool(rq.g.isTrusted(ip))
		},
	})
}
