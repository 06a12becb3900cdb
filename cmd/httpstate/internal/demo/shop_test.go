package demo_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

func TestLoginFillCartReloadLogoutAndReplay(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)

	home := b.get("/")
	if !home.has(`id="login-link"`) || cartCount(home) != "0" {
		t.Fatalf("fresh visitor: want an anonymous page with an empty cart")
	}
	b.login("alice", "correct horse", false)
	b.addToCart("chocolate-chip")
	b.addToCart("chocolate-chip")
	p := b.addToCart("gingerbread")
	if !p.has("Added Gingerbread to your cart.") {
		t.Errorf("no flash message after adding to the cart")
	}
	cart := b.get("/cart")
	if cartCount(cart) != "3" || !cart.has(`data-sku="chocolate-chip"`) || !cart.has(`data-qty="2"`) {
		t.Fatalf("cart after reload: count %q, want 3 with 2 chocolate chip", cartCount(cart))
	}
	if again := b.get("/cart"); cartCount(again) != "3" {
		t.Fatalf("cart changed on a second reload: %q", cartCount(again))
	}
	old := b.sessionCookie()
	if old == nil {
		t.Fatal("no session cookie after login")
	}

	out := b.post("/logout", nil)
	if !out.has("You have been logged out.") || !out.has(`id="login-link"`) || cartCount(out) != "0" {
		t.Fatalf("after logout: want the anonymous home page with a notice and an empty cart")
	}

	// Someone who kept a copy of the old cookie gets nothing from it.
	thief := s.browser(t)
	u, _ := url.Parse(s.srv.URL)
	thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/", Secure: true}})
	replay := thief.get("/cart")
	if replay.has(`id="user-name"`) || !replay.has(`id="cart-empty"`) {
		t.Fatalf("the old cookie still works after logout")
	}
	if !replay.has("Your session has ended: it timed out, was logged out, or is not known to this server.") {
		t.Errorf("a replayed dead cookie should get the expired-session notice")
	}
}

func TestLoginRenewsTheSessionIDAndKeepsTheCart(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.addToCart("macadamia")
	before := b.sessionCookie()
	if before == nil {
		t.Fatal("an anonymous cart needs a session cookie")
	}
	b.login("bob", "battery staple", false)
	after := b.sessionCookie()
	if after.Value == before.Value {
		t.Fatal("login kept the session ID: session fixation is possible")
	}
	if cartCount(b.get("/")) != "1" {
		t.Error("the anonymous cart was lost at login")
	}
	// The pre-login token is dead.
	fixer := s.browser(t)
	u, _ := url.Parse(s.srv.URL)
	fixer.c.Jar.SetCookies(u, []*http.Cookie{before})
	if p := fixer.get("/"); p.has(`id="user-name"`) {
		t.Fatal("the token from before login is logged in")
	}
}

func TestRememberMeChoosesTheCookieLifetime(t *testing.T) {
	s := newShop(t)
	for _, remember := range []bool{false, true} {
		t.Run(fmt.Sprintf("remember=%v", remember), func(t *testing.T) {
			b := s.browser(t)
			form := url.Values{"username": {"alice"}, "password": {"correct horse"}}
			if remember {
				form.Set("remember", "on")
			}
			req, _ := http.NewRequest("POST", s.srv.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := b.c.Transport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var set string
			for _, c := range resp.Header.Values("Set-Cookie") {
				if strings.HasPrefix(c, "__Host-session=") {
					set = c
				}
			}
			if set == "" {
				t.Fatal("login set no session cookie")
			}
			for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(set, attr) {
					t.Errorf("session cookie lacks %s: %s", attr, set)
				}
			}
			persistent := strings.Contains(set, "Max-Age=")
			if persistent != remember {
				t.Errorf("remember=%v but the cookie is persistent=%v: %s", remember, persistent, set)
			}
		})
	}
}

func TestTwoTabsAddingAtOnceLoseNothing(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.addToCart("fortune") // the session exists before the tabs race
	const tabs = 12
	var wg sync.WaitGroup
	for range tabs {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", s.srv.URL+"/cart/add", strings.NewReader("sku=fortune"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := b.c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if got := cartCount(b.get("/cart")); got != fmt.Sprint(tabs+1) {
		t.Fatalf("after %d concurrent additions the cart holds %s; want %d", tabs+1, got, tabs+1)
	}
}

