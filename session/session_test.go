package session_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/cookie"
	"github.com/httpstate/httpstate/session"
)

// app is the handler most tests run behind the Manager.
func app() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		n, _ := session.Get[int](s, "n")
		fmt.Fprintf(w, "user=%s lapsed=%t n=%d", s.UserID(), s.Lapsed(), n)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if err := s.Login(r.FormValue("user"), r.FormValue("remember") == "1"); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if err := s.Logout(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, "bye")
	})
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		n, err := session.Update(s, "n", func(n int) int { return n + 1 })
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if err := s.Put(r.FormValue("k"), r.FormValue("v")); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		v, err := session.Get[string](session.FromContext(r.Context()), r.FormValue("k"))
		if err != nil {
			fmt.Fprint(w, "<none>")
			return
		}
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("POST /flash", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).AddFlash("info", r.FormValue("msg"))
	})
	mux.HandleFunc("GET /flashes", func(w http.ResponseWriter, r *http.Request) {
		for _, f := range session.FromContext(r.Context()).Flashes() {
			fmt.Fprintf(w, "%s:%s;", f.Kind, f.Message)
		}
	})
	return mux
}

func TestLoginThenLogoutMakesTheOldCookieWorthless(t *testing.T) {
	spy := newSpy(t)
	s := newSite(t, spy, session.Options{}, app())
	b := s.browser()

	if got := b.get("/whoami"); got != "user= lapsed=false n=0" {
		t.Fatalf("anonymous visit: %q", got)
	}
	if b.resp.Header.Get("Set-Cookie") != "" || spy.saves.Load() != 0 {
		t.Fatalf("an anonymous visit with an empty session set a cookie or wrote to the store (%d saves)", spy.saves.Load())
	}
	b.post("/login?user=alice")
	sc := b.resp.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(sc, want) {
			t.Errorf("login Set-Cookie %q lacks %q", sc, want)
		}
	}
	if strings.Contains(sc, "Max-Age") || strings.Contains(sc, "Expires") {
		t.Errorf("a login without remember-me must set a browser-session cookie, got %q", sc)
	}
	if b.resp.Header.Get("Vary") != "Cookie" || b.resp.Header.Get("Cache-Control") != `no-cache="Set-Cookie"` {
		t.Errorf("Set-Cookie response has Vary %q, Cache-Control %q", b.resp.Header.Get("Vary"), b.resp.Header.Get("Cache-Control"))
	}
	if got := b.get("/whoami"); got != "user=alice lapsed=false n=0" {
		t.Fatalf("after login: %q", got)
	}
	stolen := b.cookie()

	b.post("/logout")
	if sc := b.resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "Max-Age=0") && !strings.Contains(sc, "Max-Age=-1") {
		t.Errorf("logout did not expire the cookie: %q", sc)
	}
	if got := b.get("/whoami"); got != "user= lapsed=false n=0" {
		t.Fatalf("after logout: %q", got)
	}
	thief := s.browser()
	thief.setCookie(stolen)
	if got := thief.get("/whoami"); got != "user= lapsed=true n=0" {
		t.Fatalf("replaying the logged-out cookie: %q; want an anonymous, lapsed session", got)
	}
}

func TestStoreSeesOnlyTheTokensHash(t *testing.T) {
	spy := newSpy(t)
	s := newSite(t, spy, session.Options{}, app())
	b := s.browser()
	b.post("/login?user=bob")
	b.post("/put?k=note&v=hello")
	tok := b.cookie()
	if len(tok) != 43 {
		t.Fatalf("token %d characters; want 43 (256 bits, base64url)", len(tok))
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 32 {
		t.Fatalf("token is not 32 bytes of base64url: %v", err)
	}
	sum := sha256.Sum256(raw)
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.seen) == 0 {
		t.Fatal("nothing was saved")
	}
	for _, rec := range spy.seen {
		if strings.Contains(rec.ID, tok) || bytes.Contains(rec.Data, []byte(tok)) {
			t.Fatal("the raw token reached the store")
		}
	}
	if last := spy.seen[len(spy.seen)-1]; last.ID != want {
		t.Fatalf("store ID = %s; want base64url(SHA-256(token))", last.ID)
	}
}

