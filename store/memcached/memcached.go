// Package memcached is a session.Store on Memcached, through
// github.com/bradfitz/gomemcache/memcache.
//
//	store, err := memcached.Open(ctx, []string{"10.0.0.1:11211", "10.0.0.2:11211"})
//
// Memcached is a cache: fast, shared by every process of an app, and free
// to forget. Choose it when losing sessions now and then is acceptable. The
// limits below are properties of Memcached, not of this package.
//
// # What Memcached cannot promise
//
//   - Eviction: when Memcached runs out of memory (-m) it evicts the least
//     recently used items, session records among them, and their users are
//     logged out. Size -m for your sessions and watch the "evictions" stat.
//   - Restarts: nothing survives a restart of memcached; every user is
//     logged out.
//   - Replication: there is none. With several servers each key lives on
//     one of them (gomemcache hashes keys over the server list), so losing a
//     server logs out the users whose sessions it held.
//   - A complete user index. ListByUser reads one item per user that lists
//     the IDs of that user's sessions, and Memcached may evict that item
//     like any other, or lose it with its server. The session.Store
//     contract allows this of a store that says so, and this one does (its
//     tests declare it with storetest.ForgetfulIndex, which checks the
//     rest): losing a user's index hides that user's sessions from
//     ListByUser and changes nothing else. Each of them still loads, saves
//     and deletes as before, ListByUser does not fail, and the next Save of
//     a session lists it again.
//
// What is built on ListByUser is then incomplete too: Manager.Devices does
// not show those sessions, and Manager.RevokeAll, the "log out everywhere"
// after a password change or a suspected compromise, leaves them logged
// in until they expire. If revocation must be complete, use a store whose
// index cannot be evicted (store/postgres, store/mysql, store/sqlite, or
// store/redis with maxmemory-policy noeviction), or also check a per-user
// credential generation, kept in your user database, on every request.
//
// # Server configuration: item size
//
// A record is one Memcached item: Data plus a header of 21 bytes plus the
// UserID, under a key of the prefix plus 45 bytes (for the Manager's
// 43-byte record IDs). Memcached refuses items
// larger than its item size limit, -I, which defaults to 1m and counts the
// key and about 50 bytes of item overhead, so a session of 1 MiB needs
// memcached -I 2m (the test suite stores one). When Memcached refuses a
// record as too large, Save returns an error wrapping ErrTooLarge and the
// stored record is unchanged; nothing is dropped silently. A user index
// item takes 52 bytes per live session of its user, so under -I 1m one
// user can hold about 20,000 sessions at once; past that, Save writes the
// record and then fails with ErrTooLarge for the index.
//
// # Consistency
//
// Save is a compare-and-swap through Memcached's gets and cas commands.
// The record's version, expiry and user ID live in the value's header; a
// Save with rec.Version > 0 reads the item, checks that the stored version
// is rec.Version and has not expired, and writes with the CAS token of that
// read, so a concurrent write, a Delete or an eviction in between makes it
// fail with session.ErrConflict. A Save with Version 0 adds the item, or
// replaces one that has expired by its header, with the same CAS check.
// Memcached cannot check the header's expiry at the moment of the write, so
// a record that expires during the one round trip between that read and
// the write can still be saved; any later read treats it by its new expiry.
//
// # Expiry and clocks
//
// The calling process's clock judges records, in every method: Load and
// ListByUser treat a record whose Expiry has passed by it as absent, and
// Save refuses an Expiry that is not after it (session.ErrInvalid) and
// counts a stored record expired by it as absent when it compares and
// swaps. The expiry lives in the value's header, so a record is absent at
// its Expiry exactly, to the millisecond, although Memcached's clock
// ticks in whole seconds.
//
// Memcached's own TTLs free the memory afterwards, and never before the
// process's clock says a record expired, as long as the clocks of the app
// servers and of Memcached agree within session.MaxClockSkew, as the
// contract requires. Each item's TTL is its Expiry rounded up to whole
// seconds plus one. Up to 30 days ahead it is sent as a number of seconds,
// which Memcached counts from the item's arrival whatever its clock
// says. Further ahead Memcached reads it as a unix time, by its own clock:
// the store then adds session.MaxClockSkew, so that a Memcached clock
// running that much ahead still keeps the item until its Expiry.
// Memcached's expiration is 32 bits: an Expiry after January 2038 gets no
// TTL, and the item stays until evicted, invisible once its Expiry passes.
// DeleteExpired has nothing to do and returns 0, nil: Memcached frees
// expired items itself.
//
// # Deadlines and cancellation
//
// gomemcache takes no context. The store checks ctx.Err() before every
// round trip, so a call whose context is already done returns an error
// wrapping ctx.Err() without touching the network, and a call of several
// round trips stops before the next one. A round trip that has started is
// not interrupted by ctx: it is bounded by the client's Timeout
// (WithTimeout; gomemcache's default is 500ms), which limits connecting and
// then, separately, the whole request and response. A method therefore
// returns at most one round trip, up to two Timeouts, after its context is
// done; set the Timeout well below your request deadlines. A dead or
// unreachable server is an error, never a hang: a refused connection fails
// at once, a silent server after the Timeout. Open is the exception: it
// returns when its context is done, whatever the Timeout.
//
// One step ignores ctx on purpose: once Save has written the record it
// finishes updating the user index (normally two round trips, more while
// other saves of the same user's sessions race with it), so that a request
// canceled halfway cannot leave a session that ListByUser, and so
// revocation, does not see.
//
// # Keys
//
// A record lives under prefix+"s:"+ID and a user's index under
// prefix+"u:"+base64url(SHA-256(UserID)): a user ID can hold characters
// that Memcached keys, at most 250 bytes without spaces or control
// characters, cannot. Every ID within session.MaxIDLen forms a key.
//
// # Logging
//
// The store logs one thing, at WARN level, through WithLogger (default
// slog.Default()): a record that was written while its user index item
// could not be updated, which ListByUser, and so Manager.RevokeAll, then
// misses until its next Save; that Save also returns an error. The
// message names the session by the first 8 characters of its record ID,
// itself a hash of the token.
//
// # Security
//
// Memcached has no authentication in its text protocol: anyone who can
// connect can read, change or delete every session. Bind it to localhost
// or a private network only.
package memcached

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/internal/storelog"
)

