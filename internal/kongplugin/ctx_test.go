package kongplugin

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLazyDeadlineIsADeadline: the lazy context behaves like
// context.WithDeadline: its deadline is visible, it expires, derived
// contexts expire with it, and stop cancels it.
func TestLazyDeadlineIsADeadline(t *testing.T) {
	d := time.Now().Add(30 * time.Millisecond)
	c := &lazyDeadline{deadline: d}
	if got, ok := c.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline() = %v, %v", got, ok)
	}
	child, cancel := context.WithCancel(c)
	defer cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a derived context never expired")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v / %v, want deadline exceeded", c.Err(), child.Err())
	}
	c.stop()

	s := &lazyDeadline{deadline: time.Now().Add(time.Hour)}
	if s.Err() != nil {
		t.Fatalf("Err() before the deadline = %v", s.Err())
	}
	s.stop()
	if !errors.Is(s.Err(), context.Canceled) {
		t.Fatalf("Err() after stop = %v, want canceled", s.Err())
	}
	(&lazyDeadline{deadline: d}).stop() // stop without a timer started
}

// TestLazyDeadlineStartsNoTimerUntilWaitedOn: a request that never waits
// (a cached pass) starts no timer, and the context is done after stop.
func TestLazyDeadlineStartsNoTimerUntilWaitedOn(t *testing.T) {
	c := &lazyDeadline{deadline: time.Now().Add(time.Hour)}
	c.Deadline()
	c.stop()
	if c.cancel != nil {
		t.Fatal("stop started a timer")
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("not done after stop")
	}
}
