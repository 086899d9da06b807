// Command floorplugin is the cheapest go-pdk plugin that does what a cached
// okta-oidc bearer pass does over the protocol: one kong.request.get_headers
// and one kong.service.request.set_headers with two identity headers. The
// hot-path benchmark (test/hotpath) measures okta-oidc against it: the
// difference is what okta-oidc itself costs per event.
package main

import (
	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/server"
)

// Config has no fields: the floor decides nothing.
type Config struct{}

// New is the go-pdk constructor.
func New() any { return &Config{} }

// Access reads the headers and sets two upstream headers, like a pass.
func (c *Config) Access(kong *pdk.PDK) {
	h, err := kong.Request.GetHeaders(1000)
	if err != nil || len(h["authorization"]) == 0 {
		kong.Response.Exit(401, nil, nil)
		return
	}
	_ = kong.ServiceRequest.SetHeaders(map[string][]string{
		"X-Authenticated-Userid": {"floor"},
		"X-Authenticated-Groups": {"kong_group"},
	})
}

func main() { _ = server.StartServer(New, "0.1.0", 1000) }
