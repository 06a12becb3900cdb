package demo

import (
	"net/http"
	"time"

	"github.com/httpstate/httpstate/cookie"
	"github.com/httpstate/httpstate/session"
)

// preferences are a visitor's display settings. They live in a sealed
// cookie rather than in the session so that they need no account and no
// server storage, and outlive logouts and browser restarts.
type preferences struct {
	Theme           string `json:"t,omitempty"` // "", "light" or "dark"; "" follows the system
	Lang            string `json:"l,omitempty"` // a supported language code
	BannerDismissed bool   `json:"b,omitempty"`
	// Saved is when the cookie was last set (Unix seconds), so that the
	// "under the hood" page can say when it expires: the browser does
	// not tell the server.
	Saved int64 `json:"at,omitempty"`
}

// prefsMaxAge is how long preferences last without a change.
const prefsMaxAge = 365 * 24 * time.Hour

// cookieName returns the name of one of the shop's cookies: __Host-what,
// or __Host-prefix-what with Config.CookiePrefix. The __Host- prefix tells
// browsers to accept them only from this host over a secure channel, so a
// sibling subdomain or a plain-HTTP page cannot plant preferences.
func cookieName(prefix, what string) string {
	if prefix == "" {
		return "__Host-" + what
	}
	return "__Host-" + prefix + "-" + what
}

// ValidCookiePrefix reports whether p can be Config.CookiePrefix: 1 to 20
// ASCII letters, digits, '-' or '_', which every browser keeps as part of
// a cookie name.
func ValidCookiePrefix(p string) bool {
	if p == "" || len(p) > 20 {
		return false
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// newPrefCookies returns the sealed preferences cookie and the signed,
// script-readable theme cookie that lets app.js learn the confirmed theme.
func newPrefCookies(secret []byte, prefix string) (cookie.Value[preferences], cookie.Value[string], error) {
	sealer, err := cookie.NewSealer(secret)
	if err != nil {
		return cookie.Value[preferences]{}, cookie.Value[string]{}, err
	}
	signer, err := cookie.NewSigner(secret)
	if err != nil {
		return cookie.Value[preferences]{}, cookie.Value[string]{}, err
	}
	prefs := cookie.Value[preferences]{Name: cookieName(prefix, "prefs"), Codec: sealer, MaxAge: prefsMaxAge}
	theme := cookie.Value[string]{
		Name: cookieName(prefix, "theme"), Codec: signer, MaxAge: prefsMaxAge,
		Attributes: cookie.Attributes{ScriptReadable: true},
	}
	return prefs, theme, nil
}

// prefsFor returns the request's preferences: the cookie's, or defaults
// with the language from Accept-Language. A cookie that does not open
// (tampered, expired, sealed with a retired key) counts as absent.
func (a *App) prefsFor(r *http.Request) preferences {
	p, _, err := a.prefs.Get(r)
	if err != nil {
		p = preferences{}
	}
	if !supportedLang(p.Lang) {
		p.Lang = negotiateLang(r)
	}
	if p.Theme != "light" && p.Theme != "dark" {
		p.Theme = ""
	}
	return p
}

// savePrefs sets both preference cookies.
func (a *App) savePrefs(w http.ResponseWriter, p preferences) error {
	p.Saved = a.now().Unix()
	if err := a.prefs.Set(w, p); err != nil {
		return err
	}
	if p.Theme == "" {
		return a.theme.Delete(w)
	}
	return a.theme.Set(w, p.Theme)
}

func (a *App) preferencesPage(w http.ResponseWriter, r *http.Request) {
	p := a.newPage(r, "Preferences", "preferences")
	if r.URL.Query().Get("saved") == "1" {
		p.Flashes = append(p.Flashes, session.Flash{Kind: "success", Message: p.T("Preferences saved.")})
	}
	prefs := a.prefsFor(r)
	type language struct {
		Code, Name string
		Selected   bool
	}
	langs := make([]language, len(languages))
	for i, l := range languages {
		langs[i] = language{l.Code, l.Name, l.Code == prefs.Lang}
	}
	p.Data = struct {
		Theme           string
		Languages       []language
		BannerDismissed bool
	}{prefs.Theme, langs, prefs.BannerDismissed}
	a.render(w, r, http.StatusOK, "preferences", p)
}

func (a *App) savePreferences(w http.ResponseWriter, r *http.Request) {
	prefs := a.prefsFor(r)
	prefs.Theme = validTheme(r.PostFormValue("theme"))
	if l := r.PostFormValue("lang"); supportedLang(l) {
		prefs.Lang = l
	}
	prefs.BannerDismissed = r.PostFormValue("banner") != "on"
	if !a.storePrefs(w, r, prefs) {
		return
	}
	// The confirmation rides in the URL rather than in a flash message,
	// so that preferences never need a server-side session.
	redirect(w, r, "/preferences?saved=1")
}

// toggleTheme serves the theme button in the header. Without JavaScript
// it is a form POST answered with a redirect back; app.js sends it with
// fetch and "Accept: application/json", gets 204, and reads the confirmed
// theme from the script-readable cookie.
func (a *App) toggleTheme(w http.ResponseWriter, r *http.Request) {
	prefs := a.prefsFor(r)
	prefs.Theme = validTheme(r.PostFormValue("theme"))
	if !a.storePrefs(w, r, prefs) {
		return
	}
	if r.Header.Get("Accept") == "application/json" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	redirect(w, r, r.PostFormValue("return"))
}

func (a *App) dismissBanner(w http.ResponseWriter, r *http.Request) {
	prefs := a.prefsFor(r)
	prefs.BannerDismissed = true
	if !a.storePrefs(w, r, prefs) {
		return
	}
	redirect(w, r, r.PostFormValue("return"))
}

func (a *App) storePrefs(w http.ResponseWriter, r *http.Request, p preferences) bool {
	if err := a.savePrefs(w, p); err != nil {
		a.log.ErrorContext(r.Context(), "setting the preference cookies failed", "err", err)
		a.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Please try again.")
		return false
	}
	return true
}

func validTheme(t string) string {
	if t == "light" || t == "dark" {
		return t
	}
	return ""
}
