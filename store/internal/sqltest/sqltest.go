// Package sqltest holds the tests that the SQL stores (store/sqlite,
// store/mysql, store/postgres) share: what they promise beyond the
// session.Store contract, in the same words (table names, migration off,
// sweeping in batches, logging, concurrent sweepers), checked against each
// real database. The contract itself is checked by session/storetest.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
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
	Logger        *slog.Logger  // nil: the default
}

// Harness connects the tests to one database.
type Harness struct {
	// Name is the store's name in its log messages: "sqlite".
	Name string

	// Open opens a store of the package under test on the database.
	Open func(ctx context.Context, c Config) (Store, error)

	// Table returns a fresh table name, and drops the table, if it was
	// created, when the test ends.
	Table func(t testing.TB) string

	// Plant inserts n records that expired a minute ago straight into
	// table, and Expired counts the rows of table that have expired:
	// rows a Save would refuse to write, and a Load would hide.
	Plant   func(ctx context.Context, table string, n int) error
	Expired func(ctx context.Context, table string) (int, error)

	// Drop drops table behind the stores' backs.
	Drop func(ctx context.Context, table string) error
}

// Options translates c into the options of the package under test, given
// its option constructors, so the tests go through its public API.
func Options[O any](c Config, table func(string) O, withoutMigration func() O, sweepInterval func(time.Duration) O,
	sweepBatch func(int) O, logger func(*slog.Logger) O) []O {
	opts := []O{table(c.Table), sweepInterval(c.SweepInterval)}
	if c.NoMigration {
		opts = append(opts, withoutMigration())
	}
	if c.SweepBatch != 0 {
		opts = append(opts, sweepBatch(c.SweepBatch))
	}
	if c.Logger != nil {
		opts = append(opts, logger(c.Logger))
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

// DatabaseSQL returns the Table, Plant, Expired and Drop of a Harness for
// a store on db that quotes names with backticks and keeps expires_at in
// unix milliseconds, as store/sqlite and store/mysql do.
func DatabaseSQL(h Harness, db *sql.DB) Harness {
	h.Table = func(t testing.TB) string { return Table(t, db) }
	h.Plant = func(ctx context.Context, table string, n int) error {
		exp := time.Now().Add(-time.Minute).UnixMilli()
		for n > 0 {
			rows := min(n, 100)
			q := "INSERT INTO `" + table + "` (id, user_id, version, expires_at, data) VALUES (?, 'planted', 1, ?, ?)" +
				strings.Repeat(", (?, 'planted', 1, ?, ?)", rows-1)
			var args []any
			for range rows {
				args = append(args, storetest.NewID(), exp, []byte("expired"))
			}
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				return err
			}
			n -= rows
		}
		return nil
	}
	h.Expired = func(ctx context.Context, table string) (int, error) {
		var n int
		err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+table+"` WHERE expires_at <= ?", time.Now().UnixMilli()).Scan(&n)
		return n, err
	}
	h.Drop = func(ctx context.Context, table string) error {
		_, err := db.ExecContext(ctx, "DROP TABLE `"+table+"`")
		return err
	}
	return h
}

// Table returns a fresh table name for a store on db, as TableName does,
// and drops the table, if it was created, when the test ends.
func Table(t testing.TB, db *sql.DB) string {
	name := TableName()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dropping test table: %v", err)
		}
	})
	return name
}

// TableName returns a fresh random table name, within the rule every SQL
// store shares.
func TableName() string {
	var b [6]byte
	rand.Read(b[:])
	return "httpstate_test_" + hex.EncodeToString(b[:])
}

