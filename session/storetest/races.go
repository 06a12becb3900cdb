package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
)

// The races below run through the real middleware over HTTP, so they prove
// the promises users care about (no lost updates, no resurrection, one
// token after concurrent renewals, revocations no renewal outruns) on the
// store under test, not only the store's compare-and-swap.

type raceSite struct {
	t    *testing.T
	m    *session.Manager
	srv  *httptest.Server
	mux  *http.ServeMux
	gate atomic.Pointer[func()] // run by handlers of requests marked raceHeader
}

// raceHeader marks a request whose handler waits at the site's gate before
// it changes the session, so that a test can release many at once.
const raceHeader = "X-Storetest-Race"

func newRaceSite(t *testing.T, store session.Store, opts session.Options) *raceSite {
	m, err := session.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &raceSite{t: t, m: m, mux: http.NewServeMux()}
	mux := s.mux
	handle := func(pattern string, h func(*session.Session, http.ResponseWriter, *http.Request)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(raceHeader) != "" {
				if g := s.gate.Load(); g != nil {
					(*g)()
				}
			}
			h(session.FromContext(r.Context()), w, r)
		})
	}
	handle("POST /incr", func(s *session.Session, w http.ResponseWriter, r *http.Request) {
		n, err := session.Update(s, "n", func(n int) int { return n + 1 })
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, n)
	})
	handle("POST /login", func(s *session.Session, w http.ResponseWriter, r *http.Request) {
		if err := s.Login(r.FormValue("user"), false); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	handle("POST /renew", func(s *session.Session, w http.ResponseWriter, r *http.Request) {
		if err := s.RenewID(); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	handle("POST /logout", func(s *session.Session, w http.ResponseWriter, r *http.Request) {
		if err := s.Logout(); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	handle("POST /put", func(s *session.Session, w http.ResponseWriter, r *http.Request) {
		if err := s.Put(r.FormValue("k"), r.FormValue("v")); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	handle("GET /get", func(s *session.Session, w http.ResponseWriter, r *http.Request) {
		v, err := session.Get[string](s, r.FormValue("k"))
		if err != nil {
			v = "<none>"
		}
		fmt.Fprintf(w, "user=%s value=%s", s.UserID(), v)
	})
	handle("GET /n", func(s *session.Session, w http.ResponseWriter, r *http.Request) {
		n, _ := session.Get[int](s, "n")
		fmt.Fprintf(w, "user=%s n=%d", s.UserID(), n)
	})
	s.srv = httptest.NewTLSServer(m.Middleware(mux))
	t.Cleanup(s.srv.Close)
	return s
}

// release makes the handlers of n racing requests wait until all n have
// arrived and start returns, then go all at once. start returns when they
// are released.
func (s *raceSite) release(n int) (start func()) {
	var arrived sync.WaitGroup
	arrived.Add(n)
	gate := make(chan struct{})
	f := func() {
		arrived.Done()
		<-gate
	}
	s.gate.Store(&f)
	return func() {
		arrived.Wait()
		close(gate)
	}
}

type client struct {
	s   *raceSite
	c   *http.Client
	jar *cookiejar.Jar
}

func (s *raceSite) client(token string) *client {
	jar, _ := cookiejar.New(nil)
	c := *s.srv.Client()
	c.Jar = jar
	cl := &client{s: s, c: &c, jar: jar}
	if token != "" {
		u, _ := url.Parse(s.srv.URL)
		jar.SetCookies(u, []*http.Cookie{{Name: s.m.CookieName(), Value: token, Path: "/", Secure: true}})
	}
	return cl
}

// do returns the status and body, or reports a failed request with
// t.Errorf (it may run on any goroutine).
func (c *client) send(method, path string, racing bool) (int, string) {
	req, _ := http.NewRequest(method, c.s.srv.URL+path, nil)
	if racing {
		req.Header.Set(raceHeader, "1")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.s.t.Errorf("%s %s: %v", method, path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// do is send for a request that must succeed.
func (c *client) do(method, path string) string {
	code, body := c.send(method, path, false)
	if code != 200 {
		c.s.t.Errorf("%s %s: status %d: %s", method, path, code, body)
	}
	return body
}

// race is do for a request marked to wait at the site's gate.
func (c *client) race(method, path string) string {
	code, body := c.send(method, path, true)
	if code != 200 {
		c.s.t.Errorf("%s %s: status %d: %s", method, path, code, body)
	}
	return body
}

func (c *client) token() string {
	u, _ := url.Parse(c.s.srv.URL)
	for _, k := range c.jar.Cookies(u) {
		if k.Name == c.s.m.CookieName() {
			return k.Value
		}
	}
	return ""
}

// user returns the user the client's session belongs to: "" when it is
// anonymous.
func (c *client) user() string {
	body := c.do("GET", "/n")
	u, _, _ := strings.Cut(strings.TrimPrefix(body, "user="), " ")
	return u
}

// rounds is how often the revocation races are repeated: with the store
// widened (see widened) a survivor would be near-certain well before.
func rounds() int {
	if testing.Short() {
		return 40
	}
	return 200
}

func httpIncrements(t *testing.T, store session.Store, _ *config) {
	s := newRaceSite(t, store, session.Options{})
	first := s.client("")
	first.do("POST", "/incr")
	tok := first.token()
	var wg sync.WaitGroup
	for range writers {
		c := s.client(tok)
		wg.Go(func() {
			for range each {
				c.do("POST", "/incr")
			}
		})
	}
	wg.Wait()
	if got, want := first.do("GET", "/n"), fmt.Sprintf("user= n=%d", writers*each+1); got != want {
		t.Fatalf("%d clients x %d concurrent increments through the middleware ended at %q; want %q", writers, each, got, want)
	}
}

func httpDistinctKeys(t *testing.T, store session.Store, _ *config) {
	s := newRaceSite(t, store, session.Options{})
	first := s.client("")
	first.do("POST", "/put?k=seed&v=x")
	tok := first.token()
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		c := s.client(tok)
		wg.Go(func() { c.do("POST", fmt.Sprintf("/put?k=k%d&v=v%d", i, i)) })
	}
	wg.Wait()
	for i := range n {
		if got, want := first.do("GET", fmt.Sprintf("/get?k=k%d", i)), fmt.Sprintf("user= value=v%d", i); got != want {
			t.Fatalf("after %d concurrent writers of distinct keys, key k%d: %q; want %q", n, i, got, want)
		}
	}
}

func httpLogoutRace(t *testing.T, store session.Store, _ *config) {
	s := newRaceSite(t, store, session.Options{})
	loaded, release := make(chan struct{}), make(chan struct{})
	s.mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		sess := session.FromContext(r.Context())
		close(loaded)
		<-release
		sess.Put("late", "write")
	})
	user := newUser()
	b := s.client("")
	b.do("POST", "/login?user="+url.QueryEscape(user))
	tok := b.token()
	done := make(chan struct{})
	go func() { s.client(tok).do("POST", "/slow"); close(done) }()
	<-loaded
	b.do("POST", "/logout")
	close(release)
	<-done
	if got := s.client(tok).do("GET", "/get?k=late"); got != "user= value=<none>" {
		t.Fatalf("a request slower than the logout brought the session back: %q", got)
	}
	if list, err := s.m.Devices(ctx(t), user); err != nil || len(list) != 0 {
		t.Fatalf("Devices after logout = %d, %v; want none", len(list), err)
	}
}

func httpRenewals(t *testing.T, store session.Store, _ *config) {
	s := newRaceSite(t, store, session.Options{})
	user := newUser()
	b := s.client("")
	b.do("POST", "/login?user="+url.QueryEscape(user))
	old := b.token()
	tokens := make([]string, 2)
	start := s.release(2) // both requests hold the same loaded version
	var wg sync.WaitGroup
	for i := range tokens {
		c := s.client(old)
		wg.Go(func() { c.race("POST", "/renew"); tokens[i] = c.token() })
	}
	start()
	wg.Wait()
	valid := 0
	for _, tok := range append(tokens, old) {
		if s.client(tok).user() == user {
			valid++
		}
	}
	if valid != 1 {
		t.Fatalf("%d valid tokens after two concurrent renewals; want exactly 1", valid)
	}
}

// httpRevokeAllRace races RevokeAll with two renewals of existing sessions
// and a login that checked its credentials before RevokeAll began, round
// after round, on a store whose calls are delayed at random where a
// renewal could slip between RevokeAll's listing and its deletes. No
// session may survive.
func httpRevokeAllRace(t *testing.T, store session.Store, _ *config) {
	s := newRaceSite(t, &widened{Store: store}, session.Options{})
	for round := range rounds() {
		user := newUser()
		login := "/login?user=" + url.QueryEscape(user)
		devices := []*client{s.client(""), s.client(""), s.client("")}
		for _, d := range devices {
			d.do("POST", login)
		}
		newcomer := s.client("")
		newcomer.do("POST", "/put?k=cart&v=1") // an anonymous session that logs in below
		start := s.release(3)
		var wg sync.WaitGroup
		wg.Go(func() { devices[0].race("POST", "/renew") })
		wg.Go(func() { devices[1].race("POST", "/renew") })
		wg.Go(func() { newcomer.race("POST", login) })
		start()
		if _, err := s.m.RevokeAll(ctx(t), user, ""); err != nil {
			t.Fatalf("round %d: RevokeAll: %v", round, err)
		}
		wg.Wait()
		for i, c := range append(devices, newcomer) {
			if got := c.user(); got != "" {
				t.Fatalf("round %d: client %d is still logged in as %q after RevokeAll returned (0 and 1 renewed, 2 idled, 3 logged in during the revocation)", round, i, got)
			}
		}
		if list, err := s.m.Devices(ctx(t), user); err != nil || len(list) != 0 {
			t.Fatalf("round %d: Devices after RevokeAll = %d, %v; want none", round, len(list), err)
		}
	}
}

// httpRevokeRace races Revoke of a device's handle with that device
// renewing its token: whichever wins, the device ends logged out.
func httpRevokeRace(t *testing.T, store session.Store, _ *config) {
	s := newRaceSite(t, &widened{Store: store}, session.Options{})
	for round := range rounds() {
		user := newUser()
		c := s.client("")
		c.do("POST", "/login?user="+url.QueryEscape(user))
		list, err := s.m.Devices(ctx(t), user)
		if err != nil || len(list) != 1 {
			t.Fatalf("round %d: Devices = %d, %v", round, len(list), err)
		}
		start := s.release(1)
		var wg sync.WaitGroup
		wg.Go(func() { c.race("POST", "/renew") })
		start()
		if err := s.m.Revoke(ctx(t), user, list[0].Handle); err != nil {
			t.Fatalf("round %d: Revoke of a live device = %v; want nil", round, err)
		}
		wg.Wait()
		if got := c.user(); got != "" {
			t.Fatalf("round %d: the device is still logged in as %q after Revoke returned", round, got)
		}
	}
}

// httpLogoutRenewalRace sends a logout and a renewal with the same cookie
// at once: neither the old token nor the renewed one may work afterwards.
func httpLogoutRenewalRace(t *testing.T, store session.Store, _ *config) {
	s := newRaceSite(t, &widened{Store: store}, session.Options{})
	for round := range rounds() / 4 {
		user := newUser()
		b := s.client("")
		b.do("POST", "/login?user="+url.QueryEscape(user))
		tok := b.token()
		out, renew := s.client(tok), s.client(tok)
		start := s.release(2)
		var wg sync.WaitGroup
		wg.Go(func() { out.race("POST", "/logout") })
		wg.Go(func() { renew.race("POST", "/renew") })
		start()
		wg.Wait()
		for _, c := range []*client{out, renew, s.client(tok)} {
			if got := c.user(); got != "" {
				t.Fatalf("round %d: a token still works as %q after a logout that raced a renewal", round, got)
			}
		}
	}
}

// httpFailAfterWrite runs sessions on a store whose writes happen but
// report an error, as when a reply is lost after the server committed.
func httpFailAfterWrite(t *testing.T, store session.Store, _ *config) {
	f := &failAfterWrite{Store: store}
	s := newRaceSite(t, f, session.Options{})

	// One client at a time: the Manager confirms every ambiguous save by
	// reloading, so every request succeeds and counts exactly once.
	f.every.Store(1)
	c := s.client("")
	const n = 30
	for range n {
		c.do("POST", "/incr")
	}
	if got, want := c.do("GET", "/n"), fmt.Sprintf("user= n=%d", n); got != want {
		t.Fatalf("%d increments, every save failing after writing: %q; want %q", n, got, want)
	}
	user := newUser()
	c.do("POST", "/login?user="+url.QueryEscape(user))
	if got := c.user(); got != user {
		t.Fatalf("login whose saves failed after writing: logged in as %q; want %q", got, user)
	}
	tok := c.token()
	c.do("POST", "/logout")
	if got := s.client(tok).user(); got != "" {
		t.Fatalf("logout whose writes failed after writing: the old token still works as %q", got)
	}
	other := s.client("")
	other.do("POST", "/login?user="+url.QueryEscape(user))
	if _, err := s.m.RevokeAll(ctx(t), user, ""); err != nil {
		t.Fatalf("RevokeAll whose writes failed after writing = %v; want nil (the writes are confirmed)", err)
	}
	if got := other.user(); got != "" {
		t.Fatalf("RevokeAll whose writes failed after writing left a session logged in as %q", got)
	}

	// Many clients at once, every third write failing after writing: an
	// acknowledged increment is never lost and none counts twice. (An
	// increment answered with an error may or may not have happened, as
	// with any store that failed after writing; the Manager confirms what
	// it can.)
	f.every.Store(3)
	shared := s.client("")
	shared.do("POST", "/incr")
	tok = shared.token()
	var ok, sent atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		c := s.client(tok)
		wg.Go(func() {
			for range 20 {
				sent.Add(1)
				code, body := c.send("POST", "/incr", false)
				switch code {
				case 200:
					ok.Add(1)
				case http.StatusServiceUnavailable:
				default:
					t.Errorf("increment: status %d: %s", code, body)
				}
			}
		})
	}
	wg.Wait()
	f.every.Store(0)
	var got int64
	fmt.Sscanf(strings.TrimPrefix(shared.do("GET", "/n"), "user= n="), "%d", &got)
	got-- // the first increment
	if got < ok.Load() || got > sent.Load() {
		t.Fatalf("%d increments acknowledged out of %d sent, but the counter says %d: an acknowledged update was lost or one counted twice", ok.Load(), sent.Load(), got)
	}
}

// httpClockSkew runs a session's whole life on a Manager whose clock is
// several seconds ahead of, then behind, the store's, within
// session.MaxClockSkew.
func httpClockSkew(t *testing.T, store session.Store, _ *config) {
	skew := session.MaxClockSkew * 4 / 5
	for _, off := range []time.Duration{skew, -skew} {
		s := newRaceSite(t, store, session.Options{
			Clock:         func() time.Time { return time.Now().Add(off) },
			IdleTimeout:   time.Minute,
			TouchInterval: time.Millisecond, // every request extends the deadline
		})
		user := newUser()
		c := s.client("")
		c.do("POST", "/login?user="+url.QueryEscape(user))
		for range 3 {
			c.do("POST", "/incr")
		}
		c.do("POST", "/renew")
		if got, want := c.do("GET", "/n"), fmt.Sprintf("user=%s n=3", user); got != want {
			t.Fatalf("clock %v off: %q; want %q", off, got, want)
		}
		other := s.client("")
		other.do("POST", "/login?user="+url.QueryEscape(user))
		if list, err := s.m.Devices(ctx(t), user); err != nil || len(list) != 2 {
			t.Fatalf("clock %v off: Devices = %d, %v; want 2", off, len(list), err)
		}
		if _, err := s.m.RevokeAll(ctx(t), user, ""); err != nil {
			t.Fatal(err)
		}
		if c.user() != "" || other.user() != "" {
			t.Fatalf("clock %v off: a session survived RevokeAll", off)
		}
		// Logins after the revocation work, even with the clock off.
		c.do("POST", "/login?user="+url.QueryEscape(user))
		if got := c.user(); got != user {
			t.Fatalf("clock %v off: a login after RevokeAll gives %q; want %q", off, got, user)
		}
		c.do("POST", "/logout")
		if got := c.user(); got != "" {
			t.Fatalf("clock %v off: still %q after logout", off, got)
		}
	}
}

// widened delays, at random, the store calls between which a renewal or a
// login can slip past a revocation: after a new record is saved (the gap
// before the renewal retires the old one, or before a login reads the
// revocation instant) and after a user's records are listed (the gap
// before RevokeAll ends them). The delays widen race windows; they
// synchronise nothing.
type widened struct{ session.Store }

func (w *widened) pause() { time.Sleep(time.Duration(rand.N(400)) * time.Microsecond) }

func (w *widened) Save(ctx context.Context, rec session.Record) error {
	err := w.Store.Save(ctx, rec)
	if rec.Version == 0 {
		w.pause()
	}
	return err
}

func (w *widened) ListByUser(ctx context.Context, userID string) ([]session.Record, error) {
	recs, err := w.Store.ListByUser(ctx, userID)
	w.pause()
	return recs, err
}

// failAfterWrite is a store whose every nth Save and Delete does its work
// and then reports an error, as a store does when the reply to a committed
// write is lost. every 0 turns it off.
type failAfterWrite struct {
	session.Store
	every atomic.Int64
	calls atomic.Int64
}

var errLostReply = errors.New("storetest: the reply was lost after the write (injected)")

func (f *failAfterWrite) fail() bool {
	n := f.every.Load()
	return n > 0 && f.calls.Add(1)%n == 0
}

func (f *failAfterWrite) Save(ctx context.Context, rec session.Record) error {
	err := f.Store.Save(ctx, rec)
	if err == nil && f.fail() {
		return errLostReply
	}
	return err
}

func (f *failAfterWrite) Delete(ctx context.Context, id string) error {
	err := f.Store.Delete(ctx, id)
	if err == nil && f.fail() {
		return errLostReply
	}
	return err
}
