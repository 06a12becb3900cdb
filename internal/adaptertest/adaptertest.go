// Package adaptertest checks an adapter that runs session.Manager's
// middleware inside a web framework (the nested modules under adapter/).
// Run drives the framework's real engine over HTTPS with a cookie jar, as
// a browser would, through the scenarios every adapter must pass; the
// sessions live in store/memory, wrapped so that a test can take the
// store down.
package adaptertest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
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
	"github.com/httpstate/httpstate/store/memory"
)

// App builds the application under test: the framework's engine, as an
// http.Handler, with the adapter installed for m in front of these routes,
// each written with the framework's own idioms (its context's response
// helpers, not a wrapped http.Handler):
//
//	POST /cart?item=NAME  AddToCart(s, NAME); 204 No Content
//	GET  /cart            Cart(s); 200, the items joined by ","
//	POST /login?user=ID   s.Login(ID, remember) with remember when the query
//	                      has remember=1; 200 "hello ID", or 500 with the error
//	GET  /me              200, s.UserID()
//	POST /logout          s.Logout(); 200 "bye", or 500 with the error
//	GET  /stream          AddToCart(s, "streamed"); 200, "first\n" flushed,
//	                      then st.Wait(request context), then "second\n"
//
// where s is the request's session as the adapter's accessor returns it.
type App func(t *testing.T, m *session.Manager, st *Stream) http.Handler

// AddToCart appends item to the session's cart.
func AddToCart(s *session.Session, item string) error {
	_, err := session.Update(s, "cart", func(cart []string) []string { return append(cart, item) })
	return err
}

// Cart returns the session's cart, empty if there is none.
func Cart(s *session.Session) string {
	cart, _ := session.Get[[]string](s, "cart")
	return strings.Join(cart, ",")
}

// Stream lets the test decide when a streaming handler may finish, so that
// it can check the first chunk arrived while the handler was still running.
type Stream struct {
	once    sync.Once
	release chan struct{}
}

// Wait blocks the /stream handler until the test has read the first chunk,
// or until ctx (the request's) is done.
func (st *Stream) Wait(ctx context.Context) {
	select {
	case <-st.release:
	case <-ctx.Done():
	}
}

func (st *Stream) let() { st.once.Do(func() { close(st.release) }) }

// errOutage is what the store answers while it is down.
var errOutage = errors.New("adaptertest: the store is down")

// outageStore is a session.Store whose every call fails while down is set.
type outageStore struct {
	session.Store
	down atomic.Bool
}

func (s *outageStore) Load(ctx context.Context, id string) (session.Record, error) {
	if s.down.Load() {
		return session.Record{}, errOutage
	}
	return s.Store.Load(ctx, id)
}

func (s *outageStore) Save(ctx context.Context, rec session.Record) error {
	if s.down.Load() {
		return errOutage
	}
	return s.Store.Save(ctx, rec)
}

func (s *outageStore) Delete(ctx context.Context, id string) error {
	if s.down.Load() {
		return errOutage
	}
	return s.Store.Delete(ctx, id)
}

func (s *outageStore) ListByUser(ctx context.Context, userID string) ([]session.Record, error) {
	if s.down.Load() {
		return nil, errOutage
	}
	return s.Store.ListByUser(ctx, userID)
}

func (s *outageStore) DeleteExpired(ctx context.Context, limit int) (int, error) {
	if s.down.Load() {
		return 0, errOutage
	}
	return s.Store.DeleteExpired(ctx, limit)
}

// site is one application under test and a browser for it.
type site struct {
	t      *testing.T
	m      *session.Manager
	store  *outageStore
	stream *Stream
	url    string
	client *http.Client // with a cookie jar, not following redirects
}

func start(t *testing.T, app App) *site {
	t.Helper()
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	store := &outageStore{Store: mem}
	m, err := session.New(store, session.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	st := &Stream{release: make(chan struct{})}
	srv := httptest.NewTLSServer(app(t, m, st))
	t.Cleanup(srv.Close)
	t.Cleanup(st.let) // runs first: Close waits for a handler still in Wait
	s := &site{t: t, m: m, store: store, stream: st, url: srv.URL, client: srv.Client()}
	return s.browser()
}

// browser returns s with a browser of its own: a fresh cookie jar.
func (s *site) browser() *site {
	s.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	b := *s
	b.client = &http.Client{
		Transport:     s.client.Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &b
}

// do sends a request with the browser's cookie jar and returns the
// response with its body read.
func (s *site) do(method, path string) (*http.Response, string) {
	s.t.Helper()
	return s.send(s.client, method, path, nil)
}

// with sends a request carrying only the given session cookie, as an
// attacker holding a copy of it would.
func (s *site) with(token, method, path string) (*http.Response, string) {
	s.t.Helper()
	bare := &http.Client{Transport: s.client.Transport}
	return s.send(bare, method, path, &http.Cookie{Name: s.m.CookieName(), Value: token})
}

func (s *site) send(c *http.Client, method, path string, ck *http.Cookie) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, string(body)
}

// expect fails the test unless resp has the given status and body.
func (s *site) expect(resp *http.Response, body string, status int, want string) {
	s.t.Helper()
	if resp.StatusCode != status || body != want {
		s.t.Fatalf("%s %s = %d %q; want %d %q", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, status, want)
	}
}

// sessionCookie returns the session cookie resp sets, or nil.
func (s *site) sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == s.m.CookieName() {
			return c
		}
	}
	return nil
}

