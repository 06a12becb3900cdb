package redis_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/redis"
)

// Each "process" below is a Store with its own rueidis client, so its own
// connections and client-side cache, as two app servers would have.

// process opens a client of its own on the standalone server. deaf makes
// its cache ignore Redis's invalidation messages, as if they were lost, so
// that only the TTL ends staleness: the worst case the documentation
// bounds.
func process(t *testing.T, deaf bool, addrs []string) rueidis.Client {
	t.Helper()
	opt := rueidis.ClientOption{InitAddress: addrs}
	if deaf {
		opt.NewCacheStoreFn = func(rueidis.CacheStoreOption) rueidis.CacheStore {
			return deafCache{rueidis.NewSimpleCacheAdapter(&mapCache{m: make(map[string]rueidis.RedisMessage)})}
		}
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type deafCache struct{ rueidis.CacheStore }

func (deafCache) Delete([]rueidis.RedisMessage) {}

type mapCache struct {
	mu sync.Mutex
	m  map[string]rueidis.RedisMessage
}

func (c *mapCache) Get(k string) rueidis.RedisMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *mapCache) Set(k string, v rueidis.RedisMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
}

func (c *mapCache) Del(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

func (c *mapCache) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// pair returns a caching store a and a plain store b on separate clients
// of the standalone server, sharing one key prefix.
func pair(t *testing.T, deaf bool, ttl time.Duration) (a, b *redis.Store) {
	t.Helper()
	standalone(t)
	return pairOn(t, []string{testenv.RedisAddr}, deaf, ttl)
}

func pairOn(t *testing.T, addrs []string, deaf bool, ttl time.Duration) (a, b *redis.Store) {
	t.Helper()
	ca, cb := process(t, deaf, addrs), process(t, false, addrs)
	prefix := redis.WithKeyPrefix(newPrefix(t, cb))
	a, err := redis.New(ca, prefix, redis.WithClientCache(ttl))
	if err != nil {
		t.Fatal(err)
	}
	b, err = redis.New(cb, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// eventually polls cond until it holds, failing after 10s. Invalidations
// arrive on their own schedule; there is nothing to wait on.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, still not: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func counter(rec session.Record) uint64 { return binary.BigEndian.Uint64(rec.Data) }

func TestClientCacheSeesOtherProcessesWrites(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		a, b := pair(t, false, time.Minute)
		testSeesOtherProcessesWrites(t, a, b)
	})
	t.Run("cluster", func(t *testing.T) {
		cluster(t)
		a, b := pairOn(t, testenv.RedisCluster, false, time.Minute)
		testSeesOtherProcessesWrites(t, a, b)
	})
}

func testSeesOtherProcessesWrites(t *testing.T, a, b *redis.Store) {
	rec := session.Record{ID: storetest.NewID(), UserID: "alice", Expiry: live(), Data: make([]byte, 8)}
	if err := b.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Load(ctx(t), rec.ID); err != nil || got.Version != 1 {
		t.Fatalf("a.Load = version %d, %v", got.Version, err)
	}
	if err := storetest.Increment(ctx(t), b, rec.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a sees b's save", func() bool {
		got, err := a.Load(ctx(t), rec.ID)
		return err == nil && got.Version == 2 && counter(got) == 1
	})
	if err := b.Delete(ctx(t), rec.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a sees b's revocation", func() bool {
		_, err := a.Load(ctx(t), rec.ID)
		return errors.Is(err, session.ErrNotFound)
	})
}

// With invalidations lost, a's cache keeps the version b replaced, for the
// whole TTL. A read-modify-write through a must still converge: its Save
// conflicts, and the reload after the conflict must not come from the
// cache again, or the loop would spin until the TTL.
func TestClientCacheConflictRetryReloadsFreshData(t *testing.T) {
	a, b := pair(t, true, time.Hour)
	rec := session.Record{ID: storetest.NewID(), Expiry: live(), Data: make([]byte, 8)}
	if err := b.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Load(ctx(t), rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := storetest.Increment(ctx(t), b, rec.ID); err != nil {
		t.Fatal(err)
	}
	stale, err := a.Load(ctx(t), rec.ID)
	if err != nil || stale.Version != 1 {
		t.Fatalf("a.Load = version %d, %v; the deaf cache should still hold version 1", stale.Version, err)
	}
	saves := 0
	counting := countingStore{a, &saves}
	if err := storetest.Increment(ctx(t), counting, rec.ID); err != nil {
		t.Fatal(err)
	}
	if saves != 2 {
		t.Errorf("the increment took %d saves; want 2 (one conflict on the cached version, one success)", saves)
	}
	got, err := b.Load(ctx(t), rec.ID)
	if err != nil || got.Version != 3 || counter(got) != 2 {
		t.Fatalf("b.Load = version %d counter %d, %v; want version 3 counter 2", got.Version, counter(got), err)
	}
	// a reads its own write although its cache never hears of it.
	if got, err := a.Load(ctx(t), rec.ID); err != nil || got.Version != 3 {
		t.Fatalf("a.Load after its own save = version %d, %v; want 3", got.Version, err)
	}
}

type countingStore struct {
	*redis.Store
	saves *int
}

func (c countingStore) Save(ctx context.Context, rec session.Record) error {
	*c.saves++
	return c.Store.Save(ctx, rec)
}

// With invalidations lost, the TTL alone bounds staleness.
func TestClientCacheTTLBoundsStaleness(t *testing.T) {
	a, b := pair(t, true, 200*time.Millisecond)
	rec := session.Record{ID: storetest.NewID(), Expiry: live(), Data: make([]byte, 8)}
	if err := b.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Load(ctx(t), rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx(t), rec.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a sees the revocation once the TTL passed", func() bool {
		_, err := a.Load(ctx(t), rec.ID)
		return errors.Is(err, session.ErrNotFound)
	})
}

// A store reads its own writes at once: Redis invalidates a cache only
// after answering the write, and here never.
func TestClientCacheReadsOwnWrites(t *testing.T) {
	a, _ := pair(t, true, time.Hour)
	rec := session.Record{ID: storetest.NewID(), UserID: "alice", Expiry: live(), Data: make([]byte, 8)}
	if err := a.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 50; want++ {
		if err := storetest.Increment(ctx(t), a, rec.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := a.Load(ctx(t), rec.ID); err != nil || counter(got) != want {
			t.Fatalf("Load right after save %d = counter %d, %v", want, counter(got), err)
		}
	}
	if err := a.Delete(ctx(t), rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Load(ctx(t), rec.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load right after Delete = %v; want ErrNotFound", err)
	}
}
