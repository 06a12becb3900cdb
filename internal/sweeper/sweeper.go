// Package sweeper runs a store's periodic removal of expired records: on a
// jittered interval, so that many app instances sharing one database do
// not all sweep at the same instant, in batches, and with one way of
// reporting what it did. Every store that sweeps (store/memory,
// store/sqlite, store/mysql, store/postgres) takes its defaults and its
// rules from here, so that their options mean the same.
package sweeper

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults and limits of the stores' sweep options.
const (
	// DefaultInterval is the mean time between two sweeps.
	DefaultInterval = 5 * time.Minute

	// DefaultBatch is how many records one step of a sweep removes at
	// most: one statement in a database, one hold of a shard's lock in
	// memory.
	DefaultBatch = 500

	// MaxBatch bounds the batch size: beyond it a batch would no longer
	// bound anything (a statement's locks and log volume, a lock's hold
	// time), and SQL statements that name each ID would grow past what
	// drivers accept.
	MaxBatch = 10_000
)

// batchTimeout bounds one batch of a background sweep, which has no
// caller whose deadline it could inherit.
const batchTimeout = 30 * time.Second

// CheckBatch returns an error unless n is a batch size a store accepts.
func CheckBatch(n int) error {
	if n < 1 || n > MaxBatch {
		return fmt.Errorf("sweep batch must be 1 to %d records, is %d", MaxBatch, n)
	}
	return nil
}

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

// Batches returns a sweep for Start that calls deleteExpired(ctx, batch),
// each call bounded by 30 seconds, until a call removes fewer than batch
// records, so that no single statement holds many locks.
//
// It reports to log, with the attribute store=name: a failure at WARN
// level (the next sweep retries), unless the failure comes from Stop
// canceling the sweep; every completed sweep at DEBUG level, with how many
// records it removed. No record ID or user ID is ever logged.
func Batches(name string, batch int, log *slog.Logger, deleteExpired func(ctx context.Context, limit int) (int, error)) func(context.Context) {
	return func(ctx context.Context) {
		removed := 0
		for {
			bctx, cancel := context.WithTimeout(ctx, batchTimeout)
			n, err := deleteExpired(bctx, batch)
			cancel()
			removed += n
			if err != nil {
				if ctx.Err() == nil {
					log.WarnContext(ctx, "removing expired sessions failed; the next sweep will retry",
						"store", name, "removed", removed, "err", err)
				}
				return
			}
			if n < batch {
				break
			}
		}
		log.DebugContext(ctx, "swept expired sessions", "store", name, "removed", removed)
	}
}
