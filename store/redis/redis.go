package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/internal/storelog"
)

// DefaultMaxFlushDelay is the rueidis MaxFlushDelay that Open sets when
// its ClientOption leaves it zero: the pause, after each write to a
// connection, in which more commands can join the next write. rueidis's
// documentation suggests it for lower CPU at little cost in latency.
const DefaultMaxFlushDelay = 20 * time.Microsecond

// DefaultKeyPrefix starts every key the store writes, unless WithKeyPrefix
// says otherwise.
const DefaultKeyPrefix = "httpstate:"

// finishTimeout bounds the index maintenance that follows a write once the
// write has happened; see the package documentation on deadlines.
const finishTimeout = time.Second

var (
	errNoClient = errors.New("redis: nil client")
)

// Store is a session.Store on Redis. It is safe for concurrent use by many
// goroutines and processes. The zero value is not usable; call New or Open.
type Store struct {
	client   rueidis.Client
	owned    bool // Close closes client
	prefix   string
	cacheTTL time.Duration
	recent   *recentWrites // nil without client-side caching
	log      *slog.Logger
	closed   sync.Once
}

// Option configures a Store.
type Option func(*config)

type config struct {
	prefix   string
	cacheTTL time.Duration
	log      *slog.Logger
}

// WithKeyPrefix sets the prefix of every key the store reads and writes
// (default DefaultKeyPrefix), so that several apps or environments can
// share a server. Any bytes are allowed, but a hash tag ({...}) in the
// prefix puts every key of the store in one Redis Cluster slot, on one
// node.
func WithKeyPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithClientCache makes Load use Redis server-assisted client-side caching
// (RESP3 client tracking, through rueidis DoCache): a record loaded once is
// then served from this process's memory, with no round trip, until Redis
// reports that it changed or ttl passes. Zero, the default, turns caching
// off. The client must have caching enabled, as rueidis clients do unless
// ClientOption.DisableCache is set (then Load silently reads from Redis).
//
// Staleness is bounded as follows. This process always reads its own
// writes: for a record this Store saved or deleted within the last ttl,
// Load serves the cached copy only if it is at least as new as that write
// and otherwise reads from Redis, and so also after a Save that returned
// ErrConflict, whose caller must reload and must see the version it lost
// to. (The writer's own reads thus come from the cache again as soon as
// Redis's invalidation has refreshed it, rather than a whole ttl later.) A change
// made by another process (a Save, or a Delete: a revocation) reaches this
// cache as an invalidation message from Redis, normally within a network
// round trip while the connection is healthy; if the messages are delayed
// or lost without the connection failing (rueidis drops the whole cache
// when a connection breaks), ttl is the upper bound. Until then Load here
// may return the older version: a Save based on it fails with ErrConflict
// and changes nothing, so caching never loses an update, but a revoked
// session may remain usable on other processes for up to ttl. Choose ttl
// accordingly: a few seconds to a minute.
//
// The cache pays off for sessions read more often than written. Its size
// is the client's ClientOption.CacheSizeEachConn (rueidis's default: 128
// MiB per connection). ListByUser never uses the cache.
func WithClientCache(ttl time.Duration) Option {
	return func(c *config) { c.cacheTTL = ttl }
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
	if c.cacheTTL < 0 {
		return c, fmt.Errorf("redis: negative client cache TTL %v", c.cacheTTL)
	}
	return c, nil
}

// New returns a Store that uses client, which may be a standalone, Sentinel
// or Cluster client. The Store does not close client: Close leaves it
// open for its other users.
func New(client rueidis.Client, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errNoClient
	}
	c, err := configure(opts)
	if err != nil {
		return nil, err
	}
	return newStore(client, c, false), nil
}

func newStore(client rueidis.Client, c config, owned bool) *Store {
	s := &Store{client: client, owned: owned, prefix: c.prefix, cacheTTL: c.cacheTTL, log: c.log}
	if c.cacheTTL > 0 {
		s.recent = newRecentWrites(c.cacheTTL)
	}
	return s
}

// Open connects a new rueidis client with opt and returns a Store that owns
// it: Close closes it. opt.InitAddress lists the server, the cluster nodes
// to discover a cluster from, or the Sentinels when opt.Sentinel.MasterSet
// is set. Open returns when the client is connected, or with an error when
// ctx is done first or the servers cannot be reached.
//
// When opt.MaxFlushDelay is zero, Open sets it to DefaultMaxFlushDelay:
// under concurrent requests the client then writes several commands per
// system call, which the benchmarks measured as most of a save's client
// CPU; rueidis skips the pause when a single caller is waiting. Build the
// client yourself and call New to keep rueidis's default of no pause.
func Open(ctx context.Context, opt rueidis.ClientOption, opts ...Option) (*Store, error) {
	c, err := configure(opts)
	if err != nil {
		return nil, err
	}
	if opt.MaxFlushDelay == 0 {
		opt.MaxFlushDelay = DefaultMaxFlushDelay
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redis: open: %w", err)
	}
	// rueidis.NewClient takes no context: it connects within
	// opt.Dialer.Timeout (5s by default) per address. Wait for it no longer
	// than ctx allows, and close a client that arrives too late.
	type result struct {
		client rueidis.Client
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		client, err := rueidis.NewClient(opt)
		ch <- result{client, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("redis: open: %w", r.err)
		}
		return newStore(r.client, c, true), nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.client != nil {
				r.client.Close()
			}
		}()
		return nil, fmt.Errorf("redis: open: %w", ctx.Err())
	}
}

