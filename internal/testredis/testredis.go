// Package testredis runs a real redis-server for tests: on a loopback
// port, in a temporary directory, without persistence.
package testredis

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary is the redis-server the tests run.
var Binary = "redis-server"

// Server is a running redis-server.
type Server struct {
	Port int
	Dir  string
	// Args are extra redis-server arguments (TLS, requirepass, ACL users).
	Args []string
	cmd  *exec.Cmd
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Available reports whether redis-server can be run.
func Available() bool {
	_, err := exec.LookPath(Binary)
	return err == nil
}

// Start starts a test's redis-server on a free port and stops it when the
// test ends. Without redis-server the test is skipped, except under CI=true,
// where it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t)
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartWith is Start with extra redis-server arguments. The plain port
// stays open (for the readiness check); a test of TLS adds --tls-port.
func StartWith(t testing.TB, args ...string) *Server {
	t.Helper()
	if !Available() {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed")
	}
	s := &Server{Port: FreePort(t), Dir: t.TempDir(), Args: args}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Run starts redis-server on port with its files in dir and waits until it
// accepts connections.
func Run(port int, dir string) (*Server, error) {
	s := &Server{Port: port, Dir: dir}
	return s, s.start()
}

func (s *Server) start() error {
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.Dir, "--daemonize", "no",
		"--logfile", filepath.Join(s.Dir, "redis.log")}, s.Args...)
	cmd := exec.Command(Binary, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testredis: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(s.Addr()) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return fmt.Errorf("testredis: redis-server on port %d did not start: %s", s.Port, log)
}

func ping(addr string) bool {
	line, err := command(addr, "PING", 500*time.Millisecond)
	// A server with requirepass answers, but refuses: it is up.
	return err == nil && (line == "+PONG\r\n" || strings.HasPrefix(line, "-NOAUTH"))
}

// command sends one inline command and returns the first reply line.
func command(addr, cmd string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// StopKeepingData writes the data set to the server's directory and stops
// the server; Restart loads it again, as a Redis with persistence would.
func (s *Server) StopKeepingData() error {
	line, err := command(s.Addr(), "SAVE", 10*time.Second)
	if err != nil || line != "+OK\r\n" {
		return fmt.Errorf("testredis: SAVE: %q %v", line, err)
	}
	s.Stop()
	return nil
}

// Pause freezes the server (SIGSTOP): connections stay open and nothing
// answers, as a slow or hung Redis. Resume thaws it.
func (s *Server) Pause() error { return syscall.Kill(s.cmd.Process.Pid, syscall.SIGSTOP) }

// Resume thaws a paused server.
func (s *Server) Resume() error { return syscall.Kill(s.cmd.Process.Pid, syscall.SIGCONT) }

// Stop stops the server (all its data is gone).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT) // if paused
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

// Restart starts the stopped server again on the same port (empty).
func (s *Server) Restart() error {
	if s.cmd != nil {
		return errors.New("testredis: still running")
	}
	return s.start()
}
