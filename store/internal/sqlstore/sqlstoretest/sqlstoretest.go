// Package sqlstoretest holds the tests and benchmarks that store/sqlite and
// store/mysql share: what package sqlstore does beyond the session.Store
// contract (table names, migration off, sweeping in batches, concurrent
// sweepers), checked against each real database. The contract itself is
// checked by session/storetest.
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
)

// Store is what the packages under test return.
type Store interface {
	session.Store
	Close() error
}

// Config is what the tests vary between the stores they open.
type Config struct {
	Table         string
	NoMigration   bool
	SweepInterval time.Duration // zero or less: no sweeper
	SweepBatch    int           // zero: the default
}

// Harness connects the tests to one database.
type Harness struct {
	// DB reaches the database the stores use, to plant and count rows
	// behind their backs.
	DB *sql.DB

	// Open opens a store of the package under test on the database.
	Open func(ctx context.Context, c Config) (Store, error)
}

// Options translates c into the options of the package under test, given
// its option constructors, so the tests go through its public API.
func Options[O any](c Config, table func(string) O, withoutMigration func() O, sweepInterval func(time.Duration) O, sweepBatch func(int) O) []O {
	opts := []O{table(c.Table), sweepInterval(c.SweepInterval)}
	if c.NoMigration {
		opts = append(opts, withoutMigration())
	}
	if c.SweepBatch != 0 {
		opts = append(opts, sweepBatch(c.SweepBatch))
	}
	return opts
}

// Opened adapts a package's Open or New to Harness.Open: it keeps a nil
// *S from becoming a non-nil Store.
func Opened[S Store](s S, err error) (Store, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Table returns a fresh random table name and drops the table, if it was
// created, when the test ends.
func Table(tb testing.TB, db *sql.DB) string {
	var b [6]byte
	rand.Read(b[:])
	name := "Test_" + hex.EncodeToString(b[:]) // mixed case: names are used as given
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS `"+name+"`"); err != nil {
			tb.Errorf("dropping test table: %v", err)
		}
	})
	return name
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func open(t testing.TB, h Harness, c Config) Store {
	t.Helper()
	s, err := h.Open(ctx(t), c)
	if err != nil {
		t.Fatalf("Open(%+v): %v", c, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestTableNames checks that names which could change the SQL are
// rejected before anything reaches the database, and that a legal one
// works.
func TestTableNames(t *testing.T, h Harness) {
	for _, name := range []string{
		"", "1sessions", "my-sessions", "my sessions", "sessions;DROP TABLE users", "sessions`",
		"db.sessions", "séssions", `"sessions"`, strings.Repeat("s", 49),
	} {
		if s, err := h.Open(ctx(t), Config{Table: name}); err == nil {
			s.Close()
			t.Errorf("Open with table name %q succeeded; want an error", name)
		}
	}
	s := open(t, h, Config{Table: Table(t, h.DB)})
	rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx(t), rec.ID); err != nil {
		t.Fatal(err)
	}
}

// TestWithoutMigration checks that a store told not to create its table
// fails at Open, naming the table, when it is missing, and works once the
// table exists.
func TestWithoutMigration(t *testing.T, h Harness) {
	table := Table(t, h.DB)
	s, err := h.Open(ctx(t), Config{Table: table, NoMigration: true})
	if err == nil {
		s.Close()
		t.Fatal("Open without migration on a missing table succeeded")
	}
	if !strings.Contains(err.Error(), table) {
		t.Fatalf("the error for a missing table does not name it: %v", err)
	}
	creator := open(t, h, Config{Table: table})
	rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour), Data: []byte("made by the migrating store")}
	if err := creator.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	got, err := open(t, h, Config{Table: table, NoMigration: true}).Load(ctx(t), rec.ID)
	if err != nil || string(got.Data) != string(rec.Data) {
		t.Fatalf("Load through a store without migration = %q, %v", got.Data, err)
	}
}

