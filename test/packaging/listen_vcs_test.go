package packaging

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/test/stack"
)

// kongListeners are the listen settings Kong 3.9 binds by default in
// traditional (DB-less) mode, from kong/templates/kong_defaults.lua:
// proxy 0.0.0.0:8000 and :8443, admin 127.0.0.1:8001 and :8444, Manager
// 0.0.0.0:8002 and :8445, Status API 127.0.0.1:8007. stream_listen defaults
// to off and cluster_listen is a control-plane setting.
var kongListeners = []string{"KONG_PROXY_LISTEN", "KONG_ADMIN_LISTEN", "KONG_ADMIN_GUI_LISTEN", "KONG_STATUS_LISTEN"}

// composeHeader is docker-compose.yml's leading comment: what a user reads.
func composeHeader(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stack.Root(), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var h []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		h = append(h, l)
	}
	return strings.Join(h, "\n")
}

// TestComposeKongListensOnlyWhereDocumented: with host networking every Kong
// listener is a port on the host. Each one is set explicitly, on loopback,
// and named in the file's header; Kong Manager and the Status API are off.
func TestComposeKongListensOnlyWhereDocumented(t *testing.T) {
	p := loadCompose(t)
	kong, err := p.GetService("kong")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"KONG_ADMIN_GUI_LISTEN", "KONG_STATUS_LISTEN"} {
		if v := env(kong, k); v != "off" {
			t.Errorf("kong: %s = %q, want off (with host networking Kong 3.9 would bind its defaults on the host)", k, v)
		}
	}
	header := composeHeader(t)
	documented := func(port string) bool {
		return regexp.MustCompile(`\b` + regexp.QuoteMeta(port) + `\b`).MatchString(header)
	}
	for _, k := range kongListeners {
		v, ok := kong.Environment[k]
		if !ok || v == nil {
			t.Errorf("kong: %s unset; Kong's default would bind on the host network", k)
			continue
		}
		if *v == "off" {
			continue
		}
		for _, entry := range strings.Split(*v, ",") {
			addr := strings.Fields(entry)
			if len(addr) == 0 {
				t.Errorf("kong: %s = %q has an empty entry", k, *v)
				continue
			}
			host, port, ok := strings.Cut(addr[0], ":")
			if !ok || host != "127.0.0.1" {
				t.Errorf("kong: %s entry %q is not on 127.0.0.1", k, entry)
			}
			if !documented(port) {
				t.Errorf("kong: %s binds port %s, which docker-compose.yml's header does not list", k, port)
			}
		}
	}
	for _, name := range []string{"idp", "idp-other", "httpbin"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if port := env(s, "PORT"); port == "" || !documented(port) {
			t.Errorf("%s: PORT %q is not listed in docker-compose.yml's header", name, port)
		}
		if host := env(s, "HOST"); host != "127.0.0.1" {
			t.Errorf("%s: HOST %q, want 127.0.0.1", name, host)
		}
	}
	// kong health checks the nginx pid (kong/cmd/health.lua); the Status API
	// is off and 3.9.1's Admin GET / can answer 500 with a plugin server.
	var probe []string
	if kong.HealthCheck != nil {
		probe = kong.HealthCheck.Test
	}
	if !slices.Equal(probe, []string{"CMD", "kong", "health"}) {
		t.Errorf("kong healthcheck %q, want [CMD kong health]", probe)
	}
}

// TestTestsServiceDisablesVCSStamping: the golang image has no go env file,
// and as root git refuses the bind-mounted checkout (another uid), so any go
// build that stamps VCS data fails there.
func TestTestsServiceDisablesVCSStamping(t *testing.T) {
	tests, err := loadCompose(t).GetService("tests")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(env(tests, "GOFLAGS")), "-buildvcs=false") {
		t.Errorf("tests: GOFLAGS = %q, want -buildvcs=false", env(tests, "GOFLAGS"))
	}
}

// reproductionMarker exempts a go build that must stamp VCS data (the
// compose test's reproduction of the failure); it goes on the line above.
const reproductionMarker = "VCS-REPRODUCTION"

// goBuilds returns the position of every go build/install in Go code that
// lacks -buildvcs=false: calls with the literal arguments "go", "build" (or
// "install"), and exec.Command(Context) calls with a literal "build" or
// "install".
func goBuilds(t *testing.T, path string, src []byte) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	lit := func(e ast.Expr) string {
		if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
			if s, err := strconv.Unquote(b.Value); err == nil {
				return s
			}
		}
		return ""
	}
	var bad []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		isExec := false
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "exec" && strings.HasPrefix(sel.Sel.Name, "Command") {
				isExec = true
			}
		}
		builds, disabled := false, false
		for i, a := range call.Args {
			switch s := lit(a); {
			case s == "build" || s == "install":
				if isExec || (i > 0 && lit(call.Args[i-1]) == "go") {
					builds = true
				}
			case s == "-buildvcs=false":
				disabled = true
			}
		}
		if builds && !disabled {
			line := fset.Position(call.Pos()).Line
			if line >= 2 && strings.Contains(lines[line-2], reproductionMarker) {
				return true
			}
			bad = append(bad, fset.Position(call.Pos()).String())
		}
		return true
	})
	return bad
}

// TestEveryGoBuildDisablesVCSStamping: every go build the tests run (and the
// Dockerfile's) passes -buildvcs=false, so the suites pass wherever git
// refuses the checkout, whatever GOFLAGS says.
func TestEveryGoBuildDisablesVCSStamping(t *testing.T) {
	root := stack.Root()
	seen := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(src), `"build"`) {
			seen++
		}
		for _, pos := range goBuilds(t, p, src) {
			t.Errorf("%s: go build without -buildvcs=false", pos)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("no go build found in the repository's Go code: the scan is broken")
	}
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
		if strings.Contains(l, "go build") && !strings.Contains(l, "-buildvcs=false") {
			t.Errorf("Dockerfile: go build without -buildvcs=false: %s", strings.TrimSpace(l))
		}
	}
}

// TestGoBuildScan checks the scanner on known inputs.
func TestGoBuildScan(t *testing.T) {
	src := `package p
import "os/exec"
func f(ctx any, bin, root string) {
	exec.Command("go", "build", "-o", bin, ".")
	exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", bin, ".")
	exec.Command(goBin(), "install", "./cmd/x")
	run("go", "build", "-C", root, "./cmd/x")
	run("go", "test", "./...")
	// VCS-REPRODUCTION
	run("go", "build", "./cmd/x")
}
`
	got := goBuilds(t, "p.go", []byte(src))
	want := []string{"p.go:4:2", "p.go:6:2", "p.go:7:2"}
	if !slices.Equal(got, want) {
		t.Fatalf("flagged %v, want %v", got, want)
	}
}
