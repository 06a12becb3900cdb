package memcached_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/internal/netfault"
	"github.com/httpstate/httpstate/store/internal/storebench"
	"github.com/httpstate/httpstate/store/memcached"
)

// sharedClient returns one client for the test binary, with enough idle
// connections for the suite's concurrent writers, or stops the test when
// memcached is unreachable.
var sharedClient = sync.OnceValues(func() (*memcache.Client, error) {
	c := memcache.New(testenv.MemcachedAddr)
	c.MaxIdleConns = memcached.OpenMaxIdleConns
	// The suite runs dozens of concurrent cases under the race detector
	// on two cores; a round trip can wait longer than gomemcache's default
	// of 500ms there without anything being wrong with the server. The
	// tests of timeouts use clients of their own.
	c.Timeout = 5 * time.Second
	return c, c.Ping()
})

func client(t testing.TB) *memcache.Client {
	t.Helper()
	c, err := sharedClient()
	testenv.Require(t, "memcached", err)
	return c
}

// newStore returns a store on the shared server under a key prefix of its
// own, so tests and concurrent runs never see each other's keys.
func newStore(t testing.TB, opts ...memcached.Option) *memcached.Store {
	t.Helper()
	s, _ := newStorePrefix(t, opts...)
	return s
}

func newStorePrefix(t testing.TB, opts ...memcached.Option) (*memcached.Store, string) {
	t.Helper()
	prefix := "httpstate-test:" + storetest.NewID()[:16] + ":"
	opts = append([]memcached.Option{memcached.WithKeyPrefix(prefix)}, opts...)
	s, err := memcached.New(client(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, prefix
}

// TestConformance declares the store's index forgetful, as the package
// documents: Memcached may evict a user's index item like any other. The
// suite makes it forget by deleting that item, under the key the package
// documentation gives.
func TestConformance(t *testing.T) {
	client(t)
	prefixes := sync.Map{} // *memcached.Store -> its key prefix
	storetest.TestStore(t, func(t *testing.T) session.Store {
		s, prefix := newStorePrefix(t)
		prefixes.Store(s, prefix)
		return s
	}, storetest.ForgetfulIndex(func(t *testing.T, s session.Store, userID string) {
		prefix, _ := prefixes.Load(s)
		sum := sha256.Sum256([]byte(userID))
		key := prefix.(string) + "u:" + base64.RawURLEncoding.EncodeToString(sum[:])
		if err := client(t).Delete(key); err != nil {
			t.Fatalf("evicting the index item %q: %v", key, err)
		}
	}))
}

func live() time.Time { return time.Now().Add(time.Hour) }

// itemSizeMax asks the server for its item size limit (memcached -I).
func itemSizeMax(t *testing.T) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", testenv.MemcachedAddr, 5*time.Second)
	testenv.Require(t, "memcached", err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("stats settings\r\n")); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "STAT item_size_max "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("item_size_max %q: %v", v, err)
			}
			return n
		}
		if line == "END" {
			break
		}
	}
	t.Fatalf("memcached did not report item_size_max: %v", sc.Err())
	return 0
}

func TestItemOverTheServerLimitIsErrTooLargeAndChangesNothing(t *testing.T) {
	s := newStore(t)
	limit := itemSizeMax(t)
	if limit > 64<<20 {
		t.Skipf("memcached's item size limit is %d bytes; too large to exceed in a test", limit)
	}
	huge := make([]byte, limit)
	ctx := t.Context()

	fresh := session.Record{ID: storetest.NewID(), UserID: "u", Expiry: live(), Data: huge}
	err := s.Save(ctx, fresh)
	if !errors.Is(err, memcached.ErrTooLarge) {
		t.Fatalf("Save of a new %d-byte record = %v; want ErrTooLarge", limit, err)
	}
	if _, err := s.Load(ctx, fresh.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load after a refused new record = %v; want ErrNotFound", err)
	}

	rec := session.Record{ID: storetest.NewID(), Expiry: live(), Data: []byte("small")}
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Version = 1
	rec.Data = huge
	if err := s.Save(ctx, rec); !errors.Is(err, memcached.ErrTooLarge) {
		t.Fatalf("Save growing a record past the limit = %v; want ErrTooLarge", err)
	}
	got, err := s.Load(ctx, rec.ID)
	if err != nil || got.Version != 1 || string(got.Data) != "small" {
		t.Fatalf("after a refused update Load = version %d %q, %v; want version 1 %q", got.Version, got.Data, err, "small")
	}
}

