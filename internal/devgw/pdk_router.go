package devgw

import (
	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.router
		"kong.router.get_route":   pdkRouterGetRoute,
		"kong.router.get_service": pdkRouterGetService,
	})
}

func pdkRouterGetRoute(rq *request, _ []byte) pdkResult {
	r := rq.route
	if r == nil {
		return empty()
	}
	out := &kpp.Route{
		Id: r.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.CreatedAt, Name: r.Name,
		Protocols: r.Protocols, Methods: r.Methods, Hosts: r.Hosts, Paths: r.Paths,
		HttpsRedirectStatusCode: int32(r.HTTPSRedirect), RegexPriority: int32(r.RegexPriority),
		StripPath: r.StripPath, PreserveHost: r.PreserveHost, Tags: r.Tags,
	}
	if r.Service != nil {
		out.Service = &kpp.ServiceKey{Id: r.Service.ID}
	}
	return reply(out)
}

func pdkRouterGetService(rq *request, _ []byte) pdkResult {
	s := rq.service
	if s == nil {
		return empty()
	}
	return reply(&kpp.Service{
		Id: s.ID, CreatedAt: s.CreatedAt, UpdatedAt: s.CreatedAt, Name: s.Name, Retries: int32(s.Retries),
		Protocol: s.Protocol, Host: s.Host, Port: int32(s.Port), Path: s.Path,
		ConnectTimeout: int32(s.ConnectTimeout), WriteTimeout: int32(s.WriteTimeout),
		ReadTimeout: int32(s.ReadTimeout), Tags: s.Tags,
	})
}
