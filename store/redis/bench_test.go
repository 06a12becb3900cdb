package redis_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/redis"
)

// benchData is the size of a typical session: a user, a CSRF token, a
// few preferences and a small cart, encoded.
const benchData = 400

// Each caller works on a record of its own, as concurrent requests of
// different users do: the benchmarks measure the store, not contention on
// one record, which ConcurrentIncrementsEndExact covers.
func benchRecords(b *testing.B, s session.Store, n int) []session.Record {
	b.Helper()
	recs := make([]session.Record, n)
	for i := range recs {
		data := make([]byte, benchData)
		rand.Read(data)
		recs[i] = session.Record{ID: storetest.NewID(), UserID: fmt.Sprintf("user-%d", i), Expiry: time.Now().Add(time.Hour), Data: data}
		if err := s.Save(b.Context(), recs[i]); err != nil {
			b.Fatal(err)
		}
		recs[i].Version = 1
	}
	return recs
}

// callers runs op b.N times in total, spread over n goroutines, each with
// its own index.
func callers(b *testing.B, n int, op func(caller int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ResetTimer()
	for i := range n {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(i); err != nil {
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

var callerCounts = []int{1, 16}

func benchLoad(b *testing.B, opts ...redis.Option) {
	for _, n := range callerCounts {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			client := standalone(b)
			prefix := redis.WithKeyPrefix(newPrefix(b, client))
			// Written by another store, as by another process: a store
			// does not serve from its cache what it wrote itself lately.
			w, err := redis.New(client, prefix)
			if err != nil {
				b.Fatal(err)
			}
			recs := benchRecords(b, w, n)
			s, err := redis.New(client, append(opts, prefix)...)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			callers(b, n, func(i int) error {
				_, err := s.Load(b.Context(), recs[i].ID)
				return err
			})
		})
	}
}

func BenchmarkLoad(b *testing.B) { benchLoad(b) }

// BenchmarkLoadClientCache is Load with client-side caching on and records
// that do not change: after the first Load of each, no round trip.
func BenchmarkLoadClientCache(b *testing.B) { benchLoad(b, redis.WithClientCache(time.Minute)) }

// BenchmarkSave saves authenticated records, so each Save also updates
// the user index, with a later expiry each time, as a sliding idle timeout
// does.
func BenchmarkSave(b *testing.B) { benchSave(b, "user") }

// BenchmarkSaveAnonymous saves records without a user: no index.
func BenchmarkSaveAnonymous(b *testing.B) { benchSave(b, "") }

func benchSave(b *testing.B, user string) {
	for _, n := range callerCounts {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			s := newStore(b, standalone(b))
			recs := benchRecords(b, s, n)
			if user == "" {
				for i := range recs {
					recs[i] = session.Record{ID: storetest.NewID(), Expiry: recs[i].Expiry, Data: recs[i].Data}
					if err := s.Save(b.Context(), recs[i]); err != nil {
						b.Fatal(err)
					}
					recs[i].Version = 1
				}
			}
			b.ReportAllocs()
			callers(b, n, func(i int) error {
				rec := &recs[i]
				rec.Expiry = time.Now().Add(time.Hour)
				if err := s.Save(b.Context(), *rec); err != nil {
					return err
				}
				rec.Version++
				return nil
			})
		})
	}
}

// BenchmarkSaveConflict measures a lost compare-and-swap: a stale version.
func BenchmarkSaveConflict(b *testing.B) {
	s := newStore(b, standalone(b))
	rec := benchRecords(b, s, 1)[0]
	rec.Version = 0
	b.ReportAllocs()
	callers(b, 1, func(int) error {
		if err := s.Save(b.Context(), rec); !errors.Is(err, session.ErrConflict) {
			return fmt.Errorf("Save of a stale version = %v", err)
		}
		return nil
	})
}
