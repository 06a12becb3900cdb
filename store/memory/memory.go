// Package memory is a session.Store that keeps records in the process's
// memory: the fastest store, and the right one for tests and single-process
// apps that can afford to log everyone out on restart.
//
//	store := memory.New()
//	defer store.Close()
//
// Records live in 64 independently locked shards so concurrent requests on
// different sessions rarely contend.
//
// # Expiry and clocks
//
// Every method judges Expiry by the process's clock (time.Now): Save's
// check of a new Expiry and its compare-and-swap, Load, ListByUser and
// DeleteExpired alike. The store lives in one process, so the contract's
// bound on disagreeing clocks, session.MaxClockSkew, holds by
// construction.
//
// # Expired records
//
// Expired records are invisible at once. A background sweeper removes them
// every DefaultSweepInterval or so (WithSweepInterval), until Close. It
// reads each shard under its read lock, so loads go on meanwhile, and
// removes what it found at most DefaultSweepBatch records per hold of the
// shard's write lock (WithSweepBatch), so that a save waits for a short
// batch, never for a whole shard. Nothing in the store can fail, so it has
// nothing to log.
package memory

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/httpstate/httpstate/internal/sweeper"
	"github.com/httpstate/httpstate/session"
)

// shardCount is one shard per base64url symbol: see Store.shard.
const shardCount = 64

// Defaults of the options.
const (
	// DefaultSweepInterval is the mean time between two sweeps: five
	// minutes.
	DefaultSweepInterval = sweeper.DefaultInterval

	// DefaultSweepBatch is how many records the sweeper removes at most
	// per hold of a shard's write lock: 500.
	DefaultSweepBatch = sweeper.DefaultBatch
)

// Store is an in-memory session.Store. The zero value is not usable; call New.
type Store struct {
	seed   maphash.Seed
	shards [shardCount]shard
	users  [shardCount]userShard
	batch  int

	sweeper *sweeper.Sweeper
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
type Option func(*config)

type config struct {
	sweepInterval time.Duration
	sweepBatch    int
}

// WithSweepInterval sets the mean time between two runs of the background
// sweeper (default DefaultSweepInterval); each wait is drawn at random
// from half to one and a half times it. Zero or less disables the sweeper:
// expired records then stay in memory, invisible, until DeleteExpired is
// called.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) { c.sweepInterval = d }
}

// WithSweepBatch sets how many expired records the sweeper removes at most
// per hold of a shard's write lock (default DefaultSweepBatch); it takes
// the lock again for the next batch, so saves on that shard wait for one
// batch at most. n must be 1 to 10,000, or New panics: New returns no
// error, and a batch size is a constant of the program, so a wrong one is
// a bug to fix rather than a condition to handle.
func WithSweepBatch(n int) Option {
	return func(c *config) { c.sweepBatch = n }
}

// New returns an empty Store with its sweeper running. It panics if
// WithSweepBatch is out of range.
func New(opts ...Option) *Store {
	c := config{sweepInterval: DefaultSweepInterval, sweepBatch: DefaultSweepBatch}
	for _, o := range opts {
		o(&c)
	}
	if err := sweeper.CheckBatch(c.sweepBatch); err != nil {
		panic("memory: " + err.Error())
	}
	s := &Store{seed: maphash.MakeSeed(), batch: c.sweepBatch}
	for i := range s.shards {
		s.shards[i].recs = make(map[string]*entry)
		s.users[i].ids = make(map[string]map[string]struct{})
	}
	s.sweeper = sweeper.Start(c.sweepInterval, s.sweep)
	return s
}

// Close stops the sweeper and waits for it to finish. The records stay
// readable; Close is safe to call more than once and concurrently.
func (s *Store) Close() error {
	s.sweeper.Stop()
	return nil
}

// shard picks a record's shard by the last character of its ID. Session
// IDs, token family IDs and revocation markers all end in base64url of
// random or hashed bytes, whose 64 symbols map one to one onto the 64
// shards, so hashing the ID again, which cost a seventh of a load, buys
// nothing; other IDs are still correct, only less evenly spread.
func (s *Store) shard(id string) *shard {
	if id == "" {
		return &s.shards[0]
	}
	return &s.shards[base64Value[id[len(id)-1]]]
}

// base64Value maps each base64url symbol to its value, 0 to 63, and any
// other byte to 0.
var base64Value = func() (t [256]uint8) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(alphabet) {
		t[alphabet[i]] = uint8(i)
	}
	return t
}()

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
		// The current record is at hand: hand it back, sparing the
		// caller a Load before it retries.
		ce := &session.ConflictError{Current: session.Record{ID: rec.ID}, Found: stored != 0}
		if ce.Found {
			ce.Current = session.Record{ID: rec.ID, UserID: e.userID, Version: e.version, Expiry: time.Unix(0, e.expiry), Data: e.data}
		}
		return ce
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
	now := time.Now().UnixNano()
	removed := 0
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if limit > 0 && removed >= limit {
			break
		}
		budget := 0
		if limit > 0 {
			budget = limit - removed
		}
		removed += s.sweepShard(&s.shards[i], now, budget)
	}
	return removed, nil
}

// sweepShard removes up to budget (every one if budget is 0) records of sh
// that expired by now, and returns how many it removed. It finds them
// under the read lock, then removes them in batches under the write lock,
// checking each again: a save may have taken the ID over meanwhile.
func (s *Store) sweepShard(sh *shard, now int64, budget int) int {
	var ids []string
	sh.mu.RLock()
	for id, e := range sh.recs {
		if !e.live(now) {
			ids = append(ids, id)
			if len(ids) == budget {
				break
			}
		}
	}
	sh.mu.RUnlock()
	n := 0
	for batch := range slices.Chunk(ids, s.batch) {
		sh.mu.Lock()
		for _, id := range batch {
			if e, ok := sh.recs[id]; ok && !e.live(now) {
				delete(sh.recs, id)
				s.unindex(e.userID, id)
				n++
			}
		}
		sh.mu.Unlock()
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

// sweep removes every expired record, one shard at a time, so requests on
// other shards never wait for it.
func (s *Store) sweep(ctx context.Context) {
	now := time.Now().UnixNano()
	for i := range s.shards {
		if ctx.Err() != nil {
			return
		}
		s.sweepShard(&s.shards[i], now, 0)
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
