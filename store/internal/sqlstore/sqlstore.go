// Package sqlstore is the session.Store that store/sqlite and store/mysql
// share: one table, the same queries, the same compare-and-swap and the same
// sweeper. Each of those packages supplies a Dialect (its schema and how its
// driver reports a duplicate key) and the connection pools.
//
// Every statement is a single autocommit statement, so there are no
// transactions to deadlock or to hold locks across round trips:
//
//   - Save of a loaded version is one UPDATE whose WHERE clause is the
//     compare-and-swap (id, version, and still live). The UPDATE always
//     changes the version column, so its affected-rows count is 1 exactly
//     when the condition held, whatever MySQL's clientFoundRows setting.
//   - Save of a new record is an INSERT; if the ID is taken, an UPDATE that
//     only matches an expired row takes it over. Each statement checks and
//     writes atomically, so a live row is never overwritten.
//   - DeleteExpired selects a batch of expired IDs with a plain read, then
//     deletes exactly those IDs, if still expired, through the primary key
//     in ascending order. Sweepers on many app instances therefore lock rows
//     in the same order and hold no gap locks on the expiry index: they
//     cannot deadlock with each other or with saves.
//
// Expiry is stored as BIGINT unix milliseconds and judged by the clock of
// the process that calls, in every method: the one that saves, loads,
// lists or sweeps. App servers sharing one database must keep their clocks
// within session.MaxClockSkew of each other.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/httpstate/httpstate/internal/sweeper"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/internal/sqlident"
	"github.com/httpstate/httpstate/store/internal/storelog"
)

// Defaults of the options, exported again by store/sqlite and store/mysql.
const (
	// DefaultTable is the table a Store uses unless told otherwise. The
	// prefix keeps it clear of an application's own "sessions" table.
	DefaultTable = "httpstate_sessions"

	// DefaultSweepInterval is the mean time between two sweeps.
	DefaultSweepInterval = sweeper.DefaultInterval

	// DefaultSweepBatch is how many records one sweep statement deletes
	// at most.
	DefaultSweepBatch = sweeper.DefaultBatch
)

// maxChunk bounds how many IDs one DELETE of DeleteExpired names, whatever
// the caller's limit: it keeps statements small and lock hold times short.
// The sweeper uses its own batch size instead.
const maxChunk = 500

// Dialect is what differs between the databases behind a Store.
type Dialect struct {
	// Name prefixes errors and names the store in log messages: "sqlite",
	// "mysql".
	Name string

	// Schema returns the statements that create the table and its indexes.
	// Each must be idempotent (IF NOT EXISTS).
	Schema func(table string) []string

	// IsDuplicateKey reports whether err is the driver's report of a
	// primary key violation.
	IsDuplicateKey func(error) bool
}

// Option configures a Store of store/sqlite or store/mysql, which export
// these constructors under the same names, for the same type.
type Option func(*Config)

// Config is what the options set; Configure checks it.
type Config struct {
	table         string
	migrate       bool
	sweepInterval time.Duration
	sweepBatch    int
	log           *slog.Logger
}

// WithTable sets the name of the table (default DefaultTable): 1 to 48
// lower-case ASCII letters, digits and underscores, not starting with a
// digit, the rule of every SQL store in this module (see package
// store/internal/sqlident for why). New and Open refuse any other name
// before touching the database.
func WithTable(name string) Option {
	return func(c *Config) { c.table = name }
}

// WithoutMigration stops New and Open from creating the table and its
// indexes, for deployments that run the CREATE statements of the package
// documentation through their own migrations, or whose database user may
// not create tables. They then fail, naming the table, if it is missing.
func WithoutMigration() Option {
	return func(c *Config) { c.migrate = false }
}

// WithSweepInterval sets the mean time between two runs of the background
// sweeper, which deletes expired records (default DefaultSweepInterval).
// Each wait is drawn at random from half to one and a half times it, so
// that app instances sharing a table spread their sweeps. Zero or less
// disables the sweeper, for example on all instances but one, or when a
// cron job calls DeleteExpired: expired records are then invisible but
// stay in the table.
func WithSweepInterval(d time.Duration) Option {
	return func(c *Config) { c.sweepInterval = d }
}

// WithSweepBatch sets how many expired records one statement of the
// sweeper deletes at most (default DefaultSweepBatch); a sweep repeats
// statements until one deletes fewer. Smaller batches hold locks for less
// time each. New and Open refuse a batch outside 1 to 10,000.
func WithSweepBatch(n int) Option {
	return func(c *Config) { c.sweepBatch = n }
}

// WithLogger sets where the store logs (default slog.Default()): a failed
// sweep at WARN level, and each completed sweep, with how many records it
// deleted, at DEBUG level. Failures caused by Close are not logged.
// Messages never hold a session ID, user ID or token. A nil logger means
// the default.
func WithLogger(l *slog.Logger) Option {
	return func(c *Config) { c.log = l }
}