// DefaultKeyPrefix starts every key the store writes, unless WithKeyPrefix
// says otherwise.
const DefaultKeyPrefix = "httpstate:"

// maxKeyLen is Memcached's key length limit.
const maxKeyLen = 250

// maxPrefixLen leaves room for the longest key: "s:" and a record ID of
// session.MaxIDLen bytes (an index key, "u:" and 43 bytes of hash, is
// shorter).
const maxPrefixLen = maxKeyLen - 2 - session.MaxIDLen

// OpenMaxIdleConns is the number of idle connections per server that a
// client made by Open keeps for reuse. gomemcache's default of 2 makes
// concurrent requests dial new connections all the time; set it on a
// client you give New.
const OpenMaxIdleConns = 64

// ErrTooLarge reports that Memcached refused an item for being larger than
// its item size limit. Start memcached with a larger -I, or store less in
// the session.
var ErrTooLarge = errors.New("memcached: item larger than the server's item size limit (memcached -I)")

var (
	errIndexBusy   = errors.New("memcached: user index kept changing; gave up after repeated compare-and-swap conflicts")
	errNoClient    = errors.New("memcached: nil client")
	errNoAddresses = errors.New("memcached: no server addresses")
)

// maxIndexAttempts bounds the compare-and-swap retries on one user index
// item. Each lost attempt means another writer of the same user's index
// won, so this many concurrent saves by one user are tolerated.
const maxIndexAttempts = 100

// multiGetBatch bounds the keys of one multi-get in ListByUser, and so the
// size of one response that must arrive within the client's Timeout.
const multiGetBatch = 64

