package storetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/dbsc"
	"github.com/httpstate/httpstate/session/dbsc/dbsctest"
)

// Device binding (session.DeviceBinding) keeps a session's public key and
// the issue time of its last answered challenge in the session's record,
// so it is only as sound as the store's compare-and-swap. These cases
// run the whole protocol through the real Manager over HTTP, with
// dbsctest playing a DBSC browser, on the store under test.

var bindingSecret = []byte("storetest device binding secret, 32+ bytes")

// clock is a Manager clock the cases move forward instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func bindingOptions(clk *clock) session.Options {
	return session.Options{Clock: clk.now, DeviceBinding: session.DeviceBinding{
		Mode: session.BindingEnforce, Secrets: [][]byte{bindingSecret}}}
}

// boundClient is a client of a race site that does not follow redirects
// and can play a DBSC browser.
type boundClient struct {
	*client
	dbsc *dbsctest.Browser
	last *http.Response
}

func (s *raceSite) boundClient() *boundClient {
	c := s.client("")
	c.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &boundClient{client: c, dbsc: &dbsctest.Browser{Client: c.c, Alg: dbsc.ES256}}
}

// request sends a request with extra headers and returns the status and
// body; the response stays in c.last.
func (c *boundClient) request(method, path string, h http.Header) (int, string) {
	t := c.s.t
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), method, c.s.srv.URL+path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c.last = resp
	return resp.StatusCode, string(b)
}

func (c *boundClient) cookie(name string) string {
	u, _ := url.Parse(c.s.srv.URL)
	for _, k := range c.jar.Cookies(u) {
		if k.Name == name {
			return k.Value
		}
	}
	return ""
}

// copyOf is a client holding copies of c's cookies, as malware that read
// c's cookie store would.
func (c *boundClient) copyOf() *boundClient {
	thief := c.s.boundClient()
	u, _ := url.Parse(c.s.srv.URL)
	for _, name := range []string{c.s.m.CookieName(), c.s.m.CookieName() + "-bound"} {
		if v := c.cookie(name); v != "" {
			thief.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: v, Path: "/", Secure: true}})
		}
	}
	return thief
}

// whoami returns what the handler saw: the user and whether the request
// was refused for its binding; redirected when the Middleware answered.
func (c *boundClient) whoami() string {
	code, body := c.request("GET", "/bound", nil)
	if code == http.StatusTemporaryRedirect {
		return "redirected"
	}
	return body
}

func (c *boundClient) refresh(proof string) int {
	h := http.Header{dbsc.HeaderSessionID: {c.dbsc.Instructions.SessionIdentifier}}
	if proof != "" {
		h.Set(dbsc.HeaderResponse, proof)
	}
	code, _ := c.request("POST", "/dbsc/refresh", h)
	return code
}

// signed returns a check of a signing call's result for t.
func signed(t *testing.T) func(string, error) string {
	return func(proof string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return proof
	}
}