// Configure applies opts to the defaults and checks the result. The
// public packages call it before opening anything, so that a bad option
// fails without side effects.
func Configure(name string, opts []Option) (Config, error) {
	c := Config{table: DefaultTable, migrate: true, sweepInterval: DefaultSweepInterval, sweepBatch: DefaultSweepBatch}
	for _, o := range opts {
		o(&c)
	}
	c.log = storelog.Or(c.log)
	if err := sqlident.CheckTable(c.table); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	if err := sweeper.CheckBatch(c.sweepBatch); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// DBs are the connection pools a Store uses. Read and Write may be the same
// pool; SQLite gives writes a single connection of their own.
type DBs struct {
	Read, Write *sql.DB

	// Close, if not nil, is called by Store.Close. Set it only when the
	// Store owns the pools: a pool the application passed in stays open.
	Close func() error
}

// Store implements session.Store on database/sql.
type Store struct {
	name     string
	table    string // quoted
	isDupKey func(error) bool
	read     *sql.DB
	write    *sql.DB
	closeDBs func() error

	load, list, expired          *sql.Stmt // on read
	update, insert, replace, del *sql.Stmt // on write

	sweeper   *sweeper.Sweeper
	closeOnce sync.Once
	closeErr  error
}

// New returns a Store on the pools in dbs, configured by c (from
// Configure). It connects, creates the table when migration is on, then
// prepares every statement, which checks that the table exists with the
// expected columns: a missing table is reported here, at startup, rather
// than on the first request. New does not close dbs when it fails.
func New(ctx context.Context, d Dialect, dbs DBs, c Config) (*Store, error) {
	s := &Store{
		name:     d.Name,
		table:    "`" + c.table + "`",
		isDupKey: d.IsDuplicateKey,
		read:     dbs.Read,
		write:    dbs.Write,
		closeDBs: dbs.Close,
	}
	// Connect first, so that a server that is down is not reported below
	// as a missing table.
	for _, db := range []*sql.DB{s.write, s.read} {
		if err := db.PingContext(ctx); err != nil {
			return nil, fmt.Errorf("%s: connecting: %w", d.Name, err)
		}
	}
	if c.migrate {
		for _, stmt := range d.Schema(c.table) {
			if _, err := s.write.ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("%s: creating table %s: %w", d.Name, c.table, err)
			}
		}
	}
	if err := s.prepare(ctx); err != nil {
		s.closeStmts()
		return nil, fmt.Errorf("%s: table %s is missing or lacks the columns this store uses "+
			"(create it with the SQL in the package documentation, or leave migration on): %w", d.Name, c.table, err)
	}
	batch := c.sweepBatch
	s.sweeper = sweeper.Start(c.sweepInterval, sweeper.Batches(d.Name, batch, c.log,
		func(ctx context.Context, limit int) (int, error) { return s.deleteExpired(ctx, limit, batch) }))
	return s, nil
}

func (s *Store) prepare(ctx context.Context) error {
	t := s.table
	stmts := []struct {
		dst  **sql.Stmt
		db   *sql.DB
		text string
	}{
		// Writes first: on SQLite the writer's connection is the one that
		// switches the file to WAL mode, before any reader opens it.
		{&s.update, s.write, "UPDATE " + t + " SET version = version + 1, user_id = ?, expires_at = ?, data = ? WHERE id = ? AND version = ? AND expires_at > ?"},
		{&s.insert, s.write, "INSERT INTO " + t + " (id, user_id, version, expires_at, data) VALUES (?, ?, 1, ?, ?)"},
		{&s.replace, s.write, "UPDATE " + t + " SET version = 1, user_id = ?, expires_at = ?, data = ? WHERE id = ? AND expires_at <= ?"},
		{&s.del, s.write, "DELETE FROM " + t + " WHERE id = ?"},
		{&s.load, s.read, "SELECT user_id, version, expires_at, data FROM " + t + " WHERE id = ? AND expires_at > ?"},
		{&s.list, s.read, "SELECT id, version, expires_at, data FROM " + t + " WHERE user_id = ? AND expires_at > ?"},
		{&s.expired, s.read, "SELECT id FROM " + t + " WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"},
	}
	for _, st := range stmts {
		p, err := st.db.PrepareContext(ctx, st.text)
		if err != nil {
			return err
		}
		*st.dst = p
	}
	return nil
}

func (s *Store) closeStmts() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.load, s.list, s.expired, s.update, s.insert, s.replace, s.del} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// Close stops the sweeper (canceling a sweep in progress and waiting for
// it), releases the prepared statements and, if the Store owns its pools,
// closes them. The Store must not be used afterwards. Close is safe to call
// more than once and concurrently.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.sweeper.Stop()
		err := s.closeStmts()
		if s.closeDBs != nil {
			err = errors.Join(err, s.closeDBs())
		}
		if err != nil {
			s.closeErr = fmt.Errorf("%s: close: %w", s.name, err)
		}
	})
	return s.closeErr
}

func (s *Store) fail(op string, err error) error {
	return fmt.Errorf("%s: %s: %w", s.name, op, err)
}

