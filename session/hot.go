package session

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"sync"
	"time"
)

// Requests on the same session in the same process do not fight each
// other through the store. A single-page app firing parallel requests, or
// a user with many tabs, would otherwise have every request but one lose
// its compare-and-swap, reload and try again, each retry a round trip
// that another retry can spoil.
//
// Instead the saves of one session form a lane. The first request to save
// leads: it saves as usual. Requests that arrive while a save is in
// flight queue in the lane; when the save returns, the first of them
// leads the next save for all of them at once: their changes are replayed
// in arrival order on the state just saved, which the lane keeps, and
// written with one compare-and-swap. A batch costs one round trip however
// many requests it carries, and conflicts remain only between processes
// (a lost swap reloads and replays the batch, as a lone request would).
// Each request's own outcome is its own: a strict read conflict or a
// change that would exceed MaxSize fails that request and leaves the rest
// of the batch to be saved.
//
// A lane exists only while saves are in flight. When it closes after
// requests had to wait (the session is hot), the state it saved is kept
// for a second as the base of the next lane, so that a request that
// loaded the session before that save and commits after it replays its
// changes in memory instead of losing a compare-and-swap. Such state is
// only ever a base for a compare-and-swap, never served to a reader: if
// another process saved since, the swap fails and the lane reloads.

// lanes maps session IDs to the lanes of sessions being saved.
type lanes struct {
	seed   maphash.Seed
	shards [64]laneShard
}

type laneShard struct {
	mu     sync.Mutex
	m      map[string]*lane
	recent map[string]recentSave // hot sessions' last saves, briefly
}

// recentSave is the last state a hot session's lane saved.
type recentSave struct {
	st      state
	user    string
	version uint64
	at      time.Time
}

// recentTTL is how long a hot session's last save stays a base. Requests
// that loaded the session before it and have not committed a second
// later are rare; after that the store tells them.
const recentTTL = time.Second

// maxRecent bounds a shard's recent saves; past it, expired ones are
// dropped.
const maxRecent = 64

// lane is one session's queue of saves. Lanes are pooled: an uncontended
// save, the common case, opens and closes one without allocating.
type lane struct {
	queue []*Session // waiting, in arrival order
	hot   bool       // a request had to wait, or a swap lost, or the lane began from a recent save

	// The state the last save of the lane wrote, as the base of the next.
	last        state
	lastUser    string
	lastVersion uint64
	hasLast     bool
}

var lanePool = sync.Pool{New: func() any { return new(lane) }}

// waiting is a Session's place in a lane while it waits.
type waiting struct {
	done  chan struct{} // closed when the outcome is in, or leadership is passed
	lead  []*Session    // the batch to save, when leadership is passed
	alone [1]*Session   // lead's array for a batch of one, the common case
	wrote bool
	tries int
	err   error
}

// lock locks and returns the shard of id's lane.
func (l *lanes) lock(id string) *laneShard {
	sh := &l.shards[maphash.String(l.seed, id)%uint64(len(l.shards))]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[string]*lane)
	}
	return sh
}

// saveInPlace saves a loaded session under its own token with
// compare-and-swap, in a batch with the concurrent saves of the same
// session in this process.
func (m *Manager) saveInPlace(ctx context.Context, s *Session, r *http.Request) (bool, int, error) {
	w := s.writing()
	w.req = r
	sh := m.lanes.lock(s.id)
	ln := sh.m[s.id]
	if ln != nil {
		if len(s.ops) == 0 {
			// Only the idle deadline is due, and a save that writes a
			// fresher one is in flight.
			sh.mu.Unlock()
			s.touchDue = false
			return false, 0, nil
		}
		w.wait = waiting{done: make(chan struct{})}
		ln.queue = append(ln.queue, s)
		ln.hot = true
		sh.mu.Unlock()
		<-w.wait.done
		if w.wait.lead == nil {
			return w.wait.wrote, w.wait.tries, w.wait.err
		}
	} else {
		ln = lanePool.Get().(*lane)
		*ln = lane{}
		if r, ok := sh.recent[s.id]; ok {
			// Still hot: this lane's save will be remembered in turn.
			delete(sh.recent, s.id)
			if time.Since(r.at) < recentTTL {
				ln.last, ln.lastUser, ln.lastVersion, ln.hasLast, ln.hot = r.st, r.user, r.version, true, true
			}
		}
		sh.m[s.id] = ln
		sh.mu.Unlock()
		w.wait = waiting{}
		w.wait.alone[0] = s
		w.wait.lead = w.wait.alone[:]
	}
	batch := w.wait.lead
	if len(batch) > 1 {
		// The batch is saved on behalf of other requests too, so this
		// request's cancellation must not abort it; each store call is
		// still bounded by StoreTimeout.
		ctx = context.WithoutCancel(ctx)
	}
	conflicted := m.saveBatch(ctx, s, ln, batch)
	sh.mu.Lock()
	ln.hot = ln.hot || conflicted
	next := ln.queue
	ln.queue = nil
	if len(next) == 0 {
		delete(sh.m, s.id)
		if ln.hot && ln.hasLast {
			sh.remember(s.id, recentSave{ln.last, ln.lastUser, ln.lastVersion, time.Now()})
		}
		// Closed, and no one is waiting in it: nothing refers to it now.
		*ln = lane{}
		lanePool.Put(ln)
	} else {
		next[0].w.wait.lead = next
	}
	sh.mu.Unlock()
	if len(next) > 0 {
		close(next[0].w.wait.done)
	}
	for _, o := range batch {
		if o != s {
			close(o.w.wait.done)
		}
	}
	return w.wait.wrote, w.wait.tries, w.wait.err
}

