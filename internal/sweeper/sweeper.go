// Package sweeper runs a store's periodic clean-up on a jittered interval,
// so that many app instances sharing one database do not all sweep at the
// same instant, and stops it cleanly.
package sweeper

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Sweeper calls a function periodically until Stop.
type Sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start calls fn every interval, each wait drawn uniformly from
// [interval/2, interval*3/2). fn receives a context that is canceled by
// Stop. An interval of zero or less returns a Sweeper that never runs.
func Start(interval time.Duration, fn func(ctx context.Context)) *Sweeper {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sweeper{cancel: cancel, done: make(chan struct{})}
	if interval <= 0 {
		close(s.done)
		return s
	}
	go func() {
		defer close(s.done)
		for {
			wait := interval/2 + rand.N(interval)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
	return s
}

// Stop cancels a running fn, waits for it to return and stops the
// schedule. It is safe to call more than once and concurrently.
func (s *Sweeper) Stop() {
	s.once.Do(s.cancel)
	<-s.done
}