func nowMilli() int64 { return time.Now().UnixMilli() }

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, id string) (session.Record, error) {
	rec := session.Record{ID: id}
	var exp int64
	err := s.load.QueryRowContext(ctx, id, nowMilli()).Scan(&rec.UserID, &rec.Version, &exp, &rec.Data)
	if errors.Is(err, sql.ErrNoRows) {
		if ctx.Err() == nil {
			return session.Record{}, session.ErrNotFound
		}
		// No row may mean the query was cut short. An error is the safe
		// answer, as "not found" would log the user out.
		err = ctx.Err()
	}
	if err != nil {
		return session.Record{}, s.fail("load", err)
	}
	rec.Expiry = time.UnixMilli(exp)
	return rec, nil
}

// Save implements session.Store.
func (s *Store) Save(ctx context.Context, rec session.Record) error {
	// Limits are checked here, in Go, so that every database refuses the
	// same records instead of silently truncating them (MySQL outside
	// strict mode). Expiry is compared in milliseconds, as stored.
	t := time.Now().Truncate(time.Millisecond)
	if err := session.CheckRecord(rec, t); err != nil {
		return s.fail("save", err)
	}
	now, exp := t.UnixMilli(), rec.Expiry.UnixMilli()
	data := rec.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL; nil would bind as NULL
	}
	if rec.Version > 0 {
		n, err := affected(s.update.ExecContext(ctx, rec.UserID, exp, data, rec.ID, rec.Version, now))
		if err != nil {
			return s.fail("save", err)
		}
		if n == 0 {
			return session.ErrConflict
		}
		return nil
	}
	for attempt := 0; ; attempt++ {
		_, err := s.insert.ExecContext(ctx, rec.ID, rec.UserID, exp, data)
		if err == nil {
			return nil
		}
		if !s.isDupKey(err) {
			return s.fail("save", err)
		}
		// The ID is taken. An expired row is absent by contract, so it may
		// be taken over; a live one may not.
		n, err := affected(s.replace.ExecContext(ctx, rec.UserID, exp, data, rec.ID, now))
		if err != nil {
			return s.fail("save", err)
		}
		if n == 1 {
			return nil
		}
		// The row is live, or a sweeper removed it between the two
		// statements; a second INSERT tells which.
		if attempt == 1 {
			return session.ErrConflict
		}
	}
}

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if _, err := s.del.ExecContext(ctx, id); err != nil {
		return s.fail("delete", err)
	}
	return nil
}

// ListByUser implements session.Store.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]session.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.fail("list", err)
	}
	out := []session.Record{}
	if userID == "" {
		return out, nil // anonymous sessions are not a user's
	}
	rows, err := s.list.QueryContext(ctx, userID, nowMilli())
	if err != nil {
		return nil, s.fail("list", err)
	}
	defer rows.Close()
	for rows.Next() {
		rec := session.Record{UserID: userID}
		var exp int64
		if err := rows.Scan(&rec.ID, &rec.Version, &exp, &rec.Data); err != nil {
			return nil, s.fail("list", err)
		}
		rec.Expiry = time.UnixMilli(exp)
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list", err)
	}
	return out, nil
}

// DeleteExpired implements session.Store. It deletes at most 500 records
// per statement, whatever limit is.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	return s.deleteExpired(ctx, limit, maxChunk)
}

// deleteExpired deletes up to limit expired records (all of them if limit
// is 0 or less), at most chunk per statement.
func (s *Store) deleteExpired(ctx context.Context, limit, chunk int) (int, error) {
	now := nowMilli()
	removed := 0
	for limit <= 0 || removed < limit {
		n := chunk
		if limit > 0 {
			n = min(n, limit-removed)
		}
		ids, err := s.expiredIDs(ctx, now, n)
		if err != nil {
			return removed, s.fail("delete expired", err)
		}
		if len(ids) == 0 {
			break
		}
		deleted, err := s.deleteIDs(ctx, now, ids)
		removed += deleted
		if err != nil {
			return removed, s.fail("delete expired", err)
		}
		if len(ids) < n {
			break
		}
	}
	return removed, nil
}

func (s *Store) expiredIDs(ctx context.Context, now int64, n int) ([]string, error) {
	rows, err := s.expired.QueryContext(ctx, now, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// deleteIDs removes the listed records if they are still expired: one may
// have been taken over by a new Save since it was selected.
func (s *Store) deleteIDs(ctx context.Context, now int64, ids []string) (int, error) {
	// Ascending primary-key order, so that concurrent sweepers lock rows
	// in the same order and never wait on each other in a cycle.
	slices.Sort(ids)
	// "expires_at + 0" keeps the optimizer off the expiry index (MariaDB
	// prefers it for small batches): a range scan there would take
	// next-key locks on the gap where new expiries are inserted. Through
	// the primary key the statement locks only the rows it names.
	var q strings.Builder
	q.WriteString("DELETE FROM " + s.table + " WHERE expires_at + 0 <= ? AND id IN (?")
	q.WriteString(strings.Repeat(", ?", len(ids)-1))
	q.WriteString(")")
	args := make([]any, 0, len(ids)+1)
	args = append(args, now)
	for _, id := range ids {
		args = append(args, id)
	}
	n, err := affected(s.write.ExecContext(ctx, q.String(), args...))
	return int(n), err
}
