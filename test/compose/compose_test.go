// Package compose runs docker-compose.yml's tests service the way CI's
// container runs it, without Docker: its command, environment and working
// directory as written, as root, in a git checkout owned by another uid,
// with no go env file, against the local stack (dev gateway + plugin +
// provider + httpbin, and the second provider) at the addresses kong.yml and
// the service's environment name.
package compose

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/okta-oidc/okta-oidc/test/idp"
	"github.com/okta-oidc/okta-oidc/test/stack"
)

// otherUID owns the copied checkout, as the CI runner's user owns the
// checkout compose bind-mounts into the container.
const otherUID = 12345

func testsService(t *testing.T) types.ServiceConfig {
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
	s, err := p.GetService("tests")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkoutMount maps the service's working_dir into the bind mount of the
// repository: the path, relative to the checkout, the command runs in.
func checkoutMount(t *testing.T, s types.ServiceConfig) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind || v.Source != stack.Root() {
			continue
		}
		rel, err := filepath.Rel(v.Target, s.WorkingDir)
		if err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	t.Fatalf("tests: working_dir %q is not inside a bind mount of the checkout: %+v", s.WorkingDir, s.Volumes)
	return ""
}

// copyCheckout copies the working tree's files that git would see (tracked
// and untracked, minus ignored ones such as node_modules and bin) into dst,
// commits them in a fresh repository and hands the whole tree to otherUID.
func copyCheckout(t *testing.T, dst string, gitEnv []string) {
	t.Helper()
	root := stack.Root()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "commit", "-q", "--no-gpg-sign", "-m", "checkout"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dst, gitEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	err = filepath.WalkDir(dst, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, otherUID, otherUID)
	})
	if errors.Is(err, syscall.EPERM) {
		skipOutsideCI(t, "cannot chown a checkout to uid %d (%v): the container's ownership mismatch cannot be reproduced here", otherUID, err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// goEnv reads settings from the machine's go environment (its go env file
// included) so that the run reuses the caches and the module proxy.
func goEnv(t *testing.T, keys ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"env"}, keys...)...).Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	vals := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(vals) != len(keys) {
		t.Fatalf("go env %v: %q", keys, out)
	}
	env := make([]string, len(keys))
	for i, k := range keys {
		env[i] = k + "=" + vals[i]
	}
	return env
}

// serviceEnv is the service's environment, without the keys in drop.
func serviceEnv(s types.ServiceConfig, drop ...string) []string {
	var env []string
	for k, v := range s.Environment {
		if v != nil && !slices.Contains(drop, k) {
			env = append(env, k+"="+*v)
		}
	}
	slices.Sort(env)
	return env
}

func run(ctx context.Context, dir string, env []string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

var (
	passLine = regexp.MustCompile(`(?m)^\s*--- PASS: (\S+)`)
	skipLine = regexp.MustCompile(`(?m)^\s*--- SKIP: (\S+)`)
	failLine = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)
)

// TestTestsServiceAsCIRunsIt is issue 7's acceptance check: the tests
// service's command passes when run as written, as root, in a checkout owned
// by another uid with no go env file, against the local stack. It first
// shows that this environment reproduces the container's failure (go build
// without -buildvcs=false dies on VCS stamping), so a pass means something.
func TestTestsServiceAsCIRunsIt(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOutsideCI(t, "needs root: the compose tests container runs as root on a checkout owned by another uid")
	}
	svc := testsService(t)
	if svc.User != "" && svc.User != "root" && svc.User != "0" {
		t.Fatalf("tests runs as user %q; this test reproduces root", svc.User)
	}
	if len(svc.Entrypoint) != 0 || len(svc.Command) == 0 {
		t.Fatalf("tests: entrypoint %q, command %q; want a command and the image's (empty) entrypoint", svc.Entrypoint, svc.Command)
	}
	rel := checkoutMount(t, svc)

	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	// The golang image: root, no go env file, no git config, GOTOOLCHAIN=local.
	base := append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GOENV=off",
		"GIT_CONFIG_NOSYSTEM=1",
		"GOTOOLCHAIN=local",
	}, goEnv(t, "GOCACHE", "GOMODCACHE", "GOPROXY", "GOSUMDB")...)
	checkout := filepath.Join(tmp, "src")
	copyCheckout(t, checkout, base)
	workdir := filepath.Join(checkout, rel)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// 1. The reproduction: the build TestShippedKongYMLValidates used to run,
	// with the service's environment minus GOFLAGS, fails as in CI.
	// VCS-REPRODUCTION: this build must stamp (test/packaging exempts it).
	out, err := run(ctx, workdir, append(slices.Clone(base), serviceEnv(svc, "GOFLAGS")...),
		"go", "build", "-o", filepath.Join(tmp, "repro"), "./cmd/okta-oidc")
	if err == nil || !strings.Contains(out, "error obtaining VCS status") {
		t.Fatalf("the container's failure did not reproduce (err=%v), so a pass below would prove nothing:\n%s", err, tail(out, 20))
	}
	t.Logf("reproduced: go build without -buildvcs=false: %s", strings.TrimSpace(tail(out, 2)))

	// 2. The stack at the addresses the service's environment names.
	// Start waits for the stack lock, then builds: a fresh deadline for each phase.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{})
	if err != nil {
		t.Fatalf("local stack: %v", err)
	}
	defer s.Stop()
	other, err := idp.Start(ctx, idp.Options{Port: 9410})
	if err != nil {
		t.Fatalf("second provider: %v", err)
	}
	defer func() { _ = other.Stop() }()
	for k, want := range map[string]string{"GATEWAY_URL": s.GatewayURL, "IDP_ISSUER": s.Issuer, "OTHER_ISSUER": other.Issuer} {
		if v := svc.Environment[k]; v == nil || *v != want {
			t.Fatalf("tests service %s = %v; the local stack serves %s", k, v, want)
		}
	}

	ctx, cancel = context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	check := func(t *testing.T, out string, err error, mustPass ...string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, tail(out, 60))
		}
		if f := failLine.FindAllStringSubmatch(out, -1); f != nil {
			t.Fatalf("failures: %v\n%s", f, tail(out, 60))
		}
		var passed []string
		for _, m := range passLine.FindAllStringSubmatch(out, -1) {
			passed = append(passed, m[1])
		}
		for _, name := range mustPass {
			if !slices.Contains(passed, name) {
				t.Fatalf("%s did not pass (skipped or absent); passed: %v\n%s", name, passed, tail(out, 60))
			}
		}
		t.Logf("%d passed, %d skipped", len(passed), len(skipLine.FindAllString(out, -1)))
	}

	// 3. The service's command exactly as written, with its environment.
	t.Run("command", func(t *testing.T) {
		out, err := run(ctx, workdir, append(slices.Clone(base), serviceEnv(svc)...), svc.Command...)
		check(t, out, err, "TestShippedKongYMLValidates")
	})

	// 4. The test's own build stands without the service's GOFLAGS.
	t.Run("without GOFLAGS", func(t *testing.T) {
		out, err := run(ctx, workdir, append(slices.Clone(base), serviceEnv(svc, "GOFLAGS")...),
			"go", "test", "-count=1", "-v", "-run", "^TestShippedKongYMLValidates$", "./test/integration/")
		check(t, out, err, "TestShippedKongYMLValidates")
	})
}

// skipOutsideCI skips the test on a developer's machine; under CI (which
// runs as root) the reproduction must run, so it fails instead.
func skipOutsideCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run this test: "+format, args...)
	}
	t.Skipf(format, args...)
}