func TestExpiryBeyondThirtyDaysIsKept(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for _, d := range []time.Duration{30*24*time.Hour - time.Second, 30 * 24 * time.Hour, 31 * 24 * time.Hour, 400 * 24 * time.Hour} {
		exp := time.Now().Add(d).Round(time.Millisecond)
		rec := session.Record{ID: storetest.NewID(), Expiry: exp, Data: []byte("remember me")}
		if err := s.Save(ctx, rec); err != nil {
			t.Fatalf("Save with Expiry in %v: %v", d, err)
		}
		// Sent as a relative TTL, more than 30 days would be read as a
		// timestamp in 1970 and the item would be gone at once.
		got, err := s.Load(ctx, rec.ID)
		if err != nil {
			t.Fatalf("Load of a record expiring in %v: %v", d, err)
		}
		if !got.Expiry.Equal(exp) {
			t.Fatalf("Expiry in %v came back as %v; want %v", d, got.Expiry, exp)
		}
	}
}

func TestInvalidKeysAreRefusedOrAbsent(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for _, id := range []string{"has space", "new\nline", strings.Repeat("x", 240)} {
		if err := s.Save(ctx, session.Record{ID: id, Expiry: live()}); err == nil || errors.Is(err, session.ErrConflict) {
			t.Errorf("Save(%q) = %v; want a plain error", id, err)
		}
		if _, err := s.Load(ctx, id); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Load(%q) = %v; want ErrNotFound", id, err)
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Errorf("Delete(%q) = %v; want nil", id, err)
		}
	}
	for _, prefix := range []string{"", "a b:", "tab\t", strings.Repeat("p", 206)} {
		if _, err := memcached.New(client(t), memcached.WithKeyPrefix(prefix)); (err == nil) != (prefix == "") {
			t.Errorf("New with prefix %q: error %v", prefix, err)
		}
	}
	if _, err := memcached.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := memcached.New(memcache.New(testenv.MemcachedAddr), memcached.WithTimeout(-time.Second)); err == nil {
		t.Error("New with a negative timeout succeeded")
	}
	if _, err := memcached.Open(t.Context(), nil); err == nil {
		t.Error("Open with no address succeeded")
	}
	if _, err := memcached.Open(t.Context(), []string{"not an address"}); err == nil {
		t.Error("Open with an invalid address succeeded")
	}
}

// Open takes the options of New, and checks them before it touches the
// network.
func TestOpenTakesTheOptionsOfNew(t *testing.T) {
	client(t)
	prefix := "httpstate-test:" + storetest.NewID()[:16] + ":"
	s, err := memcached.Open(t.Context(), []string{testenv.MemcachedAddr}, memcached.WithKeyPrefix(prefix), memcached.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := session.Record{ID: storetest.NewID(), Expiry: live(), Data: []byte("x")}
	if err := s.Save(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t).Get(prefix + "s:" + rec.ID); err != nil {
		t.Fatalf("the record is not under the prefix given to Open: %v", err)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := memcached.Open(canceled, []string{netfault.SilentServer(t)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a canceled context = %v; want an error wrapping context.Canceled", err)
	}
	if _, err := memcached.Open(t.Context(), []string{testenv.MemcachedAddr}, memcached.WithKeyPrefix("a b")); err == nil {
		t.Error("Open with an invalid key prefix succeeded")
	}
}

// fakeServer is a memcached that answers every get with a miss and logs
// the commands it receives.
type fakeServer struct {
	ln       net.Listener
	mu       sync.Mutex
	commands []string
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln}
	var conns sync.WaitGroup
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { f.serve(c) })
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		conns.Wait()
	})
	return f
}

func (f *fakeServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f.mu.Lock()
		f.commands = append(f.commands, strings.TrimSpace(line))
		f.mu.Unlock()
		if _, err := c.Write([]byte("END\r\n")); err != nil {
			return
		}
	}
}

func (f *fakeServer) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

