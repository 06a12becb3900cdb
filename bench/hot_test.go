package bench

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// The hot-session workload is many concurrent requests on ONE session, as
// a single-page app firing parallel requests on page load, or a user with
// many tabs, makes: every caller sends the same session cookie, and a
// writing request adds one to a counter in the session. Each caller counts
// the increments that were acknowledged (200 "ok"); when the run ends, the
// counter is read back, and every acknowledged increment it does not hold
// was lost: another request's save overwrote it.

// hotMixes are the workload's variants: every request an increment, or
// one in five (the 80/20 read/write mix of the session-caching workload).
var hotMixes = []struct {
	name       string
	writeEvery int64
}{{"write", 1}, {"mixed", 5}}

// hotWriters are the numbers of concurrent callers.
var hotWriters = []int{32, 64}

// hotStores are the stores of the workload, each with the counter
// handler of each library over it. A store is opened once per library and
// shared by that library's runs; every run uses a session of its own.
var hotStores = []struct {
	name string
	open func(b *testing.B, lib string) Contestant
}{
	{"memory", func(b *testing.B, lib string) Contestant {
		if lib == "scs" {
			return SCSCounter(lib, scs.New()) // its default store: memstore.New()
		}
		s := memory.New()
		b.Cleanup(func() { s.Close() })
		return httpstateCounter(b, lib, s)
	}},
	{"redis", func(b *testing.B, lib string) Contestant {
		if lib == "scs" {
			sm := scs.New()
			sm.Store = scsRedis(b)
			return SCSCounter(lib, sm)
		}
		return httpstateCounter(b, lib, httpstateRedis(b, false))
	}},
	{"postgres", func(b *testing.B, lib string) Contestant {
		if lib == "scs" {
			sm := scs.New()
			sm.Store = scsPostgres(b)
			return SCSCounter(lib, sm)
		}
		return httpstateCounter(b, lib, httpstatePostgres(b))
	}},
}

// BenchmarkHotSession runs the hot-session workload: for each store and
// library, 32 and 64 callers on one session, every request an increment
// ("write") or one in five ("mixed"). Besides requests per second it
// reports the updates lost in the run: "lost-updates" is the acknowledged
// increments minus the final counter, and "lost-%" that as a share of the
// acknowledged increments.
func BenchmarkHotSession(b *testing.B) {
	for _, st := range hotStores {
		b.Run(st.name, func(b *testing.B) {
			for _, lib := range []string{"httpstate", "scs"} {
				b.Run(lib, func(b *testing.B) {
					c := st.open(b, lib)
					for _, mix := range hotMixes {
						for _, n := range hotWriters {
							b.Run(fmt.Sprintf("%s/c=%d", mix.name, n), func(b *testing.B) { runHot(b, c, n, mix.writeEvery) })
						}
					}
				})
			}
		})
	}
}

// httpstateCounter is HttpstateCounter over store.
func httpstateCounter(b *testing.B, name string, store session.Store) Contestant {
	b.Helper()
	c, err := HttpstateCounter(name, store)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// runHot runs b.N requests of the workload on a fresh session, spread
// over exactly callers goroutines, and reports the throughput and the
// lost updates.
func runHot(b *testing.B, c Contestant, callers int, writeEvery int64) {
	cookie, err := CounterSession(c.Handler)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	stopCPU := reportCPU(b)
	b.ResetTimer()
	acked, err := driveHot(c, cookie, callers, writeEvery, int64(b.N))
	b.StopTimer()
	stopCPU()
	if err != nil {
		b.Fatal(err)
	}
	acked++ // the increment that created the session
	final, err := ReadCounter(c.Handler, cookie)
	if err != nil {
		b.Fatal(err)
	}
	if int64(final) > acked {
		b.Fatalf("%s: the counter reads %d after %d acknowledged increments: an increment that failed was saved", c.Name, final, acked)
	}
	lost := acked - int64(final)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(lost), "lost-updates")
	b.ReportMetric(100*float64(lost)/float64(acked), "lost-%")
}

// driveHot sends n requests through c, all with cookie, from callers
// goroutines: request j (counted from 1 across all callers) increments if
// j is a multiple of writeEvery and reads otherwise. It checks every
// response and returns how many increments were acknowledged.
func driveHot(c Contestant, cookie string, callers int, writeEvery, n int64) (int64, error) {
	var (
		next   atomic.Int64
		acked  atomic.Int64
		failed atomic.Pointer[error]
		wg     sync.WaitGroup
	)
	for range callers {
		wg.Go(func() {
			get, post := newTemplate(http.MethodGet, cookie), newTemplate(http.MethodPost, cookie)
			w := newRecorder()
			var mine int64
			defer func() { acked.Add(mine) }()
			for {
				j := next.Add(1)
				if j > n || failed.Load() != nil {
					return
				}
				write := j%writeEvery == 0
				t := get
				if write {
					t = post
				}
				w.reset()
				c.Handler.ServeHTTP(w, t.request())
				body := w.body.String()
				okBody := body == "ok"
				if !write {
					_, err := strconv.Atoi(body)
					okBody = err == nil
				}
				if w.code != http.StatusOK || !okBody {
					err := fmt.Errorf("%s: status %d, body %q", c.Name, w.code, body)
					failed.CompareAndSwap(nil, &err)
					return
				}
				if write {
					mine++
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return acked.Load(), *err
	}
	return acked.Load(), nil
}
