package session

import (
	"context"
	"sync"
	"time"
)

// callContext bounds one store call by Options.StoreTimeout. It behaves as
// context.WithTimeout(parent, timeout) does, except that it reads the
// clock and arms a timer only when the store asks for Deadline or Done. A
// store that waits on a network or a disk selects on Done and so pays for
// the timer as before; a store that never waits (store/memory checks Err
// and returns) costs no clock reading, no timer, no goroutine and no
// allocation. Measured on the memory store, WithTimeout was four of the
// middleware's allocations on a read-only request, and a clock reading
// is a seventh of a request on this project's virtual machines; this way
// every store gets the same bound with no list of stores that may skip
// it.
//
// The timeout runs from the store's first call of Deadline or Done, which
// comes at the start of any call that can wait. Err reports the parent's
// end at once, and the timeout once Done is closed: a store that only
// polls Err, never waiting, is not cut short by the timeout, which is
// there to bound waiting.
//
// context.Cause on a callContext reports the parent's cause, not
// context.DeadlineExceeded, when only the store timeout has expired; Err
// is exact.
type callContext struct {
	parent   context.Context
	timeout  time.Duration
	deadline int64 // unix nanoseconds; zero until Deadline or Done is first called

	mu         sync.Mutex
	done       chan struct{} // made by the first call of Done
	err        error
	timer      *time.Timer
	stopParent func() bool
}

// start prepares c for one call bounded by timeout.
func (c *callContext) start(parent context.Context, timeout time.Duration) {
	c.parent, c.timeout, c.deadline = parent, timeout, 0
	c.done, c.err, c.timer, c.stopParent = nil, nil, nil, nil
}

// deadlineLocked returns the call's deadline, fixing it on first use.
func (c *callContext) deadlineLocked() time.Time {
	if c.deadline == 0 {
		c.deadline = time.Now().Add(c.timeout).UnixNano()
	}
	return time.Unix(0, c.deadline)
}

// armed reports whether a store asked for Done during a call, which may
// have left goroutines watching c.
func (c *callContext) armed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done != nil
}

// release ends the call: whatever Done armed is disarmed, so nothing of
// the call outlives it.
func (c *callContext) release() {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stopParent != nil {
		c.stopParent()
	}
	c.timer, c.stopParent = nil, nil
	if c.err == nil {
		c.err = context.Canceled
		if c.done != nil {
			close(c.done)
		}
	}
	c.mu.Unlock()
}

func (c *callContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	deadline := c.deadlineLocked()
	c.mu.Unlock()
	if d, ok := c.parent.Deadline(); ok && d.Before(deadline) {
		return d, true
	}
	return deadline, true
}

func (c *callContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil {
		// Ended before anyone asked for Done.
		close(c.done)
		return c.done
	}
	if err := c.parent.Err(); err != nil {
		c.cancelLocked(err)
		return c.done
	}
	c.timer = time.AfterFunc(time.Until(c.deadlineLocked()), func() { c.cancel(context.DeadlineExceeded) })
	c.stopParent = context.AfterFunc(c.parent, func() { c.cancel(c.parent.Err()) })
	return c.done
}

func (c *callContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		// The parent ends the call at once, whether or not anyone asked
		// for Done; the timeout ends it through the timer Done arms.
		if err := c.parent.Err(); err != nil {
			c.cancelLocked(err)
		}
	}
	return c.err
}

func (c *callContext) cancel(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.cancelLocked(err)
	}
	c.mu.Unlock()
}

func (c *callContext) cancelLocked(err error) {
	c.err = err
	if c.done != nil {
		close(c.done)
	}
}

func (c *callContext) Value(key any) any { return c.parent.Value(key) }

func (c *callContext) String() string { return "session store call" }
