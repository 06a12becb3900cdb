package redis

import (
	"sync"
	"time"
)

// recentWrites remembers which records this process saved or deleted
// within the last cache TTL, so that Load reads them from Redis instead of
// the client-side cache.
//
// Redis sends a cache invalidation to the connection that cached a key
// after the write that caused it has been answered, and rueidis may send
// the write and the cached read on different connections, so for an
// instant after Save or Delete returns the cache can still hold the value
// from before. Without this, a request that just saved could load its
// session as it was, and a Save that lost a race could reload the stale
// version it lost with, forever. An entry it could read stale was cached
// before the write, so it expires within one TTL of it: remembering a write
// for one TTL is enough.
//
// The IDs live in two generations that rotate every TTL, so an ID is
// remembered for between one and two TTLs and memory stays bounded by the
// writes of two TTLs, with no goroutine to stop.
type recentWrites struct {
	ttl time.Duration

	mu    sync.Mutex
	cur   map[string]struct{}
	prev  map[string]struct{}
	since time.Time // when cur became the current generation
}

func newRecentWrites(ttl time.Duration) *recentWrites {
	return &recentWrites{ttl: ttl, cur: make(map[string]struct{}), since: time.Now()}
}

func (r *recentWrites) add(id string) {
	r.mu.Lock()
	r.rotate(time.Now())
	r.cur[id] = struct{}{}
	r.mu.Unlock()
}

func (r *recentWrites) has(id string) bool {
	r.mu.Lock()
	r.rotate(time.Now())
	_, ok := r.cur[id]
	if !ok {
		_, ok = r.prev[id]
	}
	r.mu.Unlock()
	return ok
}

// rotate is called with r.mu held. Every ID in cur was added after since
// and every ID in prev at least one TTL before it was dropped, so an ID
// leaves prev no sooner than one TTL after it was added.
func (r *recentWrites) rotate(now time.Time) {
	age := now.Sub(r.since)
	if age < r.ttl {
		return
	}
	if age < 2*r.ttl {
		r.prev = r.cur
	} else {
		r.prev = nil
	}
	r.cur = make(map[string]struct{}, len(r.prev))
	r.since = now
}
