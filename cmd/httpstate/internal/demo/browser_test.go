package demo_test

// Tests in a real browser: Debian's chromium, headless, driven by chromedp.
// Each asserts on what the browser actually did: which cookies it kept and
// sent, what a page's scripts could read, what it showed after a restart.
// The shop runs on http://localhost:PORT, which Chromium treats as a
// secure context, so its Secure, __Host- cookies work as over HTTPS.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/store/memory"
)

// browserTimeout bounds each browser test.
const browserTimeout = 90 * time.Second

// liveShop is a shop on a real listener, as a browser sees it.
type liveShop struct {
	app  *demo.App
	srv  *httptest.Server
	base string // http://localhost:PORT
	logs *syncBuffer
}

// startLiveShop serves a shop over plain HTTP on 127.0.0.1 and returns
// its address as http://localhost:PORT. wrap, if not nil, wraps the
// handler, to observe requests; mods change the shop's configuration.
func startLiveShop(t *testing.T, wrap func(http.Handler) http.Handler, mods ...func(*demo.Config)) *liveShop {
	t.Helper()
	sessions, tokens := memory.New(), memory.New()
	t.Cleanup(func() { sessions.Close(); tokens.Close() })
	logs := &syncBuffer{}
	cfg := demo.Config{
		Sessions: sessions, Tokens: tokens, Secret: testSecret, StoreKind: "memory",
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}
	for _, m := range mods {
		m(&cfg)
	}
	app, err := demo.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := app.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return &liveShop{app: app, srv: srv, base: "http://localhost:" + port, logs: logs}
}

// chrome is one Chromium process.
type chrome struct {
	t    *testing.T
	ctx  context.Context // the tab; carries the test's deadline
	stop func()
}

// startChrome starts headless Chromium with its profile in dir, so that a
// later startChrome with the same dir is the same browser restarted.
func startChrome(t *testing.T, dir string) *chrome {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests do not run with -short")
	}
	if _, err := exec.LookPath(testenv.Chromium); err != nil {
		testenv.Require(t, "chromium", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.Chromium),
		chromedp.UserDataDir(dir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	// The first run starts the browser; it must not carry a deadline, which
	// would stop the whole browser when it passes.
	if err := chromedp.Do(browserCtx); err != nil {
		cancelBrowser()
		cancelAlloc()
		testenv.Require(t, "chromium", err)
	}
	ctx, cancelTimeout := context.WithTimeout(browserCtx, browserTimeout)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			// A graceful close, so the profile's cookie database is written
			// to disk as when a user quits the browser.
			cctx, cancel := context.WithTimeout(browserCtx, 15*time.Second)
			defer cancel()
			if err := chromedp.Cancel(cctx); err != nil {
				t.Logf("closing chromium: %v", err)
			}
			cancelTimeout()
			cancelBrowser()
			cancelAlloc()
		})
	}
	t.Cleanup(stop)
	return &chrome{t: t, ctx: ctx, stop: stop}
}

// open navigates to url and returns the HTTP status of the page.
func (c *chrome) open(url string) int64 {
	c.t.Helper()
	resp, err := chromedp.Run(c.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		c.t.Fatalf("navigate to %s: %v", url, err)
	}
	return resp.Status
}

// submit clicks a button that submits a form and waits for the page that
// answers it, following redirects; it returns that page's status.
func (c *chrome) submit(sel string) int64 {
	c.t.Helper()
	resp, err := chromedp.RunResponse(c.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("submit %s: %v", sel, err)
	}
	return resp.Status
}

