package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/internal/sqlstore/sqlstoretest"
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

// newStore returns a store on db in a table of its own, dropped when the
// test ends.
func newStore(t testing.TB, db *sql.DB, opts ...mysql.Option) *mysql.Store {
	t.Helper()
	opts = append([]mysql.Option{mysql.WithTable(sqlstoretest.Table(t, db))}, opts...)
	s, err := mysql.New(ctx(t), db, opts...)
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

func harness(t *testing.T) sqlstoretest.Harness {
	db := connect(t, testenv.MySQLDSN)
	return sqlstoretest.Harness{
		DB: db,
		Open: func(ctx context.Context, c sqlstoretest.Config) (sqlstoretest.Store, error) {
			opts := sqlstoretest.Options(c, mysql.WithTable, mysql.WithoutMigration, mysql.WithSweepInterval, mysql.WithSweepBatch)
			return sqlstoretest.Opened(mysql.New(ctx, db, opts...))
		},
	}
}

func TestTableNames(t *testing.T)         { sqlstoretest.TestTableNames(t, harness(t)) }
func TestWithoutMigration(t *testing.T)   { sqlstoretest.TestWithoutMigration(t, harness(t)) }
func TestSweeper(t *testing.T)            { sqlstoretest.TestSweeper(t, harness(t)) }
func TestConcurrentSweepers(t *testing.T) { sqlstoretest.TestConcurrentSweepers(t, harness(t)) }

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
	s, err := mysql.Open(ctx(t), testenv.MySQLDSN, mysql.WithTable(sqlstoretest.Table(t, db)))
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

// returnsIn fails the test if call has not returned after a generous
// bound: a hang, not a slow machine.
func returnsIn(t *testing.T, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hung past its deadline", what)
		return nil
	}
}

func TestClosedPortFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = returnsIn(t, "Open on a closed port", func() error {
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
	p := startProxy(t, cfg.Addr)
	cfg.Addr = p.addr()
	// The table is dropped through db: the proxied pool will be stalled.
	s, err := mysql.New(ctx(t), connect(t, cfg.FormatDSN()), mysql.WithTable(sqlstoretest.Table(t, db)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := session.Record{ID: storetest.NewID(), UserID: "carol", Expiry: time.Now().Add(time.Hour), Data: []byte("x")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}

	p.stall()
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
		err := returnsIn(t, name, func() error { return call(c) })
		cancel()
		if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrConflict) {
			t.Errorf("%s on a stalled server = %v; want an error that is neither ErrNotFound nor ErrConflict", name, err)
		}
	}
}

// proxy forwards TCP connections to a server until stall, after which it
// swallows everything in both directions, like a dead network path.
type proxy struct {
	ln      net.Listener
	stalled chan struct{}
	once    sync.Once
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, stalled: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			wg.Go(func() { p.pipe(server, client) })
			wg.Go(func() { p.pipe(client, server) })
		}
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) stall() { p.once.Do(func() { close(p.stalled) }) }

func (p *proxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-p.stalled:
			continue // dropped on the floor
		default:
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func benchStore(b *testing.B) *mysql.Store {
	return newStore(b, connect(b, testenv.MySQLDSN), mysql.WithSweepInterval(0))
}

func BenchmarkLoad(b *testing.B) { sqlstoretest.BenchmarkLoad(b, benchStore(b)) }
func BenchmarkSave(b *testing.B) { sqlstoretest.BenchmarkSave(b, benchStore(b)) }