// Close closes the client if Open created it, and does nothing to a client
// given to New. It is safe to call more than once.
func (s *Store) Close() error {
	if s.owned {
		s.closed.Do(s.client.Close)
	}
	return nil
}

func (s *Store) recordKey(id string) string { return s.prefix + "s:" + id }

func (s *Store) indexKey(userID string) string { return s.prefix + "u:" + userID }

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, id string) (session.Record, error) {
	if err := ctx.Err(); err != nil {
		return session.Record{}, fmt.Errorf("redis: load: %w", err)
	}
	if s.recent == nil {
		return s.decodeLoaded(id, s.client.Do(ctx, s.client.B().Get().Key(s.recordKey(id)).Build()), time.Now())
	}
	// A static TTL spares each cache miss the MULTI, PTTL and EXEC that
	// cap the cached copy's life by the key's: Load judges the record's
	// own Expiry anyway, and a change or a deletion reaches the cache as
	// an invalidation.
	get := s.client.B().Get().Key(s.recordKey(id)).Cache().ToStaticTTL()
	rec, err := s.decodeLoaded(id, s.client.DoCache(ctx, get, s.cacheTTL), time.Now())
	if w, ok := s.recent.get(id); ok && (err == nil || errors.Is(err, session.ErrNotFound)) && !w.fresh(err == nil, rec.Version) {
		// The cache has not caught up with this process's own write yet.
		rec, err = s.decodeLoaded(id, s.client.Do(ctx, s.client.B().Get().Key(s.recordKey(id)).Build()), time.Now())
	}
	return rec, err
}

// decodeLoaded turns the reply to a GET of a record key into what Load
// returns: ErrNotFound for no record or one whose Expiry has passed by this
// process's clock (Redis expires the key by its own clock, which may lag).
func (s *Store) decodeLoaded(id string, res rueidis.RedisResult, now time.Time) (session.Record, error) {
	v, err := res.ToString()
	if rueidis.IsRedisNil(err) {
		return session.Record{}, session.ErrNotFound
	}
	if err != nil {
		return session.Record{}, fmt.Errorf("redis: load: %w", err)
	}
	rec, err := decode(id, v)
	if err != nil {
		return session.Record{}, err
	}
	if !rec.Expiry.After(now) {
		return session.Record{}, session.ErrNotFound
	}
	return rec, nil
}

// Save implements session.Store. See the package documentation for how the
// user index is kept and why its update finishes even when ctx is done.
func (s *Store) Save(ctx context.Context, rec session.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redis: save: %w", err)
	}
	t := time.Now()
	if err := session.CheckRecord(rec, t); err != nil {
		return fmt.Errorf("redis: save: %w", err)
	}
	now, exp := t.UnixMilli(), rec.Expiry.UnixMilli()
	if rec.Version == math.MaxUint64 {
		// No save can have stored it: the versions would run out.
		return session.ErrConflict
	}
	if s.recent != nil {
		// Remembered whatever the outcome: after a success the record is
		// at rec.Version+1, and after a conflict or an ambiguous failure
		// at least there (or gone), and the caller, who reloads, must not
		// get the cached version it lost with.
		defer s.recent.add(rec.ID, written{version: rec.Version + 1})
	}
	buf, n := encode(rec.Version, exp, rec.UserID, rec.Data)
	expiry := strconv.FormatInt(exp, 10)
	cas := call{casScript, s.recordKey(rec.ID), []string{
		rueidis.BinaryString(buf[n:]), rueidis.BinaryString(buf[:n]), strconv.FormatInt(exp+skewMillis, 10),
		rec.UserID, strconv.FormatInt(now, 10),
	}}
	if rec.UserID == "" {
		return s.swapped(ctx, rec, s.run(ctx, cas))
	}
	// The index entry goes in the same pipeline, before the outcome of
	// the compare-and-swap is known, so that an authenticated Save costs
	// one round trip. If the swap loses, the entry may name a record that
	// is not this user's: ListByUser checks every entry against its record
	// and drops such strays. Raising a score but never lowering it keeps
	// such a stray from shortening the entry of the record that won.
	idx := call{indexScript, s.indexKey(rec.UserID), []string{rec.ID, expiry}}
	casRes, idxRes := s.runBoth(ctx, cas, idx)
	if err := s.swapped(ctx, rec, casRes); err != nil {
		return err
	}
	if idxRes.Error() == nil {
		return nil
	}
	// The record is written; its entry must be too, or revoking the user's
	// sessions would miss it. Retry once past ctx (the add is idempotent).
	fctx, cancel := finishing(ctx)
	defer cancel()
	if err := s.run(fctx, idx).Error(); err != nil {
		s.unlisted(ctx, rec.ID, err)
		return fmt.Errorf("redis: save: record saved but not added to the user index: %w", err)
	}
	return nil
}

