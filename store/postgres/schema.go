package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/httpstate/httpstate/store/internal/sqlident"
)

// Index names are the table name plus one of these suffixes. The longest
// is 15 bytes, which is why table names stop at sqlident.MaxTableLen (48):
// PostgreSQL silently truncates identifiers past 63 bytes, and two long
// table names truncated to the same index name would make CREATE INDEX IF
// NOT EXISTS skip the second table's index without a word.
const (
	userIndexSuffix   = "_user_id_idx"
	expiryIndexSuffix = "_expires_at_idx"
)

// The table name rule must leave room for the suffixes.
var _ [63 - sqlident.MaxTableLen - len(expiryIndexSuffix)]struct{}

// table holds the SQL spellings of one session table.
type table struct {
	ref     string // "schema"."name" or "name"
	lockKey int64  // advisory lock serialising this table's creation

	// Index names as CREATE INDEX takes them (unqualified: an index lives
	// in its table's schema), and qualified like ref for to_regclass.
	userIndex, expiryIndex       string
	userIndexRef, expiryIndexRef string
}

func newTable(schema, name string) (table, error) {
	if err := sqlident.CheckTable(name); err != nil {
		return table{}, fmt.Errorf("postgres: %w", err)
	}
	if schema != "" {
		if err := sqlident.CheckSchema(schema); err != nil {
			return table{}, fmt.Errorf("postgres: %w", err)
		}
	}
	qualify := func(n string) string {
		if schema == "" {
			return pgx.Identifier{n}.Sanitize()
		}
		return pgx.Identifier{schema, n}.Sanitize()
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "httpstate/store/postgres\x00%s\x00%s", schema, name)
	return table{
		ref:            qualify(name),
		userIndex:      pgx.Identifier{name + userIndexSuffix}.Sanitize(),
		expiryIndex:    pgx.Identifier{name + expiryIndexSuffix}.Sanitize(),
		userIndexRef:   qualify(name + userIndexSuffix),
		expiryIndexRef: qualify(name + expiryIndexSuffix),
		lockKey:        int64(h.Sum64()),
	}, nil
}

// ddl returns the statements that create the table and its indexes. The
// package documentation prints them for DefaultTable; a test keeps the two
// identical.
//
// id and user_id use the "C" collation because they are only ever compared
// for equality, and byte comparison is faster than a linguistic one.
// expires_at has an index for DeleteExpired; user_id has one for
// ListByUser, partial because anonymous sessions are never listed.
func (t table) ddl() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + t.ref + ` (
	id         text COLLATE "C" PRIMARY KEY,
	user_id    text COLLATE "C" NOT NULL,
	version    bigint NOT NULL,
	expires_at timestamptz NOT NULL,
	data       bytea NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS ` + t.userIndex + ` ON ` + t.ref + ` (user_id) WHERE user_id <> ''`,
		`CREATE INDEX IF NOT EXISTS ` + t.expiryIndex + ` ON ` + t.ref + ` (expires_at)`,
	}
}

// migrate creates the table and its indexes unless they all exist.
//
// The check comes first because CREATE INDEX IF NOT EXISTS takes a SHARE
// lock on the table even when the index is there, which would stall every
// Save for a moment at each start of each instance. The DDL runs under a
// transaction-scoped advisory lock because concurrent CREATE TABLE IF NOT
// EXISTS statements can still fail with a unique violation on pg_type when
// several instances start at once.
func (t table) migrate(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	err := pool.QueryRow(ctx,
		`SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL`,
		t.ref, t.userIndexRef, t.expiryIndexRef).Scan(&exists)
	if err != nil {
		return wrapMigrate(ctx, t, err)
	}
	if exists {
		return nil
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, t.lockKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, strings.Join(t.ddl(), ";\n"))
		return err
	})
	if err != nil {
		return wrapMigrate(ctx, t, err)
	}
	return nil
}

func wrapMigrate(ctx context.Context, t table, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("postgres: creating table %s: %w (%w)", t.ref, cerr, err)
	}
	return fmt.Errorf("postgres: creating table %s: %w", t.ref, err)
}

// queries holds the statements of the Store's methods. Every one is a
// single statement, so each method costs one round trip once pgx has
// prepared it on a connection.
type queries struct {
	load, insert, update, delete, list, deleteExpired string
}

// The expiry is judged by the server's clock, now(), so that all the app
// instances on one table agree on which rows are alive. The repeated
// "user_id <> ”" in list lets the planner use the partial index even with
// the generic plan of a prepared statement, which cannot see that $1 is
// not empty. deleteExpired collects the IDs into an array first so that
// the DELETE is always a primary-key lookup, whatever the planner thinks
// of the subquery's size.
//
// update is the compare-and-swap of a loaded version, and when it loses it
// also returns the row as it stands, so that the caller can retry without
// another round trip: the UPDATE in a WITH clause, and a row that is the
// current record only if the UPDATE changed nothing. (Its SELECT sees the
// statement's snapshot: if the winner committed while this statement
// waited for its row lock, the row returned is the one before, still at
// the version the UPDATE expected; Save recognises it by that version and
// reports a plain conflict, so that the caller loads the row afresh
// rather than retry on it and lose for certain. Reading the row FOR SHARE
// would return the winner's row, but costs a row lock on every lost swap
// and measured slower on hot rows.)
func (t table) queries() queries {
	return queries{
		load: `SELECT user_id, version, expires_at, data FROM ` + t.ref +
			` WHERE id = $1 AND expires_at > now()`,
		insert: `INSERT INTO ` + t.ref + ` AS s (id, user_id, version, expires_at, data) VALUES ($1, $2, 1, $3, $4)` +
			` ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, version = 1, expires_at = excluded.expires_at, data = excluded.data` +
			` WHERE s.expires_at <= now()`,
		update: `WITH upd AS (UPDATE ` + t.ref + ` SET version = version + 1, user_id = $3, expires_at = $4, data = $5` +
			` WHERE id = $1 AND version = $2 AND expires_at > now() RETURNING 1)` +
			` SELECT EXISTS (SELECT FROM upd), cur.user_id, cur.version, cur.expires_at, cur.data` +
			` FROM (SELECT 1) AS one LEFT JOIN ` + t.ref + ` AS cur` +
			` ON cur.id = $1 AND cur.expires_at > now() AND NOT EXISTS (SELECT FROM upd)`,
		delete: `DELETE FROM ` + t.ref + ` WHERE id = $1`,
		list: `SELECT id, version, expires_at, data FROM ` + t.ref +
			` WHERE user_id = $1 AND user_id <> '' AND expires_at > now()`,
		deleteExpired: `DELETE FROM ` + t.ref + ` WHERE id = ANY(ARRAY(SELECT id FROM ` + t.ref +
			` WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED))`,
	}
}
