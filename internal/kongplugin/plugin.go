// Package kongplugin is the only package that imports go-pdk: it reads the
// request from Kong with as few PDK calls as possible, asks the gateway core
// for a Decision and applies it.
package kongplugin

import (
	"fmt"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/Kong/go-pdk"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/gateway"
	"github.com/okta-oidc/okta-oidc/internal/metrics"
)

// Version and Priority are reported to Kong by -dump.
const (
	Version  = "0.1.0"
	Priority = 1050 // runs before Kong's acl (950) and rate limiting (910)
)

// maxHeaders is passed to kong.request.get_headers; Kong silently drops the
// header lines past it (ngx.req.get_headers' "truncated" result does not
// cross the plugin server protocol). 1000 is the most Kong accepts. A request
// whose lines reach it is refused: the plugin cannot know what it did not
// see (a second Authorization, another spelling of an identity header).
const maxHeaders = 1000

// Config is the plugin's configuration as Kong sends it; its fields (those of
// config.Raw) are the -dump schema. One Config is one plugin instance.
type Config config.Raw

// New is the constructor go-pdk calls for each instance.
func New() any { return &Config{} }

type built struct {
	engine *gateway.Engine
	err    error
	logged sync.Once
}

// engines maps an instance to its engine. go-pdk never says when an instance
// is dropped, so the key is a weak pointer and a cleanup removes the entry
// once the instance is garbage.
var engines sync.Map // weak.Pointer[Config] -> *built

// newEngine is replaced in tests. route names the instance in metrics.
var newEngine = func(cfg *config.Config, route string) (*gateway.Engine, error) {
	return gateway.New(cfg, gateway.Deps{Route: route})
}

func (c *Config) engine() *built {
	key := weak.Make(c)
	if v, ok := engines.Load(key); ok {
		return v.(*built)
	}
	b := &built{}
	cfg, err := config.Parse((*config.Raw)(c))
	if err == nil {
		b.engine, err = newEngine(cfg, c.routeLabel())
	}
	b.err = err
	v, loaded := engines.LoadOrStore(key, b)
	if !loaded {
		runtime.AddCleanup(c, func(k weak.Pointer[Config]) { engines.Delete(k) }, key)
	}
	return v.(*built)
}

// Access runs in Kong's access phase.
func (c *Config) Access(kong *pdk.PDK) {
	defer func() {
		if p := recover(); p != nil {
			// go-pdk does not recover: a panic would kill the server for
			// every worker. Fail closed instead.
			_ = kong.Log.Err(fmt.Sprintf("okta-oidc: panic: %v", p))
			d := gateway.Internal(nil)
			kong.Response.Exit(d.Status, d.Body, d.Header)
		}
	}()
	b := c.engine()
	if b.err != nil {
		b.logged.Do(func() { _ = kong.Log.Err("okta-oidc: " + b.err.Error()) })
		d := gateway.ConfigError(b.err)
		metrics.Get().Decision(c.routeLabel(), metrics.OutcomeError, string(d.Reason))
		kong.Response.Exit(d.Status, d.Body, d.Header)
		return
	}
	cfg := b.engine.Config()
	ctx := &lazyDeadline{deadline: time.Now().Add(2*cfg.Timeout + time.Second)}
	defer ctx.stop()

	raw, err := kong.Request.GetHeaders(maxHeaders)
	if err != nil {
		exitInternal(kong, fmt.Errorf("reading headers: %w", err))
		return
	}
	if n := gateway.HeaderLines(raw); n >= maxHeaders {
		d := gateway.TooManyHeaders(n, maxHeaders)
		metrics.Get().Decision(c.routeLabel(), metrics.OutcomeDeny, string(d.Reason))
		apply(kong, d, cfg.LogDenials)
		return
	}
	req := gateway.NewRequest(raw, once(kong.Request.GetMethod), once(kong.Request.GetPathWithQuery))
	// Read only at backchannel_logout_path: one more call there. Kong
	// returns a small body inline and a buffered-to-disk one as a file path,
	// which go-pdk reads.
	req.Body = kong.Request.GetRawBody
	if cfg.Identity.Enabled() {
		req.Consumers = consumers{kong.Client}
		req.Credential = func() (bool, error) { return earlierCredential(kong.Client) }
	}
	apply(kong, b.engine.Decide(ctx, req), cfg.LogDenials)
}

// apply carries out d: at most one call to set the upstream headers, one to
// set the query, one to add response headers; or one exit. 5xx answers are
// logged, and non-error answers that carry an Err as warnings; denials only
// with log_denials (each log line is a PDK call).
func apply(kong *pdk.PDK, d gateway.Decision, logDenials bool) {
	if d.Action == gateway.Respond {
		switch {
		case d.Status >= 500 && d.Err != nil:
			_ = kong.Log.Err(fmt.Sprintf("okta-oidc: %s: %v", d.Reason, d.Err))
		case d.Status < 400 && d.Err != nil:
			// A non-error answer with a cause: something failed that must
			// not stop the answer (a logout whose revocation failed).
			_ = kong.Log.Warn(fmt.Sprintf("okta-oidc: %s: %v", d.Reason, d.Err))
		case logDenials && (d.Status == 400 || d.Status == 401 || d.Status == 403):
			_ = kong.Log.Notice(denialLine(d))
		}
		kong.Response.Exit(d.Status, d.Body, d.Header)
		return // nothing may follow an exit
	}
	if err := applyIdentity(kong, d); err != nil {
		exitInternal(kong, err)
		return
	}
	if len(d.Upstream) > 0 {
		if err := kong.ServiceRequest.SetHeaders(d.Upstream); err != nil {
			exitInternal(kong, fmt.Errorf("setting upstream headers: %w", err))
			return
		}
	}
	if d.RawQuery != nil {
		if err := kong.ServiceRequest.SetRawQuery(*d.RawQuery); err != nil {
			exitInternal(kong, fmt.Errorf("setting upstream query: %w", err))
			return
		}
	}
	if len(d.Header) > 0 {
		if err := kong.Response.SetHeaders(d.Header); err != nil {
			exitInternal(kong, fmt.Errorf("setting response headers: %w", err))
			return
		}
	}
}

// denialLine describes a denial for operators. It never holds a token: the
// causes are the token package's fixed reasons and policy.Explain's claim
// summary.
func denialLine(d gateway.Decision) string {
	line := fmt.Sprintf("okta-oidc: %d %s", d.Status, d.Reason)
	if d.Subject != "" {
		line += fmt.Sprintf(" sub=%q", d.Subject)
	}
	if d.Detail != "" {
		line += ": " + d.Detail
	}
	if d.Err != nil {
		line += ": " + d.Err.Error()
	}
	return line
}

func exitInternal(kong *pdk.PDK, err error) {
	_ = kong.Log.Err("okta-oidc: " + err.Error())
	d := gateway.Internal(err)
	kong.Response.Exit(d.Status, d.Body, d.Header)
}

// once memoizes a PDK getter so a decision that needs it twice pays once.
func once(f func() (string, error)) func() (string, error) {
	var (
		done bool
		v    string
		err  error
	)
	return func() (string, error) {
		if !done {
			v, err = f()
			done = true
		}
		return v, err
	}
}
