package devgw

// Helpers shared by the end-to-end tests (e2e_test.go, real go-pdk plugin)
// and the protocol tests (rpc_test.go, fake plugin server).

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// shortTempDir keeps unix socket paths short.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "dgw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// oneRouteConfig is a declarative configuration with one service and one
// route (path /<route>) that runs plugin with the given config.
func oneRouteConfig(service, url, route, plugin, config string) string {
	return fmt.Sprintf(`_format_version: "3.0"
services:
- name: %s
  url: %s
  routes:
  - name: %s
    paths: [/%s]
    plugins:
    - name: %s
      config: %s
`, service, url, route, route, plugin, config)
}

// startGateway starts a gateway logging to log; it is closed when the test
// ends, and the log is printed if the test failed.
func startGateway(t *testing.T, opts Options, log *syncBuffer) *Gateway {
	t.Helper()
	opts.Log = log
	gw, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Close()
		if t.Failed() {
			t.Logf("gateway log:\n%s", log.String())
		}
	})
	return gw
}

func do(t *testing.T, method, url string, hdr http.Header, host string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t *testing.T, url string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	return do(t, "GET", url, hdr, "")
}

type check struct{ name, got, want string }

func checkAll(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// checkExit checks a response produced by kong.response.exit: its status
// and body, a header given as a list of values (want joined with ","),
// and that Kong added no Content-Type.
func checkExit(t *testing.T, resp *http.Response, body string, status int, wantBody, header, want string) {
	t.Helper()
	if resp.StatusCode != status || body != wantBody {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Values(header); strings.Join(got, ",") != want {
		t.Errorf("%s = %v", header, got)
	}
	if _, ok := resp.Header["Content-Type"]; ok {
		t.Errorf("Content-Type must not be added: %v", resp.Header)
	}
}
