package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/internal/sqlstore"
)

// Store is a session.Store in a MySQL or MariaDB table. It is safe for
// concurrent use, also by many processes sharing the table. The zero value
// is not usable; call New or Open.
type Store struct {
	s *sqlstore.Store
}

var _ session.Store = (*Store)(nil)

// Option configures a Store. The options are those of store/sqlite too,
// for the same type: the two packages are one implementation on two
// databases.
type Option = sqlstore.Option

// Defaults of the options.
const (
	DefaultTable         = sqlstore.DefaultTable         // "httpstate_sessions"
	DefaultSweepInterval = sqlstore.DefaultSweepInterval // five minutes
	DefaultSweepBatch    = sqlstore.DefaultSweepBatch    // 500 records per statement
)

// The options of New and Open, which refuse a table name or a batch size
// outside its rule before they touch the database.
var (
	// WithTable(name) sets the table: 1 to 48 lower-case ASCII letters,
	// digits and underscores, not starting with a digit.
	WithTable = sqlstore.WithTable

	// WithoutMigration() stops New and Open from creating the table (the
	// SQL under Schema below), for a database user that may not; they then
	// fail if the table is missing.
	WithoutMigration = sqlstore.WithoutMigration

	// WithSweepInterval(d) sets the mean time between sweeps, each wait
	// drawn from half to one and a half times d so that app instances
	// spread out; zero or less disables the sweeper, as on all instances
	// but one.
	WithSweepInterval = sqlstore.WithSweepInterval

	// WithSweepBatch(n) sets how many expired rows one sweep statement
	// deletes and so locks, 1 to 10,000.
	WithSweepBatch = sqlstore.WithSweepBatch

	// WithLogger(l) sets where sweeps are reported: failures at WARN,
	// completed sweeps at DEBUG (default slog.Default()).
	WithLogger = sqlstore.WithLogger
)

// errDuplicateKey is MySQL's and MariaDB's ER_DUP_ENTRY.
const errDuplicateKey = 1062

var dialect = sqlstore.Dialect{
	Name:   "mysql",
	Schema: schema,
	IsDuplicateKey: func(err error) bool {
		var e *driver.MySQLError
		return errors.As(err, &e) && e.Number == errDuplicateKey
	},
}

// schema returns the statement of the package documentation, for table.
func schema(table string) []string {
	return []string{fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	id         VARBINARY(255)  NOT NULL,
	user_id    VARBINARY(255)  NOT NULL,
	version    BIGINT UNSIGNED NOT NULL,
	expires_at BIGINT          NOT NULL,
	data       LONGBLOB        NOT NULL,
	PRIMARY KEY (id),
	KEY %s (user_id),
	KEY %s (expires_at)
) ENGINE=InnoDB`, quote(table), quote(table+"_user_id"), quote(table+"_expires_at"))}
}

func quote(name string) string { return "`" + name + "`" }

// New returns a Store on db, with its table created unless
// WithoutMigration is given and its sweeper running. ctx bounds the setup
// only.
//
// The Store borrows db: Close leaves it open, and db's pool settings are
// the caller's to choose. Any DSN options work; see the package
// documentation for the ones that matter.
func New(ctx context.Context, db *sql.DB, opts ...Option) (*Store, error) {
	c, err := sqlstore.Configure(dialect.Name, opts)
	if err != nil {
		return nil, err
	}
	return newStore(ctx, db, nil, c)
}

// Open connects to the database named by dsn (in the go-sql-driver/mysql
// format, such as "user:password@tcp(127.0.0.1:3306)/app") and returns a
// Store on it, as New does. The Store owns this connection pool (up to 16
// idle connections, each replaced after five minutes; use New for other
// settings) and Close closes it.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	c, err := sqlstore.Configure(dialect.Name, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	connector, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(connector)
	// database/sql keeps two idle connections by default, too few for a
	// web server: every burst would reconnect. Recycling connections now
	// and then stays under the server's wait_timeout and follows failovers.
	db.SetMaxIdleConns(16)
	db.SetConnMaxLifetime(5 * time.Minute)
	s, err := newStore(ctx, db, db.Close, c)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func newStore(ctx context.Context, db *sql.DB, closeDB func() error, c sqlstore.Config) (*Store, error) {
	s, err := sqlstore.New(ctx, dialect, sqlstore.DBs{Read: db, Write: db, Close: closeDB}, c)
	if err != nil {
		return nil, err
	}
	return &Store{s: s}, nil
}

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, id string) (session.Record, error) {
	return s.s.Load(ctx, id)
}

// Save implements session.Store. Data is limited by the server's
// max_allowed_packet (see the package documentation), far above
// session.MaxDataLen.
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
// per statement, whatever limit is, and is safe to run from many app
// instances at once.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	return s.s.DeleteExpired(ctx, limit)
}

// Close stops the sweeper and releases the Store's prepared statements. It
// closes the connection pool only if Open created it; a *sql.DB passed to
// New stays open. The Store must not be used afterwards. Close is safe to
// call more than once.
func (s *Store) Close() error {
	return s.s.Close()
}
