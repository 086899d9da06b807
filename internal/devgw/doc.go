// Package devgw is kong-devgw, a development and test tool that emulates
// how Kong Gateway 3.9 drives a go-pdk plugin server, so that a real Go
// plugin binary can be tested end to end without Kong. It is NOT a
// production gateway.
//
// It reads a DB-less declarative configuration (kong.yml, _format_version
// "3.0": services, routes, plugins), configures plugin servers from the
// same KONG_* environment variables as Kong 3.9 (KONG_PLUGINS,
// KONG_PLUGINSERVER_NAMES, KONG_PLUGINSERVER_<NAME>_START_CMD / _QUERY_CMD /
// _SOCKET), queries them (-dump), validates every plugin configuration
// against the dumped schema with Kong's rules, spawns and respawns the
// servers, and proxies HTTP requests: request heads read like Kong's nginx
// reads them (header names as sent, underscores allowed,
// large_client_header_buffers, unique header lines), routing, the access
// phase of the
// plugins over the ProtoBuf plugin-server protocol (StartInstance,
// HandleEvent with its PDK bridge loop, CloseInstance), then proxying to
// the service with Kong's headers, or a Kong-produced response.
//
// Everything that is known or suspected to differ from Kong 3.9 is listed
// in DIFFERENCES.md next to this file.
//
// Typical use from a test:
//
//	gw, err := devgw.Start(devgw.Options{
//		ConfigPath: "kong.yml",
//		Listen:     "127.0.0.1:0",
//		Env: append(os.Environ(),
//			"KONG_PLUGINS=bundled,okta-oidc",
//			"KONG_PLUGINSERVER_NAMES=okta-oidc",
//			"KONG_PLUGINSERVER_OKTA_OIDC_START_CMD=/path/okta-oidc -kong-prefix "+prefix,
//			"KONG_PLUGINSERVER_OKTA_OIDC_QUERY_CMD=/path/okta-oidc -dump"),
//		Prefix: prefix,
//	})
//	defer gw.Close()
//	resp, err := http.Get(gw.URL() + "/app")
package devgw
