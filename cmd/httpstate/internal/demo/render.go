package demo

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/httpstate/httpstate/session"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the templates, each parsed together with the layout.
var pageNames = []string{"home", "cart", "login", "devices", "password", "preferences", "hood", "error"}

func parseTemplates() (map[string]*template.Template, error) {
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("demo: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// page is what every template receives: the layout's data and the page's
// own in Data.
type page struct {
	Title     string
	Nav       string
	Path      string
	Lang      string
	Theme     string
	NextTheme string
	User      *user
	CartCount int
	Flashes   []session.Flash
	// ShowBanner is whether the welcome banner is shown.
	ShowBanner bool
	StoreKind  string
	Instance   string
	// ThemeCookie is the name of the script-readable theme cookie, for
	// app.js.
	ThemeCookie string
	Data        any

	app *App
}

// User is what templates need of the logged-in user.
func (u *user) Name() string     { return u.name }
func (u *user) Username() string { return u.username }

// T translates msg into the page's language.
func (p *page) T(msg string) string { return translate(p.Lang, msg) }

// Asset returns the URL of a static file, versioned by its content so it
// can be cached for good.
func (p *page) Asset(name string) string { return p.app.assets.url(name) }

// newPage gathers the layout's data for a request: preferences, user,
// cart size and pending flash messages (which it consumes). It works on
// requests that did not pass through the session middleware, such as a
// refused cross-site POST, by showing an anonymous page.
func (a *App) newPage(r *http.Request, title, nav string) *page {
	p := a.basePage(r, title, nav)
	if s := session.FromContext(r.Context()); s != nil {
		p.User = a.currentUser(s)
		p.CartCount = cartFrom(s).count()
		p.Flashes = s.Flashes()
	}
	return p
}

// basePage is a page that shows nothing of the session, for errors about
// the session itself.
func (a *App) basePage(r *http.Request, title, nav string) *page {
	prefs := a.prefsFor(r)
	p := &page{
		Title:       translate(prefs.Lang, title),
		Nav:         nav,
		Path:        localPath(r.URL.Path),
		Lang:        prefs.Lang,
		Theme:       prefs.Theme,
		NextTheme:   "dark",
		ShowBanner:  !prefs.BannerDismissed,
		StoreKind:   a.cfg.StoreKind,
		Instance:    a.cfg.Instance,
		ThemeCookie: a.theme.Name,
		app:         a,
	}
	if prefs.Theme == "dark" {
		p.NextTheme = "light"
	}
	return p
}

// render writes the named page. The page is rendered into a buffer first
// so that a template error becomes a clean 500 rather than half a page.
func (a *App) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := a.templates[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		a.log.ErrorContext(r.Context(), "rendering a page failed", "page", name, "err", err)
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show the cart, the user and flash messages: never cache them,
	// in shared caches or in the browser's back-forward history.
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Cookie")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage renders a short error page with the given status.
func (a *App) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	a.renderError(w, r, status, a.newPage(r, heading, ""), heading, message)
}

func (a *App) renderError(w http.ResponseWriter, r *http.Request, status int, p *page, heading, message string) {
	p.Data = struct{ Heading, Message string }{p.T(heading), p.T(message)}
	a.render(w, r, status, "error", p)
}

// redirect answers a form POST with 303 See Other, so that reloading the
// page that follows does not submit the form again.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, localPath(to), http.StatusSeeOther)
}

// localPath returns p if it is a path on this site, and "/" otherwise, so
// that a "return" or "next" parameter can never send the browser to
// another site (an open redirect).
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return "/"
	}
	return p
}

// assets serves the embedded static files with long-lived caching: their
// URLs carry a hash of their content, so a new version has a new URL.
type assets struct {
	files map[string]asset
}

type asset struct {
	body  []byte
	ctype string
	hash  string
}

func loadAssets() (*assets, error) {
	a := &assets{files: map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a.files[strings.TrimPrefix(p, "static/")] = asset{body: b, ctype: ctype, hash: hex.EncodeToString(sum[:6])}
		return nil
	})
	return a, err
}

func (a *assets) url(name string) string {
	f, ok := a.files[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + f.hash
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	f, ok := a.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", `"`+f.hash+`"`)
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