func (c *chrome) reload() int64 {
	c.t.Helper()
	resp, err := chromedp.RunResponse(c.ctx, chromedp.Reload())
	if err != nil {
		c.t.Fatalf("reload: %v", err)
	}
	return resp.Status
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](c *chrome, expr string) T {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		c.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (c *chrome) has(sel string) bool {
	c.t.Helper()
	return eval[bool](c, fmt.Sprintf("document.querySelector(%q) !== null", sel))
}

func (c *chrome) text(sel string) string {
	c.t.Helper()
	return eval[string](c, fmt.Sprintf("(document.querySelector(%q) || {textContent: ''}).textContent.trim()", sel))
}

// waitFor waits until a JavaScript condition holds in the page, for
// effects of the page's own scripts (a fetch, a cookie) that no navigation
// announces. The page re-checks on every DOM change and every 50ms, since
// a cookie changes without touching the DOM.
func (c *chrome) waitFor(cond string) {
	c.t.Helper()
	expr := fmt.Sprintf(`new Promise((resolve, reject) => {
		const ok = () => { try { return !!(%s); } catch (e) { return false; } };
		if (ok()) return resolve(true);
		const finish = () => { if (ok()) { obs.disconnect(); clearInterval(iv); resolve(true); } };
		const obs = new MutationObserver(finish);
		obs.observe(document.documentElement, {attributes: true, childList: true, subtree: true});
		const iv = setInterval(finish, 50);
		setTimeout(() => { obs.disconnect(); clearInterval(iv); reject(new Error("condition never held")); }, 15000);
	})`, cond)
	if _, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise)); err != nil {
		c.t.Fatalf("waiting for %s: %v", cond, err)
	}
}

// cookies returns the browser's cookies for url, as its cookie store holds
// them.
func (c *chrome) cookies(url string) map[string]*network.Cookie {
	c.t.Helper()
	res, err := chromedp.Call(c.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]*network.Cookie{}
	for _, ck := range res.Cookies {
		out[ck.Name] = ck
	}
	return out
}

func (c *chrome) login(base, user, password string, remember bool) {
	c.t.Helper()
	c.open(base + "/login")
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.SetValue(chromedp.ID("username"), user),
		chromedp.SetValue(chromedp.ID("password"), password),
	}
	if remember {
		steps = append(steps, chromedp.Click(chromedp.ID("remember")))
	}
	if err := chromedp.Do(c.ctx, steps...); err != nil {
		c.t.Fatal(err)
	}
	if status := c.submit("#login-submit"); status != 200 || !c.has("#user-name") {
		c.t.Fatalf("login as %s: status %d, logged in %v", user, status, c.has("#user-name"))
	}
}

func (c *chrome) addToCart(sku string) {
	c.t.Helper()
	if status := c.submit(fmt.Sprintf(`button.add[data-sku=%q]`, sku)); status != 200 {
		c.t.Fatalf("add %s: status %d", sku, status)
	}
}

