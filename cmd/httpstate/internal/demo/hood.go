package demo

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/httpstate/httpstate/cookie"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/token"
)

// The "Under the hood" page puts side by side, for the request that
// fetched it, what the browser holds (its cookies), what the server holds
// (the session record) and what an API client holds (an access token).

// cookieView is one cookie of the request, as the page describes it.
type cookieView struct {
	Name string
	Size int // bytes of name and value, as browsers count them

	Ours       bool   // one of the cookies this shop sets
	Attributes string // "Secure · HttpOnly · SameSite=Lax · Path=/"
	Scripts    string // whether page scripts can read it

	// The attributes again, for tests to compare with what the browser
	// reports.
	Secure, HTTPOnly, Persistent bool
	SameSite                     string

	// Lifetime is "Session cookie: …" or "Persistent…, until", ended by
	// the date Until if known (stamp, and RFC 3339 for the page's script
	// to show in local time).
	Lifetime, Until, UntilISO string

	Kind      string // token, sealed, signed, unreadable, foreign: a CSS class
	KindLabel string
	Badge     string // "only the server can read this"...
	What      string // one sentence on what the value is
	Content   string // the decoded content of a sealed or signed value
	Hash      string // the start of the SHA-256 of a session token
}

// sessionView is the session record, as the page describes it.
type sessionView struct {
	Handle, User, Created, CreatedISO, LastSeen, LastSeenISO string
	IdleDeadline, IdleDeadlineISO, Deadline, DeadlineISO     string
	Version                                                  uint64
	Remembered                                               bool
	Values                                                   []valueView
	Flashes, Size, MaxSize, Percent                          int
}

type valueView struct {
	Key, JSON string
	Size      int
}

// bindingView is the session's device binding, as the page describes it.
type bindingView struct {
	Mode                            string // off, report-only, enforce
	Bound, Refused                  bool
	Algorithm, Thumbprint           string
	Registered, RegisteredISO       string
	LastRefresh, LastRefreshISO     string
	CookieExpires, CookieExpiresISO string
	Refreshes, Minutes              int
	Note                            string // what binding means here, or why there is none
}

// tokenView is an access token, decoded.
type tokenView struct {
	Source, Status, StatusKind string
	Header, Claims             string
}

// maxPastedToken bounds what the paste box decodes; the API's own limit
// on a token is lower.
const maxPastedToken = 8 << 10

// hoodHandlePrefix is how much of a handle or hash the page shows: enough
// to compare the two, not enough to matter.
const hoodHandlePrefix = 12

func (a *App) hoodPage(w http.ResponseWriter, r *http.Request) {
	s := session.FromContext(r.Context())
	// What the server holds as the request found it, before newPage
	// takes this page's flash messages out of the session.
	info := s.Info()
	p := a.newPage(r, "Under the hood", "hood")
	var pasted *tokenView
	// The paste box posts rather than gets, though it changes nothing:
	// an access token must never travel in a URL, where logs, history
	// and Referer headers keep it.
	if r.Method == http.MethodPost {
		pasted = a.decodePasted(r, p)
	}
	cookies, total := a.cookieViews(r, p, s, info)
	data := struct {
		Cookies     []cookieView
		CookieBytes int
		Session     *sessionView
		Binding     *bindingView
		StoreKind   string
		KeyIDs      []string
		TokenTTL    int // minutes
		Token       *tokenView
	}{
		Cookies: cookies, CookieBytes: total, Session: a.sessionView(p, info), Binding: a.bindingView(r, p, s, info),
		StoreKind: a.cfg.StoreKind, KeyIDs: a.keys.IDs(), TokenTTL: int(a.accessTokenTTL() / time.Minute), Token: pasted,
	}
	if data.Token == nil {
		if u := a.currentUser(s); u != nil {
			data.Token = a.lastIssuedView(p, u.username)
		}
	}
	p.Data = data
	a.render(w, r, http.StatusOK, "hood", p)
}

func (a *App) accessTokenTTL() time.Duration {
	if a.cfg.AccessTokenTTL > 0 {
		return a.cfg.AccessTokenTTL
	}
	return token.DefaultTTL
}

