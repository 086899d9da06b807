package integration

import (
	"io"
	"net/http"
	"testing"
)

// Benchmarks through the whole path (client -> dev gateway -> plugin server
// over the Unix socket -> httpbin). Compare them in one run:
//
//	go test -run '^$' -bench Gateway -benchtime 2000x ./test/integration
//
// BenchmarkGatewayPublic is the route without the plugin; the difference is
// the plugin's cost including its PDK round trips.

func benchGet(b *testing.B, path string, h http.Header, want int) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	req, err := http.NewRequest("GET", env.gateway+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header = h
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("status %d, want %d", resp.StatusCode, want)
		}
	}
}

func BenchmarkGatewayPublic(b *testing.B) {
	benchGet(b, "/public/get", http.Header{}, 200)
}

func BenchmarkGatewayBearerPass(b *testing.B) {
	tok := m2mToken(b)
	benchGet(b, "/api/get", bearer(tok), 200)
}

func BenchmarkGatewayNoToken401(b *testing.B) {
	benchGet(b, "/api/get", http.Header{}, 401)
}
