package redis

import (
	"sync"
	"time"
)

// recentWrites remembers the records this process saved or deleted within
// the last cache TTL, and the version each write left (or, after a lost
// compare-and-swap, the least version the record can have now), so that
// Load serves such a record from the client-side cache only once the cache
// holds that version or a newer one.
//
// Redis sends a cache invalidation to the connection that cached a key
// after the write that caused it has been answered, and rueidis may send
// the write and the cached read on different connections, so for an
// instant after Save or Delete returns the cache can still hold the value
// from before. Without this, a request that just saved could load its
// session as it was, and a Save that lost a race could reload the stale
// version it lost with, forever. Bypassing the cache for every record
// written within a TTL, as this package did before, would also do; but on
// sessions written now and then and read often, which is what a cache is
// for, it sends every read of a hot session to Redis for a whole TTL after
// each write, the writer's own reads included. Comparing versions sends
// only the reads that would be stale. An entry it could read stale was
// cached before the write, so it expires within one TTL of it:
// remembering a write for one TTL is enough.
//
// The entries live in two generations that rotate every TTL, so a write is
// remembered for between one and two TTLs and memory stays bounded by the
// writes of two TTLs, with no goroutine to stop.
type recentWrites struct {
	ttl time.Duration

	mu    sync.Mutex
	cur   map[string]written
	prev  map[string]written
	since time.Time // when cur became the current generation
}

// written is what this process knows of a record it wrote: the least
// version it can have now, or that it was deleted.
type written struct {
	version uint64
	deleted bool
}

func newRecentWrites(ttl time.Duration) *recentWrites {
	return &recentWrites{ttl: ttl, cur: make(map[string]written), since: time.Now()}
}

// add remembers a write of id. A later write of the same record only ever
// raises what is known of it.
func (r *recentWrites) add(id string, w written) {
	r.mu.Lock()
	r.rotate(time.Now())
	if old, ok := r.cur[id]; ok && !w.deleted && !old.deleted && old.version > w.version {
		w = old
	}
	r.cur[id] = w
	r.mu.Unlock()
}

// get returns what this process wrote of id recently, if it did.
func (r *recentWrites) get(id string) (written, bool) {
	r.mu.Lock()
	r.rotate(time.Now())
	w, ok := r.cur[id]
	if !ok {
		w, ok = r.prev[id]
	}
	r.mu.Unlock()
	return w, ok
}

// fresh reports whether a cached answer for id (a record at version, or
// none if found is false) is at least as new as this process's last write
// of it.
func (w written) fresh(found bool, version uint64) bool {
	if w.deleted {
		return !found
	}
	return found && version >= w.version
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
	r.cur = make(map[string]written, len(r.prev))
	r.since = now
}
