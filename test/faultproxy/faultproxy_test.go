package faultproxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func start(t *testing.T, lifetime time.Duration) *Proxy {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "backend "+r.Host+" "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	p, err := Start(Options{Addr: freeAddr(t), Target: backend.URL, MaxLifetime: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func get(c *http.Client, u string) (int, string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 2<<20))
	return resp.StatusCode, string(b), err
}

func TestFaults(t *testing.T) {
	p := start(t, time.Minute)
	c := &http.Client{Timeout: 2 * time.Second}
	host := strings.TrimPrefix(p.URL, "http://")
	if s, b, err := get(c, p.URL+"/a/keys"); err != nil || s != 200 || b != "backend "+host+" /a/keys" {
		t.Fatalf("forward: %d %q %v", s, b, err)
	}
	p.Set(Rule{Path: "/keys", Status: 503, Body: []byte("nope")})
	if s, b, _ := get(c, p.URL+"/a/keys"); s != 503 || b != "nope" {
		t.Fatalf("status rule: %d %q", s, b)
	}
	if s, _, _ := get(c, p.URL+"/a/other"); s != 200 {
		t.Fatalf("a rule for another path applied: %d", s)
	}
	p.Set(Rule{Huge: 64 << 20})
	if s, b, _ := get(c, p.URL+"/x"); s != 200 || len(b) != 2<<20 {
		t.Fatalf("huge: %d, %d bytes read", s, len(b))
	}
	p.Set(Rule{Delay: time.Hour})
	begin := time.Now()
	if _, _, err := get(&http.Client{Timeout: 200 * time.Millisecond}, p.URL+"/x"); err == nil || time.Since(begin) > time.Second {
		t.Fatalf("delay: err %v after %v", err, time.Since(begin))
	}
	p.Set(Rule{Reset: true})
	if _, _, err := get(c, p.URL+"/x"); err == nil {
		t.Fatal("reset answered")
	}
	if err := p.Heal(); err != nil {
		t.Fatal(err)
	}
	if err := p.SetDown(true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(c, p.URL+"/x"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("down: %v", err)
	}
	if err := p.Heal(); err != nil {
		t.Fatal(err)
	}
	if s, _, err := get(c, p.URL+"/x"); s != 200 || err != nil {
		t.Fatalf("healed: %d %v", s, err)
	}
	if n := p.Hits("/keys"); n != 2 {
		t.Fatalf("hits on /keys = %d, want 2", n)
	}
}

func TestStopsByItself(t *testing.T) {
	p := start(t, 100*time.Millisecond)
	// Poll rather than sleep a fixed time: a loaded machine may stop it
	// late, but it must stop well within the deadline.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, _, err := get(&http.Client{Timeout: time.Second}, p.URL+"/x"); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("still serving 10 s after a MaxLifetime of 100 ms")
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, o := range []Options{
		{Addr: "127.0.0.1:0", Target: "http://example.com"},
		{Addr: "0.0.0.0:0", Target: "http://127.0.0.1:1"},
	} {
		if p, err := Start(o); err == nil {
			_ = p.Close()
			t.Fatalf("%+v accepted", o)
		}
	}
}
