package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
	"golang.org/x/sync/errgroup"
)

// The session-caching workload follows the Redis benchmark suite's
// session-caching test: a fixed population of sessions holding 400 to 600
// bytes of JSON, 80% reads and 20% writes, keys drawn from a Zipfian
// distribution so that a few sessions are hot, as the sessions of active
// users are. It runs against each store directly, without HTTP or the
// session middleware, at 64 concurrent callers.
const (
	cachingSessions = 100_000
	cachingReadPct  = 80
	cachingMinValue = 400
	cachingMaxValue = 600
	// zipfS is the Zipf exponent. Go's generator needs s > 1; 1.01 is the
	// closest to the 0.99 of YCSB's zipfian distribution, which the Redis
	// suite's memtier key patterns follow. With 100,000 keys the hottest
	// session gets about 8% of the operations.
	zipfS = 1.01
)

// cachingPopulation is the number of sessions, reduced under -short so
// that the smoke run stays quick.
func cachingPopulation() int {
	if testing.Short() {
		return 1000
	}
	return cachingSessions
}

// cacheStore is one store under the workload. A read loads a session; a
// write loads it and saves what next makes of the loaded value, the
// read-modify-write a request that changes its session does.
type cacheStore interface {
	seed(ctx context.Context, id string, val []byte) error
	read(ctx context.Context, id string) error
	// load returns the stored value, for counting lost updates.
	load(ctx context.Context, id string) ([]byte, error)
	// write returns how many times it lost a compare-and-swap and retried.
	write(ctx context.Context, id string, next func(old []byte) []byte) (retries int, err error)
	cleanup(ctx context.Context, id string) error
}

// cachingTTL is every record's lifetime: long enough that none expires
// during a run.
const cachingTTL = time.Hour

// httpstateCache drives a session.Store with Load and a compare-and-swap
// Save, retrying on ErrConflict as the session Manager does.
type httpstateCache struct{ s session.Store }

func (c httpstateCache) seed(ctx context.Context, id string, val []byte) error {
	return c.s.Save(ctx, session.Record{ID: id, Expiry: time.Now().Add(cachingTTL), Data: val})
}

func (c httpstateCache) read(ctx context.Context, id string) error {
	_, err := c.s.Load(ctx, id)
	return err
}

func (c httpstateCache) load(ctx context.Context, id string) ([]byte, error) {
	rec, err := c.s.Load(ctx, id)
	return rec.Data, err
}

// write retries until its compare-and-swap wins, applying next to the
// value it reloaded each time. Every lost attempt means another write
// won, so the store as a whole always progresses; on the hottest keys of
// a small population one write can lose dozens of times, which
// retries/op shows.
func (c httpstateCache) write(ctx context.Context, id string, next func([]byte) []byte) (int, error) {
	rec, err := c.s.Load(ctx, id)
	for retries := 0; ; retries++ {
		if err != nil {
			return retries, err
		}
		cur := rec
		cur.Data, cur.Expiry = next(rec.Data), time.Now().Add(cachingTTL)
		err = c.s.Save(ctx, cur)
		if !errors.Is(err, session.ErrConflict) {
			return retries, err
		}
		// As the Manager does: a store whose conflict carries the current
		// record spares the reload.
		var ce *session.ConflictError
		if errors.As(err, &ce) && ce.Found {
			rec, err = ce.Current, nil
		} else {
			rec, err = c.s.Load(ctx, id)
		}
	}
}

func (c httpstateCache) cleanup(ctx context.Context, id string) error { return c.s.Delete(ctx, id) }

// scsCache drives an scs.Store with Find and Commit. scs has no
// compare-and-swap: the last Commit wins, so a write never retries.
type scsCache struct{ s scs.Store }

func (c scsCache) seed(_ context.Context, id string, val []byte) error {
	return c.s.Commit(id, val, time.Now().Add(cachingTTL))
}

var errMissing = errors.New("bench: seeded session not found")

func (c scsCache) read(ctx context.Context, id string) error {
	_, err := c.load(ctx, id)
	return err
}

func (c scsCache) load(_ context.Context, id string) ([]byte, error) {
	b, found, err := c.s.Find(id)
	if err == nil && !found {
		err = errMissing
	}
	return b, err
}

// write finds and commits: the last Commit wins, so a write never
// retries, and one that overlaps another on the same session loses the
// other's change.
func (c scsCache) write(ctx context.Context, id string, next func([]byte) []byte) (int, error) {
	b, err := c.load(ctx, id)
	if err != nil {
		return 0, err
	}
	return 0, c.s.Commit(id, next(b), time.Now().Add(cachingTTL))
}

func (c scsCache) cleanup(_ context.Context, id string) error { return c.s.Delete(id) }

// seededBy is a cacheStore whose population is written by another store.
type seededBy struct {
	cacheStore
	seeder cacheStore
}