func TestBrowserLoginCartReloadLogoutReplay(t *testing.T) {
	shop := startLiveShop(t, nil)
	b := startChrome(t, t.TempDir())
	b.open(shop.base + "/")
	if !b.has("#login-link") || b.text("#cart-count") != "0" {
		t.Fatal("a new visitor should see an anonymous page with an empty cart")
	}
	b.login(shop.base, "alice", "correct horse", false)
	b.addToCart("chocolate-chip")
	b.addToCart("macadamia")
	b.addToCart("chocolate-chip")
	b.open(shop.base + "/cart")
	b.reload()
	if got := b.text("#cart-count"); got != "3" {
		t.Fatalf("after a reload the cart holds %s; want 3", got)
	}
	if got := eval[int](b, `document.querySelectorAll("li.line").length`); got != 2 {
		t.Fatalf("the cart page lists %d lines; want 2", got)
	}

	old := b.cookies(shop.base)["__Host-session"]
	if old == nil {
		t.Fatal("Chromium kept no __Host-session cookie on http://localhost")
	}
	b.submit("#logout")
	if !b.has("#login-link") || b.text("#cart-count") != "0" || !strings.Contains(b.text("#main"), "You have been logged out.") {
		t.Fatal("after logout: want an anonymous page, an empty cart and a notice")
	}
	// The logout notice lives in a new anonymous session; the old token
	// must be gone from the browser.
	if now := b.cookies(shop.base)["__Host-session"]; now != nil && now.Value == old.Value {
		t.Error("the browser still holds the logged-out session's cookie")
	}

	// Put the old cookie back, as someone who copied it would.
	yes := true
	_, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{
		Name: old.Name, Value: old.Value, URL: shop.base + "/", Path: "/", Secure: &yes, HTTPOnly: &yes,
		SameSite: network.CookieSameSiteLax,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.open(shop.base + "/cart")
	if b.has("#user-name") || !b.has("#cart-empty") {
		t.Fatal("the replayed cookie of a logged-out session still works")
	}
	if !strings.Contains(b.text("#main"), "Your session has ended") {
		t.Error("the replayed dead cookie got no expired-session notice")
	}
}

func TestBrowserCookieVisibilityAndAttributes(t *testing.T) {
	shop := startLiveShop(t, nil)
	b := startChrome(t, t.TempDir())
	b.login(shop.base, "bob", "battery staple", false)

	// The header's theme button goes through app.js: fetch, then read the
	// confirmed theme from the script-readable cookie.
	before := eval[string](b, `document.documentElement.dataset.theme || ""`)
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#theme-toggle button"))); err != nil {
		t.Fatal(err)
	}
	b.waitFor(`document.cookie.includes("__Host-theme=") && document.documentElement.dataset.theme === "dark"`)
	if before == "dark" {
		t.Fatal("the page was dark before the toggle")
	}

	jsCookies := eval[string](b, "document.cookie")
	if strings.Contains(jsCookies, "__Host-session") || strings.Contains(jsCookies, "__Host-prefs") {
		t.Fatalf("page scripts can read an HttpOnly cookie: %q", jsCookies)
	}
	if !strings.Contains(jsCookies, "__Host-theme=") {
		t.Fatalf("page scripts cannot read the theme cookie: %q", jsCookies)
	}
	// A reload renders the theme on the server, from the sealed cookie.
	b.reload()
	if eval[string](b, `document.documentElement.dataset.theme`) != "dark" {
		t.Error("the theme did not survive a reload")
	}

	all := b.cookies(shop.base)
	s := all["__Host-session"]
	if s == nil {
		t.Fatal("no session cookie in the browser")
	}
	if !s.Secure || !s.HTTPOnly || s.SameSite != network.CookieSameSiteLax || s.Path != "/" || !s.Session {
		t.Errorf("session cookie as the browser keeps it: secure=%v httponly=%v samesite=%q path=%q session=%v",
			s.Secure, s.HTTPOnly, s.SameSite, s.Path, s.Session)
	}
	if p := all["__Host-prefs"]; p == nil || !p.HTTPOnly || p.Session || !p.Secure {
		t.Errorf("preferences cookie: %+v; want persistent, Secure and HttpOnly", p)
	}
	if th := all["__Host-theme"]; th == nil || th.HTTPOnly || !th.Secure {
		t.Errorf("theme cookie: %+v; want Secure and script-readable", th)
	}
}

// TestBrowserThemeFollowsTheChoiceThenTheSystem checks what the stylesheet
// paints, not only the attribute that selects it: a theme the user chose
// wins over the system's, and without a choice the page follows the
// system's light or dark setting.
func TestBrowserThemeFollowsTheChoiceThenTheSystem(t *testing.T) {
	shop := startLiveShop(t, nil)
	b := startChrome(t, t.TempDir())
	b.open(shop.base + "/")
	const lightBg, darkBg = "rgb(250, 247, 242)", "rgb(23, 19, 16)"
	for _, tc := range []struct{ system, choice, want string }{
		{"light", "", "light"},
		{"dark", "", "dark"},
		{"dark", "light", "light"},
		{"light", "dark", "dark"},
		{"dark", "dark", "dark"},
		{"light", "light", "light"},
	} {
		_, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: tc.system}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if eval[bool](b, `matchMedia("(prefers-color-scheme: dark)").matches`) != (tc.system == "dark") {
			t.Fatalf("the browser did not take the %s system theme", tc.system)
		}
		set := `document.documentElement.removeAttribute("data-theme"), true`
		if tc.choice != "" {
			set = fmt.Sprintf(`document.documentElement.setAttribute("data-theme", %q), true`, tc.choice)
		}
		eval[bool](b, set)
		got := eval[[]string](b, `(() => {
			const shown = s => getComputedStyle(document.querySelector(s)).display !== "none";
			const danger = document.createElement("button");
			danger.className = "danger";
			document.body.append(danger);
			const dangerText = getComputedStyle(danger).color;
			danger.remove();
			return [getComputedStyle(document.body).backgroundColor, dangerText,
				String(shown("#theme-toggle .icon-moon")), String(shown("#theme-toggle .icon-sun"))];
		})()`)
		// The text of a danger button is dark on the dark theme's light red.
		wantBg, dangerText, moon, sun := lightBg, "rgb(255, 255, 255)", "true", "false"
		if tc.want == "dark" {
			wantBg, dangerText, moon, sun = darkBg, "rgb(27, 19, 13)", "false", "true"
		}
		if want := []string{wantBg, dangerText, moon, sun}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("system %s, choice %q: background, danger text, moon shown, sun shown = %q; want %q",
				tc.system, tc.choice, got, want)
		}
	}
}

