package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/httpstate/httpstate/internal/sweeper"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/internal/storelog"
)

// Defaults of the options.
const (
	// DefaultTable is the table a Store uses without WithTable. It is not
	// "sessions", which many apps already have for something else.
	DefaultTable = "httpstate_sessions"

	// DefaultSweepInterval is the mean time between two background
	// sweeps without WithSweepInterval: five minutes.
	DefaultSweepInterval = sweeper.DefaultInterval

	// DefaultSweepBatch is how many expired rows one sweep statement
	// deletes at most without WithSweepBatch: 500.
	DefaultSweepBatch = sweeper.DefaultBatch
)

// connectTimeout bounds how long a pool created by Open spends on one new
// connection when its URL sets no connect_timeout. A caller's deadline ends
// the call that waits for the connection anyway, but pgxpool finishes the
// connection attempt in the background, and against a server that accepts
// connections and never answers that attempt would hold a pool slot until
// the pool is closed.
const connectTimeout = 10 * time.Second

// ErrNoTable reports that the session table does not exist. It only
// happens with WithoutMigration (or when the table is dropped under a
// running store); create the table with the SQL in the package
// documentation.
var ErrNoTable = errors.New("postgres: session table does not exist")

// Store is a session.Store on a PostgreSQL table. It is safe for concurrent
// use, and any number of Stores, in any number of processes, may share one
// table. The zero value is not usable; call New or Open.
type Store struct {
	pool    *pgxpool.Pool
	ownPool bool
	name    string // the table as written in SQL, for error messages
	q       queries

	sweeper   *sweeper.Sweeper
	closeOnce sync.Once
}

// Option configures a Store.
type Option func(*config)

type config struct {
	table, schema string
	noMigration   bool
	sweepInterval time.Duration
	sweepBatch    int
	log           *slog.Logger
}

// WithTable sets the name of the table (default DefaultTable): 1 to 48
// lower-case ASCII letters, digits and underscores, not starting with a
// digit, the rule of every SQL store in this module. New and Open refuse
// any other name before touching the database, so that no name can inject
// SQL, read differently quoted and unquoted (PostgreSQL folds unquoted
// names to lower case), or collide with another table's index names,
// which append up to 15 characters to it within PostgreSQL's 63-byte
// limit.
func WithTable(name string) Option {
	return func(c *config) { c.table = name }
}

// WithSchema puts the table in the named schema, which must already exist,
// instead of the first schema of the connection's search_path. The rules
// for the name are those of WithTable, with up to 63 characters.
func WithSchema(name string) Option {
	return func(c *config) { c.schema = name }
}

// WithoutMigration stops New from creating the table and its indexes, for
// deployments that run their own migrations (with the SQL in the package
// documentation) or whose database user may not create tables. New then
// does no I/O at all, and a missing table shows up as an error wrapping
// ErrNoTable from every method.
func WithoutMigration() Option {
	return func(c *config) { c.noMigration = true }
}

// WithSweepInterval sets the mean time between two runs of the
// background sweeper that deletes expired rows (default
// DefaultSweepInterval). Each wait is drawn at random from half to one and
// a half times the interval, so that many instances on one table spread
// their sweeps. Zero or less disables the sweeper, for example on all
// instances but one, or when a cron job calls DeleteExpired: expired rows
// are then invisible but stay in the table.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) { c.sweepInterval = d }
}

// WithSweepBatch sets how many expired rows one statement of the sweeper
// deletes at most (default DefaultSweepBatch); a sweep repeats statements
// until one deletes fewer. Small batches keep each statement's locks and
// its write-ahead log burst small. New and Open refuse a batch outside 1
// to 10,000.
func WithSweepBatch(n int) Option {
	return func(c *config) { c.sweepBatch = n }
}

// WithLogger sets where the store logs (default slog.Default()): a failed
// sweep at WARN level, and each completed sweep, with how many rows it
// deleted, at DEBUG level. Failures caused by Close are not logged.
// Messages never hold a session ID, user ID or token. A nil logger means
// the default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}

