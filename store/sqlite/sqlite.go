package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/internal/sqlstore"
)

// Store is a session.Store in an SQLite database file. It is safe for
// concurrent use. The zero value is not usable; call Open.
type Store struct {
	s *sqlstore.Store
}

var _ session.Store = (*Store)(nil)

type options = sqlstore.Options

// Option configures a Store.
type Option func(*options)

// WithTable sets the table name (default "httpstate_sessions"): ASCII
// letters, digits and underscores, not starting with a digit, at most 48
// characters. Open rejects any other name.
func WithTable(name string) Option {
	return func(o *options) { o.Table = name }
}

// WithoutMigration stops Open from creating the table and its indexes, for
// deployments that run the CREATE statements of the package documentation
// through their own migrations. Open then fails if the table is missing.
func WithoutMigration() Option {
	return func(o *options) { o.Migrate = false }
}

// WithSweepInterval sets the mean time between sweeps of expired records
// (default five minutes; each wait is drawn from half to one and a half
// times it). Zero or less disables the sweeper; expired records then stay
// in the file, invisible, until DeleteExpired is called.
func WithSweepInterval(d time.Duration) Option {
	return func(o *options) { o.SweepInterval = d }
}

// WithSweepBatch sets how many expired records the sweeper deletes per
// statement (default 500). A sweep repeats batches until one comes back
// short; smaller batches hold the write lock for less time each.
func WithSweepBatch(n int) Option {
	return func(o *options) { o.SweepBatch = n }
}

// WithLogger sets where the sweeper reports failures (default
// slog.Default()). Messages never contain session IDs.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.Logger = l }
}

// Connection settings. WAL lets readers run alongside the writer; the busy
// timeout covers other processes writing the same file (the writer of this
// Store waits its turn in its own pool, not in SQLite); synchronous=NORMAL
// is the durable-across-crashes setting recommended for WAL.
const (
	writerParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	readerParams = "_pragma=busy_timeout(5000)"
)

var dialect = sqlstore.Dialect{
	Name:   "sqlite",
	Schema: schema,
	IsDuplicateKey: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) &&
			(e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
	},
}

// schema returns the statements of the package documentation, for table.
func schema(table string) []string {
	return []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	id         TEXT    NOT NULL PRIMARY KEY,
	user_id    TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	data       BLOB    NOT NULL
)`, quote(table)),
		fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (user_id)", quote(table+"_user_id"), quote(table)),
		fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (expires_at)", quote(table+"_expires_at"), quote(table)),
	}
}

func quote(name string) string { return "`" + name + "`" }

// Open opens (creating if needed) the SQLite database file at path and
// returns a Store on it, with its table created unless WithoutMigration is
// given and its sweeper running. ctx bounds the opening only. The Store
// owns its connections; Close releases them.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := sqlstore.Defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if err := sqlstore.ValidateTable(o.Table); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	uri, err := fileURI(path)
	if err != nil {
		return nil, err
	}
	write, err := sql.Open("sqlite", uri+"?"+writerParams)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	read, err := sql.Open("sqlite", uri+"?"+readerParams)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// SQLite runs one write transaction at a time per file. One writer
	// connection makes writers queue in database/sql, where waiting honours
	// each caller's context, instead of failing with SQLITE_BUSY or polling
	// in SQLite's busy handler.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	// Readers never block each other or the writer in WAL mode. The driver
	// is pure Go and CPU-bound, so more readers than CPUs would only queue
	// inside the scheduler; idle ones are kept to avoid reopening the file.
	readers := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	closeDBs := func() error { return errors.Join(read.Close(), write.Close()) }
	s, err := sqlstore.New(ctx, dialect, sqlstore.DBs{Read: read, Write: write, Close: closeDBs}, o)
	if err != nil {
		closeDBs()
		return nil, err
	}
	return &Store{s: s}, nil
}

// fileURI turns a file path into the "file:" URI SQLite opens, so that
// characters such as '?' and '#' in the path are taken literally.
func fileURI(path string) (string, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return "", fmt.Errorf("sqlite: %q is not a file path (use store/memory for an in-memory store)", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite: %w", err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), nil
}

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, id string) (session.Record, error) {
	return s.s.Load(ctx, id)
}

// Save implements session.Store. Record IDs and user IDs are limited to
// 255 bytes.
func (s *Store) Save(ctx context.Context, rec session.Record) error {
	return s.s.Save(ctx, rec)
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	return s.s.Delete(ctx, id)
}

// ListByUser implements session.Store.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]session.Record, error) {
	return s.s.ListByUser(ctx, userID)
}

// DeleteExpired implements session.Store. It deletes at most 500 records
// per statement, whatever limit is.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	return s.s.DeleteExpired(ctx, limit)
}

// Close stops the sweeper and closes the database. The Store must not be
// used afterwards. Close is safe to call more than once.
func (s *Store) Close() error {
	return s.s.Close()
}
