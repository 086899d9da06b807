package hotpath

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

// rig is the two plugin servers, each with one started instance and one
// connection, and the issuer the okta-oidc instance trusts.
type rig struct {
	iss          *testissuer.Issuer
	okta, floor  *server
	ko, kf       *kong
	idOkta, idFl int32
}

// routeConfig is the okta-oidc instance config as Kong sends it: the route's
// keys plus the keys Kong injects (kong-pluginserver.md §2.2).
func routeConfig(iss *testissuer.Issuer, extra map[string]any) []byte {
	m := map[string]any{
		"issuer":               iss.URL,
		"auth_methods":         []string{"bearer"},
		"audience_required":    []string{"api://default"},
		"groups_required":      []string{"kong_group"},
		"route_id":             "6f2a3c1e-0000-4000-8000-000000000001",
		"plugin_instance_name": "orders-api",
		"__plugin_id":          "6f2a3c1e-0000-4000-8000-0000000000aa",
		"__key__":              "plugins:okta-oidc:6f2a3c1e-0000-4000-8000-000000000001::::default",
		"__seq__":              1,
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// oktaBinary builds cmd/okta-oidc once per directory under its real name.
func oktaBinary(t testing.TB, dir string, tags ...string) string {
	return buildBinary(t, dir, "okta-oidc", "../../cmd/okta-oidc", tags...)
}

func newRig(t testing.TB, oktaFlags ...string) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{iss: testissuer.New(t)}
	r.okta = startServer(t, oktaBinary(t, dir), dir, nil, oktaFlags...)
	r.floor = startServer(t, buildBinary(t, dir, "floorplugin", "./testdata/floorplugin"), dir, nil)
	r.ko, r.kf = dialKong(t, r.okta), dialKong(t, r.floor)
	var err error
	if r.idOkta, err = r.ko.start("okta-oidc", routeConfig(r.iss, nil)); err != nil {
		t.Fatal(err)
	}
	if r.idFl, err = r.kf.start("floorplugin", []byte(`{"__seq__":1}`)); err != nil {
		t.Fatal(err)
	}
	return r
}

// passAnswer answers a bearer pass's PDK calls: get_headers with the
// request's headers, set_headers (checked to carry the subject when check
// is set), log lines and response headers with nothing.
func passAnswer(headers []byte, check func(map[string]any) error) pdkAnswer {
	return func(method string, args []byte) ([]byte, error) {
		switch method {
		case "kong.request.get_headers":
			return headers, nil
		case "kong.service.request.set_headers":
			if check != nil {
				up, err := upstreamHeaders(args)
				if err != nil {
					return nil, err
				}
				if err := check(up); err != nil {
					return nil, err
				}
			}
			return nil, nil
		case "kong.response.set_headers", "kong.log.notice", "kong.log.err":
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s", errUnexpected, method)
	}
}

func wantSubject(sub string) func(map[string]any) error {
	return func(up map[string]any) error {
		got, _ := up["X-Authenticated-Userid"].([]any)
		if len(got) != 1 || got[0] != sub {
			return fmt.Errorf("X-Authenticated-Userid = %v, want %s", up["X-Authenticated-Userid"], sub)
		}
		return nil
	}
}

// curlHeaders is what curl sends with a bearer token.
func curlHeaders(t testing.TB, tok string) []byte {
	return headersReply(t, map[string]string{
		"host": "api.example.com", "user-agent": "curl/8.5.0", "accept": "*/*",
		"authorization": "Bearer " + tok,
	})
}

// BenchmarkHotPath is make bench's headline: a cached bearer pass through
// the real okta-oidc binary against the floor plugin, interleaved event by
// event on one connection each, so both see the same machine. It reports
// wall time and plugin-server CPU per event and their ratios to the floor
// (ratio = floor time / okta-oidc time = okta-oidc's share of the floor's
// events/s). With HOTPATH_CPUPROFILE=file it then profiles the okta-oidc
// server over as many events again.
func BenchmarkHotPath(b *testing.B) {
	r := newRig(b)
	tok := r.iss.Mint(b, r.iss.Claims(time.Now()))
	hdr := curlHeaders(b, tok)
	okta := passAnswer(hdr, nil)
	floor := passAnswer(hdr, nil)
	// The first pass verifies the token and fills the cache; check it.
	if err := r.ko.event(r.idOkta, passAnswer(hdr, wantSubject("alice@example.com"))); err != nil {
		b.Fatal(err)
	}
	for range 200 { // warm both
		if err := r.ko.event(r.idOkta, okta); err != nil {
			b.Fatal(err)
		}
		if err := r.kf.event(r.idFl, floor); err != nil {
			b.Fatal(err)
		}
	}
	var dOkta, dFloor time.Duration
	cpuOkta0, cpuFloor0 := r.okta.cpu(b), r.floor.cpu(b)
	n := 0
	for b.Loop() {
		// Alternate which goes first so neither always follows the other.
		t0 := time.Now()
		var err error
		if n%2 == 0 {
			err = r.kf.event(r.idFl, floor)
			t1 := time.Now()
			if err == nil {
				err = r.ko.event(r.idOkta, okta)
			}
			dFloor += t1.Sub(t0)
			dOkta += time.Since(t1)
		} else {
			err = r.ko.event(r.idOkta, okta)
			t1 := time.Now()
			if err == nil {
				err = r.kf.event(r.idFl, floor)
			}
			dOkta += t1.Sub(t0)
			dFloor += time.Since(t1)
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	cpuOkta, cpuFloor := r.okta.cpu(b)-cpuOkta0, r.floor.cpu(b)-cpuFloor0
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }
	b.ReportMetric(us(dOkta), "okta-us/event")
	b.ReportMetric(us(dFloor), "floor-us/event")
	b.ReportMetric(float64(dFloor)/float64(dOkta), "ratio")
	b.ReportMetric(us(cpuOkta), "okta-cpu-us/event")
	b.ReportMetric(us(cpuFloor), "floor-cpu-us/event")
	if cpuOkta > 0 {
		b.ReportMetric(float64(cpuFloor)/float64(cpuOkta), "cpu-ratio")
	}
	if path := os.Getenv("HOTPATH_CPUPROFILE"); path != "" {
		profile(b, path, n)
	}
}

// profile runs n cached passes against a profiling build of okta-oidc and
// leaves its CPU profile at path.
func profile(b *testing.B, path string, n int) {
	b.StopTimer()
	dir := b.TempDir()
	iss := testissuer.New(b)
	abs, _ := filepath.Abs(path)
	s := startServer(b, oktaBinary(b, dir, "hotpathprofile"), dir, []string{"OKTA_OIDC_CPUPROFILE=" + abs})
	k := dialKong(b, s)
	id, err := k.start("okta-oidc", routeConfig(iss, nil))
	if err != nil {
		b.Fatal(err)
	}
	ans := passAnswer(curlHeaders(b, iss.Mint(b, iss.Claims(time.Now()))), nil)
	for range max(n, 20000) {
		if err := k.event(id, ans); err != nil {
			b.Fatal(err)
		}
	}
	s.stop()
	if _, err := os.Stat(abs); err != nil {
		b.Fatalf("no profile: %v", err)
	}
	b.Logf("CPU profile of the plugin server: %s", abs)
}