func TestBrowserCrossSiteFormIsRefused(t *testing.T) {
	type seen struct {
		site      string
		hadCookie bool
	}
	var mu sync.Mutex
	var posts []seen
	shop := startLiveShop(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/cart/add" {
				_, err := r.Cookie("__Host-session")
				mu.Lock()
				posts = append(posts, seen{r.Header.Get("Sec-Fetch-Site"), err == nil})
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	// The attacker's page lives on another site: 127.0.0.1 is not
	// localhost, to a browser.
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Win a prize</title>
<form method="post" action="%s/cart/add">
<input type="hidden" name="sku" value="gingerbread">
<input type="hidden" name="return" value="/">
<button id="go" type="submit">Claim your prize</button>
</form>`, shop.base)
	}))
	defer attacker.Close()

	b := startChrome(t, t.TempDir())
	b.login(shop.base, "alice", "correct horse", true)
	b.addToCart("fortune")

	b.open(attacker.URL + "/")
	status := b.submit("#go")
	if status != http.StatusForbidden {
		t.Errorf("the cross-site POST got %d; want 403 from CrossOriginProtection", status)
	}
	if !strings.Contains(b.text("#error-heading"), "Request refused") {
		t.Errorf("the browser did not show the refusal page: %q", b.text("h1"))
	}

	b.open(shop.base + "/cart")
	if !b.has("#user-name") || b.text("#cart-count") != "1" || b.has(`li.line[data-sku="gingerbread"]`) {
		t.Fatalf("the cross-site form changed the cart or the login: count %s", b.text("#cart-count"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != 2 {
		t.Fatalf("saw %d POSTs to /cart/add; want the legitimate one and the forged one", len(posts))
	}
	if !posts[0].hadCookie || posts[0].site != "same-origin" {
		t.Errorf("the legitimate POST: %+v; want same-origin with the cookie", posts[0])
	}
	if forged := posts[1]; forged.hadCookie || forged.site != "cross-site" {
		t.Errorf("the forged POST: %+v; want cross-site and no session cookie (SameSite=Lax)", forged)
	}
}

func TestBrowserRestartKeepsRememberedSessionsAndPreferences(t *testing.T) {
	shop := startLiveShop(t, nil)
	profile := t.TempDir()

	// First run: preferences set, logged in without "remember me".
	b := startChrome(t, profile)
	b.open(shop.base + "/preferences")
	if err := chromedp.Do(b.ctx,
		chromedp.Click(chromedp.CSS(`#prefs-form input[name=theme][value=dark]`)),
		chromedp.SetValue(chromedp.ID("lang"), "fr"),
		chromedp.Click(chromedp.ID("show-banner")), // untick: hide the banner
	); err != nil {
		t.Fatal(err)
	}
	b.submit("#save-prefs")
	b.login(shop.base, "alice", "correct horse", false)
	b.addToCart("gingerbread")
	if eval[string](b, "document.documentElement.lang") != "fr" {
		t.Fatal("the language preference did not apply")
	}
	b.stop()

	// Restarted: the browser-session cookie is gone, the preferences stay.
	b = startChrome(t, profile)
	b.open(shop.base + "/")
	if b.has("#user-name") {
		t.Fatal("a session without 'remember me' survived a browser restart")
	}
	if eval[string](b, "document.documentElement.lang") != "fr" || eval[string](b, "document.documentElement.dataset.theme") != "dark" || b.has("#banner") {
		t.Fatal("the preferences did not survive a browser restart")
	}
	b.login(shop.base, "alice", "correct horse", true)
	b.addToCart("fortune")
	b.stop()

	// Restarted again: the remembered session is still there, cart and
	// all. (The gingerbread went with the first, unremembered session.)
	b = startChrome(t, profile)
	b.open(shop.base + "/cart")
	if !b.has("#user-name") || b.text("#cart-count") != "1" || !b.has(`li.line[data-sku="fortune"]`) {
		t.Fatalf("the remembered session did not survive a browser restart: logged in %v, cart %s", b.has("#user-name"), b.text("#cart-count"))
	}
	if eval[string](b, "document.documentElement.lang") != "fr" {
		t.Error("the preferences were lost on the second restart")
	}
}