func TestCanceledContextNeverTouchesTheServer(t *testing.T) {
	f := newFakeServer(t)
	s, err := memcached.New(memcache.New(f.ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	id := storetest.NewID()
	errs := map[string]error{"Save": s.Save(ctx, session.Record{ID: id, UserID: "u", Expiry: live()}), "Delete": s.Delete(ctx, id)}
	_, errs["Load"] = s.Load(ctx, id)
	_, errs["ListByUser"] = s.ListByUser(ctx, "u")
	_, errs["DeleteExpired"] = s.DeleteExpired(ctx, 0)
	for op, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v; want an error wrapping context.Canceled", op, err)
		}
	}
	// A call with a live context completes only once the server has
	// answered it, so by then every command ever sent has been logged.
	if _, err := s.Load(t.Context(), id); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load with a live context from a server that misses = %v", err)
	}
	if got, want := f.log(), []string{"gets httpstate:s:" + id}; !slicesEqual(got, want) {
		t.Fatalf("server received %q; want only the live call's %q", got, want)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// every runs each Store method once and returns their errors.
func every(ctx context.Context, s session.Store) map[string]error {
	id := storetest.NewID()
	errs := map[string]error{
		"Save":   s.Save(ctx, session.Record{ID: id, UserID: "u", Expiry: live(), Data: []byte("x")}),
		"Update": s.Save(ctx, session.Record{ID: id, UserID: "u", Version: 1, Expiry: live(), Data: []byte("x")}),
		"Delete": s.Delete(ctx, id),
	}
	_, errs["Load"] = s.Load(ctx, id)
	_, errs["ListByUser"] = s.ListByUser(ctx, "u")
	return errs
}

// wantOutage checks that every method failed with an error that is
// neither "not found" nor "conflict", which callers would act on, and did
// so well within bound.
func wantOutage(t *testing.T, s session.Store, bound time.Duration) map[string]error {
	t.Helper()
	start := time.Now()
	errs := every(t.Context(), s)
	if took := time.Since(start); took > bound {
		t.Errorf("five calls to a dead server took %v; want well under %v", took, bound)
	}
	for op, err := range errs {
		if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrConflict) {
			t.Errorf("%s against a dead server = %v; want an outage error", op, err)
		}
	}
	return errs
}

func TestClosedPortFailsFast(t *testing.T) {
	addr := netfault.ClosedPort(t)
	start := time.Now()
	_, err := memcached.Open(t.Context(), []string{addr})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Open on a closed port = %v after %v; want a prompt error", err, time.Since(start))
	}
	s, err := memcached.New(memcache.New(addr))
	if err != nil {
		t.Fatal(err)
	}
	// A refused connection fails at once, far below the 500ms timeout.
	wantOutage(t, s, 5*time.Second)
}

func TestSilentServerTimesOut(t *testing.T) {
	addr := netfault.SilentServer(t)
	s, err := memcached.New(memcache.New(addr), memcached.WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Five calls of one round trip each before the first error: 0.5s.
	errs := wantOutage(t, s, 10*time.Second)
	if !errors.Is(errs["Load"], os.ErrDeadlineExceeded) {
		t.Errorf("Load from a silent server = %v; want the client's timeout", errs["Load"])
	}
	// Open's ping waits for ctx, not for the client's longer Timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = memcached.Open(ctx, []string{addr}, memcached.WithTimeout(time.Minute))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Open on a silent server = %v after %v; want context.DeadlineExceeded at the 200ms deadline", err, time.Since(start))
	}
}

// startMemcached runs a memcached of its own on a free port and returns
// its address and the process.
func startMemcached(t *testing.T) (string, *exec.Cmd) {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	testenv.Require(t, "memcached binary", err)
	// The port can be taken between Close and memcached's bind; try again.
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().(*net.TCPAddr)
		ln.Close()
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(addr.Port), "-U", "0", "-m", "16", "-vv"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "nobody")
		}
		cmd := exec.Command(bin, args...)
		// A pipe of our own, rather than StderrPipe, so that reading it
		// may go on until memcached exits, whoever calls Wait.
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = pw
		err = cmd.Start()
		pw.Close()
		if err != nil {
			pr.Close()
			t.Fatal(err)
		}
		// With -vv memcached announces its listening socket on stderr: the
		// signal that it accepts connections. Then keep draining, as it
		// logs every command.
		ready := make(chan bool, 1)
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			defer pr.Close()
			sc := bufio.NewScanner(pr)
			announced := false
			for sc.Scan() {
				if !announced && strings.Contains(sc.Text(), "server listening") {
					announced = true
					ready <- true
				}
			}
			if !announced {
				ready <- false
			}
		}()
		if <-ready {
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
				<-drained
			})
			return addr.String(), cmd
		}
		cmd.Wait()
		<-drained
	}
	t.Fatal("could not start memcached on a free port")
	return "", nil
}