// Ctx returns a context that ends with the test, or after 30 seconds.
func Ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func open(t testing.TB, h Harness, c Config) Store {
	t.Helper()
	s, err := h.Open(Ctx(t), c)
	if err != nil {
		t.Fatalf("Open(%+v): %v", c, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func plant(t testing.TB, h Harness, table string, n int) {
	t.Helper()
	if err := h.Plant(Ctx(t), table, n); err != nil {
		t.Fatalf("planting %d expired rows: %v", n, err)
	}
}

func expired(t testing.TB, h Harness, table string) int {
	t.Helper()
	n, err := h.Expired(Ctx(t), table)
	if err != nil {
		t.Fatalf("counting expired rows: %v", err)
	}
	return n
}

// TestTableNames checks that names outside the shared rule (lower-case
// ASCII letters, digits and underscores, not starting with a digit, at
// most 48 bytes) and batch sizes outside 1 to 10,000 are refused before
// anything reaches the database, and that the longest legal name works.
func TestTableNames(t *testing.T, h Harness) {
	for _, name := range []string{
		"", "Sessions", "SESSIONS", "1sessions", "my-sessions", "my sessions", "sessions;DROP TABLE users",
		"sessions`", `sessions"`, "db.sessions", "séssions", `"sessions"`, strings.Repeat("s", 49),
	} {
		if s, err := h.Open(Ctx(t), Config{Table: name}); err == nil {
			s.Close()
			t.Errorf("Open with table name %q succeeded; want an error", name)
		}
	}
	for _, bad := range []int{-1, 10_001} {
		if s, err := h.Open(Ctx(t), Config{Table: TableName(), SweepBatch: bad}); err == nil {
			s.Close()
			t.Errorf("Open with a sweep batch of %d succeeded; want an error", bad)
		}
	}
	longest := TableName()
	longest += strings.Repeat("x", 48-len(longest))
	s := open(t, h, Config{Table: longest})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Drop(ctx, longest); err != nil {
			t.Errorf("dropping table %s: %v", longest, err)
		}
	})
	rec := session.Record{ID: storetest.NewID(), UserID: "u", Expiry: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := s.Save(Ctx(t), rec); err != nil {
		t.Fatalf("Save in table %s: %v", longest, err)
	}
	if list, err := s.ListByUser(Ctx(t), "u"); err != nil || len(list) != 1 {
		t.Fatalf("ListByUser in table %s = %d records, %v; want 1", longest, len(list), err)
	}
}

// TestWithoutMigration checks, for a store that checks its table when it
// opens, that a store told not to create its table fails at Open, naming
// the table, when it is missing, and works once the table exists.
func TestWithoutMigration(t *testing.T, h Harness) {
	table := h.Table(t)
	s, err := h.Open(Ctx(t), Config{Table: table, NoMigration: true})
	if err == nil {
		s.Close()
		t.Fatal("Open without migration on a missing table succeeded")
	}
	if !strings.Contains(err.Error(), table) {
		t.Fatalf("the error for a missing table does not name it: %v", err)
	}
	creator := open(t, h, Config{Table: table})
	rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour), Data: []byte("made by the migrating store")}
	if err := creator.Save(Ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	got, err := open(t, h, Config{Table: table, NoMigration: true}).Load(Ctx(t), rec.ID)
	if err != nil || string(got.Data) != string(rec.Data) {
		t.Fatalf("Load through a store without migration = %q, %v", got.Data, err)
	}
}

// TestSchemaIsDocumented checks that the package documentation in docFile
// shows, in its code blocks, each of the statements of schema, with
// backticks removed and each ending in a semicolon: people who create the
// table themselves copy it from there.
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

// logLines is a log destination that hands each line to a channel, and
// drops lines nobody waits for.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

func (l logLines) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// next returns the next line logged, or fails the test after 10 seconds.
func (l logLines) next(t *testing.T, what string) string {
	t.Helper()
	select {
	case line := <-l:
		return line
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s was logged within 10s", what)
		return ""
	}
}

// TestSweeper checks that DeleteExpired honours its limit exactly, that a
// background sweep deletes every expired row, batch after batch, leaves
// live ones alone and reports itself at DEBUG level, and that the sweeper
// stops with Close.
func TestSweeper(t *testing.T, h Harness) {
	table := h.Table(t)
	manual := open(t, h, Config{Table: table})
	live := session.Record{ID: storetest.NewID(), UserID: "planted", Expiry: time.Now().Add(time.Hour), Data: []byte("live")}
	if err := manual.Save(Ctx(t), live); err != nil {
		t.Fatal(err)
	}
	plant(t, h, table, 25)
	if n, err := manual.DeleteExpired(Ctx(t), 10); err != nil || n != 10 {
		t.Fatalf("DeleteExpired(10) with 25 expired rows = %d, %v; want exactly 10", n, err)
	}
	if n := expired(t, h, table); n != 15 {
		t.Fatalf("%d expired rows left after deleting 10 of 25", n)
	}

	// Batches of 4 for 15 rows: the first sweep must go round four times.
	const every = 5 * time.Millisecond
	lines := make(logLines, 100)
	swept := open(t, h, Config{Table: table, SweepInterval: every, SweepBatch: 4, Logger: lines.logger()})
	line := lines.next(t, "sweep")
	for _, want := range []string{"level=DEBUG", "store=" + h.Name, "removed=15"} {
		if !strings.Contains(line, want) {
			t.Fatalf("the first sweep logged %q; want it to contain %q", line, want)
		}
	}
	if n := expired(t, h, table); n != 0 {
		t.Fatalf("the first sweep left %d expired rows", n)
	}
	if got, err := swept.Load(Ctx(t), live.ID); err != nil || string(got.Data) != "live" {
		t.Fatalf("the live record after sweeping = %q, %v", got.Data, err)
	}

	if err := swept.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for len(lines) > 0 {
		<-lines // sweeps that finished before Close returned
	}
	plant(t, h, table, 5)
	// A stopped sweeper sends no signal; give a running one thirty chances
	// to show itself. This can only pass wrongly, never fail wrongly.
	time.Sleep(30 * every)
	if n := expired(t, h, table); n != 5 {
		t.Fatalf("after Close, %d of 5 expired rows are left: the sweeper still runs", n)
	}
	if len(lines) > 0 {
		t.Fatalf("the sweeper logged %q after Close", <-lines)
	}
}

// TestSweepFailuresAreLogged checks that a sweep that fails is reported
// at WARN level through the store's logger, with the error.
func TestSweepFailuresAreLogged(t *testing.T, h Harness) {
	table := h.Table(t)
	lines := make(logLines, 100)
	open(t, h, Config{Table: table, SweepInterval: 5 * time.Millisecond, Logger: lines.logger()})
	if err := h.Drop(Ctx(t), table); err != nil {
		t.Fatal(err)
	}
	for {
		line := lines.next(t, "failed sweep")
		if strings.Contains(line, "level=DEBUG") {
			continue // a sweep that ran before the table was dropped
		}
		if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "store="+h.Name) || !strings.Contains(line, "err=") {
			t.Fatalf("a failed sweep was logged as %q; want a WARN line naming the store, with the error", line)
		}
		return
	}
}

