package redis_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/redis"
)

// prompt is how long past its deadline a call may take before the test
// calls it a hang: generous, so that a loaded CI machine does not fail the
// test, and far below rueidis's own timeouts (a 5s dial, a 10s write
// timeout), which are what a call ignoring its context would wait for.
const prompt = 2 * time.Second

// within runs op with a context that expires after d, and fails the test
// if op returns no error, ErrNotFound or ErrConflict, or returns later
// than d+prompt.
func within(t *testing.T, name string, d time.Duration, op func(context.Context) error) {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	start := time.Now()
	err := op(c)
	if took := time.Since(start); took > d+prompt {
		t.Errorf("%s took %v with a %v deadline", name, took, d)
	}
	wantOutage(t, name, err)
}

// allOps runs every method that talks to the server against s.
func allOps(t *testing.T, s *redis.Store, rec session.Record, d time.Duration) {
	t.Helper()
	within(t, "Load", d, func(c context.Context) error { _, err := s.Load(c, rec.ID); return err })
	within(t, "Save", d, func(c context.Context) error { return s.Save(c, rec) })
	within(t, "Delete", d, func(c context.Context) error { return s.Delete(c, rec.ID) })
	within(t, "ListByUser", d, func(c context.Context) error { _, err := s.ListByUser(c, rec.UserID); return err })
}

func TestDeadServerIsAnErrorNotAHang(t *testing.T) {
	srv := startServer(t, "Ready to accept connections")
	s := openOn(t, srv.addr)
	rec := session.Record{ID: storetest.NewID(), UserID: "alice", Expiry: live(), Data: []byte("x")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	loaded, err := s.Load(ctx(t), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	srv.cmd.Process.Kill()
	srv.cmd.Wait()
	allOps(t, s, loaded, 500*time.Millisecond)
}

// A stopped process keeps its connections open and answers nothing: the
// case where only the context can end the wait.
func TestUnresponsiveServerIsAnErrorNotAHang(t *testing.T) {
	srv := startServer(t, "Ready to accept connections")
	stores := map[string]*redis.Store{
		"plain":  openOn(t, srv.addr),
		"cached": openOn(t, srv.addr, redis.WithClientCache(time.Minute)),
	}
	for _, s := range stores {
		rec := session.Record{ID: storetest.NewID(), UserID: "alice", Expiry: live(), Data: []byte("x")}
		if err := s.Save(ctx(t), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.cmd.Process.Signal(syscall.SIGCONT) })
	for name, s := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A fresh ID: a cached record would be served without
			// asking the server.
			rec := session.Record{ID: storetest.NewID(), UserID: "alice", Version: 1, Expiry: live(), Data: []byte("x")}
			allOps(t, s, rec, 300*time.Millisecond)
		})
	}
}

func TestOpenFailsPromptlyWithoutAServer(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		addr := "127.0.0.1:" + freePort(t)
		c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		s, err := redis.Open(c, rueidis.ClientOption{InitAddress: []string{addr}})
		if err == nil {
			s.Close()
			t.Fatal("Open succeeded with nothing listening")
		}
		if took := time.Since(start); took > prompt {
			t.Errorf("Open took %v to report a refused connection", took)
		}
	})
	t.Run("silent", func(t *testing.T) {
		// Accepts connections and never answers, like a server behind a
		// broken proxy.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		accepted := make(chan struct{})
		go func() {
			defer close(accepted)
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				conns = append(conns, conn)
			}
		}()
		defer func() {
			l.Close()
			<-accepted
			for _, c := range conns {
				c.Close()
			}
		}()
		d := 300 * time.Millisecond
		c, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		start := time.Now()
		s, err := redis.Open(c, rueidis.ClientOption{InitAddress: []string{l.Addr().String()}})
		if err == nil {
			s.Close()
			t.Fatal("Open succeeded against a server that never answers")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open = %v; want an error wrapping context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took > d+prompt {
			t.Errorf("Open took %v with a %v deadline", took, d)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		c, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := redis.Open(c, rueidis.ClientOption{InitAddress: []string{"127.0.0.1:1"}}); !errors.Is(err, context.Canceled) {
			t.Errorf("Open with a canceled context = %v; want context.Canceled", err)
		}
	})
}

// After a restart, a failover or SCRIPT FLUSH the server has forgotten the
// scripts; EVALSHA fails with NOSCRIPT and the store must send them again,
// also in Save's two-script pipeline.
func TestScriptsSurviveAScriptFlush(t *testing.T) {
	srv := startServer(t, "Ready to accept connections")
	s := openOn(t, srv.addr)
	admin, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	flush := func() {
		t.Helper()
		if err := admin.Do(ctx(t), admin.B().ScriptFlush().Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	rec := session.Record{ID: storetest.NewID(), UserID: "alice", Expiry: live(), Data: []byte("x")}
	flush()
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatalf("Save after SCRIPT FLUSH: %v", err)
	}
	flush()
	if recs, err := s.ListByUser(ctx(t), "alice"); err != nil || len(recs) != 1 {
		t.Fatalf("ListByUser after SCRIPT FLUSH = %d records, %v", len(recs), err)
	}
	flush()
	rec.Version = 1
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatalf("second Save after SCRIPT FLUSH: %v", err)
	}
	flush()
	if err := s.Delete(ctx(t), rec.ID); err != nil {
		t.Fatalf("Delete after SCRIPT FLUSH: %v", err)
	}
	if _, err := s.Load(ctx(t), rec.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load after Delete = %v", err)
	}
}
