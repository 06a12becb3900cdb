package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/internal/netfault"
	"github.com/httpstate/httpstate/store/internal/sqltest"
	"github.com/httpstate/httpstate/store/internal/storebench"
	"github.com/httpstate/httpstate/store/postgres"
)

var (
	poolOnce sync.Once
	pool     *pgxpool.Pool
	poolErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pool != nil {
		pool.Close()
	}
	os.Exit(code)
}

// sharedPool returns the pool every test shares, as apps share theirs with
// the store; each test isolates itself with its own table.
func sharedPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	poolOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(testenv.PostgresURL)
		if err != nil {
			poolErr = err
			return
		}
		// Enough for the conformance suite's two 20-writer increment races
		// at once: writers queueing for a connection hold their loaded
		// version longer, which multiplies conflicts and slows both races.
		cfg.MaxConns = 32
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
		p, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			poolErr = err
			return
		}
		if err := p.Ping(context.Background()); err != nil {
			p.Close()
			poolErr = err
			return
		}
		pool = p
	})
	testenv.Require(t, "postgres", poolErr)
	return pool
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tableName returns a fresh table name and drops that table, if anything
// created it, when the test ends.
func tableName(t testing.TB) string {
	t.Helper()
	p := sharedPool(t)
	name := sqltest.TableName()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := p.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Errorf("dropping test table: %v", err)
		}
	})
	return name
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// newStore returns a Store on the shared pool and a table of its own.
func newStore(t testing.TB, opts ...postgres.Option) (*postgres.Store, string) {
	t.Helper()
	name := tableName(t)
	s, err := postgres.New(testCtx(t), sharedPool(t), append([]postgres.Option{postgres.WithTable(name)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, name
}

func TestConformance(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) session.Store {
		s, _ := newStore(t)
		return s
	})
}

// harness opens stores on the shared pool.
func harness(t *testing.T) sqltest.Harness {
	p := sharedPool(t)
	return sqltest.Harness{
		Name: "postgres",
		Open: func(ctx context.Context, c sqltest.Config) (sqltest.Store, error) {
			opts := sqltest.Options(c, postgres.WithTable, postgres.WithoutMigration, postgres.WithSweepInterval, postgres.WithSweepBatch, postgres.WithLogger)
			return sqltest.Opened(postgres.New(ctx, p, opts...))
		},
		Table: tableName,
		Plant: func(ctx context.Context, table string, n int) error {
			_, err := p.Exec(ctx, `INSERT INTO `+pgx.Identifier{table}.Sanitize()+` (id, user_id, version, expires_at, data)
				SELECT md5(random()::text || g::text), 'planted', 1, now() - interval '1 minute', '\x00'::bytea
				FROM generate_series(1, $1) g`, n)
			return err
		},
		Expired: func(ctx context.Context, table string) (int, error) {
			var n int
			err := p.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()+" WHERE expires_at <= now()").Scan(&n)
			return n, err
		},
		Drop: func(ctx context.Context, table string) error {
			_, err := p.Exec(ctx, "DROP TABLE "+pgx.Identifier{table}.Sanitize())
			return err
		},
	}
}

func TestTableNames(t *testing.T)             { sqltest.TestTableNames(t, harness(t)) }
func TestSweeper(t *testing.T)                { sqltest.TestSweeper(t, harness(t)) }
func TestSweepFailuresAreLogged(t *testing.T) { sqltest.TestSweepFailuresAreLogged(t, harness(t)) }
func TestConcurrentSweepers(t *testing.T)     { sqltest.TestConcurrentSweepers(t, harness(t)) }

