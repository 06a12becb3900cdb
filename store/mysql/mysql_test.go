package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/internal/netfault"
	"github.com/httpstate/httpstate/store/internal/sqltest"
	"github.com/httpstate/httpstate/store/internal/storebench"
	"github.com/httpstate/httpstate/store/mysql"
)

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// connect returns a pool on the test server, or skips (fails in CI) when
// there is none.
func connect(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	connector, err := driver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxIdleConns(32)
	t.Cleanup(func() { db.Close() })
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	testenv.Require(t, "mysql", db.PingContext(c))
	return db
}

// harness opens stores on the test server through db.
func harness(t *testing.T) sqltest.Harness {
	db := connect(t, testenv.MySQLDSN)
	return sqltest.DatabaseSQL(sqltest.Harness{
		Name: "mysql",
		Open: func(ctx context.Context, c sqltest.Config) (sqltest.Store, error) {
			opts := sqltest.Options(c, mysql.WithTable, mysql.WithoutMigration, mysql.WithSweepInterval, mysql.WithSweepBatch, mysql.WithLogger)
			return sqltest.Opened(mysql.New(ctx, db, opts...))
		},
	}, db)
}

// newStore returns a store on db in a table of its own, dropped when the
// test ends.
func newStore(t testing.TB, db *sql.DB, opts ...mysql.Option) *mysql.Store {
	t.Helper()
	table := sqltest.Table(t, db)
	s, err := mysql.New(ctx(t), db, append([]mysql.Option{mysql.WithTable(table)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	db := connect(t, testenv.MySQLDSN)
	storetest.TestStore(t, func(t *testing.T) session.Store {
		return newStore(t, db)
	})
}

func TestTableNames(t *testing.T)             { sqltest.TestTableNames(t, harness(t)) }
func TestWithoutMigration(t *testing.T)       { sqltest.TestWithoutMigration(t, harness(t)) }
func TestSweeper(t *testing.T)                { sqltest.TestSweeper(t, harness(t)) }
func TestSweepFailuresAreLogged(t *testing.T) { sqltest.TestSweepFailuresAreLogged(t, harness(t)) }
func TestConcurrentSweepers(t *testing.T)     { sqltest.TestConcurrentSweepers(t, harness(t)) }

// clientFoundRows changes what MySQL reports as affected rows, and
// interpolateParams replaces server-side prepared statements with client
// quoting; the compare-and-swap must not depend on either.
func TestDSNOptionsDoNotChangeOutcomes(t *testing.T) {
	cfg, err := driver.ParseDSN(testenv.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientFoundRows = true
	cfg.InterpolateParams = true
	s := newStore(t, connect(t, cfg.FormatDSN()))

	rec := session.Record{ID: storetest.NewID(), UserID: "dave", Expiry: time.Now().Add(time.Hour), Data: []byte("same")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx(t), rec); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("a new record over a live one = %v; want ErrConflict", err)
	}
	loaded, err := s.Load(ctx(t), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Saving the identical record changes nothing but the version.
	if err := s.Save(ctx(t), loaded); err != nil {
		t.Fatalf("a save that changes no data = %v; want nil", err)
	}
	if err := s.Save(ctx(t), loaded); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("the same version saved twice = %v; want ErrConflict", err)
	}
	if n, err := s.DeleteExpired(ctx(t), 10); err != nil || n != 0 {
		t.Fatalf("DeleteExpired with nothing expired = %d, %v", n, err)
	}
	if got, err := s.Load(ctx(t), rec.ID); err != nil || got.Version != 2 {
		t.Fatalf("after one successful update Load = version %d, %v; want 2", got.Version, err)
	}
}

func TestCloseLeavesCallersDBOpen(t *testing.T) {
	db := connect(t, testenv.MySQLDSN)
	s := newStore(t, db, mysql.WithSweepInterval(time.Millisecond))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.PingContext(ctx(t)); err != nil {
		t.Fatalf("the caller's *sql.DB after Close: %v", err)
	}
}

func TestOpenFromDSN(t *testing.T) {
	db := connect(t, testenv.MySQLDSN)
	s, err := mysql.Open(ctx(t), testenv.MySQLDSN, mysql.WithTable(sqltest.Table(t, db)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	rec := session.Record{ID: storetest.NewID(), UserID: "bob", Expiry: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx(t), rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := mysql.Open(ctx(t), "not a DSN"); err == nil {
		t.Error("Open with a malformed DSN succeeded")
	}
}

func TestClosedPortFailsFast(t *testing.T) {
	addr := netfault.ClosedPort(t)
	c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := netfault.ReturnsIn(t, "Open on a closed port", func() error {
		s, err := mysql.Open(c, "root@tcp("+addr+")/test")
		if err == nil {
			s.Close()
		}
		return err
	})
	if err == nil || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Open on a closed port = %v; want a connection error", err)
	}
}

// A server that stops answering mid-life (a network partition) must not
// hang any call past its context's deadline, and must not look like a
// missing session.
func TestStalledServerHonoursDeadlines(t *testing.T) {
	db := connect(t, testenv.MySQLDSN)
	cfg, err := driver.ParseDSN(testenv.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	p := netfault.StartProxy(t, cfg.Addr)
	cfg.Addr = p.Addr()
	// The table is dropped through db: the proxied pool will be stalled.
	table := sqltest.Table(t, db)
	s, err := mysql.New(ctx(t), connect(t, cfg.FormatDSN()), mysql.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := session.Record{ID: storetest.NewID(), UserID: "carol", Expiry: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}

	p.Stall()
	calls := map[string]func(context.Context) error{
		"Load": func(c context.Context) error { _, err := s.Load(c, rec.ID); return err },
		"Save": func(c context.Context) error {
			r := rec
			r.Version = 1
			return s.Save(c, r)
		},
		"Delete":        func(c context.Context) error { return s.Delete(c, rec.ID) },
		"ListByUser":    func(c context.Context) error { _, err := s.ListByUser(c, rec.UserID); return err },
		"DeleteExpired": func(c context.Context) error { _, err := s.DeleteExpired(c, 0); return err },
	}
	for name, call := range calls {
		c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := netfault.ReturnsIn(t, name, func() error { return call(c) })
		cancel()
		if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrConflict) {
			t.Errorf("%s on a stalled server = %v; want an error that is neither ErrNotFound nor ErrConflict", name, err)
		}
	}
}

func benchStore(b *testing.B) *mysql.Store {
	return newStore(b, connect(b, testenv.MySQLDSN), mysql.WithSweepInterval(0))
}

func BenchmarkLoad(b *testing.B) { storebench.Load(b, benchStore(b)) }
func BenchmarkSave(b *testing.B) { storebench.Save(b, benchStore(b)) }
