package demo

import (
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/useragent"
	"github.com/httpstate/httpstate/session"
)

// deviceView is one session as the devices page shows it.
type deviceView struct {
	Handle, Browser, IP, Created, CreatedISO, LastSeen, Expires, ExpiresISO string
	Current, Remembered, Bound                                              bool
}

type familyView struct {
	ID, Created, CreatedISO, LastUsed, Expires, ExpiresISO string
	Rotations                                              int
}

func (a *App) devicesPage(w http.ResponseWriter, r *http.Request) {
	s, u := a.requireUser(w, r)
	if u == nil {
		return
	}
	ctx := r.Context()
	devices, err := a.sessions.Devices(ctx, u.username)
	if err != nil {
		a.storeDown(w, r, err)
		return
	}
	families, err := a.families.List(ctx, u.username)
	if err != nil {
		a.storeDown(w, r, err)
		return
	}
	p := a.newPage(r, "Your devices", "devices")
	now := a.now()
	views := make([]deviceView, 0, len(devices))
	for _, d := range devices {
		views = append(views, deviceView{
			Handle: d.Handle, Browser: useragent.Describe(d.UserAgent), IP: approximateIP(d.IP),
			Created: stamp(d.Created), CreatedISO: iso(d.Created),
			LastSeen: ago(p.Lang, d.LastSeen, now),
			Expires:  stamp(d.Expires), ExpiresISO: iso(d.Expires),
			Current: d.Handle == s.Handle(), Remembered: d.Remembered, Bound: d.Bound,
		})
	}
	fviews := make([]familyView, 0, len(families))
	for _, f := range families {
		fviews = append(fviews, familyView{
			ID: f.ID, Created: stamp(f.Created), CreatedISO: iso(f.Created),
			LastUsed: ago(p.Lang, f.LastUsed, now),
			Expires:  stamp(f.Expires), ExpiresISO: iso(f.Expires),
			Rotations: f.Rotations,
		})
	}
	// This device first, then the others, most recently used first.
	slices.SortStableFunc(views, func(a, b deviceView) int {
		switch {
		case a.Current == b.Current:
			return 0
		case a.Current:
			return -1
		}
		return 1
	})
	p.Data = struct {
		Devices  []deviceView
		Families []familyView
	}{views, fviews}
	a.render(w, r, http.StatusOK, "devices", p)
}

// revokeDevice ends one of the user's sessions. Revoking the current one
// is a logout. Manager.Revoke checks that the session belongs to the user,
// so a forged handle cannot end someone else's session.
func (a *App) revokeDevice(w http.ResponseWriter, r *http.Request) {
	s, u := a.requireUser(w, r)
	if u == nil {
		return
	}
	handle := r.PostFormValue("handle")
	if handle != "" && handle == s.Handle() {
		a.logout(w, r)
		return
	}
	err := a.sessions.Revoke(r.Context(), u.username, handle)
	a.revoked(w, r, u.username, err, "session revoked", "The device was logged out.")
}

// revoked reports the outcome of revoking one session or API client and
// returns to the device list. One that had already ended is not an error:
// another tab or device may have revoked it first.
func (a *App) revoked(w http.ResponseWriter, r *http.Request, username string, err error, logMsg, done string) {
	lang := a.prefsFor(r).Lang
	switch {
	case errors.Is(err, session.ErrNotFound):
		a.flash(r, "info", translate(lang, "That session had already ended."))
	case err != nil:
		a.storeDown(w, r, err)
		return
	default:
		a.log.InfoContext(r.Context(), logMsg, "user", username)
		a.flash(r, "success", translate(lang, done))
	}
	redirect(w, r, "/devices")
}

// revokeOthers logs out every other browser session of the user and every
// API client: "log out everywhere else".
func (a *App) revokeOthers(w http.ResponseWriter, r *http.Request) {
	s, u := a.requireUser(w, r)
	if u == nil {
		return
	}
	n, err := a.revokeAllBut(r, u.username, s.Handle())
	if err != nil {
		a.storeDown(w, r, err)
		return
	}
	a.flash(r, "success", translatef(a.prefsFor(r).Lang, "Other sessions logged out: %d.", n))
	redirect(w, r, "/devices")
}