func TestWithoutMigrationAMissingTableIsErrNoTable(t *testing.T) {
	name := tableName(t)
	s, err := postgres.New(testCtx(t), sharedPool(t), postgres.WithTable(name), postgres.WithoutMigration())
	if err != nil {
		t.Fatalf("New(WithoutMigration) = %v; want nil: it must not touch the database", err)
	}
	defer s.Close()
	ctx := testCtx(t)
	rec := session.Record{ID: storetest.NewID(), UserID: "u", Expiry: time.Now().Add(time.Hour)}
	_, loadErr := s.Load(ctx, rec.ID)
	_, listErr := s.ListByUser(ctx, "u")
	_, sweepErr := s.DeleteExpired(ctx, 10)
	for op, err := range map[string]error{
		"Load": loadErr, "Save": s.Save(ctx, rec), "Delete": s.Delete(ctx, rec.ID),
		"ListByUser": listErr, "DeleteExpired": sweepErr,
	} {
		if !errors.Is(err, postgres.ErrNoTable) || errors.Is(err, session.ErrNotFound) {
			t.Errorf("%s without the table = %v; want ErrNoTable", op, err)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s error %q does not name the table", op, err)
		}
	}

	// Once someone creates the table, the same store works.
	creator, err := postgres.New(ctx, sharedPool(t), postgres.WithTable(name), postgres.WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	creator.Close()
	if err := s.Save(ctx, rec); err != nil {
		t.Fatalf("Save after the table was created: %v", err)
	}
	if _, err := s.Load(ctx, rec.ID); err != nil {
		t.Fatalf("Load after the table was created: %v", err)
	}
}

// Table names follow the rule every SQL store shares (TestTableNames);
// schema names follow it too, with PostgreSQL's own length limit.
func TestNewRejectsUnsafeSchemaNames(t *testing.T) {
	for _, schema := range []string{"Public", "my schema", "public;", `public"`, strings.Repeat("s", 64)} {
		if _, err := postgres.New(testCtx(t), sharedPool(t), postgres.WithSchema(schema)); err == nil {
			t.Errorf("New(WithSchema(%q)) = nil error; want the name rejected", schema)
		}
	}
	if _, err := postgres.Open(testCtx(t), testenv.PostgresURL, postgres.WithTable("bad-name")); err == nil {
		t.Error("Open(WithTable(\"bad-name\")) = nil error; want the name rejected")
	}
}

func TestLongestTableNameAndASchemaWork(t *testing.T) {
	ctx := testCtx(t)
	p := sharedPool(t)
	schema := "httpstate_test_schema_" + hex.EncodeToString(randBytes(4))
	if _, err := p.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := p.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping test schema: %v", err)
		}
	})
	long := strings.Repeat("x", 48-8) + hex.EncodeToString(randBytes(4))
	for _, table := range []string{long, "user"} { // "user" is a reserved word
		s, err := postgres.New(ctx, p, postgres.WithSchema(schema), postgres.WithTable(table), postgres.WithSweepInterval(0))
		if err != nil {
			t.Fatalf("New(WithTable(%q)): %v", table, err)
		}
		defer s.Close()
		rec := session.Record{ID: storetest.NewID(), UserID: "u", Expiry: time.Now().Add(time.Hour), Data: []byte("x")}
		if err := s.Save(ctx, rec); err != nil {
			t.Fatalf("Save in %s.%s: %v", schema, table, err)
		}
		if list, err := s.ListByUser(ctx, "u"); err != nil || len(list) != 1 {
			t.Fatalf("ListByUser in %s.%s = %d records, %v; want 1", schema, table, len(list), err)
		}
	}
	// Both tables got both of their indexes, in the schema.
	var n int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = $1", schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("schema %s holds %d indexes; want 6 (primary key, user and expiry for each table)", schema, n)
	}
}

func TestConcurrentNewOnOneTableAllSucceed(t *testing.T) {
	name := tableName(t)
	ctx := testCtx(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			s, err := postgres.New(ctx, sharedPool(t), postgres.WithTable(name), postgres.WithSweepInterval(0))
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent New: %v", err)
	}
}

func TestDeleteExpiredSkipsRowsLockedElsewhere(t *testing.T) {
	s, name := newStore(t, postgres.WithSweepInterval(0))
	if err := harness(t).Plant(testCtx(t), name, 5); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	tx, err := sharedPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var lockedID string
	if err := tx.QueryRow(ctx, "SELECT id FROM "+name+" LIMIT 1 FOR UPDATE").Scan(&lockedID); err != nil {
		t.Fatal(err)
	}
	// Were the locked row waited for, this would block until the deadline.
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := s.DeleteExpired(short, 0)
	if err != nil || n != 4 {
		t.Fatalf("DeleteExpired with one expired row locked elsewhere = %d, %v; want 4, nil", n, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpired(ctx, 0); err != nil || n != 1 {
		t.Fatalf("DeleteExpired after the lock was released = %d, %v; want 1, nil", n, err)
	}
}

func TestCloseClosesOnlyAPoolItCreated(t *testing.T) {
	name := tableName(t)
	ctx := testCtx(t)
	shared, err := postgres.New(ctx, sharedPool(t), postgres.WithTable(name))
	if err != nil {
		t.Fatal(err)
	}
	shared.Close()
	shared.Close() // twice is fine
	if err := sharedPool(t).Ping(ctx); err != nil {
		t.Fatalf("Close closed the pool it was given: %v", err)
	}

	owned, err := postgres.Open(ctx, testenv.PostgresURL, postgres.WithTable(name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owned.Load(ctx, storetest.NewID()); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load through Open's pool = %v; want ErrNotFound", err)
	}
	owned.Close()
	if _, err := owned.Load(ctx, storetest.NewID()); err == nil || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load after Close of an Open store = %v; want an error: its pool is closed", err)
	}
}

func TestUnreachableServerIsAPromptErrorNeverNotFound(t *testing.T) {
	const deadline = 300 * time.Millisecond
	const prompt = 5 * time.Second // generous: the point is "not a hang"
	for _, server := range []struct{ name, addr string }{
		{"silent", netfault.SilentServer(t)},
		{"closed port", netfault.ClosedPort(t)},
	} {
		t.Run(server.name, func(t *testing.T) {
			url := "postgres://root@" + server.addr + "/test?sslmode=disable"
			check := func(op string, call func(ctx context.Context) error) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				start := time.Now()
				err := call(ctx)
				if took := time.Since(start); took > prompt {
					t.Errorf("%s took %v with a %v deadline", op, took, deadline)
				}
				if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrConflict) {
					t.Errorf("%s against a %s server = %v; want an error that is neither ErrNotFound nor ErrConflict", op, server.name, err)
				}
				if server.name == "silent" && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s against a silent server = %v; want it to wrap context.DeadlineExceeded", op, err)
				}
			}
			check("Open", func(ctx context.Context) error {
				s, err := postgres.Open(ctx, url)
				if err == nil {
					s.Close()
				}
				return err
			})
			s, err := postgres.Open(context.Background(), url, postgres.WithoutMigration(), postgres.WithSweepInterval(0))
			if err != nil {
				t.Fatalf("Open(WithoutMigration) = %v; want nil: it must not touch the network", err)
			}
			defer s.Close()
			rec := session.Record{ID: storetest.NewID(), UserID: "u", Expiry: time.Now().Add(time.Hour)}
			check("Load", func(ctx context.Context) error { _, err := s.Load(ctx, rec.ID); return err })
			check("Save", func(ctx context.Context) error { return s.Save(ctx, rec) })
			check("Delete", func(ctx context.Context) error { return s.Delete(ctx, rec.ID) })
			check("ListByUser", func(ctx context.Context) error { _, err := s.ListByUser(ctx, "u"); return err })
			check("DeleteExpired", func(ctx context.Context) error { _, err := s.DeleteExpired(ctx, 0); return err })
		})
	}
}

