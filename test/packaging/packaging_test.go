// Package packaging checks the Docker packaging that cannot run on the CI
// machines: docker-compose.yml through compose-spec's loader, the
// Dockerfile's plugin-server settings against the binary, and kong.yml
// against both.
package packaging

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/okta-oidc/okta-oidc/test/stack"
)

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := stack.Root()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithName("okta-oidc"), cli.WithoutEnvironmentResolution)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose loader refused docker-compose.yml: %v", err)
	}
	return p
}

func env(s types.ServiceConfig, k string) string {
	if v, ok := s.Environment[k]; ok && v != nil {
		return *v
	}
	return ""
}

type kongYML struct {
	Services []struct {
		URL    string `yaml:"url"`
		Routes []struct {
			Name    string `yaml:"name"`
			Plugins []struct {
				Name   string         `yaml:"name"`
				Config map[string]any `yaml:"config"`
			} `yaml:"plugins"`
		} `yaml:"routes"`
	} `yaml:"services"`
}

func loadKongYML(t *testing.T) kongYML {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stack.Root(), "kong.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kongYML
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestComposeFile(t *testing.T) {
	p := loadCompose(t)
	want := []string{"httpbin", "idp", "idp-other", "kong", "redis", "tests"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services = %v, want %v", got, want)
	}
	svc := func(n string) types.ServiceConfig {
		s, err := p.GetService(n)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	kong, tests, idp, httpbin := svc("kong"), svc("tests"), svc("idp"), svc("httpbin")
	for _, s := range p.Services {
		if s.NetworkMode != "host" {
			t.Errorf("%s: network_mode %q; kong.yml's 127.0.0.1 addresses need host networking", s.Name, s.NetworkMode)
		}
	}
	if kong.Build == nil || kong.Build.Context != stack.Root() {
		t.Errorf("kong must be built from the repository's Dockerfile, build = %+v", kong.Build)
	}
	if env(kong, "KONG_DATABASE") != "off" {
		t.Errorf("KONG_DATABASE = %q, want off (DB-less)", env(kong, "KONG_DATABASE"))
	}
	decl := env(kong, "KONG_DECLARATIVE_CONFIG")
	mounted := false
	for _, v := range kong.Volumes {
		if v.Target == decl && v.Source == filepath.Join(stack.Root(), "kong.yml") && v.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("kong.yml is not mounted read-only at KONG_DECLARATIVE_CONFIG (%s): %+v", decl, kong.Volumes)
	}
	if got := "http://" + env(kong, "KONG_PROXY_LISTEN"); got != env(tests, "GATEWAY_URL") {
		t.Errorf("tests GATEWAY_URL %q, Kong listens on %q", env(tests, "GATEWAY_URL"), got)
	}
	if got := "http://" + env(idp, "HOST") + ":" + env(idp, "PORT") + "/oauth2/default"; got != env(tests, "IDP_ISSUER") {
		t.Errorf("tests IDP_ISSUER %q, provider serves %q", env(tests, "IDP_ISSUER"), got)
	}
	if env(tests, "OTHER_ISSUER") == env(tests, "IDP_ISSUER") || env(tests, "OTHER_ISSUER") == "" {
		t.Errorf("OTHER_ISSUER must be a second provider")
	}
	if !strings.Contains(strings.Join(tests.Command, " "), "./test/integration") {
		t.Errorf("tests command %q does not run the integration suite", tests.Command)
	}
	if _, ok := tests.DependsOn["kong"]; !ok {
		t.Errorf("tests must wait for kong")
	}
	// kong.yml agrees with the compose file.
	k := loadKongYML(t)
	upstream := "http://" + env(httpbin, "HOST") + ":" + env(httpbin, "PORT")
	for _, s := range k.Services {
		if s.URL != upstream {
			t.Errorf("kong.yml service url %q, httpbin serves %q", s.URL, upstream)
		}
		for _, r := range s.Routes {
			for _, pl := range r.Plugins {
				if pl.Name != "okta-oidc" {
					continue // Kong's bundled plugins next to it
				}
				if pl.Config["issuer"] != env(tests, "IDP_ISSUER") {
					t.Errorf("route %s: issuer %v, provider is %q", r.Name, pl.Config["issuer"], env(tests, "IDP_ISSUER"))
				}
				if ru, ok := pl.Config["redirect_uri"].(string); ok && !strings.Contains(env(idp, "REDIRECT_URIS"), ru) {
					t.Errorf("route %s: redirect_uri %q not registered at the provider (%q)", r.Name, ru, env(idp, "REDIRECT_URIS"))
				}
				if lr, ok := pl.Config["logout_redirect_uri"].(string); ok && !strings.Contains(env(idp, "POST_LOGOUT_REDIRECT_URIS"), lr) {
					t.Errorf("route %s: logout_redirect_uri %q not registered at the provider", r.Name, lr)
				}
			}
		}
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// dockerfile returns the final stage's ENV settings, the COPY destination of
// the built binary and the final FROM.
func dockerfile(t *testing.T) (envs map[string]string, binDest, buildOut, from string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stack.Root(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	envs = map[string]string{}
	kv := regexp.MustCompile(`([A-Z_]+)=("[^"]*"|\S+)`)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "FROM "):
			from = strings.Fields(line)[1]
		case strings.HasPrefix(line, "ENV "):
			for _, m := range kv.FindAllStringSubmatch(line, -1) {
				envs[m[1]] = strings.Trim(m[2], `"`)
			}
		case strings.HasPrefix(line, "COPY --from=build"):
			f := strings.Fields(line)
			binDest = f[len(f)-1]
		case strings.Contains(line, "go build"):
			if m := regexp.MustCompile(`-o (\S+) \./cmd/okta-oidc`).FindStringSubmatch(line); m != nil {
				buildOut = m[1]
			}
		}
	}
	return envs, binDest, buildOut, from
}

func TestDockerfilePluginServerSettings(t *testing.T) {
	envs, dest, out, from := dockerfile(t)
	if !regexp.MustCompile(`^kong:3\.9(\.\d+)?$`).MatchString(from) {
		t.Errorf("final image %q, want kong:3.9.x (3.8+ fails closed)", from)
	}
	name := filepath.Base(dest)
	if out == "" || filepath.Base(out) != name || name != "okta-oidc" {
		t.Fatalf("binary built as %q and copied to %q: go-pdk names the plugin after the binary, want okta-oidc", out, dest)
	}
	if !filepath.IsAbs(dest) {
		t.Errorf("binary destination %q is not absolute", dest)
	}
	if !slices.Contains(strings.Split(envs["KONG_PLUGINS"], ","), name) {
		t.Errorf("KONG_PLUGINS = %q lacks %s", envs["KONG_PLUGINS"], name)
	}
	if envs["KONG_PLUGINSERVER_NAMES"] != name {
		t.Errorf("KONG_PLUGINSERVER_NAMES = %q", envs["KONG_PLUGINSERVER_NAMES"])
	}
	prefix := "KONG_PLUGINSERVER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
	start := strings.Fields(envs[prefix+"START_CMD"])
	query := envs[prefix+"QUERY_CMD"]
	socket := envs[prefix+"SOCKET"]
	if len(start) == 0 || start[0] != dest {
		t.Errorf("%sSTART_CMD = %q, want %s first (absolute)", prefix, envs[prefix+"START_CMD"], dest)
	}
	if query != dest+" -dump" {
		t.Errorf("%sQUERY_CMD = %q, want %q", prefix, query, dest+" -dump")
	}
	kongPrefix := "/usr/local/kong" // go-pdk's default
	for i, a := range start {
		if a == "-kong-prefix" && i+1 < len(start) {
			kongPrefix = start[i+1]
		}
	}
	if socket != filepath.Join(kongPrefix, name+".socket") {
		t.Errorf("%sSOCKET = %q but the server listens on %s", prefix, socket, filepath.Join(kongPrefix, name+".socket"))
	}
}

func TestKongYMLRedirectURIsAreAbsolute(t *testing.T) {
	for _, s := range loadKongYML(t).Services {
		for _, r := range s.Routes {
			for _, pl := range r.Plugins {
				if ru, ok := pl.Config["redirect_uri"].(string); ok {
					u, err := url.Parse(ru)
					if err != nil || u.Host == "" {
						t.Errorf("route %s: redirect_uri %q", r.Name, ru)
					}
				}
			}
		}
	}
}