func TestForgedAndMalformedTokensGetAFreshSession(t *testing.T) {
	s := newSite(t, newSpy(t), session.Options{}, app())
	real := s.browser()
	real.post("/login?user=carol")
	valid := real.cookie()
	name := s.m.CookieName()
	cases := map[string]string{
		"never issued":          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"truncated":             valid[:20],
		"one character longer":  valid + "A",
		"oversized":             strings.Repeat("A", 8000),
		"not base64url":         strings.Repeat("*", 43),
		"padded base64":         valid[:42] + "=",
		"non-UTF-8":             "\xff\xfe\xfd",
		"empty":                 "",
		"quoted":                `"` + valid[:10] + `"`,
		"non-canonical padding": valid[:42] + "B",
	}
	for label, v := range cases {
		t.Run(label, func(t *testing.T) {
			resp, body := s.rawGet("/whoami", http.Header{"Cookie": {name + "=" + v}})
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "user= ") {
				t.Fatalf("status %d body %q; want 200 and an anonymous session", resp.StatusCode, body)
			}
		})
	}
	t.Run("hundreds of cookies and duplicates", func(t *testing.T) {
		var parts []string
		for i := range 300 {
			parts = append(parts, fmt.Sprintf("c%d=%d", i, i), name+"=junk")
		}
		parts = append(parts, name+"="+valid)
		resp, body := s.rawGet("/whoami", http.Header{"Cookie": {strings.Join(parts, "; ")}})
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "user=carol") {
			t.Fatalf("status %d body %q; want the valid duplicate to win", resp.StatusCode, body)
		}
	})
	t.Run("token in the URL is ignored", func(t *testing.T) {
		resp, body := s.rawGet("/whoami?session="+valid+"&"+name+"="+valid, nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "user= ") {
			t.Fatalf("a token in the URL authenticated: %q", body)
		}
	})
}

func TestAReadOnlyRequestWritesNothing(t *testing.T) {
	spy := newSpy(t)
	s := newSite(t, spy, session.Options{}, app())
	b := s.browser()
	b.post("/login?user=dave")
	saves := spy.saves.Load()
	for range 5 {
		b.get("/whoami")
		if sc := b.resp.Header.Get("Set-Cookie"); sc != "" {
			t.Fatalf("read-only request sent Set-Cookie %q", sc)
		}
	}
	if got := spy.saves.Load(); got != saves {
		t.Fatalf("5 read-only requests made %d saves", got-saves)
	}
}

func TestIdleDeadlineIsExtendedAtMostOncePerInterval(t *testing.T) {
	spy, clock := newSpy(t), newClock()
	s := newSite(t, spy, session.Options{Clock: clock.Now, TouchInterval: time.Minute}, app())
	b := s.browser()
	b.post("/login?user=erin")
	saves := spy.saves.Load()
	clock.Advance(30 * time.Second)
	b.get("/whoami")
	if spy.saves.Load() != saves {
		t.Fatal("a read within the touch interval wrote to the store")
	}
	clock.Advance(31 * time.Second)
	b.get("/whoami")
	b.get("/whoami")
	if got := spy.saves.Load() - saves; got != 1 {
		t.Fatalf("reads after the touch interval made %d saves; want exactly 1", got)
	}
	// The session stays alive as long as it is used within the idle timeout.
	for range 5 {
		clock.Advance(20 * time.Minute)
		if got := b.get("/whoami"); !strings.HasPrefix(got, "user=erin") {
			t.Fatalf("active session logged out: %q", got)
		}
	}
}

