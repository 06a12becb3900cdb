// Package postgres is a session.Store on a PostgreSQL table, through
// github.com/jackc/pgx/v5 and its pgxpool.
//
// Choose it when sessions must survive restarts and deploys, must be
// shared by every instance of an app, and must be revocable with
// certainty: a Delete or a revocation of all of a user's sessions is
// durable once it returns, and the compare-and-swap in Save never lets a
// slow request bring a deleted session back. Each method is one statement
// and, once pgx has prepared it on a connection, one round trip.
//
// Give New the pool your app already has, or let Open create one:
//
//	store, err := postgres.New(ctx, pool)          // Close leaves pool open
//	store, err := postgres.Open(ctx, databaseURL)  // Close closes the pool
//
// # Schema
//
// New creates the table and its indexes when they are missing, under a
// transaction-scoped advisory lock so that instances starting together do
// not trip over each other; when they exist it only checks for them, and
// takes no lock on the table. To run your own migrations instead, pass
// WithoutMigration and create them with this SQL (for WithTable(name),
// replace httpstate_sessions by the name everywhere; with WithSchema,
// qualify the table, not the index names):
//
//	CREATE TABLE IF NOT EXISTS "httpstate_sessions" (
//		id         text COLLATE "C" PRIMARY KEY,
//		user_id    text COLLATE "C" NOT NULL,
//		version    bigint NOT NULL,
//		expires_at timestamptz NOT NULL,
//		data       bytea NOT NULL
//	);
//	CREATE INDEX IF NOT EXISTS "httpstate_sessions_user_id_idx" ON "httpstate_sessions" (user_id) WHERE user_id <> '';
//	CREATE INDEX IF NOT EXISTS "httpstate_sessions_expires_at_idx" ON "httpstate_sessions" (expires_at);
//
// The database user then needs only SELECT, INSERT, UPDATE and DELETE on
// the table. If the table is missing, every method returns an error
// wrapping ErrNoTable.
//
// # Consistency
//
// Save is a single conditional statement. For a record it loaded, it runs
// an UPDATE guarded by "version = loaded version AND expires_at > now()";
// for Version 0 it runs an INSERT whose ON CONFLICT clause replaces an
// existing row only if that row has expired. PostgreSQL re-checks the
// condition on the newest row version when writers collide, so exactly one
// of them wins and the others get session.ErrConflict. The same statement
// reads the row when the UPDATE loses, and the error is then a
// *session.ConflictError carrying it, so that the caller retries without
// loading it again; when the loser had waited for the winner's row lock,
// the row the statement can see is the one before the winner's commit,
// and the error is a plain session.ErrConflict instead. With REPEATABLE READ
// or SERIALIZABLE as the pool's default isolation level PostgreSQL aborts
// the loser with a serialization failure instead, which Save also reports
// as session.ErrConflict.
//
// # Expiry and clocks
//
// The database server's clock, now(), judges whether a row is alive, in
// every method: Load, ListByUser, Save's compare-and-swap (an UPDATE only
// of a live row, an INSERT that takes over only an expired one) and
// DeleteExpired. Every app instance therefore agrees on which sessions are
// alive, whatever its own clock says. One check uses the calling process's
// clock: Save refuses, with session.ErrInvalid, a record whose Expiry is
// not after that process's current time (session.CheckRecord). The
// clocks of the app servers and of the database server must agree within
// session.MaxClockSkew: the Manager never gives a store an Expiry less
// than that far ahead of its own clock, so the server never judges a
// record it has just been given as expired. Expiries are stored with
// microsecond precision.
//
// # Expired rows
//
// Expired rows are invisible to every method at once. A background sweeper
// deletes them every DefaultSweepInterval or so (WithSweepInterval), at
// most DefaultSweepBatch rows per statement (WithSweepBatch), logs to
// slog.Default() unless WithLogger says otherwise, and stops at Close.
// Each batch locks the rows it deletes with FOR UPDATE SKIP LOCKED, so any
// number of instances can sweep one table at the same time without
// waiting for each other or deleting a row twice. DeleteExpired runs one
// batch on demand, for a cron job when the sweeper is disabled.
//
// # Deadlines
//
// Every method passes its context to pgx, which honours it while waiting
// for a pooled connection, while connecting and while waiting for the
// server: when the context is done the method returns an error wrapping
// ctx.Err(), and pgx closes the connection it interrupted. A server that
// is down or unreachable is therefore an error, never a hang and never
// session.ErrNotFound, as long as callers set deadlines (an http.Server's
// request contexts have none by default; use http.TimeoutHandler or a
// middleware). Open also bounds each new connection with a connect_timeout
// of 10 seconds unless the connection string sets one.
//
// By default pgx gives up on a call whose context ends by closing its
// connection, without telling the server. A statement the server has
// already started, typically one waiting for a row lock held by another
// transaction, may therefore still be carried out after the method has
// returned its error: an error from Save or Delete does not prove that
// nothing was written. This is harmless for the contract (a late Save is
// still checked against the version it loaded, and a late Delete deletes
// what its caller meant to delete), and a set lock_timeout or a pool
// configured with pgconn.CancelRequestContextWatcherHandler makes such
// leftovers rarer.
//
// # Pool size
//
// pgxpool opens at most max(4, number of CPUs) connections unless told
// otherwise (pool_max_conns in the connection string, or
// pgxpool.Config.MaxConns). A request that waits for a connection holds
// the version it loaded for longer, so a pool that is too small for the
// number of requests using sessions at once costs both queueing and extra
// compare-and-swap conflicts; size it for that number, within the server's
// max_connections.
//
// # What it cannot do
//
//   - Read replicas: every method must reach the primary server. A replica
//     lags, so a Load there can return a session that was deleted or
//     revoked on the primary a moment ago, or an old version whose Save
//     then conflicts; and replicas refuse writes. Point the pool at the
//     primary, for example with a multi-host URL and
//     target_session_attrs=read-write, and scale reads by adding app
//     instances rather than replicas. High availability comes from
//     PostgreSQL's failover, which the store survives like any client:
//     calls in flight fail, later calls reconnect.
//   - Speed of a cache: every Load is a network round trip and every Save
//     a durable write (a WAL flush at commit, unless synchronous_commit is
//     off for the connecting role). Expect
//     several times the latency of Redis or the memory store, and one
//     write per request that changes its session.
//   - Big sessions: Data is a bytea of at most 1 GB, but every Save writes
//     the whole value, and values over about 2 kB are moved out of line
//     (TOAST); keep sessions small and store large objects elsewhere.
//   - Connection poolers: the store runs no explicit transactions except
//     while creating the table, so it works behind PgBouncer in
//     transaction mode, provided pgx's statement cache is supported
//     (PgBouncer 1.21 or later with max_prepared_statements set) or the
//     pool is configured with pgx.QueryExecModeExec.
//   - Table and schema names are restricted to lower-case ASCII letters,
//     digits and underscores (see WithTable), and the schema must already
//     exist.
package postgres