// cookieViews describes every cookie the request carried, in the order
// the browser sent them, and returns their total size.
func (a *App) cookieViews(r *http.Request, p *page, s *session.Session, info session.Info) ([]cookieView, int) {
	var out []cookieView
	total := 0
	// Both preference cookies are set together, so the time the sealed
	// one records dates the signed one too.
	saved := a.prefsFor(r).Saved
	for _, c := range r.Cookies() {
		v := cookieView{Name: c.Name, Size: len(c.Name) + len(c.Value)}
		total += v.Size
		switch c.Name {
		case a.sessions.CookieName():
			a.describeSessionCookie(&v, c.Value, p, s, info)
		case a.sessions.BoundCookieName():
			a.describeBoundCookie(&v, p, info)
		case a.prefs.Name:
			payload, _, err := a.prefs.Codec.Decode(c.Name, c.Value)
			a.describeValueCookie(&v, a.prefs.Attributes, payload, err, p, "sealed")
		case a.theme.Name:
			payload, _, err := a.theme.Codec.Decode(c.Name, c.Value)
			a.describeValueCookie(&v, a.theme.Attributes, payload, err, p, "signed")
			if err == nil && saved > 0 {
				until := time.Unix(saved, 0).Add(prefsMaxAge)
				v.Lifetime = p.T("Persistent, a year after the preferences were last saved: until")
				v.Until, v.UntilISO = stamp(until), iso(until)
			}
		default:
			v.Kind, v.KindLabel = "foreign", p.T("Not this shop's")
			v.What = p.T("This shop does not set this cookie. Browsers share a host's cookies across all its ports, so another site on this host may have set it; its value is not shown.")
		}
		out = append(out, v)
	}
	return out, total
}

// attributes describes the attributes the shop sets a cookie with.
func (v *cookieView) attributes(p *page, attrs cookie.Attributes, maxAge time.Duration) {
	v.Ours = true
	c, err := attrs.Cookie(v.Name, "x", maxAge)
	if err != nil {
		return
	}
	var parts []string
	v.Secure, v.HTTPOnly = c.Secure, c.HttpOnly
	if c.Secure {
		parts = append(parts, "Secure")
	}
	if c.HttpOnly {
		parts = append(parts, "HttpOnly")
		v.Scripts = p.T("No: HttpOnly keeps it from page scripts.")
	} else {
		v.Scripts = p.T("Yes: page scripts can read it (app.js reads the theme).")
	}
	switch c.SameSite {
	case http.SameSiteStrictMode:
		v.SameSite = "Strict"
	case http.SameSiteNoneMode:
		v.SameSite = "None"
	default:
		v.SameSite = "Lax"
	}
	parts = append(parts, "SameSite="+v.SameSite)
	parts = append(parts, "Path="+c.Path)
	if c.Domain != "" {
		parts = append(parts, "Domain="+c.Domain)
	}
	v.Attributes = strings.Join(parts, " · ")
}

func (a *App) describeSessionCookie(v *cookieView, value string, p *page, s *session.Session, info session.Info) {
	v.attributes(p, a.cfg.Session.Cookie, time.Hour)
	v.Kind, v.KindLabel = "token", p.T("Opaque session token")
	v.Badge = p.T("its value is never shown")
	raw, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil || len(raw) != 32 {
		v.What = p.T("Not a token this shop could have issued: the server ignores it.")
		v.Lifetime = "—"
		return
	}
	sum := sha256.Sum256(raw)
	hash := base64.RawURLEncoding.EncodeToString(sum[:])
	v.Hash = hash[:hoodHandlePrefix] + "…"
	live := hash == info.Handle && !s.Lapsed()
	if live {
		v.What = p.T("43 random characters (256 bits) that mean nothing by themselves. The server never stores them, only their SHA-256, which is the key of the session record on the server.")
	} else {
		v.What = p.T("43 random characters (256 bits) that name no live session on this server: it ended, or another server issued it.")
	}
	switch {
	case !live:
		v.Lifetime = "—"
	case info.Remembered:
		v.Persistent = true
		until := info.IdleDeadline
		if info.AbsoluteDeadline.Before(until) {
			until = info.AbsoluteDeadline
		}
		v.Lifetime = p.T("Persistent (remember me), moved forward as you use the site, until about")
		v.Until, v.UntilISO = stamp(until), iso(until)
	default:
		v.Lifetime = p.T("Session cookie: the browser deletes it when it closes.")
	}
}

// boundCookieMinutes is how long the shop's bound cookies last.
func (a *App) boundCookieMinutes() int {
	d := a.cfg.Session.DeviceBinding.CookieLifetime
	if d == 0 {
		d = session.DefaultBoundCookieLifetime
	}
	return int(d / time.Minute)
}

func (a *App) describeBoundCookie(v *cookieView, p *page, info session.Info) {
	v.attributes(p, a.cfg.Session.Cookie, time.Minute)
	v.Persistent = true
	v.Kind, v.KindLabel = "bound", p.T("Bound cookie")
	v.Badge = p.T("only this browser can renew it")
	if info.Binding.CookieExpires.IsZero() {
		v.What = p.T("Not valid for this session (expired, or made for another one): the browser gets a new one by proving it still holds the session's key.")
		v.Lifetime = "—"
		return
	}
	v.What = translatef(p.Lang, "Proof that this browser held the session's private key a moment ago. The browser renews it every %d minutes by signing a challenge with that key, which never leaves the device; the server accepts the session cookie only together with it.", a.boundCookieMinutes())
	v.Lifetime = p.T("Short-lived, renewed by the browser: valid until")
	v.Until, v.UntilISO = stamp(info.Binding.CookieExpires), iso(info.Binding.CookieExpires)
}