// token returns the session token the browser holds, or "".
func (s *site) token() string {
	u, err := url.Parse(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range s.client.Jar.Cookies(u) {
		if c.Name == s.m.CookieName() {
			return c.Value
		}
	}
	return ""
}

// Run checks the adapter in app against every scenario.
func Run(t *testing.T, app App) {
	t.Run("AnonymousCart", func(t *testing.T) { anonymousCart(t, app) })
	t.Run("LoginRenewsCookie", func(t *testing.T) { loginRenewsCookie(t, app) })
	t.Run("RememberMe", func(t *testing.T) { rememberMe(t, app) })
	t.Run("LogoutOldCookieWorthless", func(t *testing.T) { logout(t, app) })
	t.Run("Streaming", func(t *testing.T) { streaming(t, app) })
	t.Run("StoreOutage", func(t *testing.T) { storeOutage(t, app) })
}

// An anonymous visitor gets a session cookie with the first change, and
// the cart survives across requests; another visitor's cart is separate.
func anonymousCart(t *testing.T, app App) {
	s := start(t, app)
	resp, body := s.do("GET", "/cart")
	s.expect(resp, body, http.StatusOK, "")
	if c := s.sessionCookie(resp); c != nil {
		t.Fatalf("a request that only read an empty session set a cookie: %v", c)
	}
	resp, body = s.do("POST", "/cart?item=apple")
	s.expect(resp, body, http.StatusNoContent, "")
	if s.sessionCookie(resp) == nil {
		t.Fatal("the first change to an anonymous session set no session cookie")
	}
	resp, body = s.do("POST", "/cart?item=pear")
	s.expect(resp, body, http.StatusNoContent, "")
	resp, body = s.do("GET", "/cart")
	s.expect(resp, body, http.StatusOK, "apple,pear")

	resp, body = s.browser().do("GET", "/cart")
	s.expect(resp, body, http.StatusOK, "")
}

// Login gives the session a new token in a new cookie, keeps its data,
// and leaves the token from before login worthless (session fixation).
func loginRenewsCookie(t *testing.T, app App) {
	s := start(t, app)
	resp, body := s.do("POST", "/cart?item=apple")
	s.expect(resp, body, http.StatusNoContent, "")
	before := s.token()
	if before == "" {
		t.Fatal("no session cookie before login")
	}
	resp, body = s.do("POST", "/login?user=alice")
	s.expect(resp, body, http.StatusOK, "hello alice")
	c := s.sessionCookie(resp)
	if c == nil {
		t.Fatal("login set no session cookie")
	}
	if c.Value == before {
		t.Fatal("login kept the session token from before login")
	}
	resp, body = s.do("GET", "/me")
	s.expect(resp, body, http.StatusOK, "alice")
	resp, body = s.do("GET", "/cart")
	s.expect(resp, body, http.StatusOK, "apple")

	resp, body = s.with(before, "GET", "/me")
	s.expect(resp, body, http.StatusOK, "")
	resp, body = s.with(before, "GET", "/cart")
	s.expect(resp, body, http.StatusOK, "")
}

// Without "remember me" the cookie ends with the browser; with it the
// cookie is persistent, lasting days.
func rememberMe(t *testing.T, app App) {
	s := start(t, app)
	resp, body := s.do("POST", "/login?user=alice")
	s.expect(resp, body, http.StatusOK, "hello alice")
	c := s.sessionCookie(resp)
	if c == nil || c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Fatalf("login without remember me: cookie %v; want a session cookie (no Max-Age or Expires)", c)
	}

	s = start(t, app)
	resp, body = s.do("POST", "/login?user=bob&remember=1")
	s.expect(resp, body, http.StatusOK, "hello bob")
	c = s.sessionCookie(resp)
	if c == nil {
		t.Fatal("login with remember me set no session cookie")
	}
	lasts := time.Duration(c.MaxAge) * time.Second
	if c.MaxAge == 0 && !c.Expires.IsZero() {
		lasts = time.Until(c.Expires)
	}
	if lasts < 24*time.Hour {
		t.Fatalf("login with remember me: cookie %v lasts %v; want a persistent cookie lasting days", c, lasts)
	}
	resp, body = s.do("GET", "/me")
	s.expect(resp, body, http.StatusOK, "bob")
}