func TestTimeoutsAreEnforcedOnTheServer(t *testing.T) {
	cases := []struct {
		name     string
		remember string
		steps    []time.Duration // gaps between requests
		alive    bool
	}{
		{"idle for 29 minutes keeps the session", "0", []time.Duration{29 * time.Minute}, true},
		{"idle for 31 minutes ends the session", "0", []time.Duration{31 * time.Minute}, false},
		{"activity cannot outlive the 12 hour lifetime", "0", repeat(25, 29*time.Minute), false},
		{"a remembered session survives 31 idle minutes", "1", []time.Duration{31 * time.Minute}, true},
		{"a remembered session ends after 8 idle days", "1", []time.Duration{8 * 24 * time.Hour}, false},
		{"a remembered session ends after its 30 day lifetime", "1", repeat(16, 2*24*time.Hour), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := newClock()
			s := newSite(t, newSpy(t), session.Options{Clock: clock.Now}, app())
			b := s.browser()
			b.post("/login?user=frank&remember=" + c.remember)
			tok := b.cookie()
			var got string
			for _, d := range c.steps {
				clock.Advance(d)
				b.setCookie(tok) // the server decides, not the browser's cookie expiry
				got = b.get("/whoami")
			}
			if alive := strings.HasPrefix(got, "user=frank"); alive != c.alive {
				t.Fatalf("after the last step: %q; want alive=%t", got, c.alive)
			}
			if !c.alive && !strings.Contains(got, "lapsed=true") {
				t.Fatalf("an expired session must be reported as lapsed: %q", got)
			}
		})
	}
}

func repeat(n int, d time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestRememberMeSetsAPersistentCookie(t *testing.T) {
	s := newSite(t, newSpy(t), session.Options{}, app())
	b := s.browser()
	b.post("/login?user=gina&remember=1")
	sc := b.resp.Header.Get("Set-Cookie")
	if !strings.Contains(sc, "Max-Age=") {
		t.Fatalf("remember-me login set %q; want a persistent cookie", sc)
	}
}

func TestConcurrentIncrementsAreNeverLost(t *testing.T) {
	s := newSite(t, newSpy(t), session.Options{}, app())
	first := s.browser()
	first.post("/incr")
	tok := first.cookie()
	const clients, each = 20, 100
	var wg sync.WaitGroup
	for range clients {
		b := s.browser()
		b.setCookie(tok)
		wg.Go(func() {
			for range each {
				b.post("/incr")
			}
		})
	}
	wg.Wait()
	if got := first.get("/whoami"); got != fmt.Sprintf("user= lapsed=false n=%d", clients*each+1) {
		t.Fatalf("%d clients x %d concurrent increments: %q; want n=%d", clients, each, got, clients*each+1)
	}
}

func TestConcurrentWritersOfDifferentKeysAllPersist(t *testing.T) {
	s := newSite(t, newSpy(t), session.Options{}, app())
	first := s.browser()
	first.post("/put?k=seed&v=1")
	tok := first.cookie()
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		b := s.browser()
		b.setCookie(tok)
		wg.Go(func() { b.post(fmt.Sprintf("/put?k=key%d&v=val%d", i, i)) })
	}
	wg.Wait()
	for i := range n {
		if got := first.get(fmt.Sprintf("/get?k=key%d", i)); got != fmt.Sprintf("val%d", i) {
			t.Fatalf("key%d = %q after %d concurrent writers", i, got, n)
		}
	}
}

// gate lets a test hold a handler between loading and saving its session.
type gate struct{ loaded, release chan struct{} }

func TestLogoutRacingASlowerRequestNeverResurrectsTheSession(t *testing.T) {
	spy := newSpy(t)
	g := gate{make(chan struct{}), make(chan struct{})}
	mux := app().(*http.ServeMux)
	mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		close(g.loaded)
		<-g.release
		s.Put("written-late", "yes")
	})
	s := newSite(t, spy, session.Options{}, mux)
	b := s.browser()
	b.post("/login?user=hank")
	tok := b.cookie()
	slow := s.browser()
	slow.setCookie(tok)
	done := make(chan struct{})
	go func() { slow.post("/slow"); close(done) }()
	<-g.loaded
	b.post("/logout")
	close(g.release)
	<-done
	replay := s.browser()
	replay.setCookie(tok)
	if got := replay.get("/whoami"); !strings.HasPrefix(got, "user= ") {
		t.Fatalf("the slow request brought the session back: %q", got)
	}
	if list, _ := s.m.Devices(t.Context(), "hank"); len(list) != 0 {
		t.Fatalf("hank still has %d sessions after logout", len(list))
	}
}

