package kongplugin

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is context.WithDeadline(context.Background(), deadline) that
// starts its timer only when something waits on it (Done or Err): a request
// answered from the caches never does, and a timer per request is measurable
// on the hot path. Deadline is known without the timer, so an HTTP client
// still sees it.
type lazyDeadline struct {
	deadline time.Time
	once     sync.Once
	ctx      context.Context
	cancel   context.CancelFunc
}

var _ context.Context = (*lazyDeadline)(nil)

func (c *lazyDeadline) init() {
	c.once.Do(func() { c.ctx, c.cancel = context.WithDeadline(context.Background(), c.deadline) })
}

func (c *lazyDeadline) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *lazyDeadline) Done() <-chan struct{}       { c.init(); return c.ctx.Done() }
func (c *lazyDeadline) Err() error                  { c.init(); return c.ctx.Err() }
func (c *lazyDeadline) Value(any) any               { return nil }

// canceled is the context a lazyDeadline stopped before its timer started
// becomes.
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// stop releases the timer, if one was started; after it the context is
// done either way.
func (c *lazyDeadline) stop() {
	c.once.Do(func() { c.ctx = canceled })
	if c.cancel != nil {
		c.cancel()
	}
}