func TestBrowserRevokingADeviceLogsTheOtherBrowserOut(t *testing.T) {
	shop := startLiveShop(t, nil)
	laptop := startChrome(t, t.TempDir())
	phone := startChrome(t, t.TempDir())
	laptop.login(shop.base, "alice", "correct horse", true)
	phone.login(shop.base, "alice", "correct horse", false)
	phone.addToCart("fortune")

	laptop.open(shop.base + "/devices")
	if n := eval[int](laptop, `document.querySelectorAll("li[data-handle]").length`); n != 2 {
		t.Fatalf("the devices page lists %d sessions; want 2", n)
	}
	if !strings.Contains(laptop.text("li.current"), "This device") || !strings.Contains(laptop.text("li.current"), "Headless Chrome") {
		t.Errorf("the current device is not marked or named: %q", laptop.text("li.current"))
	}
	laptop.submit(`li[data-handle]:not(.current) button.revoke`)
	if n := eval[int](laptop, `document.querySelectorAll("li[data-handle]").length`); n != 1 {
		t.Fatalf("after revoking, %d sessions listed; want 1", n)
	}

	phone.reload()
	if phone.has("#user-name") || phone.text("#cart-count") != "0" {
		t.Fatal("the revoked browser is still logged in on its next request")
	}
	if !strings.Contains(phone.text("#main"), "Your session has ended: it timed out, was logged out, or is not known to this server.") {
		t.Error("the revoked browser was not told why it was logged out")
	}
	laptop.reload()
	if !laptop.has("#user-name") {
		t.Fatal("revoking the other device logged this one out")
	}
}

func TestBrowserTabsAddingAtOnce(t *testing.T) {
	shop := startLiveShop(t, nil)
	b := startChrome(t, t.TempDir())
	b.open(shop.base + "/")
	b.addToCart("oatmeal-raisin") // the session exists before the race
	// Ten requests in flight at once from the page itself, as from ten tabs.
	const n = 10
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`Promise.all(Array.from({length: %d}, () =>
		fetch("/cart/add", {method: "POST", body: new URLSearchParams({sku: "oatmeal-raisin"}), credentials: "same-origin"})
	)).then(rs => rs.every(r => r.ok))`, n), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("some concurrent additions failed")
	}
	b.open(shop.base + "/cart")
	if got := b.text("#cart-count"); got != fmt.Sprint(n+1) {
		t.Fatalf("after %d concurrent additions the cart holds %s", n+1, got)
	}
}