func TestCartQuantitiesAndCheckout(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.addToCart("oatmeal-raisin")
	if p := b.post("/cart/set", url.Values{"sku": {"oatmeal-raisin"}, "qty": {"1000"}}); cartCount(p) != "99" {
		t.Errorf("a quantity of 1000 became %s; want it capped at 99", cartCount(p))
	}
	if p := b.post("/cart/add", url.Values{"sku": {"no-such-cookie"}}); !p.has("That product does not exist.") || cartCount(p) != "99" {
		t.Errorf("an unknown product changed the cart or went unreported")
	}
	// Anonymous checkout asks for a login and keeps the cart.
	p := b.post("/checkout", nil)
	if p.url != "/login" || !p.has("Please log in to place your order.") {
		t.Fatalf("anonymous checkout landed on %s", p.url)
	}
	b.post("/cart/set", url.Values{"sku": {"oatmeal-raisin"}, "qty": {"2"}})
	b.login("alice", "correct horse", false)
	p = b.post("/checkout", nil)
	if !p.has("Your order of 2 cookies (€4.80)") || cartCount(p) != "0" {
		t.Fatalf("checkout: want a confirmation for 2 cookies and an empty cart, got count %s", cartCount(p))
	}
}

func TestWrongPasswordsAreRefusedThenThrottled(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	for i := range 5 {
		p := b.post("/login", url.Values{"username": {"alice"}, "password": {"wrong horse"}})
		if p.status != http.StatusUnprocessableEntity || !p.has("Wrong username or password.") {
			t.Fatalf("attempt %d: status %d; want 422 with a message", i+1, p.status)
		}
	}
	p := b.post("/login", url.Values{"username": {"alice"}, "password": {"correct horse"}})
	if p.status != http.StatusTooManyRequests || p.has(`id="user-name"`) {
		t.Fatalf("the sixth attempt, right password, got %d; want 429 and no login", p.status)
	}
	// Another account is not affected.
	b.login("bob", "battery staple", false)
	// An unknown user gets the same answer as a wrong password.
	if p := s.browser(t).post("/login", url.Values{"username": {"mallory"}, "password": {"x"}}); !p.has("Wrong username or password.") {
		t.Error("an unknown user is reported differently from a wrong password")
	}
	if strings.Contains(s.logs.String(), "wrong horse") {
		t.Error("a password reached the logs")
	}
}