func TestTwoConcurrentRenewalsLeaveExactlyOneValidToken(t *testing.T) {
	var arrived sync.WaitGroup
	arrived.Add(2)
	mux := app().(*http.ServeMux)
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		arrived.Done()
		arrived.Wait() // both requests have loaded the same version
		if err := s.RenewID(); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	s := newSite(t, newSpy(t), session.Options{}, mux)
	b := s.browser()
	b.post("/login?user=ivy")
	old := b.cookie()
	tokens := make([]string, 2)
	var wg sync.WaitGroup
	for i := range tokens {
		c := s.browser()
		c.setCookie(old)
		wg.Go(func() { c.post("/renew"); tokens[i] = c.cookie() })
	}
	wg.Wait()
	valid := 0
	for _, tok := range append(tokens, old) {
		c := s.browser()
		c.setCookie(tok)
		if strings.HasPrefix(c.get("/whoami"), "user=ivy") {
			valid++
		}
	}
	if valid != 1 {
		t.Fatalf("%d valid tokens after two concurrent renewals; want exactly 1", valid)
	}
}

func TestRenewIDKeepsDataAndKillsTheOldToken(t *testing.T) {
	mux := app().(*http.ServeMux)
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).RenewID()
	})
	s := newSite(t, newSpy(t), session.Options{}, mux)
	b := s.browser()
	b.post("/put?k=cart&v=3+apples")
	old := b.cookie()
	b.post("/renew")
	if b.cookie() == old {
		t.Fatal("RenewID did not change the token")
	}
	if got := b.get("/get?k=cart"); got != "3 apples" {
		t.Fatalf("data after RenewID: %q", got)
	}
	replay := s.browser()
	replay.setCookie(old)
	if got := replay.get("/get?k=cart"); got != "<none>" {
		t.Fatalf("old token still works after RenewID: %q", got)
	}
}

func TestLoginAlwaysIssuesANewTokenAgainstFixation(t *testing.T) {
	s := newSite(t, newSpy(t), session.Options{}, app())
	attacker := s.browser()
	attacker.post("/put?k=x&v=1")
	planted := attacker.cookie()
	victim := s.browser()
	victim.setCookie(planted)
	victim.post("/login?user=jane")
	if victim.cookie() == planted {
		t.Fatal("login kept the planted token")
	}
	if got := attacker.get("/whoami"); strings.Contains(got, "jane") {
		t.Fatalf("attacker's planted token is logged in as the victim: %q", got)
	}
}

func TestFlashMessagesAreShownOnce(t *testing.T) {
	s := newSite(t, newSpy(t), session.Options{}, app())
	b := s.browser()
	b.post("/flash?msg=saved")
	if got := b.get("/flashes"); got != "info:saved;" {
		t.Fatalf("flashes: %q", got)
	}
	if got := b.get("/flashes"); got != "" {
		t.Fatalf("flashes shown twice: %q", got)
	}
}

func TestStoreOutageIsAClearErrorNeverALogout(t *testing.T) {
	spy := newSpy(t)
	var logs bytes.Buffer
	var handlerRan bool
	mux := app().(*http.ServeMux)
	mux.HandleFunc("GET /probe", func(w http.ResponseWriter, r *http.Request) { handlerRan = true })
	s := newSite(t, spy, session.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, mux)
	b := s.browser()
	b.post("/login?user=kim")
	tok := b.cookie()

	spy.failLoad.Store(true)
	b.get("/probe")
	if b.resp.StatusCode != http.StatusServiceUnavailable || handlerRan {
		t.Fatalf("load outage: status %d, handler ran %t; want 503 without running the handler", b.resp.StatusCode, handlerRan)
	}
	if sc := b.resp.Header.Get("Set-Cookie"); sc != "" {
		t.Fatalf("an outage touched the cookie: %q", sc)
	}
	spy.failLoad.Store(false)

	spy.failSave.Store(true)
	body := b.post("/put?k=a&v=b")
	if b.resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "ok") {
		t.Fatalf("save outage: status %d body %q; want 503", b.resp.StatusCode, body)
	}
	spy.failSave.Store(false)

	if b.cookie() != tok {
		t.Fatal("the outage changed the browser's cookie")
	}
	if got := b.get("/whoami"); !strings.HasPrefix(got, "user=kim") {
		t.Fatalf("after the outage: %q; the user must still be logged in", got)
	}
	if strings.Contains(logs.String(), tok) {
		t.Fatal("a log line contains the session token")
	}
	if !strings.Contains(logs.String(), "session could not be loaded or saved") {
		t.Fatalf("the outage was not logged: %s", logs.String())
	}
}