// revokeAllBut ends every session of username except the one with handle
// except, and every refresh token family, and returns how many it ended.
func (a *App) revokeAllBut(r *http.Request, username, except string) (int, error) {
	n, err := a.sessions.RevokeAll(r.Context(), username, except)
	if err != nil {
		return n, err
	}
	m, err := a.families.RevokeAll(r.Context(), username)
	a.log.InfoContext(r.Context(), "sessions revoked", "user", username, "sessions", n, "api_clients", m)
	return n + m, err
}

func (a *App) revokeFamily(w http.ResponseWriter, r *http.Request) {
	_, u := a.requireUser(w, r)
	if u == nil {
		return
	}
	err := a.families.Revoke(r.Context(), u.username, r.PostFormValue("family"))
	a.revoked(w, r, u.username, err, "api client revoked", "The API client was revoked.")
}

func (a *App) passwordPage(w http.ResponseWriter, r *http.Request) {
	if _, u := a.requireUser(w, r); u == nil {
		return
	}
	a.renderPassword(w, r, http.StatusOK, "")
}

func (a *App) renderPassword(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p := a.newPage(r, "Change your password", "devices")
	p.Data = struct{ Error string }{msg}
	a.render(w, r, status, "password", p)
}

// changePassword sets a new password, then ends every other session and
// API token of the user and renews this session's ID (OWASP ASVS 3.3.3):
// whoever might have known the old password or held a session is out.
func (a *App) changePassword(w http.ResponseWriter, r *http.Request) {
	s, u := a.requireUser(w, r)
	if u == nil {
		return
	}
	lang := a.prefsFor(r).Lang
	current, next := r.PostFormValue("current"), r.PostFormValue("new")
	if checked, why, wait := a.checkCredentials(r, u.username, current); checked == nil {
		status, msg := refusedForm(w, lang, why, wait)
		if why == wrongPassword {
			msg = translate(lang, "The current password is wrong.")
		}
		a.renderPassword(w, r, status, msg)
		return
	}
	if next != r.PostFormValue("confirm") {
		a.renderPassword(w, r, http.StatusUnprocessableEntity, translate(lang, "The two new passwords do not match."))
		return
	}
	if msg, ok := validPassword(next); !ok {
		a.renderPassword(w, r, http.StatusUnprocessableEntity, translate(lang, msg))
		return
	}
	if err := a.users.setPassword(r.Context(), a.hashes, u.username, next); err != nil {
		if errors.Is(err, errBusy) {
			status, msg := refusedForm(w, lang, serverBusy, busyRetryAfter)
			a.renderPassword(w, r, status, msg)
			return
		}
		a.fail(w, r, "changing the password failed", err)
		return
	}
	n, err := a.revokeAllBut(r, u.username, s.Handle())
	if err != nil {
		a.storeDown(w, r, err)
		return
	}
	if err := s.RenewID(); err != nil {
		a.fail(w, r, "renewing the session ID failed", err)
		return
	}
	a.log.InfoContext(r.Context(), "password changed", "user", u.username)
	a.flash(r, "success", translatef(lang, "Password changed. Other sessions logged out: %d.", n))
	redirect(w, r, "/devices")
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
func iso(t time.Time) string   { return t.UTC().Format(time.RFC3339) }

// approximateIP shortens an address to its network, enough for a user to
// tell home from office from abroad without the page showing exactly
// where each device is: the /24 of an IPv4 address, the /48 of an IPv6
// one. Loopback addresses are shown as they are.
func approximateIP(s string) string {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return "—"
	}
	addr = addr.Unmap()
	switch {
	case addr.IsLoopback():
		return addr.String()
	case addr.Is4():
		b := addr.As4()
		return netip.AddrFrom4([4]byte{b[0], b[1], b[2], 0}).String() + "/24"
	}
	p, _ := addr.Prefix(48)
	return p.String()
}
