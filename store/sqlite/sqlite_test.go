package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/internal/sqltest"
	"github.com/httpstate/httpstate/store/internal/storebench"
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
func harness(t *testing.T) sqltest.Harness {
	path := tempFile(t)
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sqltest.DatabaseSQL(sqltest.Harness{
		Name: "sqlite",
		Open: func(ctx context.Context, c sqltest.Config) (sqltest.Store, error) {
			opts := sqltest.Options(c, sqlite.WithTable, sqlite.WithoutMigration, sqlite.WithSweepInterval, sqlite.WithSweepBatch, sqlite.WithLogger)
			return sqltest.Opened(sqlite.Open(ctx, path, opts...))
		},
	}, db)
}

func TestTableNames(t *testing.T)             { sqltest.TestTableNames(t, harness(t)) }
func TestWithoutMigration(t *testing.T)       { sqltest.TestWithoutMigration(t, harness(t)) }
func TestSweeper(t *testing.T)                { sqltest.TestSweeper(t, harness(t)) }
func TestSweepFailuresAreLogged(t *testing.T) { sqltest.TestSweepFailuresAreLogged(t, harness(t)) }
func TestConcurrentSweepers(t *testing.T)     { sqltest.TestConcurrentSweepers(t, harness(t)) }

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

func benchStore(b *testing.B) *sqlite.Store {
	return open(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSweepInterval(0))
}

func BenchmarkLoad(b *testing.B) { storebench.Load(b, benchStore(b)) }
func BenchmarkSave(b *testing.B) { storebench.Save(b, benchStore(b)) }