// remember keeps a hot session's last save. Called with sh.mu held.
func (sh *laneShard) remember(id string, r recentSave) {
	if sh.recent == nil {
		sh.recent = make(map[string]recentSave)
	}
	if len(sh.recent) >= maxRecent {
		for k, old := range sh.recent {
			if time.Since(old.at) >= recentTTL {
				delete(sh.recent, k)
			}
		}
		if len(sh.recent) >= maxRecent {
			return // a burst of hot sessions: the store will tell them
		}
	}
	sh.recent[id] = r
}

// saveBatch saves the changes of every session in batch with one
// compare-and-swap, and records each session's outcome in its wait. It is
// run by leader, one of them, with the lane's base state. It reports
// whether a compare-and-swap lost, which makes the session hot.
func (m *Manager) saveBatch(ctx context.Context, leader *Session, ln *lane, batch []*Session) (conflicted bool) {
	// Start from the freshest state anyone has: what the lane last saved,
	// or what a request loaded (one may have seen another process's save).
	base, user, version, have := ln.last, ln.lastUser, ln.lastVersion, ln.hasLast
	for _, s := range batch {
		if !have || s.w.baseVersion > version {
			base, user, version, have = s.w.base, s.w.baseUser, s.w.baseVersion, true
		}
	}
	// The time of the request, read when its session was loaded, unless
	// the batch carries several: then one reading serves them all.
	now := leader.when()
	if len(batch) > 1 {
		now = m.now()
	}
	members := batch
	fail := func(err error, attempt int) {
		for _, s := range members {
			s.w.wait.err, s.w.wait.tries = err, attempt
		}
	}
	for attempt := 1; ; attempt++ {
		st, u := base, user
		kept := members[:0:0]
		changes := false
		for i, s := range members {
			before, beforeUser := st, u
			var err error
			if i == 0 && attempt == 1 && s.w.baseVersion == version {
				// The first request's own state is its base, as fresh as
				// any, with its changes: nothing to replay.
				st, u = s.st, s.userID
			} else {
				err = m.replay(ctx, s, &st, &u)
			}
			if err == nil && st.size() > m.maxSize && s.grew() {
				err = fmt.Errorf("session: save: %w", ErrTooLarge)
			}
			if err != nil {
				// This request fails alone; the others go on without its
				// changes.
				s.w.wait.err, s.w.wait.tries = err, attempt
				st, u = before, beforeUser
				continue
			}
			changes = changes || len(s.ops) > 0
			kept = append(kept, s)
		}
		members = kept
		if len(members) == 0 {
			return
		}
		m.stamp(&st, members[len(members)-1].w.req, now)
		rec, err := m.encodeRecord(&st, u, leader.id, version, now)
		if err != nil {
			fail(err, attempt)
			return
		}
		err = m.save1(ctx, &leader.call, rec)
		saved, ok := rec.Version+1, err == nil
		if !ok {
			saved, ok = m.confirm(ctx, &leader.call, rec, err)
		}
		if ok {
			for _, s := range members {
				s.st, s.userID, s.version = st, u, saved
				s.settle()
				s.w.wait.wrote, s.w.wait.tries = true, attempt
			}
			ln.last, ln.lastUser, ln.lastVersion, ln.hasLast = st, u, saved, true
			return
		}
		if !errors.Is(err, ErrConflict) || attempt >= maxAttempts {
			fail(fmt.Errorf("session: save: %w", err), attempt)
			return
		}
		conflicted = true
		if !changes {
			// Only idle deadlines were due; whoever won saved a fresher
			// one.
			for _, s := range members {
				s.touchDue, s.w.wait.tries = false, attempt
			}
			return
		}
		conflict := err
		if err := backoff(ctx, attempt); err != nil {
			fail(err, attempt)
			return
		}
		base, user, version, err = m.reload(ctx, &leader.call, leader.id, conflict)
		if err != nil {
			fail(err, attempt)
			return
		}
	}
}
