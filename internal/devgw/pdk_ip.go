package devgw

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.ip
		"kong.ip.is_trusted": func(rq *request, args []byte) pdkResult {
			ip, ok := argString(args)
			if !ok {
				return decodeFail("String")
			}
			s, _ := ip.(string)
			return wrapBool(rq.g.isTrusted(s))
		},
	})
}