// TestBrowserScreenshots renders the main pages at desktop and phone
// sizes, in both themes, and writes PNGs to $HTTPSTATE_SCREENSHOTS (or a
// temporary directory). It also fails if any page logs an error, such as
// a Content-Security-Policy violation or a script exception.
func TestBrowserScreenshots(t *testing.T) {
	dir := os.Getenv("HTTPSTATE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shop := startLiveShop(t, nil)
	b := startChrome(t, t.TempDir())

	consoleCtx, stopConsole := context.WithCancel(b.ctx)
	messages := chromedp.Console(consoleCtx)
	var problems []string
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == "error" || m.Type == "warning" || m.IsException() {
				problems = append(problems, m.String())
			}
		}
	}()

	var apiToken string
	// setPrefs saves a theme and a language on the preferences page.
	setPrefs := func(theme, lang string) {
		b.open(shop.base + "/preferences")
		if err := chromedp.Do(b.ctx,
			chromedp.Click(chromedp.CSS(`#prefs-form input[name=theme][value=`+theme+`]`)),
			chromedp.SetValue(chromedp.ID("lang"), lang),
		); err != nil {
			t.Fatal(err)
		}
		b.submit("#save-prefs")
	}

	shots := []struct {
		name          string
		width, height int64
		mobile        bool
		setup         func()
	}{
		{"home", 1280, 900, false, func() { b.open(shop.base + "/") }},
		{"login", 1280, 900, false, func() { b.open(shop.base + "/login") }},
		{"added-to-cart", 1280, 900, false, func() {
			b.login(shop.base, "alice", "correct horse", true)
			b.addToCart("chocolate-chip")
			b.addToCart("chocolate-chip")
			b.addToCart("double-chocolate")
			b.addToCart("gingerbread")
		}},
		{"cart", 1280, 900, false, func() { b.open(shop.base + "/cart") }},
		{"devices", 1280, 900, false, func() {
			other := startChrome(t, t.TempDir())
			other.login(shop.base, "alice", "correct horse", false)
			other.stop()
			c := shop.srv.Client()
			resp, err := c.Post(shop.srv.URL+"/api/token", "application/json", strings.NewReader(`{"username":"alice","password":"correct horse"}`))
			if err != nil {
				t.Fatal(err)
			}
			var pair struct {
				AccessToken string `json:"access_token"`
			}
			json.NewDecoder(resp.Body).Decode(&pair)
			resp.Body.Close()
			apiToken = pair.AccessToken
			b.open(shop.base + "/devices")
		}},
		{"hood", 1280, 900, false, func() { b.open(shop.base + "/under-the-hood") }},
		{"preferences", 1280, 900, false, func() { b.open(shop.base + "/preferences") }},
		{"home-dark", 1280, 900, false, func() {
			b.open(shop.base + "/preferences")
			chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`#prefs-form input[name=theme][value=dark]`)))
			b.submit("#save-prefs")
			b.open(shop.base + "/")
		}},
		{"devices-dark", 1280, 900, false, func() { b.open(shop.base + "/devices") }},
		{"hood-dark", 1280, 900, false, func() { b.open(shop.base + "/under-the-hood") }},
		{"hood-fr-dark", 1280, 900, false, func() { setPrefs("dark", "fr"); b.open(shop.base + "/under-the-hood") }},
		{"home-fr-dark", 1280, 900, false, func() { b.open(shop.base + "/") }},
		{"devices-fr-dark", 1280, 900, false, func() { b.open(shop.base + "/devices") }},
		{"hood-fr", 1280, 900, false, func() { setPrefs("light", "fr"); b.open(shop.base + "/under-the-hood") }},
		{"home-fr", 1280, 900, false, func() { b.open(shop.base + "/") }},
		{"cart-fr", 1280, 900, false, func() { b.open(shop.base + "/cart") }},
		{"home-de", 1280, 900, false, func() { setPrefs("light", "de"); b.open(shop.base + "/") }},
		{"hood-decoded", 1280, 900, false, func() {
			setPrefs("light", "en")
			b.open(shop.base + "/under-the-hood")
			if err := chromedp.Do(b.ctx, chromedp.SetValue(chromedp.ID("token-input"), apiToken)); err != nil {
				t.Fatal(err)
			}
			b.submit("#decode-token")
		}},
		{"phone-hood", 390, 844, true, func() { b.open(shop.base + "/under-the-hood") }},
		{"phone-home", 390, 844, true, func() { b.open(shop.base + "/") }},
		{"phone-cart", 390, 844, true, func() { b.open(shop.base + "/cart") }},
		{"phone-devices", 390, 844, true, func() { b.open(shop.base + "/devices") }},
		{"phone-login-light", 390, 844, true, func() {
			b.open(shop.base + "/preferences")
			chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`#prefs-form input[name=theme][value=light]`)), chromedp.Click(chromedp.ID("show-banner")))
			b.submit("#save-prefs")
			b.submit("#logout")
			b.open(shop.base + "/login")
		}},
	}
	for _, s := range shots {
		var opts []chromedp.EmulateViewportOption
		if s.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(s.width, s.height, opts...)); err != nil {
			t.Fatal(err)
		}
		s.setup()
		img, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(img))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", s.name, err)
		}
		if int64(cfg.Width) != s.width || int64(cfg.Height) < s.height {
			t.Errorf("%s: %dx%d; want %d wide and at least %d high", s.name, cfg.Width, cfg.Height, s.width, s.height)
		}
		// Nothing may stick out sideways, the usual failure on phones.
		if scroll := eval[int](b, "document.documentElement.scrollWidth"); int64(scroll) > s.width {
			t.Errorf("%s: the page is %dpx wide in a %dpx viewport", s.name, scroll, s.width)
		}
		// On a desktop the header is one line, in every language: the
		// navigation and the account controls sit beside the brand, not
		// under it.
		if !s.mobile && !eval[bool](b, `(() => {
			const brand = document.querySelector(".brand").getBoundingClientRect();
			return [".nav", ".who"].every(sel => document.querySelector(sel).getBoundingClientRect().top < brand.bottom);
		})()`) {
			t.Errorf("%s: the header wraps onto a second line at %dpx", s.name, s.width)
		}
		if err := os.WriteFile(filepath.Join(dir, s.name+".png"), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stopConsole()
	<-consoleDone
	for _, p := range problems {
		t.Errorf("the browser reported: %s", p)
	}
	t.Logf("screenshots in %s", dir)
}

