package storetest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/httpstate/httpstate/session"
)

// The races below run through the real middleware over HTTP, so they prove
// the promises users care about (no lost updates, no resurrection, one
// token after concurrent renewals) on the store under test, not only the
// store's compare-and-swap.
var raceCases = []struct {
	name string
	run  func(*testing.T, session.Store)
}{
	{"HTTPConcurrentIncrementsEndExact", httpIncrements},
	{"HTTPConcurrentWritersOfDistinctKeysAllPersist", httpDistinctKeys},
	{"HTTPLogoutRacingSlowerRequestNeverResurrects", httpLogoutRace},
	{"HTTPConcurrentRenewalsLeaveExactlyOneToken", httpRenewals},
}

func init() { cases = append(cases, raceCases...) }

type raceSite struct {
	t   *testing.T
	m   *session.Manager
	srv *httptest.Server
	mux *http.ServeMux
}

func newRaceSite(t *testing.T, store session.Store) *raceSite {
	m, err := session.New(store, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := session.Update(session.FromContext(r.Context()), "n", func(n int) int { return n + 1 })
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Login(r.FormValue("user"), false)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Logout()
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put(r.FormValue("k"), r.FormValue("v"))
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		v, err := session.Get[string](s, r.FormValue("k"))
		if err != nil {
			v = "<none>"
		}
		fmt.Fprintf(w, "user=%s value=%s", s.UserID(), v)
	})
	mux.HandleFunc("GET /n", func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.Get[int](session.FromContext(r.Context()), "n")
		fmt.Fprint(w, n)
	})
	srv := httptest.NewTLSServer(m.Middleware(mux))
	t.Cleanup(srv.Close)
	return &raceSite{t: t, m: m, srv: srv, mux: mux}
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

// do returns the body, or reports a failed or non-200 request with
// t.Errorf (it may run on any goroutine).
func (c *client) do(method, path string) string {
	req, _ := http.NewRequest(method, c.s.srv.URL+path, nil)
	resp, err := c.c.Do(req)
	if err != nil {
		c.s.t.Errorf("%s %s: %v", method, path, err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		c.s.t.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	return string(b)
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

func httpIncrements(t *testing.T, store session.Store) {
	s := newRaceSite(t, store)
	first := s.client("")
	first.do("POST", "/incr")
	tok := first.token()
	var wg sync.WaitGroup
	for range Writers {
		c := s.client(tok)
		wg.Go(func() {
			for range Each {
				c.do("POST", "/incr")
			}
		})
	}
	wg.Wait()
	if got, want := first.do("GET", "/n"), fmt.Sprint(Writers*Each+1); got != want {
		t.Fatalf("%d clients x %d concurrent increments through the middleware ended at %s; want %s", Writers, Each, got, want)
	}
}

func httpDistinctKeys(t *testing.T, store session.Store) {
	s := newRaceSite(t, store)
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

func httpLogoutRace(t *testing.T, store session.Store) {
	s := newRaceSite(t, store)
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

func httpRenewals(t *testing.T, store session.Store) {
	s := newRaceSite(t, store)
	var arrived sync.WaitGroup
	arrived.Add(2)
	s.mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		sess := session.FromContext(r.Context())
		arrived.Done()
		arrived.Wait() // both requests hold the same loaded version
		sess.RenewID()
	})
	user := newUser()
	b := s.client("")
	b.do("POST", "/login?user="+url.QueryEscape(user))
	old := b.token()
	tokens := make([]string, 2)
	var wg sync.WaitGroup
	for i := range tokens {
		c := s.client(old)
		wg.Go(func() { c.do("POST", "/renew"); tokens[i] = c.token() })
	}
	wg.Wait()
	valid := 0
	for _, tok := range append(tokens, old) {
		if strings.HasPrefix(s.client(tok).do("GET", "/get?k=x"), "user="+user+" ") {
			valid++
		}
	}
	if valid != 1 {
		t.Fatalf("%d valid tokens after two concurrent renewals; want exactly 1", valid)
	}
}