func TestKilledServerFailsFast(t *testing.T) {
	addr, cmd := startMemcached(t)
	s, err := memcached.Open(t.Context(), []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	rec := session.Record{ID: storetest.NewID(), UserID: "u", Expiry: live(), Data: []byte("x")}
	if err := s.Save(ctx, rec); err != nil {
		t.Fatalf("Save to a running memcached: %v", err)
	}
	if _, err := s.Load(ctx, rec.ID); err != nil {
		t.Fatalf("Load from a running memcached: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The idle connections left in the pool now lead nowhere, and new ones
	// are refused.
	wantOutage(t, s, 5*time.Second)
}

// TestIndexSurvivesConcurrentTrims moves records from one user to another
// and back, as logins as someone else do, while concurrent readers trim
// both users' indexes all along: ListByUser must never lose a record that
// belongs to the user.
func TestIndexSurvivesConcurrentTrims(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	u, v := "user-u", "user-v"
	const n = 8
	recs := make([]session.Record, n)
	for i := range recs {
		recs[i] = session.Record{ID: storetest.NewID(), UserID: u, Expiry: live(), Data: []byte("x")}
		if err := s.Save(ctx, recs[i]); err != nil {
			t.Fatal(err)
		}
		recs[i].Version = 1
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.ListByUser(ctx, u)
				s.ListByUser(ctx, v)
			}
		})
	}
	// Move every record to v and back to u a few times.
	for round := range 10 {
		for i := range recs {
			recs[i].UserID = []string{v, u}[round%2]
			if err := s.Save(ctx, recs[i]); err != nil {
				t.Fatal(err)
			}
			recs[i].Version++
		}
	}
	close(stop)
	readers.Wait()
	got, err := s.ListByUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("after moves under concurrent trims ListByUser(u) has %d records; want %d", len(got), n)
	}
	if got, err := s.ListByUser(ctx, v); err != nil || len(got) != 0 {
		t.Fatalf("ListByUser(v) = %d records, %v; want none", len(got), err)
	}
}

func TestCloseLeavesTheStoreUsable(t *testing.T) {
	s := newStore(t)
	rec := session.Record{ID: storetest.NewID(), Expiry: live(), Data: []byte("x")}
	if err := s.Save(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(t.Context(), rec.ID)
	if err != nil || !bytes.Equal(got.Data, rec.Data) {
		t.Fatalf("Load after Close = %q, %v", got.Data, err)
	}
}

func BenchmarkLoad(b *testing.B) { storebench.Load(b, newStore(b)) }
func BenchmarkSave(b *testing.B) { storebench.Save(b, newStore(b)) }

// A Save that wrote its record but could not index it must say so: it
// returns an error (the outcome is ambiguous to the caller, who reloads
// and finds the write), and logs that listing and revoking the user's
// sessions will miss it, naming the session only by a short prefix. Here
// the user's index item is one the store cannot read.
func TestRecordWrittenButNotIndexedIsLoggedAndAnError(t *testing.T) {
	var logs strings.Builder
	s, prefix := newStorePrefix(t, memcached.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	user := "carol-" + storetest.NewID()[:8]
	sum := sha256.Sum256([]byte(user))
	index := prefix + "u:" + base64.RawURLEncoding.EncodeToString(sum[:])
	if err := client(t).Set(&memcache.Item{Key: index, Value: []byte("not an index"), Expiration: 60}); err != nil {
		t.Fatal(err)
	}
	rec := session.Record{ID: storetest.NewID(), UserID: user, Expiry: live(), Data: []byte("x")}
	err := s.Save(t.Context(), rec)
	if err == nil || errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save with an unreadable index = %v; want an error that is not ErrConflict", err)
	}
	if got, err := s.Load(t.Context(), rec.ID); err != nil || got.Version != 1 {
		t.Fatalf("Load after the ambiguous Save = version %d, %v; want the written version 1", got.Version, err)
	}
	line := logs.String()
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "session="+rec.ID[:8]+" ") {
		t.Fatalf("logged %q; want a WARN line naming the session by its first 8 characters", line)
	}
	if strings.Contains(line, rec.ID) || strings.Contains(line, user) {
		t.Fatalf("logged %q, which holds the record ID or the user ID", line)
	}
}
