package cookie_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/httpstate/httpstate/cookie"
)

// Preferences are what a site remembers about a visitor without an
// account or a server-side lookup.
type Preferences struct {
	Theme string `json:"theme"`
	Lang  string `json:"lang"`
}

// A preferences cookie: sealed, so visitors cannot read or forge it; kept
// for a year; re-issued when it was sealed with an old key.
func Example_preferences() {
	// In production, load at least 32 random bytes from a secret store,
	// for example generated with "openssl rand -base64 32".
	secret := []byte("example only: 32+ random bytes from your secret store")
	sealer, err := cookie.NewSealer(secret)
	if err != nil {
		panic(err)
	}
	prefs := &cookie.Value[Preferences]{
		Name:   "__Host-prefs",
		Codec:  sealer,
		MaxAge: 365 * 24 * time.Hour,
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		p, stale, err := prefs.Get(r)
		if err != nil {
			// Absent, expired or tampered with: use the defaults.
			p = Preferences{Theme: "light", Lang: "en"}
		} else if stale {
			_ = prefs.Set(w, p) // move it to the current key
		}
		fmt.Fprintf(w, "theme=%s lang=%s", p.Theme, p.Lang)
	})
	mux.HandleFunc("POST /prefs", func(w http.ResponseWriter, r *http.Request) {
		p := Preferences{Theme: r.FormValue("theme"), Lang: r.FormValue("lang")}
		if err := prefs.Set(w, p); err != nil {
			http.Error(w, "preferences too large", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})

	// A browser visits, saves its preferences and comes back.
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	browser := srv.Client()
	browser.Jar, _ = cookiejar.New(nil)
	show := func(resp *http.Response, err error) {
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(string(body))
	}
	show(browser.Get(srv.URL + "/"))
	show(browser.PostForm(srv.URL+"/prefs", url.Values{"theme": {"dark"}, "lang": {"fr"}}))
	show(browser.Get(srv.URL + "/"))
	// Output:
	// theme=light lang=en
	// theme=dark lang=fr
	// theme=dark lang=fr
}

// Replacing a key on a fleet of servers without breaking anyone's cookie.
func Example_keyRotation() {
	const name = "__Host-prefs"
	const ttl = 30 * 24 * time.Hour
	oldSecret := []byte("the old secret: 32+ random bytes from a store")
	newSecret := []byte("the new secret: 32+ random bytes from a store")
	open := func(step string, s *cookie.Sealer, value string) {
		_, stale, err := s.Decode(name, value)
		switch {
		case errors.Is(err, cookie.ErrUnknownKey):
			fmt.Println(step, "unknown key")
		case err != nil:
			fmt.Println(step, err)
		default:
			fmt.Println(step, "opens, stale:", stale)
		}
	}

	// Before: every server seals with the old secret.
	before, _ := cookie.NewSealer(oldSecret)
	oldValue, _ := before.Encode(name, []byte(`{"theme":"dark"}`), ttl)

	// Step 1: add the new secret second everywhere. Servers still seal with
	// the old one, but can all open values sealed with the new one.
	step1, _ := cookie.NewSealer(oldSecret, newSecret)
	open("step 1, old value:", step1, oldValue)

	// Step 2: put the new secret first. New values use it; old values
	// still open, reported stale, and are re-issued as users return.
	step2, _ := cookie.NewSealer(newSecret, oldSecret)
	open("step 2, old value:", step2, oldValue)
	payload, _, _ := step2.Decode(name, oldValue)
	newValue, _ := step2.Encode(name, payload, ttl)
	open("step 2, re-issued value:", step2, newValue)
	// A server still at step 1 during the roll-out opens it too.
	open("step 1, re-issued value:", step1, newValue)

	// Step 3: once ttl has passed since step 2 began, drop the old secret.
	step3, _ := cookie.NewSealer(newSecret)
	open("step 3, re-issued value:", step3, newValue)
	open("step 3, old value:", step3, oldValue)
	// Output:
	// step 1, old value: opens, stale: false
	// step 2, old value: opens, stale: true
	// step 2, re-issued value: opens, stale: false
	// step 1, re-issued value: opens, stale: true
	// step 3, re-issued value: opens, stale: false
	// step 3, old value: unknown key
}

// A signed cookie that page scripts can read but nobody can change.
func ExampleSigner() {
	signer, err := cookie.NewSigner([]byte("example only: 32+ random bytes from your secret store"))
	if err != nil {
		panic(err)
	}
	banner := &cookie.Value[map[string]bool]{
		Name:       "__Host-banners",
		Codec:      signer,
		Attributes: cookie.Attributes{ScriptReadable: true},
		MaxAge:     90 * 24 * time.Hour,
	}
	w := httptest.NewRecorder()
	if err := banner.Set(w, map[string]bool{"cookie-notice": true}); err != nil {
		panic(err)
	}
	value := w.Result().Cookies()[0].Value

	// What a script does: decode the text before the last dot.
	text := value[:strings.LastIndexByte(value, '.')]
	readable, _ := base64.RawURLEncoding.DecodeString(text)
	fmt.Println("a script reads:", string(readable))

	// What the server does when the script (or anyone) edits it.
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"cookie-notice":false}`)) + value[len(text):]
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: banner.Name, Value: forged})
	_, _, err = banner.Get(r)
	fmt.Println("the server sees:", errors.Is(err, cookie.ErrInvalid))
	// Output:
	// a script reads: {"cookie-notice":true}
	// the server sees: true
}

func ExampleAttributes_Cookie() {
	session, err := cookie.Attributes{}.Cookie("__Host-theme", "dark", 0)
	if err != nil {
		panic(err)
	}
	fmt.Println(session)

	_, err = cookie.Attributes{Domain: "example.com"}.Cookie("__Host-theme", "dark", 0)
	fmt.Println(err)

	_, err = cookie.Attributes{}.Cookie("big", strings.Repeat("x", 5000), 0)
	fmt.Println(errors.Is(err, cookie.ErrTooLarge))
	// Output:
	// __Host-theme=dark; Path=/; HttpOnly; Secure; SameSite=Lax
	// cookie: invalid: "__Host-theme": the __Host- prefix forbids a Domain
	// true
}

func ExampleAttributes_Expire() {
	c, err := cookie.Attributes{}.Expire("__Host-theme")
	if err != nil {
		panic(err)
	}
	fmt.Println(c)
	// Output:
	// __Host-theme=; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; HttpOnly; Secure; SameSite=Lax
}

func ExampleValidate() {
	c := &http.Cookie{Name: "__Secure-id", Value: "abc", SameSite: http.SameSiteNoneMode}
	fmt.Println(cookie.Validate(c))
	c.Secure = true
	fmt.Println(cookie.Validate(c))
	// Output:
	// cookie: invalid: "__Secure-id": SameSite=None requires Secure
	// <nil>
}
