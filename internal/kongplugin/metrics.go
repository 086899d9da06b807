package kongplugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/gateway"
	"github.com/okta-oidc/okta-oidc/internal/metrics"
)

// kongMeta holds the keys Kong injects into an instance's config
// (kong-pluginserver.md §2.2); they are not schema keys.
type kongMeta struct {
	RouteID      string `json:"route_id"`
	InstanceName string `json:"plugin_instance_name"`
	PluginID     string `json:"__plugin_id"`
}

// label names the instance in metrics: its instance name, else its route,
// else the plugin entity.
func (m kongMeta) label() string {
	switch {
	case m.InstanceName != "":
		return m.InstanceName
	case m.RouteID != "":
		return m.RouteID
	case m.PluginID != "":
		return m.PluginID
	}
	return "unknown"
}

// metas holds each instance's kongMeta until its engine is built.
var metas sync.Map // weak.Pointer[Config] -> kongMeta

// UnmarshalJSON decodes the config as before and keeps the route and plugin
// names Kong injects, for metrics.
func (c *Config) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*config.Raw)(c)); err != nil {
		return err
	}
	var m kongMeta
	_ = json.Unmarshal(b, &m) // names only; a shape Kong never sends leaves them empty
	key := weak.Make(c)
	if _, loaded := metas.Swap(key, m); !loaded {
		runtime.AddCleanup(c, func(k weak.Pointer[Config]) { metas.Delete(k) }, key)
	}
	return nil
}

func (c *Config) routeLabel() string {
	if v, ok := metas.Load(weak.Make(c)); ok {
		return v.(kongMeta).label()
	}
	return "unknown"
}

// ServeMetrics starts the Prometheus endpoint (GET /metrics) on addr and
// makes it the process's recorder. It returns once the address is bound.
func ServeMetrics(addr string) (net.Addr, error) {
	p := metrics.NewPrometheus()
	for name, c := range gateway.SharedCaches() {
		p.AddCache(name, func() metrics.CacheStats {
			s := c.Stats()
			return metrics.CacheStats{Hits: s.Hits, Misses: s.Misses, Entries: s.Entries, Bytes: s.Bytes}
		})
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", p.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	metrics.Use(p)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("okta-oidc: metrics endpoint: %v", err)
		}
	}()
	return ln.Addr(), nil
}