func TestPreferencesLiveInSealedCookies(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	form := url.Values{"theme": {"dark"}, "lang": {"fr"}}
	req, _ := http.NewRequest("POST", s.srv.URL+"/preferences", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := map[string]string{}
	for _, c := range resp.Header.Values("Set-Cookie") {
		name, _, _ := strings.Cut(c, "=")
		cookies[name] = c
	}
	prefs, theme := cookies["__Host-prefs"], cookies["__Host-theme"]
	if !strings.Contains(prefs, "HttpOnly") || !strings.Contains(prefs, "Max-Age=") || strings.Contains(prefs, "dark") {
		t.Errorf("preferences cookie must be HttpOnly, persistent and sealed: %s", prefs)
	}
	if strings.Contains(theme, "HttpOnly") || !strings.Contains(theme, "Secure") {
		t.Errorf("theme cookie must be script-readable and Secure: %s", theme)
	}
	u, _ := url.Parse(s.srv.URL)
	b.c.Jar.SetCookies(u, resp.Cookies())
	p := b.get("/")
	if !p.has(`<html lang="fr" data-theme="dark">`) || !p.has("Ajouter au panier") || !p.has("2,50\u00a0€") {
		t.Fatalf("preferences not applied: %.300s", p.body)
	}
	if b.sessionCookie() != nil {
		t.Error("preferences created a server session; they should need none")
	}

	// A tampered cookie counts as absent.
	evil := s.browser(t)
	val := resp.Cookies()[0].Value
	evil.c.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-prefs", Value: val[:len(val)-2] + "AA", Path: "/", Secure: true}})
	evil.c.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-prefs", Value: strings.Repeat("A", 80), Path: "/", Secure: true}})
	if p := evil.get("/"); !p.has(`<html lang="en">`) {
		t.Error("a forged preferences cookie was accepted")
	}
}

func TestBannerDismissalWorksLoggedOut(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	if !b.get("/").has(`id="banner"`) {
		t.Fatal("no welcome banner for a new visitor")
	}
	p := b.post("/banner/dismiss", url.Values{"return": {"/cart"}})
	if p.url != "/cart" || p.has(`id="banner"`) {
		t.Fatalf("after dismissing: on %s, banner shown=%v", p.url, p.has(`id="banner"`))
	}
	if b.get("/").has(`id="banner"`) {
		t.Error("the banner came back")
	}
	p = b.post("/preferences", url.Values{"banner": {"on"}})
	if !p.has(`id="banner"`) {
		t.Error("the banner cannot be brought back from the preferences page")
	}
}

func TestLanguageFollowsAcceptLanguageUntilChosen(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	req, _ := http.NewRequest("GET", s.srv.URL+"/", nil)
	req.Header.Set("Accept-Language", "de-CH, de;q=0.9, en;q=0.5")
	if p := b.do(req); !p.has(`lang="de"`) || !p.has("In den Warenkorb") {
		t.Fatal("Accept-Language: de was not honoured")
	}
}

func TestThemeToggleAnswersScriptsWithNoContent(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	req, _ := http.NewRequest("POST", s.srv.URL+"/preferences/theme", strings.NewReader("theme=dark"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	p := b.do(req)
	if p.status != http.StatusNoContent {
		t.Fatalf("status %d; want 204", p.status)
	}
	if !b.get("/").has(`data-theme="dark"`) {
		t.Error("the theme did not change")
	}
}

func TestDevicesListAndRevoke(t *testing.T) {
	s := newShop(t)
	laptop, phone := s.browser(t), s.browser(t)
	laptop.login("alice", "correct horse", true)
	phone.login("alice", "correct horse", false)
	bob := s.browser(t)
	bob.login("bob", "battery staple", false)

	devices := laptop.get("/devices")
	if n := strings.Count(devices.body, `<li class="device`); n != 2 {
		t.Fatalf("alice's devices page lists %d sessions; want 2", n)
	}
	if !devices.has("This device") || !devices.has("Remembered") || !devices.has("Go HTTP client") || !devices.has("127.0.0.1") {
		t.Errorf("devices page lacks the current-device marker, remember flag, browser or address")
	}
	if devices.header.Get("Cache-Control") != "no-store" {
		t.Errorf("authenticated page Cache-Control = %q; want no-store", devices.header.Get("Cache-Control"))
	}
	ds, err := s.app.Sessions().Devices(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	phoneHandle := ""
	for _, d := range ds {
		if !d.Remembered {
			phoneHandle = d.Handle
		}
	}

	// Bob cannot revoke alice's session by its handle.
	if p := bob.post("/devices/revoke", url.Values{"handle": {phoneHandle}}); !p.has("That session had already ended.") {
		t.Error("bob's attempt on alice's handle was not refused")
	}
	if !phone.get("/").has(`id="user-name"`) {
		t.Fatal("bob logged alice's phone out")
	}

	p := laptop.post("/devices/revoke", url.Values{"handle": {phoneHandle}})
	if !p.has("The device was logged out.") || strings.Count(p.body, `<li class="device`) != 1 {
		t.Fatal("revoking the phone did not take it off the list")
	}
	next := phone.get("/")
	if next.has(`id="user-name"`) || !next.has("Your session has ended: it timed out, was logged out, or is not known to this server.") {
		t.Fatal("the revoked phone is still logged in, or was not told")
	}
	if !laptop.get("/").has(`id="user-name"`) {
		t.Fatal("revoking the phone logged the laptop out")
	}
}

func TestLogOutEverywhereElse(t *testing.T) {
	s := newShop(t)
	a, b, c := s.browser(t), s.browser(t), s.browser(t)
	for _, x := range []*browser{a, b, c} {
		x.login("alice", "correct horse", false)
	}
	p := a.post("/devices/revoke-others", nil)
	if !p.has("Other sessions logged out: 2.") {
		t.Fatalf("want 2 other sessions logged out:\n%s", p.body)
	}
	for _, x := range []*browser{b, c} {
		if x.get("/").has(`id="user-name"`) {
			t.Fatal("another session survived 'log out everywhere else'")
		}
	}
	if !a.get("/").has(`id="user-name"`) {
		t.Fatal("the current session was logged out too")
	}
	// Revoking the current device is a logout.
	if p := a.post("/devices/revoke", url.Values{"handle": {mustHandle(t, s, "alice")}}); !p.has("You have been logged out.") {
		t.Fatal("revoking the current device did not log out")
	}
}

func mustHandle(t *testing.T, s *shop, user string) string {
	t.Helper()
	ds, err := s.app.Sessions().Devices(t.Context(), user)
	if err != nil || len(ds) != 1 {
		t.Fatalf("want one session of %s, got %d (%v)", user, len(ds), err)
	}
	return ds[0].Handle
}

func TestPasswordChangeEndsOtherSessionsAndRenewsThisOne(t *testing.T) {
	s := newShop(t)
	here, there := s.browser(t), s.browser(t)
	here.login("bob", "battery staple", false)
	there.login("bob", "battery staple", true)
	before := here.sessionCookie().Value

	form := url.Values{"current": {"battery staple"}, "new": {"short"}, "confirm": {"short"}}
	if p := here.post("/password", form); p.status != http.StatusUnprocessableEntity || !p.has("at least 12 characters") {
		t.Fatalf("a short password: status %d", p.status)
	}
	form = url.Values{"current": {"battery staple"}, "new": {"a much longer passphrase"}, "confirm": {"a much longer passphrase!"}}
	if p := here.post("/password", form); !p.has("do not match") {
		t.Fatal("mismatched confirmation accepted")
	}
	form = url.Values{"current": {"wrong"}, "new": {"a much longer passphrase"}, "confirm": {"a much longer passphrase"}}
	if p := here.post("/password", form); !p.has("The current password is wrong.") {
		t.Fatal("a wrong current password was accepted")
	}
	form.Set("current", "battery staple")
	p := here.post("/password", form)
	if !p.has("Password changed. Other sessions logged out: 1.") {
		t.Fatalf("password change:\n%s", p.body)
	}
	if here.sessionCookie().Value == before {
		t.Error("the session ID was not renewed on a password change")
	}
	if there.get("/").has(`id="user-name"`) {
		t.Error("the other session survived the password change")
	}
	fresh := s.browser(t)
	if p := fresh.post("/login", url.Values{"username": {"bob"}, "password": {"battery staple"}}); p.status != http.StatusUnprocessableEntity {
		t.Error("the old password still works")
	}
	fresh.login("bob", "a much longer passphrase", false)
}

func TestProtectedPagesSendAnonymousVisitorsToLogin(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	p := b.get("/devices")
	if p.url != "/login" || !p.has("Please log in to see this page.") || !p.has(`name="next" value="/devices"`) {
		t.Fatalf("anonymous /devices ended on %s", p.url)
	}
	p = b.post("/login", url.Values{"username": {"alice"}, "password": {"correct horse"}, "next": {"/devices"}})
	if p.url != "/devices" {
		t.Fatalf("after login, landed on %s; want /devices", p.url)
	}
}

func TestLoginRedirectStaysOnTheSite(t *testing.T) {
	s := newShop(t)
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		b := s.browser(t)
		p := b.post("/login", url.Values{"username": {"alice"}, "password": {"correct horse"}, "next": {next}})
		if p.url != "/" {
			t.Errorf("next=%q sent the browser to %s", next, p.url)
		}
	}
}

func TestCrossOriginFormsAreRefused(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.addToCart("chocolate-chip")
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		req, _ := http.NewRequest("POST", s.srv.URL+"/cart/add", strings.NewReader("sku=chocolate-chip"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		p := b.do(req)
		if p.status != http.StatusForbidden || !p.has("Request refused") {
			t.Errorf("cross-origin POST with %v: status %d; want 403", h, p.status)
		}
	}
	if got := cartCount(b.get("/")); got != "1" {
		t.Fatalf("a refused request changed the cart: %s items", got)
	}
	if !strings.Contains(s.logs.String(), "cross-origin request refused") {
		t.Error("refusals are not logged")
	}
}

func TestSecurityHeaders(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	for _, path := range []string{"/", "/login", "/static/style.css", "/api/me", "/nope"} {
		p := b.get(path)
		csp := p.header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "object-src 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP lacks %q: %q", path, d, csp)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe code: %q", path, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
			if got := p.header.Get(k); got != v {
				t.Errorf("%s: %s = %q; want %q", path, k, got, v)
			}
		}
	}
	if p := b.get("/nope"); p.status != http.StatusNotFound || !p.has("Page not found") {
		t.Errorf("unknown page: status %d", p.status)
	}
	if p := b.get("/"); p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("pages must not be cached: %q", p.header.Get("Cache-Control"))
	}
	p := b.get("/")
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || strings.Contains(p.body, "onclick") {
		t.Error("the page has inline script or style, which the CSP blocks")
	}
}

func TestStaticFilesAreVersionedAndCached(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	home := b.get("/")
	i := strings.Index(home.body, `/static/style.css?v=`)
	if i < 0 {
		t.Fatal("the stylesheet link has no version")
	}
	link := home.body[i : i+strings.Index(home.body[i:], `"`)]
	p := b.get(link)
	if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") || !strings.Contains(p.header.Get("Cache-Control"), "immutable") {
		t.Fatalf("versioned stylesheet: %d %q %q", p.status, p.header.Get("Content-Type"), p.header.Get("Cache-Control"))
	}
	if p := b.get("/static/style.css?v=old"); p.header.Get("Cache-Control") != "no-cache" {
		t.Error("a stale version must not be cached for good")
	}
	if p := b.get("/static/../doc.go"); p.status != http.StatusNotFound {
		t.Errorf("path traversal: status %d", p.status)
	}
}