// New returns a Store that keeps its records in a table reached through
// pool. Unless WithoutMigration is given, New creates the table and its
// indexes if they do not exist yet, and returns an error if it cannot. The
// pool stays the caller's: Close does not close it. The pool must connect
// to the primary server; see the package documentation.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: New: nil pool")
	}
	c, t, err := configure(opts)
	if err != nil {
		return nil, err
	}
	return newStore(ctx, pool, false, c, t)
}

// Open creates a pool from a PostgreSQL URL or keyword/value connection
// string (see pgxpool.ParseConfig) and returns a Store on it, as New does.
// The Store owns the pool and Close closes it. When the connection string
// sets no connect_timeout, Open sets 10 seconds.
func Open(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	c, t, err := configure(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("postgres: Open: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: Open: %w", err)
	}
	s, err := newStore(ctx, pool, true, c, t)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// configure applies opts to the defaults and checks the result.
func configure(opts []Option) (config, table, error) {
	c := config{table: DefaultTable, sweepInterval: DefaultSweepInterval, sweepBatch: DefaultSweepBatch}
	for _, o := range opts {
		o(&c)
	}
	c.log = storelog.Or(c.log)
	if err := sweeper.CheckBatch(c.sweepBatch); err != nil {
		return c, table{}, fmt.Errorf("postgres: %w", err)
	}
	t, err := newTable(c.schema, c.table)
	return c, t, err
}

func newStore(ctx context.Context, pool *pgxpool.Pool, own bool, c config, t table) (*Store, error) {
	if !c.noMigration {
		if err := t.migrate(ctx, pool); err != nil {
			return nil, err
		}
	}
	s := &Store{pool: pool, ownPool: own, name: t.ref, q: t.queries()}
	s.sweeper = sweeper.Start(c.sweepInterval, sweeper.Batches("postgres", c.sweepBatch, c.log, s.DeleteExpired))
	return s, nil
}

// Close stops the background sweeper, waiting for a sweep in progress to
// be canceled, and closes the pool if Open created it. A pool given to New
// stays open. Close is safe to call more than once and concurrently; the
// Store must not be used after it.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.sweeper.Stop()
		if s.ownPool {
			s.pool.Close()
		}
	})
	return nil
}

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, id string) (session.Record, error) {
	if !session.ValidID(id) {
		// No row can have this ID, and PostgreSQL would refuse some such
		// strings (NUL bytes, invalid UTF-8) as text.
		if err := ctx.Err(); err != nil {
			return session.Record{}, s.fail(ctx, "load", err)
		}
		return session.Record{}, session.ErrNotFound
	}
	rec := session.Record{ID: id}
	var version int64
	err := s.pool.QueryRow(ctx, s.q.load, id).Scan(&rec.UserID, &version, &rec.Expiry, &rec.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return session.Record{}, session.ErrNotFound
	}
	if err != nil {
		return session.Record{}, s.fail(ctx, "load", err)
	}
	rec.Version = uint64(version)
	return rec, nil
}

// Save implements session.Store. The compare-and-swap is one statement: an
// UPDATE guarded by the version and the expiry, or for Version 0 an INSERT
// whose ON CONFLICT clause only replaces an expired row.
func (s *Store) Save(ctx context.Context, rec session.Record) error {
	// The limits are checked against this process's clock; the row's
	// liveness is judged by the server's (see the package documentation).
	if err := session.CheckRecord(rec, time.Now()); err != nil {
		return fmt.Errorf("postgres: save: %w", err)
	}
	if rec.Version > math.MaxInt64 {
		// bigint cannot hold it, so no stored version equals it.
		return session.ErrConflict
	}
	var (
		tag      pgconn.CommandTag
		err      error
		conflict error
	)
	if rec.Version == 0 {
		tag, err = s.pool.Exec(ctx, s.q.insert, rec.ID, rec.UserID, rec.Expiry, data(rec.Data))
	} else {
		conflict, err = s.update(ctx, rec)
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "40001" {
			// Under REPEATABLE READ or SERIALIZABLE as the pool's default,
			// a concurrent writer of the row makes PostgreSQL abort the
			// statement instead of re-checking the version; either way
			// another writer won and nothing was written.
			return fmt.Errorf("postgres: save: %w (%w)", session.ErrConflict, err)
		}
		return s.fail(ctx, "save", err)
	}
	if conflict != nil {
		return conflict
	}
	if rec.Version == 0 && tag.RowsAffected() == 0 {
		return session.ErrConflict
	}
	return nil
}