// TestSchemaIsDocumented checks that the package documentation in docFile
// shows, in its code blocks, each of the statements schema, with
// identifiers unquoted and each ending in a semicolon: people who create
// the table themselves copy it from there.
func TestSchemaIsDocumented(t *testing.T, docFile string, schema []string) {
	src, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	var code strings.Builder
	for line := range strings.Lines(string(src)) {
		if c, ok := strings.CutPrefix(line, "//\t"); ok {
			code.WriteString(c)
		}
	}
	for _, stmt := range schema {
		if !strings.Contains(code.String(), strings.ReplaceAll(stmt, "`", "")+";\n") {
			t.Errorf("%s lacks this statement of the schema:\n%s", docFile, stmt)
		}
	}
}

// plant inserts n records that expired a minute ago, straight into table.
func plant(t testing.TB, db *sql.DB, table string, n int) {
	t.Helper()
	exp := time.Now().Add(-time.Minute).UnixMilli()
	for n > 0 {
		rows := min(n, 100)
		q := "INSERT INTO `" + table + "` (id, user_id, version, expires_at, data) VALUES (?, 'planted', 1, ?, ?)" +
			strings.Repeat(", (?, 'planted', 1, ?, ?)", rows-1)
		var args []any
		for range rows {
			args = append(args, storetest.NewID(), exp, []byte("expired"))
		}
		if _, err := db.ExecContext(ctx(t), q, args...); err != nil {
			t.Fatalf("planting expired rows: %v", err)
		}
		n -= rows
	}
}

// count returns how many rows of table have expired, swept or not.
func count(t testing.TB, db *sql.DB, table string) int {
	t.Helper()
	var n int
	q := "SELECT COUNT(*) FROM `" + table + "` WHERE expires_at <= ?"
	if err := db.QueryRowContext(ctx(t), q, time.Now().UnixMilli()).Scan(&n); err != nil {
		t.Fatalf("counting expired rows: %v", err)
	}
	return n
}

// TestSweeper checks that DeleteExpired honours its limit exactly, that
// the background sweeper deletes every expired row batch after batch and
// leaves live ones alone, and that it stops with Close.
func TestSweeper(t *testing.T, h Harness) {
	table := Table(t, h.DB)
	manual := open(t, h, Config{Table: table})
	live := session.Record{ID: storetest.NewID(), UserID: "planted", Expiry: time.Now().Add(time.Hour), Data: []byte("live")}
	if err := manual.Save(ctx(t), live); err != nil {
		t.Fatal(err)
	}
	plant(t, h.DB, table, 25)
	if n, err := manual.DeleteExpired(ctx(t), 10); err != nil || n != 10 {
		t.Fatalf("DeleteExpired(10) with 25 expired rows = %d, %v; want exactly 10", n, err)
	}
	if n := count(t, h.DB, table); n != 15 {
		t.Fatalf("%d expired rows left after deleting 10 of 25", n)
	}

	// Batches of 4 for 15 rows: one sweep must go round four times.
	const every = 10 * time.Millisecond
	swept := open(t, h, Config{Table: table, SweepInterval: every, SweepBatch: 4})
	// Poll: the sweeper runs on its own jittered clock and reports nothing.
	deadline := time.Now().Add(10 * time.Second)
	for count(t, h.DB, table) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper left %d expired rows after 10s", count(t, h.DB, table))
		}
		time.Sleep(every)
	}
	if got, err := swept.Load(ctx(t), live.ID); err != nil || string(got.Data) != "live" {
		t.Fatalf("the live record after sweeping = %q, %v", got.Data, err)
	}

	if err := swept.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	plant(t, h.DB, table, 5)
	// A stopped sweeper sends no signal; give a running one thirty chances
	// to show itself. This can only pass wrongly, never fail wrongly.
	time.Sleep(30 * every)
	if n := count(t, h.DB, table); n != 5 {
		t.Fatalf("after Close, %d of 5 expired rows are left: the sweeper still runs", n)
	}
}

