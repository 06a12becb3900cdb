package demo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/dbsc/dbsctest"
)

// cookieCards returns the names of the cookies the page lists.
func cookieCards(p page) []string {
	var names []string
	for _, m := range regexp.MustCompile(`<li class="cookie-card[^"]*" data-name="([^"]*)"`).FindAllStringSubmatch(p.body, -1) {
		names = append(names, m[1])
	}
	return names
}

func TestUnderTheHoodShowsWhatEachSideHolds(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	p := b.get("/under-the-hood")
	if p.status != 200 || !p.has(`id="no-cookies"`) || !p.has(`id="no-session"`) || !p.has(`id="no-token"`) {
		t.Fatalf("a new visitor's page: status %d; want no cookies, no session, no token", p.status)
	}
	if !b.get("/").has(`href="/under-the-hood"`) {
		t.Fatal("the shop's pages do not link to the page")
	}

	b.post("/preferences", url.Values{"theme": {"dark"}, "lang": {"en"}, "banner": {"on"}})
	b.addToCart("fortune")
	b.addToCart("fortune")
	b.login("alice", "correct horse", true)
	token := b.sessionCookie().Value
	u, _ := url.Parse(s.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "other-app", Value: "some-other-apps-secret", Path: "/"}})

	p = b.get("/under-the-hood")
	if got := strings.Join(cookieCards(p), " "); got != "__Host-session __Host-prefs __Host-theme other-app" && got != "__Host-prefs __Host-theme __Host-session other-app" {
		t.Errorf("cookies listed: %q", got)
	}
	if strings.Contains(p.body, token) || strings.Contains(p.body, "some-other-apps-secret") {
		t.Fatal("the page shows the session token, or another site's cookie value")
	}
	for _, want := range []string{
		"Opaque session token", "only the server can read this", "readable by anyone, changeable by no one",
		`&#34;t&#34;: &#34;dark&#34;`, // the sealed preferences, decrypted
		`&#34;dark&#34;`,              // the signed theme
		"This shop does not set this cookie",
		"Secure · HttpOnly · SameSite=Lax · Path=/", "Secure · SameSite=Lax · Path=/",
		"Persistent (remember me), moved forward as you use the site, until about",
		`<tr data-key="cart">`, `&#34;fortune&#34;: 2`,
		`<code>alice</code>`, `id="session-size"`,
	} {
		if !p.has(want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// The cookie's hash and the record's handle are the same key.
	hash := regexp.MustCompile(`<code class="token-hash">([^<]*)</code>`).FindStringSubmatch(p.body)
	handle := regexp.MustCompile(`<code class="session-handle">([^<]*)</code>`).FindStringSubmatch(p.body)
	if hash == nil || handle == nil || hash[1] != handle[1] {
		t.Errorf("token hash %q and record handle %q differ", hash, handle)
	}

	// The cart changes, and the page with it.
	b.addToCart("gingerbread")
	if p := b.get("/under-the-hood"); !p.has(`&#34;gingerbread&#34;: 1`) {
		t.Error("the page did not follow the cart")
	}
	// Logging out ends the session and its cart.
	b.post("/logout", nil)
	if p := b.get("/under-the-hood"); p.has(`&#34;fortune&#34;`) {
		t.Error("the cart survived logout")
	}
}

func TestUnderTheHoodDecodesAccessTokens(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.login("bob", "battery staple", false)
	_, body, _ := s.browser(t).api("POST", "/api/token", "application/json", tokenRequest("bob", "battery staple"), "")
	access := body["access_token"].(string)

	p := b.get("/under-the-hood")
	if !p.has("The last access token this server issued to you") || !p.has(`&#34;sub&#34;: &#34;bob&#34;`) || strings.Contains(p.body, access) {
		t.Fatalf("the last issued token: missing, or shown whole")
	}
	if !p.has(`href="/.well-known/jwks.json"`) || !p.has(`class="key-id"`) {
		t.Error("the page does not say where the keys are published")
	}
	if other := s.browser(t); other.login("alice", "correct horse", false).status == 200 {
		if p := other.get("/under-the-hood"); p.has(`&#34;sub&#34;: &#34;bob&#34;`) {
			t.Error("alice sees bob's last token")
		}
	}

	for _, tt := range []struct{ tok, want string }{
		{access, "Valid: this API accepts it until"},
		{"  " + access + "\n", "Valid: this API accepts it until"},
		{access[:len(access)-3] + "AAA", "This API would refuse it"},
		{"not.a.token", "Not an access token"},
		{"abc", "Not an access token"},
		{strings.Repeat("a", 9000), "far longer than any access token"},
	} {
		p := b.post("/under-the-hood", url.Values{"token": {tt.tok}})
		if p.status != 200 || !p.has(tt.want) {
			t.Errorf("pasting %.20q: status %d, want %q", tt.tok, p.status, tt.want)
		}
		if strings.Contains(p.body, access) {
			t.Errorf("pasting %.20q: the page echoes the token", tt.tok)
		}
	}
	if !strings.Contains(b.post("/under-the-hood", url.Values{"token": {access}}).body, `id="token-claims"`) {
		t.Error("no claims shown for a valid token")
	}
}

// TestUnderTheHoodShowsTheDeviceBinding binds a session as Chrome would
// (dbsctest signs for it) and checks that the page and the device list
// show the binding, the bound cookie, and a copy of the session cookie
// refused.
func TestUnderTheHoodShowsTheDeviceBinding(t *testing.T) {
	s := newShop(t, func(c *demo.Config) { c.DeviceBinding = session.BindingEnforce })
	b := s.browser(t)
	if p := b.get("/under-the-hood"); !p.has(`data-mode="enforce" data-bound="false"`) || !p.has("Only logged-in sessions are bound") {
		t.Fatalf("an anonymous visitor's page does not say why nothing is bound:\n%s", p.body)
	}

	// Log in without following the redirect, whose response carries the
	// registration offer, and register as Chrome does.
	noFollow := *b.c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.PostForm(s.srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	chrome := &dbsctest.Browser{Client: &noFollow}
	if err := chrome.Register(t.Context(), resp); err != nil {
		t.Fatalf("registration with the shop: %v", err)
	}

	p := b.get("/under-the-hood")
	thumb := chrome.Key.Public.Thumbprint()[:12]
	for _, want := range []string{
		`data-mode="enforce" data-bound="true" data-refused="false"`,
		`<code id="binding-algorithm">ES256</code>`, `id="binding-thumbprint">` + thumb + "…",
		`<dd id="binding-refreshes">0</dd>`, `id="binding-cookie-expires"`,
		`data-name="__Host-session-bound"`, "Bound cookie", "only this browser can renew it",
		"Every 10 minutes it signs a challenge",
	} {
		if !p.has(want) {
			t.Errorf("the bound session's page lacks %q", want)
		}
	}
	if !b.get("/devices").has("Device-bound") {
		t.Error("the device list does not show the session bound")
	}
	if status, err := chrome.Refresh(t.Context()); err != nil || status != http.StatusOK {
		t.Fatalf("refresh: %d, %v", status, err)
	}
	if p := b.get("/under-the-hood"); !p.has(`<dd id="binding-refreshes">1, the last at`) {
		t.Error("the page does not count the refresh")
	}

	// The session cookie alone, copied elsewhere, is refused.
	thief := s.browser(t)
	u, _ := url.Parse(s.srv.URL)
	thief.c.Jar.SetCookies(u, []*http.Cookie{b.sessionCookie()})
	if p := thief.get("/under-the-hood"); !p.has(`data-refused="true"`) || p.has(`<code>alice</code>`) {
		t.Fatalf("a copy of the session cookie:\n%s", p.body)
	}
	if p := b.get("/"); !p.has(`id="user-name"`) {
		t.Fatal("the bound browser was logged out by the copy's refusal")
	}
}

func TestUnderTheHoodSaysWhenBindingIsOff(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.login("alice", "correct horse", false)
	if p := b.get("/under-the-hood"); !p.has(`data-mode="off"`) || !p.has("--device-binding=enforce") {
		t.Fatalf("binding off:\n%s", p.body)
	}
	// Over plain HTTP no browser binds, and the page says so.
	app := newShop(t, func(c *demo.Config) { c.DeviceBinding = session.BindingEnforce }).app
	plain := httptest.NewServer(app.Handler())
	t.Cleanup(plain.Close)
	resp, err := plain.Client().Get(plain.URL + "/under-the-hood")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "over plain HTTP") {
		t.Fatalf("over plain HTTP:\n%s", body)
	}
}
