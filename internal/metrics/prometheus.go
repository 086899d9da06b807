package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CacheStats is a snapshot of one cache, read at scrape time.
type CacheStats struct {
	Hits, Misses   uint64
	Entries, Bytes int
}

// Prometheus records into its own registry and serves it.
type Prometheus struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec
	verify    *prometheus.HistogramVec
	idp       *prometheus.HistogramVec
	jwks      *prometheus.CounterVec
	intro     *prometheus.CounterVec
	caches    *cacheCollector
}

// NewPrometheus returns a recorder with the Go runtime and process
// collectors registered.
func NewPrometheus() *Prometheus {
	p := &Prometheus{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okta_oidc_decisions_total",
			Help: "Requests decided, by route (plugin instance name, else route id, else plugin id), outcome (pass, redirect, deny, error) and reason.",
		}, []string{"route", "outcome", "reason"}),
		verify: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "okta_oidc_verification_seconds",
			Help:    "Time to check a credential, cache hits included, by method (bearer, introspection).",
			Buckets: []float64{.00001, .00003, .0001, .0003, .001, .003, .01, .03, .1, .3, 1, 3},
		}, []string{"method"}),
		idp: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "okta_oidc_idp_request_seconds",
			Help:    "Calls to the identity provider, by call (discovery, jwks, introspection, token, refresh) and result (ok, error).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"call", "result"}),
		jwks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okta_oidc_jwks_fetches_total",
			Help: "JWKS fetches, by result (ok, error).",
		}, []string{"result"}),
		intro: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okta_oidc_introspections_total",
			Help: "Token introspections, by result (active, inactive, cached, error).",
		}, []string{"result"}),
	}
	p.caches = &cacheCollector{}
	p.reg.MustRegister(p.decisions, p.verify, p.idp, p.jwks, p.intro, p.caches,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return p
}

// AddCache exports a cache's hits, misses, entries and bytes under the
// label cache=name, read from stats at scrape time (nothing on the hot path).
func (p *Prometheus) AddCache(name string, stats func() CacheStats) {
	p.caches.mu.Lock()
	defer p.caches.mu.Unlock()
	p.caches.names = append(p.caches.names, name)
	p.caches.stats = append(p.caches.stats, stats)
}

// Handler serves the registry in the Prometheus text format.
func (p *Prometheus) Handler() http.Handler {
	return promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{})
}

func (p *Prometheus) Enabled() bool { return true }

func (p *Prometheus) Decision(route, outcome, reason string) {
	p.decisions.WithLabelValues(route, outcome, reason).Inc()
}

func (p *Prometheus) Verification(method string, d time.Duration) {
	p.verify.WithLabelValues(method).Observe(d.Seconds())
}

func (p *Prometheus) IdPCall(call string, d time.Duration, err error) {
	p.idp.WithLabelValues(call, result(err)).Observe(d.Seconds())
}

func (p *Prometheus) JWKSFetch(err error) { p.jwks.WithLabelValues(result(err)).Inc() }

func (p *Prometheus) Introspection(r string) { p.intro.WithLabelValues(r).Inc() }

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

var (
	cacheHits    = prometheus.NewDesc("okta_oidc_cache_hits_total", "Cache lookups answered from the cache, by cache (token, introspection).", []string{"cache"}, nil)
	cacheMisses  = prometheus.NewDesc("okta_oidc_cache_misses_total", "Cache lookups not answered from the cache, by cache.", []string{"cache"}, nil)
	cacheEntries = prometheus.NewDesc("okta_oidc_cache_entries", "Entries held, by cache.", []string{"cache"}, nil)
	cacheBytes   = prometheus.NewDesc("okta_oidc_cache_bytes", "Approximate bytes held (what the cache bound counts), by cache.", []string{"cache"}, nil)
)

type cacheCollector struct {
	mu    sync.Mutex
	names []string
	stats []func() CacheStats
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheHits
	ch <- cacheMisses
	ch <- cacheEntries
	ch <- cacheBytes
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, name := range c.names {
		s := c.stats[i]()
		ch <- prometheus.MustNewConstMetric(cacheHits, prometheus.CounterValue, float64(s.Hits), name)
		ch <- prometheus.MustNewConstMetric(cacheMisses, prometheus.CounterValue, float64(s.Misses), name)
		ch <- prometheus.MustNewConstMetric(cacheEntries, prometheus.GaugeValue, float64(s.Entries), name)
		ch <- prometheus.MustNewConstMetric(cacheBytes, prometheus.GaugeValue, float64(s.Bytes), name)
	}
}
