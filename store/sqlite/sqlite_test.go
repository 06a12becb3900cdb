package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/internal/sqlstore/sqlstoretest"
	"github.com/httpstate/httpstate/store/sqlite"
)

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func open(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(ctx(t), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempFile(t testing.TB) string { return filepath.Join(t.TempDir(), "sessions.db") }

func TestConformance(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) session.Store {
		return open(t, tempFile(t))
	})
}

// harness opens stores on one fresh file, and a plain connection to it.
func harness(t *testing.T) sqlstoretest.Harness {
	path := tempFile(t)
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sqlstoretest.Harness{
		DB: db,
		Open: func(ctx context.Context, c sqlstoretest.Config) (sqlstoretest.Store, error) {
			opts := sqlstoretest.Options(c, sqlite.WithTable, sqlite.WithoutMigration, sqlite.WithSweepInterval, sqlite.WithSweepBatch)
			return sqlstoretest.Opened(sqlite.Open(ctx, path, opts...))
		},
	}
}

func TestTableNames(t *testing.T)         { sqlstoretest.TestTableNames(t, harness(t)) }
func TestWithoutMigration(t *testing.T)   { sqlstoretest.TestWithoutMigration(t, harness(t)) }
func TestSweeper(t *testing.T)            { sqlstoretest.TestSweeper(t, harness(t)) }
func TestConcurrentSweepers(t *testing.T) { sqlstoretest.TestConcurrentSweepers(t, harness(t)) }

func TestSessionsSurviveRestart(t *testing.T) {
	path := tempFile(t)
	s := open(t, path)
	rec := session.Record{ID: storetest.NewID(), UserID: "alice", Expiry: time.Now().Add(time.Hour).Round(time.Millisecond), Data: []byte("cart: 3 items")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	got, err := open(t, path).Load(ctx(t), rec.ID)
	if err != nil {
		t.Fatalf("Load after reopening the file: %v", err)
	}
	if got.UserID != rec.UserID || got.Version != 1 || !got.Expiry.Equal(rec.Expiry) || string(got.Data) != string(rec.Data) {
		t.Fatalf("after a restart the record is %+v; want %+v at version 1", got, rec)
	}
}

func TestPathsAreTakenLiterally(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odd name?mode=ro#x%41.db")
	s := open(t, path)
	if err := s.Save(ctx(t), session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
	for _, bad := range []string{"", ":memory:", "file:x.db"} {
		if s, err := sqlite.Open(ctx(t), bad); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded; want an error", bad)
		}
	}
}

// Another process holding the write lock (here a second connection in the
// middle of a transaction) makes writes wait, but never past the caller's
// deadline, and never blocks reads.
func TestWaitForOtherWriterHonoursContext(t *testing.T) {
	path := tempFile(t)
	s := open(t, path)
	rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx(t), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	if _, err := s.Load(ctx(t), rec.ID); err != nil {
		t.Fatalf("Load while another process writes: %v", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	loaded := rec
	loaded.Version = 1
	err = s.Save(short, loaded)
	// The busy timeout is 5s: returning well before it shows the deadline
	// cut the wait short.
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Fatalf("Save waited %v for a write lock, past its 100ms deadline", elapsed)
	}
	if err == nil || errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save while the file is locked past the deadline = %v; want a plain error", err)
	}

	if _, err := conn.ExecContext(ctx(t), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx(t), loaded); err != nil {
		t.Fatalf("Save once the lock is released: %v", err)
	}
}

// logLines is an io.Writer that hands each log line to a channel.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default: // the test has seen enough
	}
	return len(p), nil
}

func TestSweeperFailuresAreLogged(t *testing.T) {
	path := tempFile(t)
	lines := make(logLines, 1)
	open(t, path, sqlite.WithTable("doomed"), sqlite.WithSweepInterval(5*time.Millisecond),
		sqlite.WithLogger(slog.New(slog.NewTextHandler(lines, nil))))
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx(t), "DROP TABLE doomed"); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-lines:
		if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "no such table") {
			t.Fatalf("the sweeper's failure was logged as %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sweeper failed for 10s without logging it")
	}
}

func benchStore(b *testing.B) *sqlite.Store {
	return open(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSweepInterval(0))
}

func BenchmarkLoad(b *testing.B) { sqlstoretest.BenchmarkLoad(b, benchStore(b)) }
func BenchmarkSave(b *testing.B) { sqlstoretest.BenchmarkSave(b, benchStore(b)) }
