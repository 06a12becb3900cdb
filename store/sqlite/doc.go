// Package sqlite is a session.Store in an SQLite database file: persistent,
// embedded and zero-setup. It is the right store for a single app server,
// for development, and for small deployments that want sessions to survive
// a restart without running a database server.
//
//	store, err := sqlite.Open(ctx, "sessions.db")
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//
// It uses modernc.org/sqlite, a pure-Go SQLite, so it needs no cgo. That
// driver needs Go 1.26, so this package is a module of its own
// (github.com/httpstate/httpstate/store/sqlite), and only its users need
// Go 1.26; the rest of httpstate needs Go 1.25.
//
// # Concurrency and durability
//
// The file is in WAL mode: any number of reads run in parallel with one
// writer. SQLite allows one write transaction at a time, so a Store sends
// all its writes through a single connection, where they queue in Go and
// each waits no longer than its context allows; every write is one short
// statement. Other processes may open the same file (a command-line tool
// revoking sessions, a second Store): a 5-second busy timeout makes each
// side wait for the other's write lock, again cut short by the caller's
// context. Writes are committed with synchronous=NORMAL: a committed Save
// survives a crash of the process, but a power loss or kernel crash may
// lose the last few commits (the file stays consistent).
//
// What it cannot do: be shared by app servers on different machines (use
// store/postgres, store/mysql or store/redis), or write faster than one
// disk-backed writer; reads scale with CPUs. The file must be on a local
// disk: SQLite's locking does not work over network file systems.
//
// # Schema
//
// Open creates this table and its indexes if they are missing (with the
// table name of WithTable in place of httpstate_sessions). With
// WithoutMigration, run them yourself:
//
//	CREATE TABLE IF NOT EXISTS httpstate_sessions (
//		id         TEXT    NOT NULL PRIMARY KEY,
//		user_id    TEXT    NOT NULL,
//		version    INTEGER NOT NULL,
//		expires_at INTEGER NOT NULL,
//		data       BLOB    NOT NULL
//	);
//	CREATE INDEX IF NOT EXISTS httpstate_sessions_user_id ON httpstate_sessions (user_id);
//	CREATE INDEX IF NOT EXISTS httpstate_sessions_expires_at ON httpstate_sessions (expires_at);
//
// expires_at is in unix milliseconds; user_id is empty for anonymous
// sessions. The columns take any record within the limits of the
// session.Store contract (session.MaxIDLen, session.MaxUserIDLen,
// session.MaxDataLen) and more; Save refuses what the contract refuses,
// with session.ErrInvalid.
//
// # Expiry and clocks
//
// Every method judges Expiry by the clock of the process that calls it:
// Save's check of a new Expiry and its compare-and-swap, Load, ListByUser
// and DeleteExpired alike. The processes that open one file run on one
// machine and share its clock, so they always agree within
// session.MaxClockSkew, as the contract requires.
//
// # Expired records
//
// Expired records are invisible at once. A background sweeper deletes them
// every DefaultSweepInterval or so (WithSweepInterval), at most
// DefaultSweepBatch per statement (WithSweepBatch), until Close, and logs
// to slog.Default() unless WithLogger says otherwise.
package sqlite
