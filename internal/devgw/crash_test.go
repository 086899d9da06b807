package devgw

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashUnderLoadNoStalePoolFailures kills the plugin server while
// clients keep sending requests. Like Kong, requests fail (500, never
// proxied) while nothing listens on the socket; but OpenResty drops a
// pooled connection as soon as its peer closes (the keepalive close
// handler), so once the respawned server listens no request may fail
// because of a connection pooled before the crash.
func TestCrashUnderLoadNoStalePoolFailures(t *testing.T) {
	e := startE2E(t, 2, nil, func(up string) string {
		return oneRouteConfig("up", up, "p", "devgw-test", "{mode: panic}")
	})
	sock := filepath.Join(e.prefix, "devgw-test.socket")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	type result struct {
		start  time.Time
		status int
	}
	var (
		mu      sync.Mutex
		results []result
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := client.Get(e.gw.URL() + "/p")
				st := 0
				if err == nil {
					st = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				results = append(results, result{start, st})
				mu.Unlock()
			}
		}()
	}
	// count returns how many requests that started after t were answered.
	count := func(after time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range results {
			if r.status != 0 && r.start.After(after) {
				n++
			}
		}
		return n
	}
	// waitFor polls until at least n requests started after t were
	// answered, or fails the test after a generous deadline.
	waitFor := func(after time.Time, n int, what string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); count(after) < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("%s: only %d requests answered", what, count(after))
			}
		}
	}
	// Fill the pools: every client has had answers, so Kong's workers
	// hold pooled plugin-server connections.
	waitFor(time.Time{}, 48, "before the crash")
	pid := e.gw.PluginServerPID("devgw-test")
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// wait for the respawned server to listen
	var ready time.Time
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if p := e.gw.PluginServerPID("devgw-test"); p == 0 || p == pid {
			continue
		}
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			ready = time.Now()
			break
		}
	}
	if ready.IsZero() {
		t.Fatal("plugin server never came back")
	}
	// Enough requests after the respawn to meet every pooled connection.
	waitFor(ready, 48, "after the respawn")
	close(stop)
	wg.Wait()

	var before, after, failedAfter int
	for _, r := range results {
		if r.status != 200 && r.status != 500 {
			t.Errorf("status %d (request started %v after the kill)", r.status, r.start.Sub(killed))
		}
		if r.start.After(ready) {
			after++
			if r.status != 200 {
				failedAfter++
			}
		} else if r.start.After(killed) {
			before++
		}
	}
	if after == 0 {
		t.Fatal("no request after the server came back")
	}
	_ = before
	if failedAfter != 0 {
		t.Errorf("%d of %d requests started after the new server listened failed: stale pooled connections (Kong's pool drops a connection when its peer closes)", failedAfter, after)
	}
	if e.up.hits.Load() == 0 {
		t.Errorf("no request reached the upstream")
	}
	t.Logf("outage %v: %d requests during it, %d after", ready.Sub(killed), before, after)
}

// TestCrashWhileIdleReusesNoDeadPooledConnection: connections pooled
// before a crash must not be used afterwards. OpenResty's keepalive close
// handler closes an idle pooled connection as soon as its peer closes, so
// Kong's next RPC connects afresh; the new server does not know the cached
// instance id, closes the connection, and Kong's "closed" retry starts a
// new instance: the client never sees the crash. Reusing a dead pooled
// connection would instead fail the send ("broken pipe", a Lua assert in
// Rpc:call) and answer 500.
func TestCrashWhileIdleReusesNoDeadPooledConnection(t *testing.T) {
	e := startE2E(t, 1, nil, func(up string) string {
		return oneRouteConfig("up", up, "p", "devgw-test", "{mode: panic}")
	})
	sock := filepath.Join(e.prefix, "devgw-test.socket")
	// fill the worker's pool with several connections
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}}
			for j := 0; j < 5; j++ {
				if resp, err := client.Get(e.gw.URL() + "/p"); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	pid := e.gw.PluginServerPID("devgw-test")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitLog(t, e.log, "terminated: signal 9")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("plugin server never came back")
		}
		if p := e.gw.PluginServerPID("devgw-test"); p == 0 || p == pid {
			continue
		}
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
	}
	for i := 0; i < 10; i++ {
		resp, body := get(t, e.gw.URL()+"/p", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d after the respawn: %d %q", i, resp.StatusCode, body)
		}
	}
	// the first one was re-run after "closed", like Kong's handle_event
	if !strings.Contains(e.log.String(), "[warn] [devgw-test] closed, request_id") {
		t.Errorf("no \"closed\" retry in the log")
	}
}