// Store is a session.Store on Memcached. It is safe for concurrent use.
// The zero value is not usable; call New or Open.
type Store struct {
	client *memcache.Client
	prefix string
	log    *slog.Logger
}

// Option configures a Store.
type Option func(*config)

type config struct {
	prefix  string
	timeout time.Duration
	log     *slog.Logger
}

// WithKeyPrefix sets the prefix of every key the store reads and writes
// (default DefaultKeyPrefix), so that several apps or environments can
// share servers. It must be at most 184 bytes with no spaces or control
// characters.
func WithKeyPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithTimeout sets the client's Timeout, which bounds each round trip to
// Memcached: connecting, and then the request and its response. New sets
// it on the client it is given, which then applies to every other user of
// that client too. Without this option the client's own Timeout stays
// (gomemcache's default is 500ms).
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// WithLogger sets where the store logs what the package documentation
// lists under Logging (default slog.Default(), also for nil). No message
// holds a session ID, user ID or token.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}

func configure(opts []Option) (config, error) {
	c := config{prefix: DefaultKeyPrefix}
	for _, o := range opts {
		o(&c)
	}
	c.log = storelog.Or(c.log)
	if len(c.prefix) > maxPrefixLen || !legalKey(c.prefix) {
		return c, fmt.Errorf("memcached: key prefix %q must be at most %d bytes with no spaces or control characters", c.prefix, maxPrefixLen)
	}
	if c.timeout < 0 {
		return c, fmt.Errorf("memcached: negative timeout %v", c.timeout)
	}
	return c, nil
}

// New returns a Store that uses client, which it does not contact. With
// WithTimeout it sets client.Timeout, so call it before the client is in
// use elsewhere. A client made with memcache.New keeps only 2 idle
// connections per server; raise client.MaxIdleConns for concurrent
// traffic (Open sets OpenMaxIdleConns).
func New(client *memcache.Client, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errNoClient
	}
	c, err := configure(opts)
	if err != nil {
		return nil, err
	}
	return newStore(client, c), nil
}

func newStore(client *memcache.Client, c config) *Store {
	if c.timeout > 0 {
		client.Timeout = c.timeout
	}
	return &Store{client: client, prefix: c.prefix, log: c.log}
}

// Open returns a Store on a client of its own for the memcached servers at
// addrs ("host:port", or a Unix socket path containing a slash), with
// OpenMaxIdleConns idle connections per server and the options New takes.
// It resolves host names, once, and pings every server; it returns an
// error if a name does not resolve, a server does not answer within the
// client's Timeout, or ctx is done first. Later calls reach the servers
// resolved now.
func Open(ctx context.Context, addrs []string, opts ...Option) (*Store, error) {
	if len(addrs) == 0 {
		return nil, errNoAddresses
	}
	c, err := configure(opts)
	if err != nil {
		return nil, err
	}
	if err := check(ctx, "open"); err != nil {
		return nil, err
	}
	// gomemcache takes no context, neither to resolve names nor to ping:
	// do both in the background and wait no longer than ctx allows. A
	// client that arrives too late is closed; its ping ends within its
	// Timeout.
	type result struct {
		client *memcache.Client
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		servers := new(memcache.ServerList)
		if err := servers.SetServers(addrs...); err != nil {
			ch <- result{nil, err}
			return
		}
		client := memcache.NewFromSelector(servers)
		client.MaxIdleConns = OpenMaxIdleConns
		if c.timeout > 0 {
			client.Timeout = c.timeout
		}
		if err := client.Ping(); err != nil {
			client.Close()
			ch <- result{nil, err}
			return
		}
		ch <- result{client, nil}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("memcached: open: %w", r.err)
		}
		return newStore(r.client, c), nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.client != nil {
				r.client.Close()
			}
		}()
		return nil, fmt.Errorf("memcached: open: %w", ctx.Err())
	}
}

// Close closes the client's idle connections. The client, and the Store,
// remain usable: a later call dials again.
func (s *Store) Close() error {
	return s.client.Close()
}