// bindingView describes the session's device binding, or why it has none.
func (a *App) bindingView(r *http.Request, p *page, s *session.Session, info session.Info) *bindingView {
	mode := a.sessions.DeviceBindingMode()
	v := &bindingView{Mode: mode.String(), Minutes: a.boundCookieMinutes(), Refused: s.BindingRefused()}
	switch {
	case mode == session.BindingOff:
		v.Note = p.T("Device binding is off on this server (httpstate serve --device-binding=enforce turns it on).")
	case v.Refused:
		v.Note = p.T("This request carried the cookie of a session bound to another device, without that device's bound cookie: the server served it as a new anonymous visitor and left the session alone.")
	case info.Bound:
		b := info.Binding
		v.Bound, v.Algorithm, v.Refreshes = true, string(b.Algorithm), b.Refreshes
		v.Thumbprint = b.Thumbprint[:min(len(b.Thumbprint), hoodHandlePrefix)] + "…"
		v.Registered, v.RegisteredISO = stamp(b.Registered), iso(b.Registered)
		if !b.LastRefresh.IsZero() {
			v.LastRefresh, v.LastRefreshISO = stamp(b.LastRefresh), iso(b.LastRefresh)
		}
		if !b.CookieExpires.IsZero() {
			v.CookieExpires, v.CookieExpiresISO = stamp(b.CookieExpires), iso(b.CookieExpires)
		}
		v.Note = translatef(p.Lang, "Your browser made a key pair for this session when you logged in and sent the server the public key. Every %d minutes it signs a challenge with the private key, which never leaves this device, for a new bound cookie. A copy of your cookies on another computer stops working when its bound cookie expires.", v.Minutes)
	case r.TLS == nil:
		v.Note = p.T("The server received this request over plain HTTP. Browsers bind sessions only over HTTPS with a certificate they trust, so unless a TLS proxy in front of the shop served this page over HTTPS, sessions here stay unbound and work on the session cookie alone.")
	case info.UserID == "":
		v.Note = p.T("Only logged-in sessions are bound: log in with Chrome to see it happen.")
	default:
		v.Note = p.T("Your browser did not bind this session: only Chrome does. Other browsers keep working on the session cookie alone.")
	}
	return v
}

func (a *App) describeValueCookie(v *cookieView, attrs cookie.Attributes, payload []byte, err error, p *page, kind string) {
	v.attributes(p, attrs, prefsMaxAge)
	v.Persistent = true
	v.Lifetime = p.T("Persistent: a year after the preferences were last saved.")
	if err != nil {
		v.Kind, v.KindLabel = "unreadable", p.T("Unreadable")
		v.What = p.T("It does not open with this server's keys (changed, expired, or from another server), so the server ignores it.")
		return
	}
	v.Kind, v.Content = kind, indentJSON(payload)
	if kind == "sealed" {
		v.KindLabel, v.Badge = p.T("Sealed"), p.T("only the server can read this")
		v.What = p.T("Encrypted and authenticated with a key only the server has: the browser holds it but can neither read nor change it. Shown here as the server decrypts it.")
		var prefs preferences
		if json.Unmarshal(payload, &prefs) == nil && prefs.Saved > 0 {
			until := time.Unix(prefs.Saved, 0).Add(prefsMaxAge)
			v.Lifetime = p.T("Persistent, a year after the preferences were last saved: until")
			v.Until, v.UntilISO = stamp(until), iso(until)
		}
		return
	}
	v.KindLabel, v.Badge = p.T("Signed"), p.T("readable by anyone, changeable by no one")
	v.What = p.T("In clear text with a signature: anyone can read it, page scripts included, but a changed value fails the server's check.")
}

func (a *App) sessionView(p *page, info session.Info) *sessionView {
	if info.Handle == "" {
		return nil
	}
	v := &sessionView{
		Handle: info.Handle[:min(len(info.Handle), hoodHandlePrefix)] + "…", User: info.UserID, Version: info.Version,
		Created: stamp(info.Created), CreatedISO: iso(info.Created),
		LastSeen: stamp(info.LastSeen), LastSeenISO: iso(info.LastSeen),
		IdleDeadline: stamp(info.IdleDeadline), IdleDeadlineISO: iso(info.IdleDeadline),
		Deadline: stamp(info.AbsoluteDeadline), DeadlineISO: iso(info.AbsoluteDeadline),
		Remembered: info.Remembered, Flashes: info.Flashes, Size: info.Size, MaxSize: info.MaxSize,
	}
	if info.MaxSize > 0 {
		v.Percent = max(1, info.Size*100/info.MaxSize)
	}
	for _, val := range info.Values {
		v.Values = append(v.Values, valueView{Key: val.Key, JSON: indentJSON(val.Encoded), Size: len(val.Encoded)})
	}
	return v
}

