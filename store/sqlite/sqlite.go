package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"

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

// Option configures a Store. The options are those of store/mysql too,
// for the same type: the two packages are one implementation on two
// databases.
type Option = sqlstore.Option

// Defaults of the options.
const (
	DefaultTable         = sqlstore.DefaultTable         // "httpstate_sessions"
	DefaultSweepInterval = sqlstore.DefaultSweepInterval // five minutes
	DefaultSweepBatch    = sqlstore.DefaultSweepBatch    // 500 records per statement
)

// The options of Open. Open refuses a table name or a batch size outside
// its rule before it touches the file.
var (
	// WithTable(name) sets the table: 1 to 48 lower-case ASCII letters,
	// digits and underscores, not starting with a digit.
	WithTable = sqlstore.WithTable

	// WithoutMigration() stops Open from creating the table and its
	// indexes (the SQL under Schema below); Open then fails if the table
	// is missing.
	WithoutMigration = sqlstore.WithoutMigration

	// WithSweepInterval(d) sets the mean time between sweeps, each wait
	// drawn from half to one and a half times d; zero or less disables the
	// sweeper.
	WithSweepInterval = sqlstore.WithSweepInterval

	// WithSweepBatch(n) sets how many expired records one sweep statement
	// deletes, 1 to 10,000; each statement holds the file's write lock.
	WithSweepBatch = sqlstore.WithSweepBatch

	// WithLogger(l) sets where sweeps are reported: failures at WARN,
	// completed sweeps at DEBUG (default slog.Default()).
	WithLogger = sqlstore.WithLogger
)

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
	c, err := sqlstore.Configure(dialect.Name, opts)
	if err != nil {
		return nil, err
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
	s, err := sqlstore.New(ctx, dialect, sqlstore.DBs{Read: read, Write: write, Close: closeDBs}, c)
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

// Save implements session.Store.
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