// legalKey is gomemcache's key rule, checked before a call so that an
// impossible key is reported by what it means to the caller.
func legalKey(key string) bool {
	if len(key) > maxKeyLen {
		return false
	}
	for i := range len(key) {
		if key[i] <= ' ' || key[i] == 0x7f {
			return false
		}
	}
	return true
}

func (s *Store) recordKey(id string) (string, bool) {
	k := s.prefix + "s:" + id
	return k, legalKey(k)
}

func (s *Store) indexKey(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return s.prefix + "u:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// check reports a done context before a round trip.
func check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memcached: %s: %w", op, err)
	}
	return nil
}

// fail wraps an error from the client. Memcached announces a refused large
// item with a SERVER_ERROR line that gomemcache passes on as text.
func fail(op string, err error, size int) error {
	if strings.Contains(err.Error(), "object too large") {
		return fmt.Errorf("memcached: %s: %d-byte item: %w", op, size, ErrTooLarge)
	}
	return fmt.Errorf("memcached: %s: %w", op, err)
}

// lostRace reports the client errors of a conditional write whose
// condition failed: the item changed (EXISTS), vanished (NOT_FOUND) or, for
// add, exists (NOT_STORED).
func lostRace(err error) bool {
	return errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrNotStored) || errors.Is(err, memcache.ErrCacheMiss)
}

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, id string) (session.Record, error) {
	if err := check(ctx, "load"); err != nil {
		return session.Record{}, err
	}
	key, ok := s.recordKey(id)
	if !ok {
		// Save refuses such IDs, so no record can exist under one.
		return session.Record{}, session.ErrNotFound
	}
	it, err := s.client.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return session.Record{}, session.ErrNotFound
	}
	if err != nil {
		return session.Record{}, fail("load", err, 0)
	}
	st, err := decodeRecord(it.Value)
	if err != nil {
		return session.Record{}, fmt.Errorf("memcached: load: %w", err)
	}
	if !st.live(time.Now().UnixMilli()) {
		return session.Record{}, session.ErrNotFound
	}
	return session.Record{ID: id, UserID: st.userID, Version: st.version, Expiry: time.UnixMilli(st.expiry), Data: st.data}, nil
}

// Save implements session.Store. See the package documentation for how it
// compares and swaps, and why it finishes the user index update even when
// ctx is done by then.
func (s *Store) Save(ctx context.Context, rec session.Record) error {
	if err := check(ctx, "save"); err != nil {
		return err
	}
	now := time.Now()
	if err := session.CheckRecord(rec, now); err != nil {
		return fmt.Errorf("memcached: save: %w", err)
	}
	exp := rec.Expiry.UnixMilli()
	// Every valid ID forms a key: the prefix leaves room for MaxIDLen.
	key, _ := s.recordKey(rec.ID)
	item := &memcache.Item{
		Key:        key,
		Value:      encodeRecord(rec.Version+1, exp, rec.UserID, rec.Data),
		Expiration: expiration(time.UnixMilli(exp), now),
	}
	oldUser, err := s.write(ctx, item, rec.Version, now.UnixMilli())
	if err != nil {
		return err
	}
	if rec.UserID != "" {
		if err := s.index(rec.UserID, rec.ID, exp); err != nil {
			storelog.Unlisted(ctx, s.log, "memcached", rec.ID, err)
			return err
		}
	}
	if oldUser != "" && oldUser != rec.UserID {
		s.unindex(ctx, oldUser, rec.ID)
	}
	return nil
}