// TestBrowserTwoShopsOnOneHost runs two shops with separate stores on two
// ports of localhost, as a developer comparing two stores would. Chromium
// sends both the same cookies: without a cookie prefix, logging in to one
// logs the other out, and the notice must not blame another device; with
// a prefix each, both stay logged in.
func TestBrowserTwoShopsOnOneHost(t *testing.T) {
	b := startChrome(t, t.TempDir())
	first, second := startLiveShop(t, nil), startLiveShop(t, nil)
	b.login(first.base, "alice", "correct horse", false)
	b.login(second.base, "bob", "battery staple", false)
	b.open(first.base + "/")
	if b.has("#user-name") {
		t.Fatal("the first shop still knows alice: the test no longer shows the clash it is about")
	}
	notice := b.text("#main")
	if !strings.Contains(notice, "is not known to this server") || strings.Contains(notice, "another device") {
		t.Errorf("the notice for a token from the other shop: %q", notice)
	}

	b = startChrome(t, t.TempDir())
	first = startLiveShop(t, nil, func(c *demo.Config) { c.CookiePrefix = "first" })
	second = startLiveShop(t, nil, func(c *demo.Config) { c.CookiePrefix = "second" })
	b.login(first.base, "alice", "correct horse", false)
	b.addToCart("fortune")
	b.login(second.base, "bob", "battery staple", false)
	// The theme button reads its cookie by the name the page gives it.
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#theme-toggle button"))); err != nil {
		t.Fatal(err)
	}
	b.waitFor(`document.cookie.includes("__Host-second-theme=") && document.documentElement.dataset.theme === "dark"`)
	b.open(first.base + "/")
	if b.text("#user-name") != "Alice Liddell" || b.text("#cart-count") != "1" {
		t.Fatalf("with cookie prefixes the first shop lost alice or her cart: %q, cart %s", b.text("#user-name"), b.text("#cart-count"))
	}
	b.open(second.base + "/")
	if b.text("#user-name") != "Bob Dobbs" {
		t.Fatal("with cookie prefixes the second shop lost bob")
	}
	names := map[string]bool{}
	for name := range b.cookies(first.base) {
		names[name] = true
	}
	for _, want := range []string{"__Host-first-session", "__Host-second-session", "__Host-second-prefs", "__Host-second-theme"} {
		if !names[want] {
			t.Errorf("the browser has no %s cookie; it has %v", want, names)
		}
	}
}

// hoodCard is a cookie as the "under the hood" page lists it.
type hoodCard struct {
	Name, Secure, HTTPOnly, SameSite, Persistent string
}