func TestChangesAfterTheResponseStartedAreStillSaved(t *testing.T) {
	var renewErr, logoutErr error
	mux := app().(*http.ServeMux)
	mux.HandleFunc("POST /late", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		fmt.Fprint(w, "body first")
		s.Put("late", "saved")
		renewErr = s.RenewID()
		logoutErr = s.Logout()
	})
	s := newSite(t, newSpy(t), session.Options{}, mux)
	b := s.browser()
	b.post("/put?k=seed&v=1")
	b.post("/late")
	if got := b.get("/get?k=late"); got != "saved" {
		t.Fatalf("value put after the response started: %q", got)
	}
	if !errors.Is(renewErr, session.ErrResponseStarted) || !errors.Is(logoutErr, session.ErrResponseStarted) {
		t.Fatalf("RenewID, Logout after the response started = %v, %v; want ErrResponseStarted", renewErr, logoutErr)
	}
}

func TestPutOnANewSessionAfterTheResponseStartedIsRefused(t *testing.T) {
	var putErr error
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		putErr = session.FromContext(r.Context()).Put("k", "v")
	})
	s := newSite(t, newSpy(t), session.Options{}, mux)
	s.browser().get("/")
	if !errors.Is(putErr, session.ErrResponseStarted) {
		t.Fatalf("Put = %v; want ErrResponseStarted (the browser could never get the cookie)", putErr)
	}
}

func TestStreamingIsNotBuffered(t *testing.T) {
	firstChunkRead := make(chan struct{})
	var deadlineErr error
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put("streaming", true)
		rc := http.NewResponseController(w)
		deadlineErr = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		fmt.Fprint(w, "chunk1\n")
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush through the session writer: %v", err)
		}
		<-firstChunkRead // the client must get chunk1 while the handler still runs
		fmt.Fprint(w, "chunk2\n")
	})
	s := newSite(t, newSpy(t), session.Options{}, mux)
	b := s.browser()
	resp, err := b.c.Get(s.srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Set-Cookie"), s.m.CookieName()) {
		t.Fatal("the cookie was not set before the first byte")
	}
	buf := make([]byte, 7)
	if _, err := resp.Body.Read(buf); err != nil || string(buf) != "chunk1\n" {
		t.Fatalf("first chunk: %q, %v", buf, err)
	}
	close(firstChunkRead)
	rest := new(bytes.Buffer)
	rest.ReadFrom(resp.Body)
	if rest.String() != "chunk2\n" {
		t.Fatalf("second chunk: %q", rest.String())
	}
	if deadlineErr != nil {
		t.Fatalf("SetWriteDeadline through the session writer: %v (Unwrap missing?)", deadlineErr)
	}
}

func TestHijackStillWorks(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/upgrade", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack through the session writer: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		buf.Flush()
	})
	m, _ := session.New(newSpy(t), session.Options{})
	srv := httptestServer(t, m.Middleware(mux))
	resp, err := http.Get(srv + "/upgrade")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	if body.String() != "hijacked" {
		t.Fatalf("body %q", body.String())
	}
}