func (s seededBy) seed(ctx context.Context, id string, val []byte) error {
	return s.seeder.seed(ctx, id, val)
}

// randomID returns a 43-character base64url ID, the length of both
// httpstate's store IDs and scs's tokens.
func randomID() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// jsonValues returns n JSON documents of uniformly random length between
// cachingMinValue and cachingMaxValue bytes, each starting with a counter
// of writes at zero (see counterOf).
func jsonValues(n int, rng *mrand.Rand) [][]byte {
	out := make([][]byte, n)
	const head = `{"n":0000000000,"user":12345,"cart":[{"sku":"A-1","qty":2}],"theme":"dark","pad":"`
	const tail = `"}`
	for i := range out {
		size := cachingMinValue + rng.IntN(cachingMaxValue-cachingMinValue+1)
		pad := strings.Repeat("x", size-len(head)-len(tail))
		out[i] = []byte(head + pad + tail)
	}
	return out
}

// A value's counter is the ten decimal digits at counterAt: every write
// stores one more than the value it loaded held, so a session's counter
// is the number of writes it kept.
const counterAt, counterLen = len(`{"n":`), 10

func counterOf(v []byte) (int, error) {
	if len(v) < counterAt+counterLen {
		return 0, fmt.Errorf("bench: value of %d bytes has no counter", len(v))
	}
	return strconv.Atoi(string(v[counterAt : counterAt+counterLen]))
}

// incremented returns a copy of tmpl, a value from jsonValues, whose
// counter is one more than old's.
func incremented(old, tmpl []byte) ([]byte, error) {
	n, err := counterOf(old)
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(tmpl)
	d := strconv.AppendInt(make([]byte, 0, counterLen), int64(n+1), 10)
	copy(out[counterAt:], "0000000000"[len(d):])
	copy(out[counterAt+counterLen-len(d):], d)
	return out, nil
}

// cachingFixture is a store seeded with the population, shared by the
// runs of one benchmark, and the writes made to it so far: which sessions
// were written, and how many writes were acknowledged.
type cachingFixture struct {
	store   cacheStore
	ids     []string
	values  [][]byte
	written []atomic.Bool
	acked   atomic.Int64
}

// seedCaching writes the population with 64 concurrent callers and
// registers its deletion, for stores that cannot drop a whole table.
func seedCaching(b *testing.B, store cacheStore, dropAll bool) *cachingFixture {
	b.Helper()
	rng := mrand.New(mrand.NewPCG(1, 2))
	n := cachingPopulation()
	f := &cachingFixture{store: store, ids: make([]string, n), values: jsonValues(1024, rng), written: make([]atomic.Bool, n)}
	for i := range f.ids {
		f.ids[i] = randomID()
	}
	ctx := setupContext(b)
	each := func(fn func(i int) error) error {
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(callers)
		for i := range f.ids {
			g.Go(func() error {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fn(i)
			})
		}
		return g.Wait()
	}
	start := time.Now()
	if err := each(func(i int) error { return store.seed(ctx, f.ids[i], f.values[i%len(f.values)]) }); err != nil {
		b.Fatalf("seeding: %v", err)
	}
	b.Logf("seeded %d sessions in %v", len(f.ids), time.Since(start).Round(time.Millisecond))
	if !dropAll {
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
			defer cancel()
			if err := each(func(i int) error { return store.cleanup(ctx, f.ids[i]) }); err != nil {
				b.Errorf("deleting the seeded sessions: %v", err)
			}
		})
	}
	return f
}