func TestHealthz(t *testing.T) {
	s := newShop(t)
	if p := s.browser(t).get("/healthz"); p.status != 200 || p.body != "ok\n" {
		t.Fatalf("healthy: %d %q", p.status, p.body)
	}
	tokens := memory.New()
	defer tokens.Close()
	down := newShopOn(t, failingStore{}, tokens)
	if p := down.browser(t).get("/healthz"); p.status != http.StatusServiceUnavailable || strings.Contains(p.body, errOutage.Error()) {
		t.Fatalf("store down: %d %q; want 503 without details", p.status, p.body)
	}
}

func TestAStoreOutageIsAnErrorNotALogout(t *testing.T) {
	tokens := memory.New()
	defer tokens.Close()
	s := newShopOn(t, failingStore{}, tokens)
	b := s.browser(t)
	u, _ := url.Parse(s.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-session", Value: strings.Repeat("A", 42) + "E", Path: "/", Secure: true}})
	p := b.get("/")
	if p.status != http.StatusServiceUnavailable || !p.has("Session storage did not answer") || p.header.Get("Retry-After") == "" {
		t.Fatalf("outage: status %d; want a 503 page with Retry-After", p.status)
	}
	if b.sessionCookie() == nil {
		t.Fatal("the outage deleted the browser's session cookie")
	}
}

func TestSessionTimeoutShowsANotice(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newShop(t, func(c *demo.Config) { c.Session = session.Options{Clock: clock} })
	b := s.browser(t)
	b.login("alice", "correct horse", false)
	mu.Lock()
	now = now.Add(session.DefaultIdleTimeout + time.Minute)
	mu.Unlock()
	p := b.get("/devices")
	if p.url != "/login" || !p.has("Your session has ended: it timed out, was logged out, or is not known to this server.") {
		t.Fatalf("after the idle timeout: on %s without the notice", p.url)
	}
	if strings.Count(p.body, `class="flash`) != 1 {
		t.Error("the expired notice should be the only message (no 'please log in' on top)")
	}
}

func TestTwoSessionsOfTheSameBrowserDoNotMix(t *testing.T) {
	s := newShop(t)
	alice, bob := s.browser(t), s.browser(t)
	alice.login("alice", "correct horse", false)
	bob.login("bob", "battery staple", false)
	alice.addToCart("fortune")
	if cartCount(bob.get("/")) != "0" || !bob.get("/").has("Bob Dobbs") {
		t.Fatal("bob sees alice's cart or name")
	}
}

// TestAScriptThatNeverReadsItsMessagesStillWorks posts to the cart more
// times than a session queues flash messages, never following the
// redirects that would show them: every request works, the extra
// messages are dropped and counted, and the cart counts every addition.
func TestAScriptThatNeverReadsItsMessagesStillWorks(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	n := session.MaxFlashes + 8
	for i := range n {
		p := b.post("/cart/add", url.Values{"sku": {"fortune"}, "return": {"/"}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("addition %d: status %d; want 303", i+1, p.status)
		}
	}
	if got := s.app.DroppedFlashes(); got != n-session.MaxFlashes {
		t.Fatalf("%d flash messages dropped; want %d", got, n-session.MaxFlashes)
	}
	if !strings.Contains(s.logs.String(), `"msg":"flash message dropped"`) {
		t.Error("dropped messages are not logged")
	}
	b.c.CheckRedirect = nil
	p := b.get("/cart")
	if got := strings.Count(p.body, `class="flash flash-success"`); got != session.MaxFlashes {
		t.Errorf("the next page shows %d messages; want the %d queued", got, session.MaxFlashes)
	}
	if cartCount(p) != fmt.Sprint(n) {
		t.Errorf("the cart holds %s; want %d", cartCount(p), n)
	}
}