// Logout expires the cookie, and a copy of the old cookie kept elsewhere
// gets an anonymous session.
func logout(t *testing.T, app App) {
	s := start(t, app)
	resp, body := s.do("POST", "/login?user=alice")
	s.expect(resp, body, http.StatusOK, "hello alice")
	old := s.token()
	resp, body = s.do("POST", "/logout")
	s.expect(resp, body, http.StatusOK, "bye")
	if c := s.sessionCookie(resp); c == nil || c.MaxAge >= 0 {
		t.Fatalf("logout: cookie %v; want the session cookie expired", c)
	}
	resp, body = s.do("GET", "/me")
	s.expect(resp, body, http.StatusOK, "")
	resp, body = s.with(old, "GET", "/me")
	s.expect(resp, body, http.StatusOK, "")
}

// A streamed response is not buffered: its headers, with the session
// cookie, and its first chunk reach the client while the handler is still
// running (it waits for the test), and the session change made before the
// first byte is saved.
func streaming(t *testing.T, app App) {
	s := start(t, app)
	// The handler cannot return before the test lets it, so an adapter
	// that buffered the response would never send the headers; the
	// deadline turns that hang into a failure that says so.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", s.url+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.Do(req) // returns with the headers
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("no response headers while the handler waits: the response is buffered until the handler returns")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /stream = %d", resp.StatusCode)
	}
	if s.sessionCookie(resp) == nil {
		t.Fatal("the streamed response's headers carry no session cookie")
	}
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("first chunk = %q, %v; want %q while the handler still runs", first, err, "first\n")
	}
	s.stream.let() // only now may the handler write the rest and return
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest of the stream = %q, %v; want %q", rest, err, "second\n")
	}
	resp2, body := s.do("GET", "/cart")
	s.expect(resp2, body, http.StatusOK, "streamed")
}

// A store that fails gives 503, never a silent logout: neither when
// saving a new session nor when loading an existing one, and the session
// is intact once the store is back.
func storeOutage(t *testing.T, app App) {
	s := start(t, app)
	s.store.down.Store(true)
	resp, body := s.do("POST", "/cart?item=apple")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("saving while the store is down: %d %q; want 503", resp.StatusCode, body)
	}
	if c := s.sessionCookie(resp); c != nil {
		t.Fatalf("the 503 sets a session cookie: %v", c)
	}

	s.store.down.Store(false)
	resp, body = s.do("POST", "/login?user=alice")
	s.expect(resp, body, http.StatusOK, "hello alice")
	resp, body = s.do("POST", "/cart?item=apple")
	s.expect(resp, body, http.StatusNoContent, "")

	s.store.down.Store(true)
	resp, body = s.do("GET", "/me")
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "alice") {
		t.Fatalf("loading while the store is down: %d %q; want 503 without running the handler", resp.StatusCode, body)
	}
	if c := s.sessionCookie(resp); c != nil {
		t.Fatalf("the 503 touches the session cookie: %v", c)
	}

	s.store.down.Store(false)
	resp, body = s.do("GET", "/me")
	s.expect(resp, body, http.StatusOK, "alice")
	resp, body = s.do("GET", "/cart")
	s.expect(resp, body, http.StatusOK, "apple")
}

// LosesCookie documents the mistake every adapter must avoid, on an app
// whose adapter hands the session to handlers through the request but
// leaves the framework writing to its own response writer: the handler's
// Login returns nil and its response is a 200, yet the session cookie
// never reaches the browser, which stays anonymous, and nothing is logged.
// It fails if the cookie does arrive.
func LosesCookie(t *testing.T, app App) {
	s := start(t, app)
	resp, body := s.do("POST", "/login?user=alice")
	s.expect(resp, body, http.StatusOK, "hello alice") // Login returned nil
	if c := s.sessionCookie(resp); c != nil {
		t.Fatalf("the session cookie reached the browser (%v): this adapter does not have the flaw", c)
	}
	resp, body = s.do("GET", "/me")
	s.expect(resp, body, http.StatusOK, "")
}
