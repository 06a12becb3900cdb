package demo_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// testSecret is the shops' secret in tests; servers that must act as one
// site share it.
var testSecret = []byte("test secret: at least thirty-two bytes long, and then some")

// shop is a demo shop under test.
type shop struct {
	app  *demo.App
	srv  *httptest.Server
	logs *syncBuffer
}

// newShop starts a shop on fresh memory stores behind a TLS test server,
// so that its Secure cookies travel as they would in production.
func newShop(t *testing.T, mods ...func(*demo.Config)) *shop {
	t.Helper()
	sessions, tokens := memory.New(), memory.New()
	t.Cleanup(func() { sessions.Close(); tokens.Close() })
	return newShopOn(t, sessions, tokens, mods...)
}

// newShopOn starts a shop on the given stores.
func newShopOn(t *testing.T, sessions, tokens session.Store, mods ...func(*demo.Config)) *shop {
	t.Helper()
	logs := &syncBuffer{}
	cfg := demo.Config{
		Sessions: sessions, Tokens: tokens, Secret: testSecret,
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		StoreKind: "memory",
	}
	for _, m := range mods {
		m(&cfg)
	}
	app, err := demo.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(app.Handler())
	t.Cleanup(srv.Close)
	return &shop{app: app, srv: srv, logs: logs}
}

// browser is an HTTP client with a cookie jar, like a browser tab.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (s *shop) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *s.srv.Client()
	c.Jar = jar
	return &browser{t: t, base: s.srv.URL, c: &c}
}

// onServer returns a browser sharing b's cookie jar but talking to
// another server, as when a load balancer sends the next request
// elsewhere. Cookies do not depend on the port, so both servers on
// 127.0.0.1 see the same ones, as browsers do.
func (b *browser) onServer(s *shop) *browser {
	c := *s.srv.Client()
	c.Jar = b.c.Jar
	return &browser{t: b.t, base: s.srv.URL, c: &c}
}

// page is a response, body read.
type page struct {
	status int
	header http.Header
	body   string
	url    string
}

func (p page) has(s string) bool { return strings.Contains(p.body, s) }

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(body), url: resp.Request.URL.Path}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form, following the redirect that answers it.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// login logs in and checks that it worked.
func (b *browser) login(user, password string, remember bool) page {
	b.t.Helper()
	form := url.Values{"username": {user}, "password": {password}}
	if remember {
		form.Set("remember", "on")
	}
	p := b.post("/login", form)
	if p.status != http.StatusOK || !p.has(`id="user-name"`) {
		b.t.Fatalf("login as %s failed: status %d\n%s", user, p.status, p.body)
	}
	return p
}

func (b *browser) addToCart(sku string) page {
	b.t.Helper()
	p := b.post("/cart/add", url.Values{"sku": {sku}, "return": {"/"}})
	if p.status != http.StatusOK {
		b.t.Fatalf("adding %s: status %d", sku, p.status)
	}
	return p
}

// sessionCookie returns the browser's session cookie, or nil.
func (b *browser) sessionCookie() *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "__Host-session" {
			return c
		}
	}
	return nil
}

// cartCount reads the number in the header's cart badge.
func cartCount(p page) string {
	const marker = `id="cart-count">`
	i := strings.Index(p.body, marker)
	if i < 0 {
		return ""
	}
	rest := p.body[i+len(marker):]
	j := strings.Index(rest, "<")
	return rest[:j]
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// failingStore is a session.Store whose every call fails, as during an
// outage.
type failingStore struct{}

var errOutage = io.ErrUnexpectedEOF

func (failingStore) Load(context.Context, string) (session.Record, error) {
	return session.Record{}, errOutage
}
func (failingStore) Save(context.Context, session.Record) error { return errOutage }
func (failingStore) Delete(context.Context, string) error       { return errOutage }
func (failingStore) ListByUser(context.Context, string) ([]session.Record, error) {
	return nil, errOutage
}
func (failingStore) DeleteExpired(context.Context, int) (int, error) { return 0, errOutage }