// unlisted reports a record written but missing from its user's index.
func (s *Store) unlisted(ctx context.Context, id string, err error) {
	storelog.Unlisted(ctx, s.log, "redis", id, err)
}

// swapped interprets the reply of the compare-and-swap script, and removes
// the record's entry from the index of the user it belonged to before.
func (s *Store) swapped(ctx context.Context, rec session.Record, res rueidis.RedisResult) error {
	msg, err := res.ToMessage()
	if err != nil {
		return fmt.Errorf("redis: save: %w", err)
	}
	if msg.IsInt64() {
		return nil
	}
	if msg.IsArray() {
		// A conflict, with the live record if there is one.
		arr, _ := msg.ToArray()
		ce := &session.ConflictError{Current: session.Record{ID: rec.ID}}
		if len(arr) > 1 {
			if v, err := arr[1].ToString(); err == nil {
				if cur, err := decode(rec.ID, v); err == nil {
					ce.Current, ce.Found = cur, true
				}
			}
		}
		if !ce.Found && len(arr) > 1 {
			return session.ErrConflict // unreadable: let the caller load it
		}
		return ce
	}
	oldUser, err := msg.ToString()
	if err != nil {
		return fmt.Errorf("redis: save: unexpected reply: %w", err)
	}
	s.unindex(ctx, oldUser, rec.ID)
	return nil
}

// unindex removes ids from userID's index after their records stopped
// being that user's, then reads the records again and puts back the entry
// of any that has meanwhile become that user's again: the removal is not
// atomic with the write that prompted it, and without this check a Save
// moving a record back, whose index add landed just before the removal,
// would be left out of the index for good.
//
// It runs past ctx, bounded by finishTimeout. An entry it fails to remove
// names a record that is not the user's, which ListByUser skips and drops,
// and the entry's score expires it anyway: harmless, and not logged. An
// entry it fails to put back is a live session missing from the index,
// and is logged.
func (s *Store) unindex(ctx context.Context, userID string, ids ...string) {
	ctx, cancel := finishing(ctx)
	defer cancel()
	idx := s.indexKey(userID)
	if s.client.Do(ctx, s.client.B().Zrem().Key(idx).Member(ids...).Build()).Error() != nil {
		return
	}
	gets := make(rueidis.Commands, len(ids))
	for i, id := range ids {
		gets[i] = s.client.B().Get().Key(s.recordKey(id)).Build()
	}
	now := time.Now()
	for i, res := range s.client.DoMulti(ctx, gets...) {
		rec, err := s.decodeLoaded(ids[i], res, now)
		if err == nil && rec.UserID == userID {
			err := s.run(ctx, call{indexScript, idx, []string{rec.ID, strconv.FormatInt(rec.Expiry.UnixMilli(), 10)}}).Error()
			if err != nil {
				s.unlisted(ctx, rec.ID, err)
			}
		}
	}
}

// finishing returns a context for the work that must follow a write even
// if ctx is done by then, bounded by finishTimeout.
func finishing(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redis: delete: %w", err)
	}
	if s.recent != nil {
		defer s.recent.add(id, written{deleted: true})
	}
	msg, err := s.run(ctx, call{deleteScript, s.recordKey(id), nil}).ToMessage()
	if err != nil {
		return fmt.Errorf("redis: delete: %w", err)
	}
	if msg.IsString() {
		userID, _ := msg.ToString()
		s.unindex(ctx, userID, id)
	}
	return nil
}

// ListByUser implements session.Store. It reads the user's index, then
// every record it names, and returns those that are live and still the
// user's. Entries whose record is gone or now another user's are removed
// from the index on the way.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]session.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redis: list by user: %w", err)
	}
	if userID == "" {
		return []session.Record{}, nil
	}
	ids, err := s.run(ctx, call{listScript, s.indexKey(userID), nil}).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("redis: list by user: %w", err)
	}
	out := make([]session.Record, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	gets := make(rueidis.Commands, len(ids))
	for i, id := range ids {
		gets[i] = s.client.B().Get().Key(s.recordKey(id)).Build()
	}
	now := time.Now()
	var stray []string
	for i, res := range s.client.DoMulti(ctx, gets...) {
		rec, err := s.decodeLoaded(ids[i], res, now)
		switch {
		case errors.Is(err, session.ErrNotFound):
			// Expired entries are trimmed by score; one whose record
			// is gone before its expiry is a stray.
			if rueidis.IsRedisNil(res.Error()) {
				stray = append(stray, ids[i])
			}
		case err != nil:
			return nil, fmt.Errorf("redis: list by user: %w", err)
		case rec.UserID != userID:
			stray = append(stray, ids[i])
		default:
			out = append(out, rec)
		}
	}
	if len(stray) > 0 {
		s.unindex(ctx, userID, stray...)
	}
	return out, nil
}

// DeleteExpired implements session.Store. Redis removes expired records and
// indexes by itself, and index entries are trimmed on every index write, so
// there is nothing to do: it returns 0 and an error only if ctx is done.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redis: delete expired: %w", err)
	}
	return 0, nil
}
