package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
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

type options = sqlstore.Options

// Option configures a Store.
type Option func(*options)

// WithTable sets the table name (default "httpstate_sessions"): ASCII
// letters, digits and underscores, not starting with a digit, at most 48
// characters. New rejects any other name.
func WithTable(name string) Option {
	return func(o *options) { o.Table = name }
}

// WithoutMigration stops New from creating the table, for deployments that
// run the CREATE statement of the package documentation through their own
// migrations, or whose database user may not create tables. New then fails
// if the table is missing.
func WithoutMigration() Option {
	return func(o *options) { o.Migrate = false }
}

// WithSweepInterval sets the mean time between sweeps of expired records
// (default five minutes; each wait is drawn from half to one and a half
// times it, so app instances sharing the table spread out). Zero or less
// disables the sweeper, for example on all instances but one, or when a
// cron job calls DeleteExpired.
func WithSweepInterval(d time.Duration) Option {
	return func(o *options) { o.SweepInterval = d }
}

// WithSweepBatch sets how many expired records the sweeper deletes per
// statement (default 500). A sweep repeats batches until one comes back
// short; smaller batches lock fewer rows at a time.
func WithSweepBatch(n int) Option {
	return func(o *options) { o.SweepBatch = n }
}

// WithLogger sets where the sweeper reports failures (default
// slog.Default()). Messages never contain session IDs.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.Logger = l }
}

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
	return newStore(ctx, db, nil, opts)
}

// Open connects to the database named by dsn (in the go-sql-driver/mysql
// format, such as "user:password@tcp(127.0.0.1:3306)/app") and returns a
// Store on it, as New does. The Store owns this connection pool (up to 16
// idle connections, each replaced after five minutes; use New for other
// settings) and Close closes it.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
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
	s, err := newStore(ctx, db, db.Close, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func newStore(ctx context.Context, db *sql.DB, closeDB func() error, opts []Option) (*Store, error) {
	o := sqlstore.Defaults()
	for _, opt := range opts {
		opt(&o)
	}
	s, err := sqlstore.New(ctx, dialect, sqlstore.DBs{Read: db, Write: db, Close: closeDB}, o)
	if err != nil {
		return nil, err
	}
	return &Store{s: s}, nil
}

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, id string) (session.Record, error) {
	return s.s.Load(ctx, id)
}

// Save implements session.Store. Record IDs and user IDs are limited to
// 255 bytes; Data is limited by the server's max_allowed_packet.
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
