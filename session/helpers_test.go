package session_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/cookie"
	"github.com/httpstate/httpstate/internal/testclock"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// spyStore wraps a store, counts its calls, keeps every record it saw and
// can be told to fail.
type spyStore struct {
	session.Store
	loads, saves, deletes atomic.Int64
	failLoad, failSave    atomic.Bool
	failDelete            atomic.Bool
	failAfterSave         atomic.Bool // save, then report an error as if the reply was lost

	mu   sync.Mutex
	seen []session.Record
}

var errOutage = errors.New("store outage (injected)")

func (s *spyStore) Load(ctx context.Context, id string) (session.Record, error) {
	s.loads.Add(1)
	if s.failLoad.Load() {
		return session.Record{}, errOutage
	}
	return s.Store.Load(ctx, id)
}

func (s *spyStore) Save(ctx context.Context, rec session.Record) error {
	s.saves.Add(1)
	if s.failSave.Load() {
		return errOutage
	}
	s.mu.Lock()
	s.seen = append(s.seen, rec)
	s.mu.Unlock()
	err := s.Store.Save(ctx, rec)
	if err == nil && s.failAfterSave.Load() {
		return errOutage
	}
	return err
}

func (s *spyStore) Delete(ctx context.Context, id string) error {
	s.deletes.Add(1)
	if s.failDelete.Load() {
		return errOutage
	}
	return s.Store.Delete(ctx, id)
}

func newSpy(t testing.TB) *spyStore {
	m := memory.New()
	t.Cleanup(func() { m.Close() })
	return &spyStore{Store: m}
}

// fakeClock is a settable clock for timeout tests; the Manager enforces
// timeouts with it, so no test has to wait half an hour.
type fakeClock = testclock.Clock

func newClock() *fakeClock { return testclock.New(time.Now()) }

// site is a TLS test server (Secure cookies need HTTPS) running handler
// behind a Manager.
type site struct {
	t   testing.TB
	m   *session.Manager
	srv *httptest.Server
}

func newSite(t testing.TB, store session.Store, opts session.Options, handler http.Handler) *site {
	t.Helper()
	m, err := session.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(m.Middleware(handler))
	t.Cleanup(srv.Close)
	return &site{t: t, m: m, srv: srv}
}

// browser is an HTTP client with its own cookie jar, like one browser
// profile.
type browser struct {
	s    *site
	c    *http.Client
	jar  *cookiejar.Jar
	ua   string
	resp *http.Response
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *s.srv.Client() // share the TLS transport, not the jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{s: s, c: &c, jar: jar, ua: "test-browser"}
}

// do sends a request and returns the body; the response is kept in b.resp.
func (b *browser) do(method, path string) string {
	b.s.t.Helper()
	req, err := http.NewRequest(method, b.s.srv.URL+path, nil)
	if err != nil {
		b.s.t.Fatal(err)
	}
	req.Header.Set("User-Agent", b.ua)
	resp, err := b.c.Do(req)
	if err != nil {
		b.s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.s.t.Fatal(err)
	}
	b.resp = resp
	return string(body)
}

func (b *browser) get(path string) string  { return b.do("GET", path) }
func (b *browser) post(path string) string { return b.do("POST", path) }

// cookie returns the session cookie's value in the jar, or "".
func (b *browser) cookie() string {
	u, _ := url.Parse(b.s.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == b.s.m.CookieName() {
			return c.Value
		}
	}
	return ""
}

// setCookie replaces the jar's session cookie, as an attacker replaying a
// stolen or forged value would.
func (b *browser) setCookie(value string) {
	u, _ := url.Parse(b.s.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: b.s.m.CookieName(), Value: value, Path: "/", Secure: true}})
}

// rawGet sends a request with exactly the given Cookie header and no jar.
func (s *site) rawGet(path string, header http.Header) (*http.Response, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func httptestServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func cookieAttrs(domain, path string) cookie.Attributes {
	return cookie.Attributes{Domain: domain, Path: path}
}

func insecure() cookie.Attributes { return cookie.Attributes{Insecure: true} }
