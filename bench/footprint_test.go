package bench

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// footprintSessions is how many sessions the memory scenarios hold,
// reduced under -short so that the smoke run stays quick.
func footprintSessions() int {
	if testing.Short() {
		return 10_000
	}
	return 1_000_000
}

// spyStore records the Data of the last Save, to learn what a real
// session of the benchmark handler looks like once encoded by httpstate.
type spyStore struct {
	session.Store
	mu   sync.Mutex
	data []byte
}

func (s *spyStore) Save(ctx context.Context, rec session.Record) error {
	s.mu.Lock()
	s.data = rec.Data
	s.mu.Unlock()
	return s.Store.Save(ctx, rec)
}

// spySCS does the same for scs.
type spySCS struct {
	scs.Store
	mu   sync.Mutex
	data []byte
}

func (s *spySCS) Commit(token string, b []byte, expiry time.Time) error {
	s.mu.Lock()
	s.data = b
	s.mu.Unlock()
	return s.Store.Commit(token, b, expiry)
}

// recordOf returns the encoded session that library's middleware stores
// after the benchmark's writing request.
func recordOf(b *testing.B, lib string) []byte {
	b.Helper()
	switch lib {
	case "httpstate":
		spy := &spyStore{Store: memory.New(memory.WithSweepInterval(0))}
		if _, err := SessionCookie(httpstateWith(b, lib, spy).Handler); err != nil {
			b.Fatal(err)
		}
		return spy.data
	case "scs":
		spy := &spySCS{Store: memstore.NewWithCleanupInterval(0)}
		if _, err := SessionCookie(scsWith(lib, spy).Handler); err != nil {
			b.Fatal(err)
		}
		return spy.data
	}
	b.Fatalf("no library %q", lib)
	return nil
}

// fillFunc stores one session under id with its own copy of data, as a
// distinct session created by the middleware would be stored.
type fillFunc func(id string, data []byte) error

func httpstateFill(s session.Store) fillFunc {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	return func(id string, data []byte) error {
		return s.Save(ctx, session.Record{ID: id, Expiry: exp, Data: data})
	}
}

func scsFill(s scs.Store) fillFunc {
	exp := time.Now().Add(time.Hour)
	return func(id string, data []byte) error { return s.Commit(id, data, exp) }
}

// fill stores n sessions holding copies of rec under random IDs.
func fill(b *testing.B, n int, rec []byte, f fillFunc) {
	b.Helper()
	for range n {
		if err := f(randomID(), append([]byte(nil), rec...)); err != nil {
			b.Fatal(err)
		}
	}
}

// heapInUse returns the bytes of live heap objects after full garbage
// collections; the second one frees what the first one's finalizers and
// sweeping left.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkFootprint reports the heap each library's memory store takes
// per session when it holds a million sessions like the one the
// benchmark's writing request creates: the record, its ID and the store's
// own structures. gorilla's cookie store keeps nothing on the server.
func BenchmarkFootprint(b *testing.B) {
	for _, lib := range []string{"httpstate", "scs"} {
		b.Run(lib, func(b *testing.B) {
			rec := recordOf(b, lib)
			n := footprintSessions()
			var perSession float64
			for b.Loop() {
				var f fillFunc
				var keep any
				before := heapInUse()
				if lib == "httpstate" {
					s := memory.New(memory.WithSweepInterval(0))
					f, keep = httpstateFill(s), s
				} else {
					s := memstore.NewWithCleanupInterval(0)
					f, keep = scsFill(s), s
				}
				fill(b, n, rec, f)
				perSession = float64(heapInUse()-before) / float64(n)
				runtime.KeepAlive(keep)
			}
			b.ReportMetric(perSession, "B/session")
			b.ReportMetric(float64(len(rec)), "record-B")
		})
	}
}

// scsMemstore returns scs's memstore with its cleanup goroutine running
// every interval, or none if interval is zero. The goroutine is never
// stopped: memstore's StopCleanup reads a field its goroutine writes
// without synchronisation (a data race the race detector reports) and
// does nothing if called before the goroutine has started. The goroutine
// keeps its store alive until the benchmark process exits.
func scsMemstore(interval time.Duration) *memstore.MemStore {
	return memstore.NewWithCleanupInterval(interval)
}

// sweepInterval is how often the stores' expiry sweepers run in
// BenchmarkSweeper: far more often than their one-minute defaults, so
// that a run of a few seconds sees several sweeps.
const sweepInterval = time.Second

// BenchmarkSweeper measures the latency of read-only requests by 64
// concurrent callers while each library's memory store holds a million
// sessions, with its expiry sweeper off and running every second. A sweep
// visits every record; httpstate's store locks one of 64 shards at a
// time, scs's memstore locks the whole store.
func BenchmarkSweeper(b *testing.B) {
	for _, lib := range []string{"httpstate", "scs"} {
		for _, sweep := range []time.Duration{0, sweepInterval} {
			name := "sweeper=off"
			if sweep > 0 {
				name = "sweeper=" + sweep.String()
			}
			b.Run(lib+"/"+name, func(b *testing.B) {
				rec := recordOf(b, lib)
				var c Contestant
				var f fillFunc
				if lib == "httpstate" {
					s := memory.New(memory.WithSweepInterval(sweep))
					b.Cleanup(func() { s.Close() })
					c, f = httpstateWith(b, lib, s), httpstateFill(s)
				} else {
					s := scsMemstore(sweep)
					c, f = scsWith(lib, s), scsFill(s)
				}
				fill(b, footprintSessions(), rec, f)
				cookies := cookiesFor(b, c, callers)
				b.Run(fmt.Sprintf("sessions=%dk", footprintSessions()/1000), func(b *testing.B) {
					latencyParallel(b, c, http.MethodGet, cookies)
				})
			})
		}
	}
}

// latencyParallel is serveParallel with every request timed; it reports
// the median, 99th percentile and maximum latency.
func latencyParallel(b *testing.B, c Contestant, method string, cookies []string) {
	var mu sync.Mutex
	var total Histogram
	next := make(chan string, len(cookies))
	for _, ck := range cookies {
		next <- ck
	}
	want := wantBody(c.Name, method)
	b.ReportAllocs()
	b.SetParallelism(max(1, callers/maxProcs()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ck := <-next
		defer func() { next <- ck }()
		t := newTemplate(method, ck)
		w := newRecorder()
		h := new(Histogram)
		for pb.Next() {
			w.reset()
			start := time.Now()
			c.Handler.ServeHTTP(w, t.request())
			h.Record(time.Since(start))
			if w.code != http.StatusOK || w.body.String() != want {
				b.Errorf("%s: status %d, body %q; want 200 %q", c.Name, w.code, w.body.String(), want)
				return
			}
		}
		mu.Lock()
		total.Merge(h)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(total.Quantile(0.50).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(total.Quantile(0.99).Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(total.Max().Nanoseconds())/1e3, "max-µs")
}