// TestConcurrentSweepers checks that two stores on one table, as in two
// processes, can sweep at the same time as each other and as
// compare-and-swap saves through both, without deadlocks or errors: each
// expired row is deleted exactly once and no increment is lost.
func TestConcurrentSweepers(t *testing.T, h Harness) {
	const expiredRows, sweepersPerStore, liveRecords, increments = 1000, 2, 4, 25
	table := h.Table(t)
	stores := []Store{open(t, h, Config{Table: table}), open(t, h, Config{Table: table})}
	ids := make([]string, liveRecords)
	for i := range ids {
		ids[i] = storetest.NewID()
		rec := session.Record{ID: ids[i], Expiry: time.Now().Add(time.Hour), Data: make([]byte, 8)}
		if err := stores[0].Save(Ctx(t), rec); err != nil {
			t.Fatal(err)
		}
	}
	plant(t, h, table, expiredRows)

	c := Ctx(t)
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
					if n > 25 {
						errs <- fmt.Errorf("DeleteExpired(25) removed %d rows", n)
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
	if n := removed.Load(); n != expiredRows {
		t.Errorf("the sweepers report %d deletions of %d expired rows", n, expiredRows)
	}
	if n := expired(t, h, table); n != 0 {
		t.Errorf("%d expired rows are left after the sweepers finished", n)
	}
	for _, id := range ids {
		rec, err := stores[1].Load(Ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if n := binary.BigEndian.Uint64(rec.Data); n != uint64(len(stores))*increments {
			t.Errorf("a live record counted %d increments while sweepers ran; want %d", n, len(stores)*increments)
		}
	}
}