// TestConcurrentSweepers checks that two stores on one table, as in two
// processes, can sweep at the same time as each other and as
// compare-and-swap saves through both, without deadlocks or errors: each
// expired row is deleted exactly once and no increment is lost. On SQLite
// the two stores' writers contend through the file lock, not one pool.
func TestConcurrentSweepers(t *testing.T, h Harness) {
	const expired, sweepersPerStore, liveRecords, increments = 1000, 2, 4, 25
	table := Table(t, h.DB)
	stores := []Store{open(t, h, Config{Table: table}), open(t, h, Config{Table: table})}
	ids := make([]string, liveRecords)
	for i := range ids {
		ids[i] = storetest.NewID()
		rec := session.Record{ID: ids[i], Expiry: time.Now().Add(time.Hour), Data: make([]byte, 8)}
		if err := stores[0].Save(ctx(t), rec); err != nil {
			t.Fatal(err)
		}
	}
	plant(t, h.DB, table, expired)

	c := ctx(t)
	var removed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*(sweepersPerStore+1+liveRecords))
	for _, s := range stores {
		for range sweepersPerStore {
			wg.Go(func() {
				for {
					n, err := s.DeleteExpired(c, 25)
					removed.Add(int64(n))
					if err != nil {
						errs <- fmt.Errorf("DeleteExpired: %w", err)
						return
					}
					// DeleteExpired returns 0 only when it found nothing
					// left to delete.
					if n == 0 {
						return
					}
				}
			})
		}
		// New records expiring soon land in the expiry index right after
		// the expired ones, where a sweeper holding gap locks would block
		// them.
		wg.Go(func() {
			for range increments {
				rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Minute), Data: []byte("new")}
				if err := s.Save(c, rec); err != nil {
					errs <- fmt.Errorf("new record while sweeping: %w", err)
					return
				}
			}
		})
		for _, id := range ids {
			wg.Go(func() {
				for range increments {
					if err := storetest.Increment(c, s, id); err != nil {
						errs <- fmt.Errorf("increment while sweeping: %w", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if n := removed.Load(); n != expired {
		t.Errorf("the sweepers report %d deletions of %d expired rows", n, expired)
	}
	if n := count(t, h.DB, table); n != 0 {
		t.Errorf("%d expired rows are left after the sweepers finished", n)
	}
	for _, id := range ids {
		rec, err := stores[1].Load(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if n := binary.BigEndian.Uint64(rec.Data); n != uint64(len(stores))*increments {
			t.Errorf("a live record counted %d increments while sweepers ran; want %d", n, len(stores)*increments)
		}
	}
}

// BenchmarkLoad measures Load of a small record by 1 and by 16 concurrent
// callers, each loading its own record.
func BenchmarkLoad(b *testing.B, s session.Store) {
	for _, callers := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			recs := records(b, s, callers)
			run(b, callers, func(c context.Context, i int) error {
				_, err := s.Load(c, recs[i].ID)
				return err
			})
		})
	}
}

// BenchmarkSave measures a compare-and-swap Save of a small record by 1 and
// by 16 concurrent callers, each saving its own record, so no save
// conflicts.
func BenchmarkSave(b *testing.B, s session.Store) {
	for _, callers := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			recs := records(b, s, callers)
			run(b, callers, func(c context.Context, i int) error {
				if err := s.Save(c, recs[i]); err != nil {
					return err
				}
				recs[i].Version++ // only caller i touches recs[i]
				return nil
			})
		})
	}
}

// records saves one typical record (a few hundred bytes, a user) per
// caller and returns them at their stored versions.
func records(b *testing.B, s session.Store, n int) []session.Record {
	recs := make([]session.Record, n)
	for i := range recs {
		recs[i] = session.Record{ID: storetest.NewID(), UserID: "bench-user", Expiry: time.Now().Add(time.Hour), Data: make([]byte, 300)}
		if err := s.Save(ctx(b), recs[i]); err != nil {
			b.Fatal(err)
		}
		recs[i].Version = 1
	}
	return recs
}

// run calls op b.N times in all, spread over callers goroutines; op gets
// the caller's index. testing.B.RunParallel cannot run exactly one or
// exactly sixteen callers on any machine, so this counts out b.N itself.
func run(b *testing.B, callers int, op func(c context.Context, caller int) error) {
	c := ctx(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(c, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