// update runs the compare-and-swap of a loaded version. It returns nil if
// it wrote, and the conflict, with the current row when it has it, if it
// did not.
func (s *Store) update(ctx context.Context, rec session.Record) (conflict, err error) {
	var (
		updated bool
		user    *string
		version *int64
		expiry  *time.Time
		cur     []byte
	)
	err = s.pool.QueryRow(ctx, s.q.update, rec.ID, int64(rec.Version), rec.UserID, rec.Expiry, data(rec.Data)).
		Scan(&updated, &user, &version, &expiry, &cur)
	if err != nil || updated {
		return nil, err
	}
	if version != nil && *version == int64(rec.Version) {
		// The row as the statement's snapshot saw it, still at the version
		// the UPDATE expected: the UPDATE waited for a concurrent writer's
		// row lock and, once that writer committed, found a newer version
		// than the snapshot shows. A retry on this row would lose for
		// certain; a plain conflict makes the caller load the row afresh.
		return session.ErrConflict, nil
	}
	ce := &session.ConflictError{Current: session.Record{ID: rec.ID}, Found: version != nil}
	if ce.Found {
		ce.Current = session.Record{ID: rec.ID, UserID: *user, Version: uint64(*version), Expiry: *expiry, Data: cur}
	}
	return ce, nil
}

// data keeps an empty Data from being sent as NULL, which the NOT NULL
// column would refuse.
func data(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !session.ValidID(id) {
		// No row can have this ID.
		if err := ctx.Err(); err != nil {
			return s.fail(ctx, "delete", err)
		}
		return nil
	}
	if _, err := s.pool.Exec(ctx, s.q.delete, id); err != nil {
		return s.fail(ctx, "delete", err)
	}
	return nil
}

// ListByUser implements session.Store.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]session.Record, error) {
	if userID == "" || !session.ValidUserID(userID) {
		// Anonymous sessions are not indexed (see the partial index), and
		// no row can hold a user ID outside the limits.
		if err := ctx.Err(); err != nil {
			return nil, s.fail(ctx, "list by user", err)
		}
		return []session.Record{}, nil
	}
	rows, err := s.pool.Query(ctx, s.q.list, userID)
	if err != nil {
		return nil, s.fail(ctx, "list by user", err)
	}
	defer rows.Close()
	out := []session.Record{}
	for rows.Next() {
		rec := session.Record{UserID: userID}
		var version int64
		if err := rows.Scan(&rec.ID, &version, &rec.Expiry, &rec.Data); err != nil {
			return nil, s.fail(ctx, "list by user", err)
		}
		rec.Version = uint64(version)
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list by user", err)
	}
	return out, nil
}

// DeleteExpired implements session.Store. Rows that another transaction
// has locked, such as another Store's concurrent DeleteExpired, are skipped
// rather than waited for, so instances sweeping one table at the same time
// share the work instead of queueing behind each other.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	var lim any // NULL: LIMIT NULL is LIMIT ALL
	if limit > 0 {
		lim = int64(limit)
	}
	tag, err := s.pool.Exec(ctx, s.q.deleteExpired, lim)
	if err != nil {
		return 0, s.fail(ctx, "delete expired", err)
	}
	return int(tag.RowsAffected()), nil
}

// fail wraps err for the operation op. A missing table becomes ErrNoTable,
// and when ctx is done the result wraps ctx.Err() even if the driver's
// error does not, so that callers can always tell a timeout from an
// outage.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return fmt.Errorf("postgres: %s: %w: %s (create it with the SQL in the package documentation): %w", op, ErrNoTable, s.name, err)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("postgres: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
