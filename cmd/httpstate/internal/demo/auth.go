package demo

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/httpstate/httpstate/session"
)

// currentUser returns the logged-in user of s, or nil. A session naming an
// account that no longer exists counts as anonymous.
func (a *App) currentUser(s *session.Session) *user {
	if s == nil {
		return nil
	}
	id := s.UserID()
	if id == "" {
		return nil
	}
	return a.users.lookup(id)
}

// requireUser returns the logged-in user, or sends the browser to the
// login page (coming back here afterwards) and returns nil.
func (a *App) requireUser(w http.ResponseWriter, r *http.Request) (*session.Session, *user) {
	s := session.FromContext(r.Context())
	if u := a.currentUser(s); u != nil {
		return s, u
	}
	if !s.Lapsed() {
		// A lapsed session already got its own notice.
		a.flash(r, "info", translate(a.prefsFor(r).Lang, "Please log in to see this page."))
	}
	next := "/"
	if r.Method == http.MethodGet {
		next = r.URL.Path
	}
	redirect(w, r, "/login?next="+url.QueryEscape(next))
	return nil, nil
}

// noticeLapsed tells the visitor when the session their browser presented
// has ended, instead of silently showing them logged out. The server
// cannot tell a session that timed out or was revoked from a token it
// never issued (another shop on the same host shares the browser's
// cookies), so the notice claims none of these over the others. It is a
// flash message, so it survives the redirect that follows a form.
func (a *App) noticeLapsed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := session.FromContext(r.Context()); s.Lapsed() && r.URL.Path != "/login" {
			a.flash(r, "warning", translate(a.prefsFor(r).Lang, "Your session has ended: it timed out, was logged out, or is not known to this server."))
		}
		next.ServeHTTP(w, r)
	})
}

type loginData struct {
	Next, Username, Error string
	Accounts              []Account
}

func (a *App) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if a.currentUser(session.FromContext(r.Context())) != nil {
		redirect(w, r, next)
		return
	}
	a.renderLogin(w, r, http.StatusOK, loginData{Next: next})
}

func (a *App) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	p := a.newPage(r, "Log in", "login")
	d.Accounts = a.cfg.Accounts
	p.Data = d
	a.render(w, r, status, "login", p)
}

// login checks the password and logs the session in. Login renews the
// session ID, so a token planted before login (session fixation) is
// worthless after it; "remember me" picks a persistent cookie and the
// longer timeouts.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	lang := a.prefsFor(r).Lang
	username := strings.TrimSpace(r.PostFormValue("username"))
	next := localPath(r.PostFormValue("next"))
	d := loginData{Next: next, Username: username}
	u, why, wait := a.checkCredentials(r, username, r.PostFormValue("password"))
	if u == nil {
		var status int
		status, d.Error = refusedForm(w, lang, why, wait)
		a.renderLogin(w, r, status, d)
		return
	}
	s := session.FromContext(r.Context())
	remember := r.PostFormValue("remember") == "on"
	if err := s.Login(u.username, remember); err != nil {
		a.fail(w, r, "login failed", err)
		return
	}
	a.log.InfoContext(r.Context(), "login", "user", u.username, "remember", remember)
	a.flash(r, "success", translatef(lang, "Welcome back, %s.", u.name))
	redirect(w, r, next)
}

// refusedForm answers a form whose password check refused: it sets
// Retry-After when waiting helps and returns the status and the message
// to show.
func refusedForm(w http.ResponseWriter, lang string, why refusal, wait time.Duration) (int, string) {
	switch why {
	case accountThrottle, networkThrottle:
		w.Header().Set("Retry-After", retryAfter(wait))
		format := "Too many failed attempts for this account. Try again in %d minutes."
		if why == networkThrottle {
			format = "Too many failed logins from your network. Try again in %d minutes."
		}
		return http.StatusTooManyRequests, translatef(lang, format, minutes(wait))
	case serverBusy:
		w.Header().Set("Retry-After", retryAfter(wait))
		return http.StatusServiceUnavailable, translate(lang, "The server is busy checking other logins. Please try again in a moment.")
	}
	// 422, as for any form that must be corrected and sent again.
	return http.StatusUnprocessableEntity, translate(lang, "Wrong username or password.")
}

// minutes rounds a wait up to whole minutes, for a message.
func minutes(d time.Duration) int { return int((d + time.Minute - 1) / time.Minute) }

// knownUser returns username if such an account exists, for logs: a
// mistyped password in the username field must not end up in them.
func (a *App) knownUser(username string) string {
	if u := a.users.lookup(username); u != nil {
		return u.username
	}
	return "(unknown)"
}

// logout deletes the session on the server, so the old cookie is worthless
// even to someone who copied it, and expires it in the browser.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	s := session.FromContext(r.Context())
	user := s.UserID()
	if err := s.Logout(); err != nil {
		a.fail(w, r, "logout failed", err)
		return
	}
	if user != "" {
		a.log.InfoContext(r.Context(), "logout", "user", user)
	}
	a.flash(r, "info", translate(a.prefsFor(r).Lang, "You have been logged out."))
	redirect(w, r, "/")
}

// flash queues a message for the next page. A message that does not fit
// is dropped, counted and logged, and the request goes on: a client that
// never follows the redirects that would show its messages (a script
// posting in a loop) hits session.MaxFlashes, and its requests must still
// work. Any other failure means the response has already started, a
// programming error worth a warning but not a failed request.
func (a *App) flash(r *http.Request, kind, msg string) {
	s := session.FromContext(r.Context())
	if s == nil {
		return
	}
	err := s.AddFlash(kind, msg)
	switch {
	case err == nil:
	case errors.Is(err, session.ErrTooManyFlashes), errors.Is(err, session.ErrTooLarge):
		n := a.droppedFlashes.Add(1)
		a.log.InfoContext(r.Context(), "flash message dropped", "reason", err, "dropped_so_far", n)
	default:
		a.log.WarnContext(r.Context(), "flash message dropped", "err", err)
	}
}

// fail logs err and shows a generic error page.
func (a *App) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.log.ErrorContext(r.Context(), what, "err", err)
	a.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Please try again.")
}