// write stores the record item if the stored version is still version,
// and returns the user the replaced record belonged to.
func (s *Store) write(ctx context.Context, item *memcache.Item, version uint64, nowMs int64) (oldUser string, err error) {
	if version == 0 {
		err := s.client.Add(item)
		if err == nil {
			return "", nil
		}
		if !errors.Is(err, memcache.ErrNotStored) {
			return "", fail("save", err, len(item.Value))
		}
		// An item exists. It may be a record whose Expiry passed but whose
		// TTL has not, and then the ID is free again.
		if err := check(ctx, "save"); err != nil {
			return "", err
		}
	}
	cur, err := s.client.Get(item.Key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return "", session.ErrConflict
	}
	if err != nil {
		return "", fail("save", err, 0)
	}
	st, err := decodeRecord(cur.Value)
	if err != nil {
		return "", fmt.Errorf("memcached: save: %w", err)
	}
	if version == 0 && st.live(nowMs) || version != 0 && (st.version != version || !st.live(nowMs)) {
		return "", session.ErrConflict
	}
	if err := check(ctx, "save"); err != nil {
		return "", err
	}
	item.CasID = cur.CasID
	if err := s.client.CompareAndSwap(item); err != nil {
		if lostRace(err) {
			return "", session.ErrConflict
		}
		return "", fail("save", err, len(item.Value))
	}
	return st.userID, nil
}

// index records in the user's index that id belongs to userID until at
// least exp. It writes the index item even when the entry is already there
// with a later expiry: every write changes the item's CAS token, which makes
// a concurrent trim (ListByUser, unindex) fail if it read the index before
// this Save's record write and judged the entry stale. Trims therefore
// never remove the entry of a record that belongs to the user.
func (s *Store) index(userID, id string, exp int64) error {
	key := s.indexKey(userID)
	for range maxIndexAttempts {
		now := time.Now().UnixMilli()
		cur, err := s.client.Get(key)
		var entries []indexEntry
		switch {
		case err == nil:
			if entries, err = decodeIndex(cur.Value); err != nil {
				return fmt.Errorf("memcached: save: user index: %w", err)
			}
		case errors.Is(err, memcache.ErrCacheMiss):
			cur = nil
		default:
			return fail("save: user index", err, 0)
		}
		// Entries of expired records go; the expiry of this one only grows,
		// so that two Saves of it finishing out of order keep the later.
		kept := entries[:0]
		maxExp := exp
		for _, e := range entries {
			if e.id == id {
				exp = max(exp, e.expiry)
				maxExp = max(maxExp, exp)
				continue
			}
			if e.expiry > now {
				kept = append(kept, e)
				maxExp = max(maxExp, e.expiry)
			}
		}
		kept = append(kept, indexEntry{id: id, expiry: exp})
		item := &memcache.Item{
			Key:        key,
			Value:      encodeIndex(kept),
			Expiration: expiration(time.UnixMilli(maxExp), time.UnixMilli(now)),
		}
		if cur == nil {
			err = s.client.Add(item)
		} else {
			item.CasID = cur.CasID
			err = s.client.CompareAndSwap(item)
		}
		if err == nil {
			return nil
		}
		if !lostRace(err) {
			return fail("save: user index", err, len(item.Value))
		}
	}
	return errIndexBusy
}

// unindex removes id from the user's index unless the record belongs to
// that user again. It is best-effort: an entry left behind is harmless,
// because ListByUser checks each record's owner and drops stale entries,
// and the Save or Delete that calls it has already succeeded.
func (s *Store) unindex(ctx context.Context, userID, id string) {
	if ctx.Err() != nil {
		return
	}
	key := s.indexKey(userID)
	cur, err := s.client.Get(key)
	if err != nil {
		return
	}
	entries, err := decodeIndex(cur.Value)
	if err != nil || !slices.ContainsFunc(entries, func(e indexEntry) bool { return e.id == id }) {
		return
	}
	// The record is read after the index, which makes the trim safe; see
	// index.
	recKey, _ := s.recordKey(id)
	if ctx.Err() != nil {
		return
	}
	it, err := s.client.Get(recKey)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
	case err != nil:
		return
	default:
		st, err := decodeRecord(it.Value)
		if err != nil || st.userID == userID && st.live(time.Now().UnixMilli()) {
			return
		}
	}
	s.trim(ctx, cur, entries, map[string]bool{id: true})
}

