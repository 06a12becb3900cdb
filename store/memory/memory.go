// Package memory is a session.Store that keeps records in the process's
// memory: the fastest store, and the right one for tests and single-process
// apps that can afford to log everyone out on restart.
//
// Records live in 64 independently locked shards so concurrent requests on
// different sessions rarely contend. Expired records are invisible at once
// and physically removed by a background sweeper; Close stops it.
package memory

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/httpstate/httpstate/session"
)

const shardCount = 64

// Store is an in-memory session.Store. The zero value is not usable; call New.
type Store struct {
	seed   maphash.Seed
	shards [shardCount]shard
	users  [shardCount]userShard

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type shard struct {
	mu   sync.RWMutex
	recs map[string]*entry
}

type entry struct {
	userID  string
	version uint64
	expiry  int64 // unix nanoseconds
	data    []byte
}

type userShard struct {
	mu  sync.Mutex
	ids map[string]map[string]struct{}
}

// Option configures a Store.
type Option func(*Store, *config)

type config struct{ sweep time.Duration }

// WithSweepInterval sets how often the background sweeper removes expired
// records (default one minute). Zero or less disables the sweeper; expired
// records then stay in memory, invisible, until DeleteExpired is called.
func WithSweepInterval(d time.Duration) Option {
	return func(_ *Store, c *config) { c.sweep = d }
}

// New returns an empty Store with its sweeper running.
func New(opts ...Option) *Store {
	s := &Store{seed: maphash.MakeSeed(), stop: make(chan struct{}), done: make(chan struct{})}
	c := config{sweep: time.Minute}
	for _, o := range opts {
		o(s, &c)
	}
	for i := range s.shards {
		s.shards[i].recs = make(map[string]*entry)
		s.users[i].ids = make(map[string]map[string]struct{})
	}
	if c.sweep > 0 {
		go s.sweep(c.sweep)
	} else {
		close(s.done)
	}
	return s
}

// Close stops the sweeper and waits for it to finish. The records stay
// readable; Close is safe to call more than once and concurrently.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Store) shard(id string) *shard {
	return &s.shards[maphash.String(s.seed, id)%shardCount]
}

func (s *Store) userShard(user string) *userShard {
	return &s.users[maphash.String(s.seed, user)%shardCount]
}

func (e *entry) live(now int64) bool { return e.expiry > now }

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, id string) (session.Record, error) {
	if err := ctx.Err(); err != nil {
		return session.Record{}, err
	}
	sh := s.shard(id)
	sh.mu.RLock()
	e, ok := sh.recs[id]
	if !ok || !e.live(time.Now().UnixNano()) {
		sh.mu.RUnlock()
		return session.Record{}, session.ErrNotFound
	}
	rec := session.Record{ID: id, UserID: e.userID, Version: e.version, Expiry: time.Unix(0, e.expiry), Data: e.data}
	sh.mu.RUnlock()
	return rec, nil
}

// Save implements session.Store.
func (s *Store) Save(ctx context.Context, rec session.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.Now()
	if err := session.CheckRecord(rec, t); err != nil {
		return fmt.Errorf("memory: save: %w", err)
	}
	now := t.UnixNano()
	sh := s.shard(rec.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.recs[rec.ID]
	var stored uint64
	if ok && e.live(now) {
		stored = e.version
	}
	if stored != rec.Version {
		return session.ErrConflict
	}
	oldUser := ""
	if ok {
		oldUser = e.userID
	}
	// Entries are only ever read under the shard's lock, so updating one
	// in place is safe and spares an allocation per write.
	if !ok {
		e = new(entry)
		sh.recs[rec.ID] = e
	}
	*e = entry{userID: rec.UserID, version: rec.Version + 1, expiry: rec.Expiry.UnixNano(), data: rec.Data}
	if oldUser != rec.UserID {
		s.unindex(oldUser, rec.ID)
		s.index(rec.UserID, rec.ID)
	}
	return nil
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.recs[id]; ok {
		delete(sh.recs, id)
		s.unindex(e.userID, id)
	}
	return nil
}

// ListByUser implements session.Store.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]session.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if userID == "" {
		return []session.Record{}, nil
	}
	us := s.userShard(userID)
	us.mu.Lock()
	ids := make([]string, 0, len(us.ids[userID]))
	for id := range us.ids[userID] {
		ids = append(ids, id)
	}
	us.mu.Unlock()
	out := make([]session.Record, 0, len(ids))
	for _, id := range ids {
		rec, err := s.Load(ctx, id)
		if errors.Is(err, session.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// The index is updated after the record, so a concurrent move to
		// another user can leave a stale entry for an instant.
		if rec.UserID == userID {
			out = append(out, rec)
		}
	}
	return out, nil
}

// DeleteExpired implements session.Store.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	removed := 0
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if limit > 0 && removed >= limit {
			break
		}
		removed += s.sweepShard(&s.shards[i], limit-removed, limit > 0)
	}
	return removed, nil
}

func (s *Store) sweepShard(sh *shard, budget int, bounded bool) int {
	now := time.Now().UnixNano()
	n := 0
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for id, e := range sh.recs {
		if bounded && n >= budget {
			break
		}
		if !e.live(now) {
			delete(sh.recs, id)
			s.unindex(e.userID, id)
			n++
		}
	}
	return n
}

// Len reports how many records the store holds, including expired ones the
// sweeper has not reached yet.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.RLock()
		n += len(s.shards[i].recs)
		s.shards[i].mu.RUnlock()
	}
	return n
}

func (s *Store) sweep(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// One shard at a time, so requests on other shards never wait
			// for a whole sweep.
			for i := range s.shards {
				s.sweepShard(&s.shards[i], 0, false)
			}
		}
	}
}

// index and unindex are called with the record's shard locked; the lock
// order is always record shard, then user shard.
func (s *Store) index(user, id string) {
	if user == "" {
		return
	}
	us := s.userShard(user)
	us.mu.Lock()
	set := us.ids[user]
	if set == nil {
		set = make(map[string]struct{}, 1)
		us.ids[user] = set
	}
	set[id] = struct{}{}
	us.mu.Unlock()
}

func (s *Store) unindex(user, id string) {
	if user == "" {
		return
	}
	us := s.userShard(user)
	us.mu.Lock()
	if set := us.ids[user]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(us.ids, user)
		}
	}
	us.mu.Unlock()
}
