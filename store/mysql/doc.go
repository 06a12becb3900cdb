// Package mysql is a session.Store in a MySQL (8.0 or later) or MariaDB
// (10.11 or later) table, using github.com/go-sql-driver/mysql. It is the
// store for apps that already run on MySQL: sessions are durable, shared by
// every app server, and can be inspected and revoked with SQL.
//
// New takes a *sql.DB the application already has and leaves it open on
// Close; Open connects from a DSN and owns the pool it creates:
//
//	store, err := mysql.Open(ctx, "app:secret@tcp(db:3306)/app")
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//
// Every method is one autocommit statement (Save of a brand-new ID whose
// old row has expired takes two), so a request costs one round trip to the
// server and no transaction is held open across round trips. Every call
// honours its context's deadline: an unreachable or stalled server makes
// the call fail when the deadline passes, with an error that is never
// session.ErrNotFound. The background sweeper has no caller: each of its
// batches gets 30 seconds. Setting the DSN's timeout parameter (say
// timeout=5s) bounds every connection attempt, the sweeper's included.
//
// What it cannot do: expire rows by itself (the sweeper deletes them;
// expired rows are invisible at once either way), or use read replicas:
// point it at the primary, because a lagging replica would serve a session
// after its logout. Writes scale with the primary. For the lowest latency
// use store/redis; for a single server without a database, store/sqlite.
//
// # DSN and server settings
//
// The driver's defaults suit the store; in particular clientFoundRows may be
// on or off, because every successful compare-and-swap changes the version
// column. Data up to the server's max_allowed_packet can be stored: 16 MiB
// by default on MariaDB and 64 MiB on MySQL, far beyond a session's needs.
//
// # Schema
//
// New creates this table if it is missing (with the table name of WithTable
// in place of httpstate_sessions). With WithoutMigration, run it yourself:
//
//	CREATE TABLE IF NOT EXISTS httpstate_sessions (
//		id         VARBINARY(255)  NOT NULL,
//		user_id    VARBINARY(255)  NOT NULL,
//		version    BIGINT UNSIGNED NOT NULL,
//		expires_at BIGINT          NOT NULL,
//		data       LONGBLOB        NOT NULL,
//		PRIMARY KEY (id),
//		KEY httpstate_sessions_user_id (user_id),
//		KEY httpstate_sessions_expires_at (expires_at)
//	) ENGINE=InnoDB;
//
// expires_at is in unix milliseconds; user_id is empty for anonymous
// sessions. IDs are compared as bytes, not in a collation: a
// case-insensitive or trailing-space-padding collation would let "Alice"
// list "alice"'s devices. The columns take every record within the limits
// of the session.Store contract (any UTF-8 user ID, emoji included, is
// stored unchanged); Save refuses what the contract refuses, with
// session.ErrInvalid, rather than let a server outside strict mode
// truncate it.
//
// # Expiry and clocks
//
// Every method judges Expiry by the clock of the app server that calls
// it, never by the database server's: Save's check of a new Expiry and its
// compare-and-swap, Load, ListByUser and DeleteExpired alike. App servers
// sharing a table must keep their clocks within session.MaxClockSkew of
// each other (NTP does far better).
//
// # Expired records
//
// A background sweeper deletes expired rows every DefaultSweepInterval or
// so (WithSweepInterval), at most DefaultSweepBatch per statement
// (WithSweepBatch), until Close, and logs to slog.Default() unless
// WithLogger says otherwise. Each batch reads expired IDs without locking,
// then deletes exactly those through the primary key in ascending order,
// taking no gap locks on the expiry index: sweepers on any number of app
// instances cannot deadlock with each other or with saves.
package mysql
