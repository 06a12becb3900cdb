// Package storebench is the benchmark harness the stores share, so that
// their numbers measure the same thing: Load and Save of a typical record
// by 1 and by 16 concurrent callers, each on a record of its own, as
// concurrent requests of different users are. Contention on one record is
// what session/storetest's increment races cover.
package storebench

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
)

// DataSize is the size of a typical encoded session: a user ID, a CSRF
// secret, timestamps, a user agent and a few flash values or a small cart.
const DataSize = 400

// Callers are the numbers of concurrent callers each benchmark runs with.
var Callers = []int{1, 16}

// Load measures Load.
func Load(b *testing.B, s session.Store) {
	for _, n := range Callers {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			recs := Records(b, s, n, "bench-user")
			Run(b, n, func(ctx context.Context, i int) error {
				_, err := s.Load(ctx, recs[i].ID)
				return err
			})
		})
	}
}

// Save measures a compare-and-swap Save that wins, each pushing the
// record's Expiry forward as a sliding idle timeout does.
func Save(b *testing.B, s session.Store) {
	for _, n := range Callers {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			recs := Records(b, s, n, "bench-user")
			Run(b, n, func(ctx context.Context, i int) error {
				return SaveNext(ctx, s, &recs[i])
			})
		})
	}
}

// Records saves n records of DataSize random bytes, the i-th for user
// user-i (or anonymous if user is empty), and returns them at their stored
// versions.
func Records(b *testing.B, s session.Store, n int, user string) []session.Record {
	b.Helper()
	recs := make([]session.Record, n)
	for i := range recs {
		data := make([]byte, DataSize)
		rand.Read(data)
		recs[i] = session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour), Data: data}
		if user != "" {
			recs[i].UserID = fmt.Sprintf("%s-%d", user, i)
		}
		if err := s.Save(b.Context(), recs[i]); err != nil {
			b.Fatal(err)
		}
		recs[i].Version = 1
	}
	return recs
}

// SaveNext saves *rec with a fresh Expiry and, if that succeeds, counts
// the version it stored.
func SaveNext(ctx context.Context, s session.Store, rec *session.Record) error {
	rec.Expiry = time.Now().Add(time.Hour)
	if err := s.Save(ctx, *rec); err != nil {
		return err
	}
	rec.Version++
	return nil
}

// Run calls op b.N times in all, spread over callers goroutines; op gets
// the caller's index. testing.B.RunParallel cannot run exactly one or
// exactly sixteen callers on any machine, so Run counts out b.N itself.
// The first error stops the benchmark.
func Run(b *testing.B, callers int, op func(ctx context.Context, caller int) error) {
	ctx := b.Context()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(ctx, i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}