// trim rewrites an index item without the dropped entries, provided it is
// unchanged since it was read as cur. A lost race leaves the entries for
// the next trim.
func (s *Store) trim(ctx context.Context, cur *memcache.Item, entries []indexEntry, drop map[string]bool) {
	if ctx.Err() != nil {
		return
	}
	now := time.Now().UnixMilli()
	kept := entries[:0]
	var maxExp int64
	for _, e := range entries {
		if !drop[e.id] && e.expiry > now {
			kept = append(kept, e)
			maxExp = max(maxExp, e.expiry)
		}
	}
	item := &memcache.Item{Key: cur.Key, Value: encodeIndex(kept), CasID: cur.CasID, Expiration: 1}
	if len(kept) > 0 {
		item.Expiration = expiration(time.UnixMilli(maxExp), time.UnixMilli(now))
	}
	// Deleting an emptied index instead would be unconditional and could
	// remove an entry added meanwhile; an empty item that dies in a
	// second cannot.
	_ = s.client.CompareAndSwap(item)
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := check(ctx, "delete"); err != nil {
		return err
	}
	key, ok := s.recordKey(id)
	if !ok {
		return nil
	}
	// Read first to learn whose index lists the record.
	it, err := s.client.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil
	}
	if err != nil {
		return fail("delete", err, 0)
	}
	if err := check(ctx, "delete"); err != nil {
		return err
	}
	if err := s.client.Delete(key); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return fail("delete", err, 0)
	}
	if st, err := decodeRecord(it.Value); err == nil && st.userID != "" {
		s.unindex(ctx, st.userID, id)
	}
	return nil
}

// ListByUser implements session.Store. It reads the user's index item and
// then every record it lists, and returns those that are live and still
// belong to userID; the entries of the others are trimmed from the index.
// It misses records whose index item Memcached evicted: see the package
// documentation.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]session.Record, error) {
	if err := check(ctx, "list by user"); err != nil {
		return nil, err
	}
	out := []session.Record{}
	if userID == "" {
		return out, nil
	}
	cur, err := s.client.Get(s.indexKey(userID))
	if errors.Is(err, memcache.ErrCacheMiss) {
		return out, nil
	}
	if err != nil {
		return nil, fail("list by user", err, 0)
	}
	entries, err := decodeIndex(cur.Value)
	if err != nil {
		return nil, fmt.Errorf("memcached: list by user: %w", err)
	}
	nowMs := time.Now().UnixMilli()
	drop := make(map[string]bool)
	var ids []string
	for _, e := range entries {
		if e.expiry > nowMs {
			ids = append(ids, e.id)
		} else {
			drop[e.id] = true
		}
	}
	for batch := range slices.Chunk(ids, multiGetBatch) {
		if err := check(ctx, "list by user"); err != nil {
			return nil, err
		}
		keys := make([]string, len(batch))
		for i, id := range batch {
			keys[i], _ = s.recordKey(id)
		}
		items, err := s.client.GetMulti(keys)
		if err != nil {
			return nil, fail("list by user", err, 0)
		}
		for i, id := range batch {
			it, ok := items[keys[i]]
			if !ok {
				drop[id] = true
				continue
			}
			st, err := decodeRecord(it.Value)
			if err != nil {
				return nil, fmt.Errorf("memcached: list by user: %w", err)
			}
			if st.userID != userID || !st.live(nowMs) {
				drop[id] = true
				continue
			}
			out = append(out, session.Record{ID: id, UserID: userID, Version: st.version, Expiry: time.UnixMilli(st.expiry), Data: st.data})
		}
	}
	if len(drop) > 0 {
		s.trim(ctx, cur, entries, drop)
	}
	return out, nil
}

// DeleteExpired implements session.Store. Memcached frees expired items by
// itself, so there is never anything to remove: it returns 0, nil, or the
// context's error.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	if err := check(ctx, "delete expired"); err != nil {
		return 0, err
	}
	return 0, nil
}
