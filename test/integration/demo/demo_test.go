// Package demo tests make demo as an operator uses it: started, then stopped
// by killing a PID (make's or the demo's), and started while a port is taken.
// It needs the local machine's ports: skipped when GATEWAY_URL points at an
// external gateway (the compose run, whose Kong holds them).
package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/okta-oidc/okta-oidc/test/stack"
)

func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_URL") != "" {
		fmt.Println("SKIPPED SUITE: demo: needs the local machine's ports, GATEWAY_URL is set")
		return
	}
	os.Exit(m.Run())
}

var stackPorts = []string{stack.GatewayAddr, stack.HTTPBinAddr, "127.0.0.1:9400"}

func buildDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "okta-oidc-demo")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./test/stack/cmd/demo")
	cmd.Dir = stack.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// demoEnv runs the demo with its own TMPDIR (so its temp folder can be
// looked for) but the machine's stack lock.
func demoEnv(tmp, lock string) []string {
	return append(os.Environ(), "TMPDIR="+tmp, "OKTA_OIDC_STACK_LOCK="+lock, "KEEP_STACK=", "DEMO_WAIT=1")
}

var upLine = regexp.MustCompile(`demo is up \(pid (\d+); stack files in (\S+),`)

// startAndWait starts cmd and reads its stdout until the demo is up; it
// returns the demo's pid and folder.
func startAndWait(t *testing.T, cmd *exec.Cmd) (dir string, rest io.Reader) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // never leave a demo behind, whatever failed
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := upLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[2]
				break
			}
		}
		close(found)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case d, ok := <-found:
		if !ok {
			t.Fatalf("demo exited before it was up:\n%s", stderr.String())
		}
		return d, nil
	case <-time.After(10 * time.Minute): // waits for other stacks' lock
		t.Fatalf("demo not up after 10 minutes:\n%s", stderr.String())
	}
	return "", nil
}

// assertGone checks the stack left nothing listening, no process and no
// temp folder.
func assertGone(t *testing.T, tmp, dir string) {
	t.Helper()
	if err := stack.PortsFree(stackPorts...); err != nil {
		t.Errorf("still listening after the kill: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp folder %s still there (err %v)", dir, err)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "okta-oidc-stack-*"))
	if len(left) > 0 {
		t.Errorf("temp folders left: %v", left)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, dir+"/") {
			t.Errorf("process %s (%s) still running", e.Name(), exe)
		}
	}
}

func waitExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("not stopped 60s after SIGTERM")
	}
}

// TestKillDemoPID: kill <pid of the demo> stops every process of the stack
// and removes its temp folder.
func TestKillDemoPID(t *testing.T) {
	bin := buildDemo(t)
	tmp := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = demoEnv(tmp, stack.LockPath())
	dir, _ := startAndWait(t, cmd)
	if !strings.HasPrefix(dir, tmp) {
		t.Fatalf("stack folder %s not under TMPDIR %s", dir, tmp)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	assertGone(t, tmp, dir)
}

// TestKillMakeDemoPID: kill <pid of make> (make demo) stops everything too:
// make passes SIGTERM on to the demo binary.
func TestKillMakeDemoPID(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("make not found; .ci/run installs it")
		}
		t.Skip("make not installed")
	}
	tmp := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "demo", "BIN="+t.TempDir())
	cmd.Dir = stack.Root()
	cmd.Env = demoEnv(tmp, stack.LockPath())
	dir, _ := startAndWait(t, cmd)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	// make returns once its child is gone; the child's Stop ran before.
	assertGone(t, tmp, dir)
}

// TestBusyPortNamed: with 127.0.0.1:8000 taken by another program, the demo
// says so at once: it names the address and "address already in use".
func TestBusyPortNamed(t *testing.T) {
	bin := buildDemo(t)
	// Hold the machine's stack lock so no other stack needs the port while
	// this test occupies it; the demo gets a lock of its own.
	lock, err := os.OpenFile(stack.LockPath(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", stack.GatewayAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = demoEnv(tmp, filepath.Join(t.TempDir(), "own.lock"))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("demo started with port 8000 taken:\n%s", out)
	}
	if took > 5*time.Second {
		t.Errorf("took %v to report the busy port, want under 5s", took)
	}
	for _, want := range []string{"127.0.0.1:8000", "address already in use"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "okta-oidc-stack-*")); len(left) > 0 {
		t.Errorf("temp folders left: %v", left)
	}
}

// TestSecondDemoSaysSoAtOnce: while another stack holds the stack lock, a
// second make demo says so at once instead of waiting silently.
func TestSecondDemoSaysSoAtOnce(t *testing.T) {
	bin := buildDemo(t)
	lockPath := filepath.Join(t.TempDir(), "own.lock")
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(demoEnv(t.TempDir(), lockPath), "DEMO_WAIT=")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil || time.Since(start) > 5*time.Second || !strings.Contains(string(out), "another okta-oidc stack is running") {
		t.Fatalf("err %v after %v:\n%s", err, time.Since(start), out)
	}
}