func httpDeviceBinding(t *testing.T, store session.Store, _ *config) {
	clk := &clock{t: time.Now()}
	s := newRaceSite(t, store, bindingOptions(clk))
	user := newUser()
	dev := s.boundClient()
	dev.request("POST", "/login?user="+url.QueryEscape(user), nil)
	if err := dev.dbsc.Register(ctx(t), dev.last); err != nil {
		t.Fatalf("registration: %v", err)
	}
	if got := dev.whoami(); got != "user="+user+" refused=false" {
		t.Fatalf("the bound device: %q", got)
	}
	if list, err := s.m.Devices(ctx(t), user); err != nil || len(list) != 1 || !list[0].Bound ||
		list[0].Binding.Thumbprint != dev.dbsc.Key.Public.Thumbprint() {
		t.Fatalf("Devices = %+v, %v; want the session, bound to the device's key", list, err)
	}

	// The session cookie alone is refused, and leaves the session alone.
	thief := s.boundClient()
	u, _ := url.Parse(s.srv.URL)
	thief.jar.SetCookies(u, []*http.Cookie{{Name: s.m.CookieName(), Value: dev.cookie(s.m.CookieName()), Path: "/", Secure: true}})
	if got := thief.whoami(); got != "user= refused=true" {
		t.Fatalf("the session cookie without its bound cookie: %q", got)
	}
	// Both cookies work until the copied bound cookie expires.
	copied := dev.copyOf()
	if got := copied.whoami(); got != "user="+user+" refused=false" {
		t.Fatalf("a copy of both cookies while the bound cookie lasts: %q", got)
	}
	answered := dev.dbsc.Challenge // sent ahead at registration
	clk.advance(session.DefaultBoundCookieLifetime + time.Second)
	if got := dev.whoami(); got != "redirected" {
		t.Fatalf("the device's stale bound cookie: %q", got)
	}
	if code, err := dev.dbsc.Refresh(ctx(t)); err != nil || code != 200 {
		t.Fatalf("refresh: %d, %v", code, err)
	}
	if got := dev.whoami(); got != "user="+user+" refused=false" {
		t.Fatalf("after the refresh: %q", got)
	}
	if got := copied.whoami(); got != "redirected" {
		t.Fatalf("the copy once its bound cookie expired: %q", got)
	}
	if got := copied.whoami(); got != "user= refused=true" {
		t.Fatalf("the copy without a bound cookie: %q", got)
	}

	// Forged, replayed and stale proofs.
	must := signed(t)
	other, err := dbsctest.NewKey(dbsc.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if code := dev.refresh(""); code != http.StatusForbidden {
		t.Fatalf("a refresh without a proof: %d; want 403 and a challenge", code)
	}
	cs, err := dbsc.ParseChallenges(dev.last.Header)
	if err != nil || len(cs) != 1 {
		t.Fatalf("challenge header: %+v, %v", cs, err)
	}
	fresh := cs[0].Value
	for name, proof := range map[string]string{
		"forged (another key)":     must(other.RefreshProof(fresh)),
		"replayed (answered once)": must(dev.dbsc.Key.RefreshProof(answered)),
	} {
		if code := dev.refresh(proof); code != http.StatusForbidden {
			t.Fatalf("a %s proof: %d; want 403", name, code)
		}
	}
	clk.advance(session.DefaultBoundCookieLifetime + dbsc.DefaultChallengeTTL + time.Second)
	if code := dev.refresh(must(dev.dbsc.Key.RefreshProof(fresh))); code != http.StatusForbidden {
		t.Fatalf("a stale proof: %d; want 403", code)
	}
	// Refused proofs changed nothing: the device refreshes on.
	dev.dbsc.Challenge = ""
	if code, err := dev.dbsc.Refresh(ctx(t)); err != nil || code != 200 {
		t.Fatalf("refresh after refused proofs: %d, %v", code, err)
	}
	if got := dev.whoami(); got != "user="+user+" refused=false" {
		t.Fatalf("after refused proofs: %q", got)
	}
	if list, err := s.m.Devices(ctx(t), user); err != nil || len(list) != 1 || list[0].Binding.Refreshes != 2 {
		t.Fatalf("Devices = %+v, %v; want 2 refreshes recorded", list, err)
	}

	// Logging out ends the binding: the copies and a refresh fail.
	stolen := dev.copyOf()
	key := *dev.dbsc
	key.Client = stolen.c
	dev.request("POST", "/logout", nil)
	if got := stolen.whoami(); got != "user= refused=false" {
		t.Fatalf("cookies copied before the logout: %q", got)
	}
	if code, err := key.Refresh(ctx(t)); err != nil || code != 200 || !key.Instructions.Terminate {
		t.Fatalf("refresh after logout: %d, %v, %+v; want continue:false", code, err, key.Instructions)
	}
}

// loadGate holds every Save until n Loads of one ID have happened, so
// that n requests on one session all load (and verify their proofs)
// before any of them saves.
type loadGate struct {
	session.Store
	mu    sync.Mutex
	armed string
	n     int
	open  chan struct{}
}

// arm starts holding saves until n loads of id; n = 0 stops holding.
func (g *loadGate) arm(id string, n int) {
	g.mu.Lock()
	g.armed, g.n, g.open = id, n, nil
	if n > 0 {
		g.open = make(chan struct{})
	}
	g.mu.Unlock()
}

func (g *loadGate) Load(ctx context.Context, id string) (session.Record, error) {
	g.mu.Lock()
	if id == g.armed && g.n > 0 {
		if g.n--; g.n == 0 {
			close(g.open)
		}
	}
	g.mu.Unlock()
	return g.Store.Load(ctx, id)
}

func (g *loadGate) Save(ctx context.Context, rec session.Record) error {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	if open != nil {
		select {
		case <-open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Store.Save(ctx, rec)
}

// httpConcurrentRefreshes sends one refresh proof several times at once,
// through two Managers sharing the store: every request loads the
// session and verifies the proof before any saves, so they can only be
// told apart by the compare-and-swap that records the answered
// challenge. Exactly one may succeed.
func httpConcurrentRefreshes(t *testing.T, store session.Store, _ *config) {
	gate := &loadGate{Store: store}
	clk := &clock{t: time.Now()}
	opts := bindingOptions(clk)
	opts.StoreTimeout = time.Minute // the gate holds saves on purpose
	sites := []*raceSite{newRaceSite(t, gate, opts), newRaceSite(t, gate, opts)}
	for round := range 5 {
		user := newUser()
		dev := sites[0].boundClient()
		dev.request("POST", "/login?user="+url.QueryEscape(user), nil)
		if err := dev.dbsc.Register(ctx(t), dev.last); err != nil {
			t.Fatalf("round %d: registration: %v", round, err)
		}
		proof := signed(t)(dev.dbsc.Key.RefreshProof(dev.dbsc.Challenge))
		list, err := sites[0].m.Devices(ctx(t), user)
		if err != nil || len(list) != 1 {
			t.Fatalf("round %d: Devices = %d, %v", round, len(list), err)
		}
		const n = 6
		gate.arm(list[0].Handle, n)
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				site := sites[i%2]
				req, _ := http.NewRequestWithContext(ctx(t), "POST", site.srv.URL+"/dbsc/refresh", nil)
				req.Header.Set("Cookie", site.m.CookieName()+"="+dev.cookie(site.m.CookieName()))
				req.Header.Set(dbsc.HeaderSessionID, dev.dbsc.Instructions.SessionIdentifier)
				req.Header.Set(dbsc.HeaderResponse, proof)
				resp, err := site.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				codes[i] = resp.StatusCode
			})
		}
		wg.Wait()
		gate.arm("", 0)
		won := 0
		for _, c := range codes {
			switch c {
			case 200:
				won++
			case http.StatusForbidden:
			default:
				t.Fatalf("round %d: statuses %v; want 200 and 403s", round, codes)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d of %d concurrent refreshes answering one challenge succeeded (%v); want exactly 1", round, won, n, codes)
		}
		if list, err := sites[0].m.Devices(ctx(t), user); err != nil || len(list) != 1 || list[0].Binding.Refreshes != 1 {
			t.Fatalf("round %d: Devices = %+v, %v; want 1 refresh recorded", round, list, err)
		}
	}
}

// boundPage is the race site's page for the cases above.
func boundPage(s *session.Session, w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "user=%s refused=%t", s.UserID(), s.BindingRefused())
}