func TestDevicesRevokeAndRevokeAll(t *testing.T) {
	s := newSite(t, newSpy(t), session.Options{}, app())
	laptop, phone, tablet := s.browser(), s.browser(), s.browser()
	laptop.ua, phone.ua, tablet.ua = "Laptop/1.0", "Phone/2.0", "Tablet/3.0"
	for _, b := range []*browser{laptop, phone, tablet} {
		b.post("/login?user=mia")
	}
	other := s.browser()
	other.post("/login?user=ned")
	ctx := t.Context()
	devices, err := s.m.Devices(ctx, "mia")
	if err != nil || len(devices) != 3 {
		t.Fatalf("Devices = %d, %v; want 3", len(devices), err)
	}
	agents := map[string]session.Device{}
	for _, d := range devices {
		agents[d.UserAgent] = d
		if d.Handle == laptop.cookie() || d.Created.IsZero() || d.LastSeen.IsZero() || d.IP != "127.0.0.1" {
			t.Fatalf("device %+v: handle must not be the token; times and IP must be set", d)
		}
	}
	// Another user cannot revoke mia's phone.
	if err := s.m.Revoke(ctx, "ned", agents["Phone/2.0"].Handle); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Revoke of another user's session = %v; want ErrNotFound", err)
	}
	if err := s.m.Revoke(ctx, "mia", agents["Phone/2.0"].Handle); err != nil {
		t.Fatal(err)
	}
	if got := phone.get("/whoami"); !strings.HasPrefix(got, "user= lapsed=true") {
		t.Fatalf("revoked phone: %q", got)
	}
	n, err := s.m.RevokeAll(ctx, "mia", agents["Laptop/1.0"].Handle)
	if err != nil || n != 1 {
		t.Fatalf("RevokeAll except the laptop = %d, %v; want 1", n, err)
	}
	if got := tablet.get("/whoami"); !strings.HasPrefix(got, "user= ") {
		t.Fatalf("tablet after log-out-everywhere-else: %q", got)
	}
	if got := laptop.get("/whoami"); !strings.HasPrefix(got, "user=mia") {
		t.Fatalf("the kept laptop session: %q", got)
	}
	if got := other.get("/whoami"); !strings.HasPrefix(got, "user=ned") {
		t.Fatalf("another user's session was touched: %q", got)
	}
}

func TestTypedValuesNeedNoRegistration(t *testing.T) {
	type item struct {
		SKU string
		Qty int
	}
	type cart struct{ Items []item }
	var got cart
	var missingErr, mismatchErr error
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put("cart", cart{Items: []item{{"apple", 3}, {"pear", 1}}})
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		got, _ = session.Get[cart](s, "cart")
		_, missingErr = session.Get[cart](s, "nothing")
		_, mismatchErr = session.Get[int](s, "cart")
	})
	s := newSite(t, newSpy(t), session.Options{}, mux)
	b := s.browser()
	b.post("/")
	b.get("/")
	if len(got.Items) != 2 || got.Items[0] != (item{"apple", 3}) {
		t.Fatalf("typed round trip: %+v", got)
	}
	if !errors.Is(missingErr, session.ErrNoValue) {
		t.Fatalf("missing key: %v; want ErrNoValue", missingErr)
	}
	if mismatchErr == nil {
		t.Fatal("decoding a struct into an int succeeded")
	}
}

func TestCookieNameFollowsTheAttributes(t *testing.T) {
	for _, c := range []struct {
		opts session.Options
		want string
	}{
		{session.Options{}, "__Host-session"},
		{session.Options{CookieName: "sid"}, "__Host-sid"},
		{session.Options{Cookie: cookieAttrs("example.com", "")}, "__Secure-session"},
		{session.Options{Cookie: cookieAttrs("", "/app")}, "__Secure-session"},
		{session.Options{Cookie: insecure()}, "session"},
	} {
		m, err := session.New(newSpy(t), c.opts)
		if err != nil {
			t.Fatalf("%+v: %v", c.opts, err)
		}
		if m.CookieName() != c.want {
			t.Errorf("CookieName = %q; want %q", m.CookieName(), c.want)
		}
	}
}

func TestIncrementResultIsVisibleToTheHandler(t *testing.T) {
	s := newSite(t, newSpy(t), session.Options{}, app())
	b := s.browser()
	for want := 1; want <= 3; want++ {
		if got := b.post("/incr"); got != strconv.Itoa(want) {
			t.Fatalf("increment %d returned %q", want, got)
		}
	}
}

