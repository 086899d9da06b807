package kongplugin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"github.com/Kong/go-pdk/test"
	"google.golang.org/protobuf/proto"

	"github.com/okta-oidc/okta-oidc/internal/config"
	"github.com/okta-oidc/okta-oidc/internal/consumer"
	"github.com/okta-oidc/okta-oidc/internal/gateway"
	"github.com/okta-oidc/okta-oidc/internal/testissuer"
)

const aliceID = "6a0c2e8e-3c5b-4a43-9a55-0e8f6f1c2d11"

// fakeKong answers the kong.client methods like Kong 3.9 over the consumers
// alice and anonymous, and records what the plugin authenticated.
type fakeKong struct {
	t          *testing.T
	credential bool // an earlier plugin authenticated a credential
	auth       *kong_plugin_protocol.AuthenticateArgs
}

func (f *fakeKong) handle(method string, args []byte) ([]byte, bool) {
	marshal := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	switch method {
	case "kong.client.load_consumer":
		var spec kong_plugin_protocol.ConsumerSpec
		if err := proto.Unmarshal(args, &spec); err != nil {
			f.t.Fatal(err)
		}
		if !consumer.IsUUID(spec.Id) && !spec.ByUsername {
			f.t.Fatalf("load_consumer(%q, false) throws in Kong", spec.Id)
		}
		switch {
		case spec.Id == aliceID || (spec.ByUsername && spec.Id == "alice"):
			return marshal(&kong_plugin_protocol.Consumer{Id: aliceID, Username: "alice"}), true
		case spec.ByUsername && spec.Id == "anonymous":
			return marshal(&kong_plugin_protocol.Consumer{Id: "0d6f6c5e-8b1a-4c55-9d0e-7a1b2c3d4e5f", Username: "anonymous"}), true
		}
		return nil, true // nil: not found
	case "kong.client.get_credential":
		if f.credential {
			return marshal(&kong_plugin_protocol.AuthenticatedCredential{Id: "k1", ConsumerId: aliceID}), true
		}
		return nil, true
	case "kong.client.authenticate":
		f.auth = &kong_plugin_protocol.AuthenticateArgs{}
		if err := proto.Unmarshal(args, f.auth); err != nil {
			f.t.Fatal(err)
		}
		return nil, true
	}
	return nil, false
}

func withFakeKong(t *testing.T) *fakeKong {
	f := &fakeKong{t: t}
	kongHook = f.handle
	oldEngine := newEngine
	// a fresh consumer cache per test
	resolver := consumer.NewResolver(nil)
	newEngine = func(cfg *config.Config, route string) (*gateway.Engine, error) {
		return gateway.New(cfg, gateway.Deps{Consumers: resolver, Route: route})
	}
	t.Cleanup(func() { kongHook = nil; newEngine = oldEngine })
	return f
}

// TestIdentityPDKCallBudget counts the PDK calls of a pass with consumer
// mapping and authenticated groups: at most 5, 4 once the consumer is
// cached; with anonymous, get_credential comes on top of a cold lookup.
func TestIdentityPDKCallBudget(t *testing.T) {
	iss := testissuer.New(t)
	claims := iss.Claims(time.Now())
	claims["sub"] = "alice"
	tok := iss.Mint(t, claims)
	const (
		headers = "kong.request.get_headers"
		load    = "kong.client.load_consumer"
		auth    = "kong.client.authenticate"
		shared  = "kong.ctx.shared.set"
		set     = "kong.service.request.set_headers"
		cred    = "kong.client.get_credential"
	)
	mapping := func() *Config {
		c := bearerConfig(iss)
		c.ConsumerClaim = []string{"sub"}
		c.AuthenticatedGroupsClaim = []string{"groups"}
		return c
	}
	t.Run("mapping and groups", func(t *testing.T) {
		f := withFakeKong(t)
		cfg := mapping()
		env, calls := run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: http.Header{"Authorization": {"Bearer " + tok}}})
		wantCalls(t, calls, headers, load, auth, shared, set)
		if f.auth == nil || f.auth.Consumer.GetId() != aliceID || f.auth.Credential.GetId() != consumer.CredentialID(iss.URL, "alice") || f.auth.Credential.GetConsumerId() != aliceID {
			t.Fatalf("authenticated %v", f.auth)
		}
		groups, _ := env.Ctx.Store["authenticated_groups"].([]any)
		if len(groups) != 2 || groups[0] != "kong_group" || groups[1] != "everyone" {
			t.Fatalf("authenticated_groups = %#v", env.Ctx.Store["authenticated_groups"])
		}
		if got := env.ServiceReq.Headers.Get("X-Consumer-Username"); got != "alice" {
			t.Fatalf("X-Consumer-Username = %q", got)
		}
		_, calls = run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: http.Header{"Authorization": {"Bearer " + tok}}})
		wantCalls(t, calls, headers, auth, shared, set) // consumer cached
	})
	t.Run("anonymous, mapping and groups", func(t *testing.T) {
		withFakeKong(t)
		cfg := mapping()
		cfg.Anonymous = sp("anonymous")
		h := http.Header{"Authorization": {"Bearer " + tok}}
		_, calls := run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: h})
		wantCalls(t, calls, headers, cred, load, auth, shared, set)
		_, calls = run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api", Headers: h})
		wantCalls(t, calls, headers, cred, auth, shared, set)
	})
	t.Run("anonymous pass", func(t *testing.T) {
		f := withFakeKong(t)
		cfg := bearerConfig(iss)
		cfg.Anonymous = sp("anonymous")
		env, calls := run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api"})
		wantCalls(t, calls, headers, cred, load, auth, set)
		if f.auth == nil || f.auth.Consumer.GetUsername() != "anonymous" || f.auth.Credential != nil {
			t.Fatalf("authenticated %v", f.auth)
		}
		if env.ServiceReq.Headers.Get("X-Anonymous-Consumer") != "true" {
			t.Fatalf("upstream headers %v", env.ServiceReq.Headers)
		}
	})
	t.Run("earlier credential", func(t *testing.T) {
		f := withFakeKong(t)
		f.credential = true
		cfg := bearerConfig(iss)
		cfg.Anonymous = sp("anonymous")
		_, calls := run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api"})
		wantCalls(t, calls, headers, cred, set)
		if f.auth != nil {
			t.Fatal("authenticated over an earlier plugin")
		}
	})
	t.Run("anonymous consumer missing", func(t *testing.T) {
		withFakeKong(t)
		cfg := bearerConfig(iss)
		cfg.Anonymous = sp("nobody")
		env, calls := run(t, cfg, test.Request{Method: "GET", Url: "http://gw.example/api"})
		if env.ClientRes.Status != 500 || !strings.Contains(strings.Join(lastLogs, "\n"), `"nobody"`) {
			t.Fatalf("status %d logs %q calls %q", env.ClientRes.Status, lastLogs, calls)
		}
	})
	t.Run("no identity keys", func(t *testing.T) {
		withFakeKong(t)
		_, calls := run(t, bearerConfig(iss), test.Request{Method: "GET", Url: "http://gw.example/api", Headers: http.Header{"Authorization": {"Bearer " + tok}}})
		wantCalls(t, calls, headers, set)
	})
}

func wantCalls(t *testing.T, calls []string, want ...string) {
	t.Helper()
	if strings.Join(calls, ",") != strings.Join(want, ",") {
		t.Fatalf("PDK calls = %q, want %q", calls, want)
	}
}
