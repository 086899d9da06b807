package devgw

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.ctx.shared
		"kong.ctx.shared.set": pdkTableSet(ctxSharedTable),
		"kong.ctx.shared.get": pdkTableGet(ctxSharedTable),
	})
}

// ---------------------------------------------------------------------------
// Lua tables: kong.ctx.shared and ngx.ctx (kong.nginx.get_ctx/set_ctx)

func ctxSharedTable(rq *request) map[string]any { return rq.ctxShared }

func pdkTableGet(table func(*request) map[string]any) pdkFunc {
	return func(rq *request, args []byte) pdkResult {
		k, fail := argString(args)
		if fail != nil {
			return *fail
		}
		return reply(luaToValue(table(rq)[k]))
	}
}

func pdkTableSet(table func(*request) map[string]any) pdkFunc {
	return func(rq *request, args []byte) pdkResult {
		k, v, fail := argKV(args) // "" is a valid Lua table key
		if fail != nil {
			return *fail
		}
		if v == nil {
			delete(table(rq), k)
		} else {
			table(rq)[k] = v
		}
		return empty()
	}
}