func TestSaveBlockedByALockHonoursItsDeadline(t *testing.T) {
	s, name := newStore(t)
	ctx := testCtx(t)
	rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	tx, err := sharedPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+name+" WHERE id = $1 FOR UPDATE", rec.ID); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	rec.Version = 1
	start := time.Now()
	err = s.Save(short, rec)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save waiting on a row lock past its deadline = %v; want a wrapped context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Save waiting on a row lock took %v with a 200ms deadline", took)
	}
	// Whether the abandoned UPDATE still runs once the lock is released
	// is up to the server (see "Deadlines" in the package documentation),
	// so nothing is asserted about the record afterwards.
}

// A Save that waits for a concurrent writer's row lock loses once that
// writer commits. The row its statement can return is the one before the
// winner's commit, still at the version the Save expected; handed back in
// a ConflictError, it would make the caller's retry lose again for
// certain. The conflict must carry the winner's record or none.
func TestConflictAfterWaitingForTheWinnerNeverCarriesTheLosingVersion(t *testing.T) {
	s, name := newStore(t)
	ctx := testCtx(t)
	rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour), Data: []byte("first")}
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Version = 1

	// The winner: version 2, uncommitted, holding the row lock.
	tx, err := sharedPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "UPDATE "+pgx.Identifier{name}.Sanitize()+" SET version = version + 1, data = 'winner' WHERE id = $1", rec.ID); err != nil {
		t.Fatal(err)
	}

	saved := make(chan error, 1)
	go func() {
		loser := rec
		loser.Data = []byte("loser")
		saved <- s.Save(ctx, loser)
	}()
	// The loser's UPDATE is waiting for the winner's lock once the server
	// says a statement on this table waits for a lock.
	for waiting := 0; waiting == 0; {
		select {
		case err := <-saved:
			t.Fatalf("Save returned %v while the winner held the row lock", err)
		default:
		}
		if err := sharedPool(t).QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 in query) > 0", name).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	err = <-saved
	if !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save that lost to a concurrent commit = %v; want ErrConflict", err)
	}
	if ce := (*session.ConflictError)(nil); errors.As(err, &ce) && ce.Found && (ce.Current.Version != 2 || string(ce.Current.Data) != "winner") {
		t.Fatalf("the conflict carries version %d with %q; want the winner's version 2 or no record", ce.Current.Version, ce.Current.Data)
	}
	got, err := s.Load(ctx, rec.ID)
	if err != nil || got.Version != 2 || string(got.Data) != "winner" {
		t.Fatalf("Load after the race = version %d, %q, %v; want the winner's version 2", got.Version, got.Data, err)
	}
}

// With SERIALIZABLE as the default isolation level PostgreSQL reports a
// lost race as a serialization failure rather than zero rows; Save must
// still report it as ErrConflict so the caller retries.
func TestSerializableIsolationStillCountsExactly(t *testing.T) {
	sharedPool(t) // skip when there is no server
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "serializable"
	ctx := testCtx(t)
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := postgres.New(ctx, p, postgres.WithTable(tableName(t)), postgres.WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour), Data: make([]byte, 8)}
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if err := storetest.Increment(ctx, s, rec.ID); err != nil {
					t.Errorf("increment: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := s.Load(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.BigEndian.Uint64(got.Data); n != writers*each {
		t.Fatalf("%d writers x %d increments ended at %d under SERIALIZABLE", writers, each, n)
	}
}

func benchStore(b *testing.B) *postgres.Store {
	s, _ := newStore(b, postgres.WithSweepInterval(0))
	return s
}

func BenchmarkLoad(b *testing.B) { storebench.Load(b, benchStore(b)) }
func BenchmarkSave(b *testing.B) { storebench.Save(b, benchStore(b)) }