func (c *chrome) hoodCards() []hoodCard {
	c.t.Helper()
	return eval[[]hoodCard](c, `[...document.querySelectorAll("#cookies li[data-name]")].map(e => ({
		Name: e.dataset.name, Secure: e.dataset.secure || "", HTTPOnly: e.dataset.httponly || "",
		SameSite: e.dataset.samesite || "", Persistent: e.dataset.persistent || ""}))`)
}

// TestBrowserUnderTheHoodListsExactlyTheBrowsersCookies compares the page
// with Chromium's own cookie store: the same cookies, with the attributes
// the browser actually kept; never the session token itself; and a page
// that follows the cart.
func TestBrowserUnderTheHoodListsExactlyTheBrowsersCookies(t *testing.T) {
	shop := startLiveShop(t, nil)
	b := startChrome(t, t.TempDir())
	compare := func(when string) []hoodCard {
		t.Helper()
		b.open(shop.base + "/under-the-hood")
		cards := b.hoodCards()
		held := b.cookies(shop.base)
		var listed, kept []string
		for _, c := range cards {
			listed = append(listed, c.Name)
			ck := held[c.Name]
			if ck == nil || c.Secure == "" {
				continue
			}
			browser := hoodCard{c.Name, fmt.Sprint(ck.Secure), fmt.Sprint(ck.HTTPOnly), string(ck.SameSite), fmt.Sprint(!ck.Session)}
			if c != browser {
				t.Errorf("%s: the page says %+v; the browser keeps %+v", when, c, browser)
			}
		}
		for name := range held {
			kept = append(kept, name)
		}
		slices.Sort(listed)
		slices.Sort(kept)
		if !slices.Equal(listed, kept) {
			t.Errorf("%s: the page lists %q; the browser holds %q", when, listed, kept)
		}
		if s := held["__Host-session"]; s != nil && strings.Contains(eval[string](b, "document.documentElement.outerHTML"), s.Value) {
			t.Errorf("%s: the page contains the session token", when)
		}
		return cards
	}

	if cards := compare("a new visitor"); len(cards) != 0 || !b.has("#no-cookies") || !b.has("#no-session") {
		t.Fatalf("a new visitor's page lists %v", cards)
	}
	b.login(shop.base, "alice", "correct horse", true)
	b.addToCart("macadamia")
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#theme-toggle button"))); err != nil {
		t.Fatal(err)
	}
	b.waitFor(`document.cookie.includes("__Host-theme=")`)
	// A cookie another app on this host set: browsers share cookies
	// across ports.
	if _, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{Name: "other-app", Value: "its-own-secret", URL: shop.base + "/"}); err != nil {
		t.Fatal(err)
	}
	cards := compare("logged in, remembered, with a theme")
	if len(cards) != 4 {
		t.Fatalf("want the session, preferences, theme and the other app's cookie; the page lists %v", cards)
	}
	if strings.Contains(b.text("#hood-browser"), "its-own-secret") {
		t.Error("the page shows another app's cookie value")
	}
	// Page scripts read exactly what the page says they can.
	for _, c := range cards {
		readable := strings.Contains(eval[string](b, "document.cookie"), c.Name+"=")
		if c.HTTPOnly != "" && readable != (c.HTTPOnly == "false") {
			t.Errorf("%s: HttpOnly %s on the page, readable by scripts %v", c.Name, c.HTTPOnly, readable)
		}
	}

	cart := b.text(`#session-values tr[data-key="cart"] pre`)
	if !strings.Contains(cart, `"macadamia": 1`) {
		t.Fatalf("the server's cart: %q", cart)
	}
	b.open(shop.base + "/")
	b.addToCart("fortune")
	compare("after adding to the cart")
	if now := b.text(`#session-values tr[data-key="cart"] pre`); now == cart || !strings.Contains(now, `"fortune": 1`) {
		t.Fatalf("the page did not follow the cart: %q then %q", cart, now)
	}
	b.submit("#logout")
	compare("after logout")
	if b.has(`#session-values tr[data-key="cart"]`) {
		t.Error("after logout the server still shows a cart")
	}
}