// indentJSON returns b indented if it is JSON, else as text.
func indentJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") == nil {
		return buf.String()
	}
	return strings.ToValidUTF8(string(b), "�")
}

// decodedToken is an access token's header and claims, not verified.
type decodedToken struct {
	Header, Claims []byte // as sent: JSON objects
	KeyID, Subject string
	Expiry         time.Time // zero if the token has no numeric "exp"
}

var errNotAToken = errors.New("demo: not a JWT: three base64url parts separated by dots, the first two JSON objects")

// decodeToken splits a JWT (RFC 7519) and decodes its header and claims
// without verifying anything, to show what any holder of the token can
// read. The signature is not decoded.
func decodeToken(tok string) (decodedToken, error) {
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		return decodedToken{}, errNotAToken
	}
	var d decodedToken
	var fields [2]map[string]any
	for i, dst := range []*[]byte{&d.Header, &d.Claims} {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[i], "="))
		if err != nil {
			return decodedToken{}, errNotAToken
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&fields[i]); err != nil || fields[i] == nil {
			return decodedToken{}, errNotAToken
		}
		// Only whitespace may follow the object. dec.More cannot say so:
		// it reports false before a stray closing bracket.
		if _, err := dec.Token(); err != io.EOF {
			return decodedToken{}, errNotAToken
		}
		*dst = b
	}
	d.KeyID, _ = fields[0]["kid"].(string)
	d.Subject, _ = fields[1]["sub"].(string)
	if n, ok := fields[1]["exp"].(json.Number); ok {
		if sec, err := n.Int64(); err == nil && sec > 0 && sec < 1<<40 {
			d.Expiry = time.Unix(sec, 0)
		}
	}
	return d, nil
}

// decodePasted decodes and verifies the token pasted in the form.
func (a *App) decodePasted(r *http.Request, p *page) *tokenView {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	v := &tokenView{Source: p.T("The token you pasted")}
	if len(tok) > maxPastedToken {
		v.StatusKind, v.Status = "error", p.T("That is far longer than any access token; nothing was decoded.")
		return v
	}
	d, err := decodeToken(tok)
	if err != nil {
		v.StatusKind, v.Status = "error", p.T("Not an access token: a JWT is three base64url parts separated by dots, the first two JSON objects.")
		return v
	}
	v.Header, v.Claims = indentJSON(d.Header), indentJSON(d.Claims)
	_, err = a.bearer.Verifier.Verify(r.Context(), tok)
	switch {
	case err == nil:
		v.StatusKind = "ok"
		v.Status = translatef(p.Lang, "Valid: this API accepts it until %s, whatever happens to the sign-in that got it.", stamp(d.Expiry))
	case errors.Is(err, token.ErrExpired):
		v.StatusKind = "warning"
		v.Status = translatef(p.Lang, "Expired at %s: the API refuses it, whatever its signature.", stamp(d.Expiry))
	default:
		v.StatusKind = "error"
		v.Status = p.T("This API would refuse it: its signature, issuer or audience does not check out. Anyone can still read what it says.")
	}
	return v
}

// issuedTokens remembers, per user, the claims of the last access token
// this server issued, for the page to show. It never keeps a token.
type issuedTokens struct {
	mu     sync.Mutex
	byUser map[string]decodedToken // bounded by the accounts: only they get tokens
}

// noteIssued records the access token just issued to a client.
func (a *App) noteIssued(accessToken string) {
	d, err := decodeToken(accessToken)
	if err != nil || d.Subject == "" {
		return
	}
	a.issued.mu.Lock()
	defer a.issued.mu.Unlock()
	if a.issued.byUser == nil {
		a.issued.byUser = map[string]decodedToken{}
	}
	a.issued.byUser[d.Subject] = d
}

func (a *App) lastIssuedView(p *page, username string) *tokenView {
	a.issued.mu.Lock()
	d, ok := a.issued.byUser[username]
	a.issued.mu.Unlock()
	if !ok {
		return nil
	}
	v := &tokenView{Source: p.T("The last access token this server issued to you"), Header: indentJSON(d.Header), Claims: indentJSON(d.Claims)}
	if a.now().Before(d.Expiry) {
		v.StatusKind = "ok"
		v.Status = translatef(p.Lang, "Valid until %s, even if you revoke the API client meanwhile.", stamp(d.Expiry))
	} else {
		v.StatusKind = "warning"
		v.Status = translatef(p.Lang, "Expired at %s.", stamp(d.Expiry))
	}
	return v
}
