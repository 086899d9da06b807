package hotpath

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape returns the samples of a Prometheus text page, by series.
func scrape(t testing.TB, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

// TestMetricsAfterAKnownSequence runs the real binary with -metrics-addr,
// sends a known sequence of requests the way Kong does, and checks the
// counters the endpoint shows.
func TestMetricsAfterAKnownSequence(t *testing.T) {
	addr := freeAddr(t)
	r := newRig(t, "-metrics-addr", addr)
	now := time.Now()
	good := r.iss.Mint(t, r.iss.Claims(now))
	outsider := r.iss.Claims(now)
	outsider["groups"] = []string{"everyone"}
	out := r.iss.Mint(t, outsider)

	pass := passAnswer(curlHeaders(t, good), wantSubject("alice@example.com"))
	for range 3 { // one verification, then two cache hits
		if err := r.ko.event(r.idOkta, pass); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		headers map[string]string
		status  int32
	}{
		{map[string]string{"host": "api.example.com", "accept": "application/json"}, 401}, // no credentials
		{map[string]string{"host": "api.example.com", "authorization": "Bearer " + out}, 403},
		{map[string]string{"host": "api.example.com", "authorization": "Bearer abc.def.ghi"}, 401},
	} {
		err := r.ko.event(r.idOkta, passAnswer(headersReply(t, c.headers), nil))
		var ex errExit
		if !errors.As(err, &ex) || ex.status != c.status {
			t.Fatalf("headers %v: %v, want exit %d", c.headers, err, c.status)
		}
	}

	got := scrape(t, "http://"+addr+"/metrics")
	route := `route="orders-api"`
	want := map[string]string{
		`okta_oidc_decisions_total{outcome="pass",reason="authenticated",` + route + `}`:  "3",
		`okta_oidc_decisions_total{outcome="deny",reason="no_credentials",` + route + `}`: "1",
		`okta_oidc_decisions_total{outcome="deny",reason="forbidden",` + route + `}`:      "1",
		`okta_oidc_decisions_total{outcome="deny",reason="invalid_token",` + route + `}`:  "1",
		`okta_oidc_cache_hits_total{cache="token"}`:                                       "2",
		`okta_oidc_cache_misses_total{cache="token"}`:                                     "3",
		`okta_oidc_cache_entries{cache="token"}`:                                          "2",
		`okta_oidc_cache_hits_total{cache="introspection"}`:                               "0",
		`okta_oidc_jwks_fetches_total{result="ok"}`:                                       "1",
		`okta_oidc_verification_seconds_count{method="bearer"}`:                           "5",
		`okta_oidc_idp_request_seconds_count{call="discovery",result="ok"}`:               "1",
		`okta_oidc_idp_request_seconds_count{call="jwks",result="ok"}`:                    "1",
	}
	for series, v := range want {
		if got[series] != v {
			t.Errorf("%s = %q, want %s", series, got[series], v)
		}
	}
	if t.Failed() {
		var b strings.Builder
		for k, v := range got {
			if strings.HasPrefix(k, "okta_oidc_") {
				fmt.Fprintf(&b, "%s %s\n", k, v)
			}
		}
		t.Logf("scraped:\n%s", b.String())
	}
	for k := range got {
		if strings.Contains(k, good) || strings.Contains(k, out) {
			t.Fatalf("a token appears in the metrics: %s", k)
		}
	}
}
