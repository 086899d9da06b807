package devgw

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.node
		"kong.node.get_id": func(rq *request, _ []byte) pdkResult { return wrapString(rq.g.nodeID) },
	})
}
