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
// Expiry is stored as BIGINT unix milliseconds and compared with the clock
// of the calling process, like the other stores; app servers sharing one
// database need synchronised clocks (NTP), as they do for cookies anyway.
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
)

// MaxTableLen bounds table names so that "<table>_expires_at" fits
// MySQL's 64-byte identifiers.
const MaxTableLen = 48

// DefaultTable is the table a Store uses unless told otherwise. The prefix
// keeps it clear of an application's own "sessions" table.
const DefaultTable = "httpstate_sessions"

// maxChunk bounds how many IDs one DELETE names, whatever the caller's
// limit: it keeps statements small and lock hold times short.
const maxChunk = 500

// Dialect is what differs between the databases behind a Store.
type Dialect struct {
	// Name prefixes errors and log messages: "sqlite", "mysql".
	Name string

	// Schema returns the statements that create the table and its indexes.
	// Each must be idempotent (IF NOT EXISTS).
	Schema func(table string) []string

	// IsDuplicateKey reports whether err is the driver's report of a
	// primary key violation.
	IsDuplicateKey func(error) bool
}

// Options configure a Store. The public packages set them through their
// functional options; Defaults returns the starting point.
type Options struct {
	Table         string        // validated by New: see ValidateTable
	Migrate       bool          // run Dialect.Schema in New
	SweepInterval time.Duration // mean time between sweeps; zero or less disables the sweeper
	SweepBatch    int           // records per DeleteExpired call of the sweeper
	Logger        *slog.Logger  // receives sweeper failures; nil means slog.Default()
}

// Defaults returns the default Options: the default table, created if
// missing, swept every five minutes in batches of 500.
func Defaults() Options {
	return Options{Table: DefaultTable, Migrate: true, SweepInterval: 5 * time.Minute, SweepBatch: maxChunk}
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
	log      *slog.Logger
	batch    int

	load, list, expired          *sql.Stmt // on read
	update, insert, replace, del *sql.Stmt // on write

	sweeper   *sweeper.Sweeper
	closeOnce sync.Once
	closeErr  error
}

// ValidateTable reports whether name can be used as a table name: ASCII
// letters, digits and underscores, not starting with a digit, at most
// MaxTableLen bytes. Names are spliced into SQL text (placeholders cannot
// stand for identifiers), so nothing else is let through.
func ValidateTable(name string) error {
	if name == "" || len(name) > MaxTableLen {
		return fmt.Errorf("table name must have 1 to %d characters, has %d", MaxTableLen, len(name))
	}
	for i, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return fmt.Errorf("table name %q may only hold ASCII letters, digits and underscores, and must not start with a digit", name)
		}
	}
	return nil
}

// New returns a Store on the pools in dbs. It connects, creates the table
// when o.Migrate is set, then prepares every statement, which checks that
// the table exists with the expected columns: a missing table is reported
// here, at startup, rather than on the first request. New does not close
// dbs when it fails.
func New(ctx context.Context, d Dialect, dbs DBs, o Options) (*Store, error) {
	if err := ValidateTable(o.Table); err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	if o.SweepBatch <= 0 {
		return nil, fmt.Errorf("%s: sweep batch size must be positive, is %d", d.Name, o.SweepBatch)
	}
	s := &Store{
		name:     d.Name,
		table:    "`" + o.Table + "`",
		isDupKey: d.IsDuplicateKey,
		read:     dbs.Read,
		write:    dbs.Write,
		closeDBs: dbs.Close,
		log:      o.Logger,
		batch:    o.SweepBatch,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	// Connect first, so that a server that is down is not reported below
	// as a missing table.
	for _, db := range []*sql.DB{s.write, s.read} {
		if err := db.PingContext(ctx); err != nil {
			return nil, fmt.Errorf("%s: connecting: %w", d.Name, err)
		}
	}
	if o.Migrate {
		for _, stmt := range d.Schema(o.Table) {
			if _, err := s.write.ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("%s: creating table %s: %w", d.Name, o.Table, err)
			}
		}
	}
	if err := s.prepare(ctx); err != nil {
		s.closeStmts()
		return nil, fmt.Errorf("%s: table %s is missing or lacks the columns this store uses "+
			"(create it with the SQL in the package documentation, or leave migration on): %w", d.Name, o.Table, err)
	}
	s.sweeper = sweeper.Start(o.SweepInterval, s.sweep)
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

// DeleteExpired implements session.Store.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	now := nowMilli()
	removed := 0
	for limit <= 0 || removed < limit {
		chunk := maxChunk
		if limit > 0 {
			chunk = min(chunk, limit-removed)
		}
		ids, err := s.expiredIDs(ctx, now, chunk)
		if err != nil {
			return removed, s.fail("delete expired", err)
		}
		if len(ids) == 0 {
			break
		}
		n, err := s.deleteIDs(ctx, now, ids)
		removed += n
		if err != nil {
			return removed, s.fail("delete expired", err)
		}
		if len(ids) < chunk {
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

// sweep removes expired records batch by batch until a batch comes back
// short, so no single statement holds many locks.
func (s *Store) sweep(ctx context.Context) {
	for {
		n, err := s.DeleteExpired(ctx, s.batch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn(s.name+": removing expired sessions failed; the next sweep will retry", "err", err)
			}
			return
		}
		if n < s.batch {
			return
		}
	}
}