// runCaching runs the workload with 64 concurrent callers for b.N
// operations and reports throughput, latency percentiles, the benchmark
// process's CPU time per operation (the store's client; the server's is
// not counted), for compare-and-swap stores how often a write lost and
// retried, and the updates lost so far (see lostUpdates). Keys are drawn
// from the Zipfian distribution, or uniformly if not zipf.
func runCaching(b *testing.B, f *cachingFixture, zipf bool) {
	var (
		mu      sync.Mutex
		total   Histogram
		retries atomic.Int64
		seq     atomic.Uint64
	)
	ctx := context.Background()
	b.SetParallelism(max(1, callers/maxProcs()))
	stopCPU := reportCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := mrand.New(mrand.NewPCG(seq.Add(1), 7))
		next := func() int { return rng.IntN(len(f.ids)) }
		if zipf {
			z := mrand.NewZipf(rng, zipfS, 1, uint64(len(f.ids)-1))
			next = func() int { return int(z.Uint64()) }
		}
		h := new(Histogram)
		var lost int
		var badValue error
		increment := func(old []byte) []byte {
			v, err := incremented(old, f.values[rng.IntN(len(f.values))])
			if err != nil {
				badValue = err
				return old
			}
			return v
		}
		for pb.Next() {
			i := next()
			var err error
			start := time.Now()
			if rng.IntN(100) < cachingReadPct {
				err = f.store.read(ctx, f.ids[i])
			} else {
				var n int
				n, err = f.store.write(ctx, f.ids[i], increment)
				lost += n
				if err == nil {
					err = badValue
				}
				if err == nil {
					f.written[i].Store(true)
					f.acked.Add(1)
				}
			}
			h.Record(time.Since(start))
			if err != nil {
				b.Errorf("operation on a seeded session: %v", err)
				return
			}
		}
		retries.Add(int64(lost))
		mu.Lock()
		total.Merge(h)
		mu.Unlock()
	})
	b.StopTimer()
	stopCPU()
	if total.Count() == 0 {
		return
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(total.Quantile(0.50).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(total.Quantile(0.99).Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(retries.Load())/float64(b.N), "retries/op")
	lost, err := f.lostUpdates(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(lost), "lost-updates")
	b.ReportMetric(100*float64(lost)/float64(max(1, f.acked.Load())), "lost-%")
}

// lostUpdates returns the acknowledged writes to the fixture so far (in
// this run and the ones before it on the same population) that no
// session's counter holds.
func (f *cachingFixture) lostUpdates(ctx context.Context) (int64, error) {
	var kept atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(callers)
	for i := range f.ids {
		if !f.written[i].Load() {
			continue
		}
		g.Go(func() error {
			v, err := f.store.load(ctx, f.ids[i])
			if err != nil {
				return fmt.Errorf("counting lost updates: %w", err)
			}
			n, err := counterOf(v)
			kept.Add(int64(n))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return f.acked.Load() - kept.Load(), nil
}

// cachingStores are the stores of the session-caching workload, in the
// order of its table. Those with an scs counterpart also run with uniform
// key choice, which separates what a store costs from what contention on
// the hot keys costs.
var cachingStores = []struct {
	name    string
	uniform bool
	// open returns the store and whether dropping its table or prefix at
	// cleanup already removes the seeded records.
	open func(b *testing.B) (cacheStore, bool)
}{
	{"httpstate-memory", true, func(b *testing.B) (cacheStore, bool) {
		s := memory.New()
		b.Cleanup(func() { s.Close() })
		return httpstateCache{s}, true
	}},
	{"scs-memstore", true, func(b *testing.B) (cacheStore, bool) {
		// No cleanup goroutine: it could not be stopped (see
		// scsMemstore) and would keep 100,000 sessions on the heap
		// through the other stores' runs. Within a run of seconds it
		// would not have run anyway.
		return scsCache{scsMemstore(0)}, true
	}},
	{"httpstate-redis", true, func(b *testing.B) (cacheStore, bool) { return httpstateCache{httpstateRedis(b, false)}, true }},
	{"httpstate-redis-cached", true, func(b *testing.B) (cacheStore, bool) {
		// Seeded through a second, uncached store on the same keys, as
		// for BenchmarkRedis: a store bypasses its cache for what it
		// wrote itself within the TTL, and the sessions of a real site
		// were mostly written long before they are read.
		prefix := uniqueName("bench_httpstate") + ":"
		return seededBy{httpstateCache{openRedis(b, prefix, true)}, httpstateCache{openRedis(b, prefix, false)}}, true
	}},
	{"scs-redisstore", true, func(b *testing.B) (cacheStore, bool) { return scsCache{scsRedis(b)}, true }},
	{"httpstate-postgres", true, func(b *testing.B) (cacheStore, bool) { return httpstateCache{httpstatePostgres(b)}, true }},
	{"scs-postgresstore", true, func(b *testing.B) (cacheStore, bool) { return scsCache{scsPostgres(b)}, true }},
	{"httpstate-mysql", false, func(b *testing.B) (cacheStore, bool) { return httpstateCache{httpstateMySQL(b)}, true }},
	{"httpstate-sqlite", false, func(b *testing.B) (cacheStore, bool) { return httpstateCache{httpstateSQLite(b)}, true }},
	{"httpstate-memcached", false, func(b *testing.B) (cacheStore, bool) { return httpstateCache{httpstateMemcached(b)}, false }},
	// Against dynalite, an emulator (see httpstateDynamoDB).
	{"httpstate-dynamodb", false, func(b *testing.B) (cacheStore, bool) { return httpstateCache{httpstateDynamoDB(b)}, true }},
}

// BenchmarkSessionCaching runs the session-caching workload on every
// store. Each store is seeded once; the figures are those of the final
// run, whose length -benchtime sets.
func BenchmarkSessionCaching(b *testing.B) {
	for _, st := range cachingStores {
		b.Run(st.name, func(b *testing.B) {
			store, dropped := st.open(b)
			f := seedCaching(b, store, dropped)
			b.Run(fmt.Sprintf("zipf-%dk", len(f.ids)/1000), func(b *testing.B) { runCaching(b, f, true) })
			if st.uniform {
				b.Run(fmt.Sprintf("uniform-%dk", len(f.ids)/1000), func(b *testing.B) { runCaching(b, f, false) })
			}
		})
	}
}
