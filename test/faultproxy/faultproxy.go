// Package faultproxy is a reverse proxy on 127.0.0.1 that tests put in front
// of the OpenID provider to make it misbehave on demand: down (connections
// refused), slow, answering a fixed status or body, or a body too large to
// read. It forwards to 127.0.0.1 only, and stops by itself after MaxLifetime
// so that a crashed test never leaves it listening.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Rule is one fault. A request whose path ends with Path (every request
// when Path is empty) meets the first matching rule; the others are
// forwarded untouched.
type Rule struct {
	Path string
	// Delay holds the request this long (or until the client gives up)
	// before the rest of the rule, or forwarding, applies.
	Delay time.Duration
	// Reset closes the connection without an answer.
	Reset bool
	// Status, when set, is answered with Body instead of forwarding.
	Status int
	Body   []byte
	// Huge, when set, answers 200 with a JSON body of this many bytes,
	// streamed without being held in memory.
	Huge int64
}

// Options configure Start.
type Options struct {
	// Addr to listen on, e.g. "127.0.0.1:9400".
	Addr string
	// Target is the provider's base URL, on 127.0.0.1.
	Target string
	// MaxLifetime after which the proxy closes itself (default 10 minutes).
	MaxLifetime time.Duration
}

// Limits that keep a misbehaving test from wedging the proxy.
const (
	maxDelay = time.Minute
	maxHuge  = 1 << 30
)

// Proxy is a running fault proxy.
type Proxy struct {
	URL string // http://Addr

	addr  string
	srv   *http.Server
	rp    *httputil.ReverseProxy
	timer *time.Timer

	mu     sync.Mutex
	ln     net.Listener // nil while down
	conns  map[net.Conn]struct{}
	rules  []Rule
	hits   map[string]int
	closed bool
}

// Start listens on o.Addr and forwards to o.Target.
func Start(o Options) (*Proxy, error) {
	target, err := url.Parse(o.Target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target: %w", err)
	}
	if target.Hostname() != "127.0.0.1" {
		return nil, fmt.Errorf("faultproxy: target %s is not on 127.0.0.1", o.Target)
	}
	if host, _, err := net.SplitHostPort(o.Addr); err != nil || host != "127.0.0.1" {
		return nil, fmt.Errorf("faultproxy: listen address %q is not on 127.0.0.1", o.Addr)
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = 10 * time.Minute
	}
	p := &Proxy{URL: "http://" + o.Addr, addr: o.Addr, conns: map[net.Conn]struct{}{}, hits: map[string]int{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the provider sees the issuer's host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         p.track,
	}
	if err := p.listen(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.timer = time.AfterFunc(o.MaxLifetime, func() { _ = p.Close() })
	p.mu.Unlock()
	return p, nil
}

func (p *Proxy) listen() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faultproxy: %w", err)
	}
	p.ln = ln
	go func() { _ = p.srv.Serve(ln) }()
	return nil
}

func (p *Proxy) track(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(p.conns, c)
	}
}

// SetDown takes the proxy off the network (new connections are refused and
// open ones closed) or puts it back.
func (p *Proxy) SetDown(down bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	switch {
	case down && p.ln != nil:
		err := p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			_ = c.Close()
		}
		return err
	case !down && p.ln == nil:
		return p.listen()
	}
	return nil
}

// Set replaces the rules; Set() heals everything but SetDown.
func (p *Proxy) Set(rules ...Rule) {
	p.mu.Lock()
	p.rules = append([]Rule(nil), rules...)
	p.mu.Unlock()
}

// Heal removes every fault: up again, no rules.
func (p *Proxy) Heal() error {
	p.Set()
	return p.SetDown(false)
}

// Hits returns how many requests reached the proxy whose path ends with
// suffix.
func (p *Proxy) Hits(suffix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for path, c := range p.hits {
		if strings.HasSuffix(path, suffix) {
			n += c
		}
	}
	return n
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.ln = nil
	if p.timer != nil {
		p.timer.Stop()
	}
	p.mu.Unlock()
	return p.srv.Close()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.hits[r.URL.Path]++
	var rule *Rule
	for i := range p.rules {
		if strings.HasSuffix(r.URL.Path, p.rules[i].Path) {
			rule = &p.rules[i]
			break
		}
	}
	var ru Rule
	if rule != nil {
		ru = *rule
	}
	p.mu.Unlock()
	if rule == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	if ru.Delay > 0 {
		t := time.NewTimer(min(ru.Delay, maxDelay))
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case ru.Reset:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST, not a clean close
				}
				_ = c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case ru.Huge > 0:
		w.Header().Set("Content-Type", "application/json")
		_ = writeHuge(r.Context(), w, min(ru.Huge, maxHuge))
	case ru.Status != 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ru.Status)
		_, _ = w.Write(ru.Body)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// writeHuge writes {"keys":[],"padding":"xxxx...."} of n bytes in all,
// stopping as soon as the client hangs up.
func writeHuge(ctx context.Context, w io.Writer, n int64) error {
	head, tail := []byte(`{"keys":[],"padding":"`), []byte(`"}`)
	chunk := []byte(strings.Repeat("x", 32<<10))
	if _, err := w.Write(head); err != nil {
		return err
	}
	left := n - int64(len(head)+len(tail))
	for left > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c := chunk[:min(int64(len(chunk)), left)]
		if _, err := w.Write(c); err != nil {
			return err
		}
		left -= int64(len(c))
	}
	_, err := w.Write(tail)
	return err
}
