// Command pdkplugin is a tiny go-pdk plugin used by the kong-devgw tests.
//
// Its behaviour is driven entirely by its configuration (field "mode"), so a
// single binary can exercise many gateway code paths. Every StartInstance is
// recorded as one JSON line in the file named by $DEVGW_TEST_EVENTS (if set).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/server"
)

// Version and Priority are reported by -dump.
const (
	Version  = "0.1.0"
	Priority = 1000
)

// Nested exercises record validation.
type Nested struct {
	Inner string `json:"inner"`
	Count int    `json:"count"`
}

// Config is the plugin configuration. Its fields cover every schema type
// go-pdk can emit.
type Config struct {
	Mode       string            `json:"mode"`
	Status     int               `json:"status"`
	Body       string            `json:"body"`
	Headers    map[string]string `json:"headers"`
	Tags       []string          `json:"tags"`
	Port       uint              `json:"port"`
	Flag       bool              `json:"flag"`
	Ratio      float64           `json:"ratio"`
	Nested     Nested            `json:"nested"`
	MaxHeaders int               `json:"max_headers"`

	raw json.RawMessage
}

var eventsMu sync.Mutex

func recordEvent(ev map[string]any) {
	path := os.Getenv("DEVGW_TEST_EVENTS")
	if path == "" {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	eventsMu.Lock()
	defer eventsMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(append(b, '\n'))
}

// UnmarshalJSON keeps the raw configuration sent by the gateway (it is
// called once per StartInstance by go-pdk) and records the start.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = Config(p)
	c.raw = append(json.RawMessage(nil), b...)
	recordEvent(map[string]any{"event": "start", "pid": os.Getpid(), "config": c.raw})
	return nil
}

// New is the go-pdk constructor.
func New() interface{} { return &Config{} }

func main() {
	_ = server.StartServer(New, Version, Priority)
}

func splitHeaders(h map[string]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		out[k] = strings.Split(v, "|")
	}
	return out
}

// Access implements the access phase.
func (c *Config) Access(kong *pdk.PDK) {
	switch c.Mode {
	case "echo":
		c.echo(kong)
	case "exit":
		kong.Response.Exit(c.Status, []byte(c.Body), splitHeaders(c.Headers))
	case "upstream":
		c.upstream(kong)
	case "panic":
		if v, _ := kong.Request.GetHeader("x-panic"); v == "now" {
			panic("boom: asked to panic")
		}
		_ = kong.ServiceRequest.SetHeader("X-Plugin-Ran", "yes")
	case "unknown":
		_ = kong.Request.Ask("kong.no_such.method", nil, nil)
	case "unimplemented":
		_, _ = kong.Node.GetMemoryStats()
	case "ctx":
		errs := []string{}
		if err := kong.Ctx.SetShared("k", "v"); err != nil {
			errs = append(errs, err.Error())
		}
		v, err := kong.Ctx.GetSharedString("k")
		if err != nil {
			errs = append(errs, err.Error())
		}
		_, missingErr := kong.Ctx.GetSharedString("missing")
		me := ""
		if missingErr != nil {
			me = missingErr.Error()
		}
		b, _ := json.Marshal(map[string]any{"v": v, "missing_err": me, "errors": errs})
		kong.Response.Exit(200, b, nil)
	case "log":
		_ = kong.Log.Err("hello from ", "the plugin ", 42)
	default:
		// pass through
	}
}

func (c *Config) upstream(kong *pdk.PDK) {
	_ = kong.ServiceRequest.SetHeader("X-From-Plugin", "set")
	_ = kong.ServiceRequest.AddHeader("X-Added", "one")
	_ = kong.ServiceRequest.AddHeader("X-Added", "two")
	_ = kong.ServiceRequest.ClearHeader("X-Remove-Me")
	seen, _ := kong.Request.GetHeader("x-from-plugin")
	_ = kong.ServiceRequest.SetHeader("X-Seen-By-Plugin", seen)
	removed, _ := kong.Request.GetHeader("x-remove-me")
	_ = kong.ServiceRequest.SetHeader("X-Removed-Seen", "["+removed+"]")
	_ = kong.Response.SetHeader("X-Resp-Plugin", "r1")
	_ = kong.Response.AddHeader("X-Resp-Added", "a1")
}

func (c *Config) echo(kong *pdk.PDK) {
	info := map[string]any{}
	errs := []string{}
	// keep(name)(getter()) records a getter's value and error under name.
	keep := func(name string) func(any, error) {
		return func(v any, err error) {
			info[name] = v
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			}
		}
	}
	max := c.MaxHeaders
	if max == 0 {
		max = -1
	}
	keep("headers")(kong.Request.GetHeaders(max))
	keep("header")(kong.Request.GetHeader("X_Test-Header"))
	keep("missing_header")(kong.Request.GetHeader("x-does-not-exist"))
	keep("path")(kong.Request.GetPath())
	keep("path_with_query")(kong.Request.GetPathWithQuery())
	keep("raw_query")(kong.Request.GetRawQuery())
	keep("query")(kong.Request.GetQuery(-1))
	keep("query_arg_a")(kong.Request.GetQueryArg("a"))
	keep("scheme")(kong.Request.GetScheme())
	keep("host")(kong.Request.GetHost())
	keep("port")(kong.Request.GetPort())
	keep("method")(kong.Request.GetMethod())
	keep("forwarded_scheme")(kong.Request.GetForwardedScheme())
	keep("forwarded_host")(kong.Request.GetForwardedHost())
	keep("forwarded_port")(kong.Request.GetForwardedPort())
	keep("http_version")(kong.Request.GetHttpVersion())
	keep("client_ip")(kong.Client.GetIp())
	keep("forwarded_ip")(kong.Client.GetForwardedIp())
	body, err := kong.Request.GetRawBody()
	keep("raw_body")(string(body), err)
	keep("var_request_uri")(kong.Nginx.GetVar("request_uri"))
	keep("var_upstream_uri")(kong.Nginx.GetVar("upstream_uri"))
	r, err := kong.Router.GetRoute()
	keep("route_name")(r.Name, err)
	s, err := kong.Router.GetService()
	keep("service_name")(s.Name, err)
	info["config"] = c.raw
	info["errors"] = errs
	b, _ := json.Marshal(info)
	kong.Response.Exit(200, b, map[string][]string{"Content-Type": {"application/json"}})
}