// hangingStore never answers, like a server that accepts connections and
// then goes silent.
type hangingStore struct{ session.Store }

func (hangingStore) Load(ctx context.Context, id string) (session.Record, error) {
	<-ctx.Done()
	return session.Record{}, ctx.Err()
}

func TestAStoreThatHangsGivesAPromptErrorResponse(t *testing.T) {
	s := newSite(t, hangingStore{newSpy(t)}, session.Options{StoreTimeout: 50 * time.Millisecond}, app())
	tok := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	start := time.Now()
	resp, _ := s.rawGet("/whoami", http.Header{"Cookie": {s.m.CookieName() + "=" + tok}})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d; want 503 once the store timeout passes", resp.StatusCode)
	}
	// Generous: the point is "bounded", not a latency figure.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("request took %v with a 50ms store timeout", d)
	}
}

// deadlineStore records whether the Manager put a deadline on its calls.
type deadlineStore struct {
	session.Store
	deadlines atomic.Int64 // calls whose context had a deadline
	calls     atomic.Int64
}

func (d *deadlineStore) Load(ctx context.Context, id string) (session.Record, error) {
	d.calls.Add(1)
	if _, ok := ctx.Deadline(); ok {
		d.deadlines.Add(1)
	}
	return d.Store.Load(ctx, id)
}

func TestStoreTimeoutAppliesToEveryStore(t *testing.T) {
	for _, c := range []struct {
		name    string
		timeout time.Duration
		want    bool
	}{
		{"default timeout", 0, true},
		{"explicit timeout", time.Minute, true},
		{"timeout off", -1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &deadlineStore{Store: newSpy(t)}
			s := newSite(t, st, session.Options{StoreTimeout: c.timeout}, app())
			b := s.browser()
			b.post("/incr")
			b.get("/whoami")
			if st.calls.Load() == 0 {
				t.Fatal("the store was never asked to load")
			}
			if got := st.deadlines.Load() == st.calls.Load(); got != c.want {
				t.Fatalf("%d of %d loads had a deadline; want a deadline on every load: %t", st.deadlines.Load(), st.calls.Load(), c.want)
			}
		})
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for name, o := range map[string]session.Options{
		"negative idle timeout":    {IdleTimeout: -time.Second},
		"idle longer than life":    {IdleTimeout: 2 * time.Hour, Lifetime: time.Hour},
		"invalid cookie name":      {CookieName: "bad name;"},
		"SameSite=None insecurely": {Cookie: cookie.Attributes{SameSite: http.SameSiteNoneMode, Insecure: true}},
	} {
		if _, err := session.New(newSpy(t), o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := session.New(nil, session.Options{}); err == nil {
		t.Error("New accepted a nil store")
	}
}

func TestReadFromAndFlushSaveBeforeTheFirstByte(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/copy", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put("via", "copy")
		w.Header().Set("Cache-Control", "max-age=60")
		// io.Copy would prefer a strings.Reader's WriteTo; call ReadFrom
		// itself, as io.Copy does for a reader without WriteTo (a file,
		// a pipe), so that it is the path under test.
		rf, ok := w.(io.ReaderFrom)
		if !ok {
			http.Error(w, "the session's writer lost io.ReaderFrom", 500)
			return
		}
		rf.ReadFrom(strings.NewReader("copied body"))
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put("via", "flush")
		w.(http.Flusher).Flush()
	})
	s := newSite(t, newSpy(t), session.Options{}, mux)
	for _, path := range []string{"/copy", "/flush"} {
		b := s.browser()
		body := b.get(path)
		if b.cookie() == "" {
			t.Fatalf("%s: no session cookie", path)
		}
		if path == "/copy" {
			if body != "copied body" {
				t.Fatalf("body %q", body)
			}
			if cc := b.resp.Header.Get("Cache-Control"); cc != `max-age=60, no-cache="Set-Cookie"` {
				t.Fatalf("Cache-Control %q: a response setting the cookie must not be cached with it", cc)
			}
		}
	}
}
