package session

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/httpstate/httpstate/observe"
	"github.com/httpstate/httpstate/session/dbsc"
)

// BindingMode says what a Manager does about device binding.
type BindingMode uint8

const (
	// BindingOff offers no binding and serves no endpoint; a binding
	// already stored with a session is kept but not checked.
	BindingOff BindingMode = iota

	// BindingReportOnly does everything BindingEnforce does except
	// refuse: registration is offered after each login, the endpoints
	// are served and bound cookies are issued and checked, but a request
	// of a bound session without a valid bound cookie is only reported
	// (an observe.DeviceBindingCheck event with Op "report") and served
	// as usual. Use it to roll binding out and watch what enforcing would
	// refuse.
	BindingReportOnly

	// BindingEnforce refuses the requests of a bound session that lack a
	// valid bound cookie; see DeviceBinding for what the handler then
	// sees.
	BindingEnforce
)

// String returns "off", "report-only" or "enforce".
func (m BindingMode) String() string {
	switch m {
	case BindingOff:
		return "off"
	case BindingReportOnly:
		return "report-only"
	case BindingEnforce:
		return "enforce"
	}
	return fmt.Sprintf("BindingMode(%d)", uint8(m))
}

// Defaults of DeviceBinding.
const (
	DefaultBindingRegisterPath = "/dbsc/register"
	DefaultBindingRefreshPath  = "/dbsc/refresh"
	DefaultBoundCookieLifetime = 10 * time.Minute
)

// DeviceBinding configures Device Bound Session Credentials (DBSC, see
// package session/dbsc for the protocol and the version followed): a
// browser that supports them keeps a private key for the session, in
// secure hardware where it has some, and proves possession of it every
// few minutes to get a short-lived bound cookie. The Manager then accepts
// a bound session's cookie only together with a valid bound cookie, so a
// session cookie copied off the device (by malware reading the
// browser's cookie store, say) stops working when the copied bound
// cookie expires, because the copy cannot sign the next proof.
//
// Setting Mode is all an application does. The Manager then
//
//   - offers registration on the response of every request that logs a
//     user in (Session.Login) or renews the token of a logged-in session
//     that is not bound (Session.RenewID): a Secure-Session-Registration
//     header for ES256 or RS256 keys, with a challenge bound to that
//     session;
//   - serves POST RegisterPath: it verifies the browser's signed answer
//     and stores the session's public key, the binding, in the session's
//     record, so it lives in whatever Store holds the session; it
//     answers with the session instructions and the first bound cookie;
//   - serves POST RefreshPath: it answers a request without a proof with
//     403 and a challenge, verifies a signed challenge against the
//     stored key, and sets a new bound cookie, CookieLifetime long. Each
//     response sends the next challenge ahead, so that a refresh takes
//     one request. A challenge is answerable once: the issue time of the
//     last answered challenge is stored in the binding by the same
//     compare-and-swap save that accepts the proof, so of two refreshes
//     answering one challenge exactly one succeeds;
//   - checks the bound cookie on every request of a bound session.
//
// The bound cookie is named after the session cookie with "-bound"
// appended and has its attributes. Its value is a MAC, under a key
// derived from Secrets, of the session's store ID, the binding and the
// cookie's expiry: it is worthless for any other session, for the same
// session under an earlier token, and after it expires.
//
// # Nobody is locked out
//
// A browser without DBSC never registers, its session is never bound,
// and its ordinary session cookie works as before. Only a session that
// has registered needs the bound cookie. Under BindingEnforce, a request
// of such a session
//
//   - without a bound cookie is served as anonymous: the handler runs
//     with a fresh anonymous Session (UserID "", IsNew true, Lapsed
//     false, BindingRefused true). The stored session is not ended and
//     the browser's session cookie is not touched; if the handler stores
//     something in the anonymous session, it is saved under a new token
//     whose cookie replaces the old one, as for any anonymous visitor.
//     The refused user can log in again;
//   - with an expired or invalid bound cookie never reaches the handler:
//     the Middleware answers 307 Temporary Redirect to the same URL
//     (method and body are kept), with Cache-Control: no-store and a
//     Set-Cookie that deletes the bound cookie. Chromium, which holds a
//     request in scope that lacks the bound cookie until it has
//     refreshed, refreshes before it follows the redirect and arrives
//     with a new bound cookie; a client without the key follows it
//     without one and is served as anonymous, as above. (A browser
//     removes a bound cookie at its Max-Age by itself and refreshes
//     before sending; the redirect covers the cases where the server's
//     judgement differs from the browser's: clocks apart, or a bound
//     cookie made worthless by a renewal.)
//
// The Middleware answers POST RegisterPath and POST RefreshPath itself;
// the handler never sees them.
//
// # What ends a binding
//
// The binding is part of the session: Logout, Manager.Revoke and
// Manager.RevokeAll end it with the session, and a refresh of it is then
// answered {"continue":false}, which makes the browser delete its key.
// RenewID and Login as the same user keep it and reissue the bound cookie
// for the new token (with the expiry the request's bound cookie had, so
// a renewal never extends it); Login as a different user drops it, and
// the browser's next refresh of it is answered {"continue":false}.
//
// # Requirements and limits
//
// DBSC works over HTTPS only, in browsers that implement it (Chrome; the
// demo's plain http://localhost is not enough). It binds requests to one
// origin, the one serving RegisterPath, so a session cookie shared across
// hosts (Cookie.Domain) cannot be bound, and New refuses the
// combination, as it refuses a Partitioned cookie, which cannot be
// bound. Two Managers with binding on one server need their own paths.
// What binding does not protect against is in SECURITY.md: malware
// running inside the browser session, cross-site scripting, and theft
// before registration.
type DeviceBinding struct {
	// Mode turns binding on; the zero value is BindingOff.
	Mode BindingMode

	// RegisterPath and RefreshPath are the URL paths of the endpoints
	// the Middleware serves to browsers (POST only); defaults
	// DefaultBindingRegisterPath and DefaultBindingRefreshPath.
	RegisterPath, RefreshPath string

	// CookieLifetime is how long a bound cookie is accepted: a stolen
	// session cookie works at most this long after the theft, and the
	// browser signs a proof this often while the session is used
	// (default DefaultBoundCookieLifetime; at least one minute, at most
	// a day).
	CookieLifetime time.Duration

	// Secrets key the challenges and the bound cookies: at least one, of
	// at least 32 random bytes each, distinct from every other secret the
	// application uses. The first signs; all verify, so secrets rotate
	// by putting the new one first and removing the old one after
	// CookieLifetime plus dbsc.DefaultChallengeTTL. Servers sharing a
	// store share the secrets.
	Secrets [][]byte
}

// BoundCookieName returns the name of the bound cookie (see
// DeviceBinding), the session cookie's name with "-bound" appended, or ""
// when DeviceBinding is off.
func (m *Manager) BoundCookieName() string {
	if m.bind == nil {
		return ""
	}
	return m.bind.cookieName
}

// DeviceBindingMode returns the Manager's DeviceBinding.Mode.
func (m *Manager) DeviceBindingMode() BindingMode {
	if m.bind == nil {
		return BindingOff
	}
	return m.bind.mode
}

// Binding describes a session's device binding, for a device list or a
// diagnostic page. It holds nothing that lets anyone act as the session.
type Binding struct {
	Algorithm dbsc.Algorithm // of the session's key: ES256 or RS256
	// Thumbprint is the RFC 7638 SHA-256 thumbprint of the session's
	// public key, in unpadded base64url: the key's name in DBSC. A
	// prefix of it is enough to tell devices apart on a page.
	Thumbprint  string
	Registered  time.Time
	LastRefresh time.Time // the last accepted refresh proof; zero before the first
	Refreshes   int       // refresh proofs accepted

	// CookieExpires is when a bound cookie stops being accepted: in
	// Session.Info, the one the request presented; in Manager.Devices,
	// the one the last registration or refresh issued.
	CookieExpires time.Time
}

// The binding is the extension of a session record tagged 1:
//
//	format         byte     1
//	id             string   the DBSC session identifier: 1 to 64 bytes
//	alg            byte     1: ES256, 2: RS256
//	jwk            string   the public key as dbsc.PublicKey.MarshalJWK writes it
//	registered     uvarint  unix milliseconds
//	lastChallenge  uvarint  unix nanoseconds: the issue time of the last
//	                        challenge a proof answered
//	lastRefresh    uvarint  unix milliseconds; 0 before the first refresh
//	refreshes      uvarint
//
// with strings and uvarints as in record.go, one spelling per binding.
const (
	tagBinding    = 1
	bindingFormat = 1
	algES256      = 1
	algRS256      = 2
)

type binding struct {
	id            []byte // alias the record's data, as values do
	alg           dbsc.Algorithm
	jwk           []byte
	registered    int64
	lastChallenge int64
	lastRefresh   int64
	refreshes     uint64
}

func (bd *binding) encode() []byte {
	a := byte(algES256)
	if bd.alg == dbsc.RS256 {
		a = algRS256
	}
	b := append(make([]byte, 0, 24+len(bd.id)+len(bd.jwk)), bindingFormat)
	b = appendBytes(b, bd.id)
	b = append(b, a)
	b = appendBytes(b, bd.jwk)
	b = binary.AppendUvarint(b, uint64(bd.registered))
	b = binary.AppendUvarint(b, uint64(bd.lastChallenge))
	b = binary.AppendUvarint(b, uint64(bd.lastRefresh))
	return binary.AppendUvarint(b, bd.refreshes)
}

func decodeBinding(data []byte) (binding, error) {
	d := decoder{b: data}
	var bd binding
	if d.byte() != bindingFormat {
		d.fail()
	}
	bd.id = d.bytes()
	switch d.byte() {
	case algES256:
		bd.alg = dbsc.ES256
	case algRS256:
		bd.alg = dbsc.RS256
	default:
		d.fail()
	}
	bd.jwk = d.bytes()
	reg, last, refreshed := d.uvarint(), d.uvarint(), d.uvarint()
	bd.refreshes = d.uvarint()
	if d.err != nil || len(d.b) != 0 || len(bd.id) == 0 || len(bd.id) > 64 || len(bd.jwk) == 0 ||
		max(reg, last, refreshed) > math.MaxInt64 {
		return binding{}, errCorrupt
	}
	bd.registered, bd.lastChallenge, bd.lastRefresh = int64(reg), int64(last), int64(refreshed)
	return bd, nil
}

// binding returns the session's binding and whether it has one; an
// error means it has one that does not decode.
func (st *state) binding() (binding, bool, error) {
	data, ok := st.extension(tagBinding)
	if !ok {
		return binding{}, false, nil
	}
	bd, err := decodeBinding(data)
	return bd, true, err
}

// describe returns what Binding shows of bd, without CookieExpires.
func (bd *binding) describe() Binding {
	out := Binding{Algorithm: bd.alg, Registered: unixMilli(bd.registered), Refreshes: int(min(bd.refreshes, math.MaxInt32))}
	if bd.lastRefresh > 0 {
		out.LastRefresh = unixMilli(bd.lastRefresh)
	}
	if k, err := dbsc.ParseJWK(bd.jwk, bd.alg); err == nil {
		out.Thumbprint = k.Thumbprint()
	}
	return out
}

// lastProof is when the binding's latest bound cookie was issued by a
// proof, in unix milliseconds.
func (bd *binding) lastProof() int64 { return max(bd.registered, bd.lastRefresh) }

// Errors of a binding change replayed on a fresher state: the decision
// made on the state the request loaded no longer holds.
var (
	errBindingConflict = errors.New("session: the device binding changed concurrently")
	errAlreadyBound    = fmt.Errorf("%w: the session is bound already", errBindingConflict)
	errUnbound         = fmt.Errorf("%w: the session's binding ended or was replaced", errBindingConflict)
	errProofReplayed   = fmt.Errorf("%w: %w", errBindingConflict, dbsc.ErrReplayed)
)

// Challenges are bound to what they may be answered for: a registration
// challenge to the store ID of the login session it was offered to, a
// refresh challenge to the binding's identifier. The prefixes keep the
// two apart.
func registrationBinding(id string) string { return "r." + id }
func refreshBinding(sid string) string     { return "s." + sid }

// binder is a Manager's device binding machinery.
type binder struct {
	m            *Manager
	mode         BindingMode
	registerPath string
	refreshPath  string
	lifetime     time.Duration
	cookieName   string
	credential   dbsc.Credential
	challenger   *dbsc.Challenger
	keys         []macKey // bound-cookie MAC keys; the first signs
}

// macKey is one bound-cookie key with a pool of HMAC states keyed with
// it, so that checking a bound cookie on a request allocates nothing.
type macKey struct {
	key  []byte
	pool *sync.Pool
}

type macState struct {
	h   hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

func newBinder(m *Manager, opts DeviceBinding) (*binder, error) {
	switch opts.Mode {
	case BindingOff:
		return nil, nil
	case BindingReportOnly, BindingEnforce:
	default:
		return nil, fmt.Errorf("session: DeviceBinding.Mode %d is not a BindingMode", opts.Mode)
	}
	b := &binder{
		m: m, mode: opts.Mode,
		registerPath: opts.RegisterPath, refreshPath: opts.RefreshPath,
		lifetime:   or(opts.CookieLifetime, DefaultBoundCookieLifetime),
		cookieName: m.cookieName + "-bound",
	}
	if b.registerPath == "" {
		b.registerPath = DefaultBindingRegisterPath
	}
	if b.refreshPath == "" {
		b.refreshPath = DefaultBindingRefreshPath
	}
	for _, p := range []string{b.registerPath, b.refreshPath} {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#\" \\") {
			return nil, fmt.Errorf("session: DeviceBinding path %q must be a URL path beginning with /", p)
		}
	}
	switch {
	case b.registerPath == b.refreshPath:
		return nil, errors.New("session: DeviceBinding.RegisterPath and RefreshPath must differ")
	case b.lifetime < time.Minute || b.lifetime > 24*time.Hour:
		return nil, fmt.Errorf("session: DeviceBinding.CookieLifetime %v is not between a minute and a day", b.lifetime)
	case m.attrs.Domain != "":
		return nil, errors.New("session: DeviceBinding binds one origin; it cannot bind a session cookie shared across hosts (Cookie.Domain)")
	case m.attrs.Partitioned:
		return nil, errors.New("session: DeviceBinding cannot bind a Partitioned session cookie")
	case len(opts.Secrets) == 0:
		return nil, errors.New("session: DeviceBinding needs Secrets")
	}
	var err error
	b.challenger, err = dbsc.NewChallenger(opts.Secrets, dbsc.ChallengerOptions{
		// A challenge sent ahead is answered when the bound cookie runs
		// out, so it must outlive the cookie.
		TTL: b.lifetime + dbsc.DefaultChallengeTTL,
		Now: m.now,
	})
	if err != nil {
		return nil, fmt.Errorf("session: DeviceBinding: %w", err)
	}
	for _, s := range opts.Secrets {
		k, err := hkdf.Key(sha256.New, s, nil, "httpstate session bound cookie", 32)
		if err != nil {
			return nil, fmt.Errorf("session: DeviceBinding: %w", err)
		}
		b.keys = append(b.keys, macKey{key: k, pool: &sync.Pool{New: func() any {
			return &macState{h: hmac.New(sha256.New, k)}
		}}})
	}
	c, err := m.attrs.Cookie(b.cookieName, strings.Repeat("A", boundCookieLen), b.lifetime)
	if err != nil {
		return nil, fmt.Errorf("session: DeviceBinding: bound cookie: %w", err)
	}
	if b.credential, err = dbsc.CookieCredential(c); err != nil {
		return nil, fmt.Errorf("session: DeviceBinding: bound cookie: %w", err)
	}
	return b, nil
}

// A bound cookie's value is 41 bytes in unpadded base64url:
//
//	version (1) | expiry, unix seconds (8) | HMAC-SHA256 (32)
//
// The MAC covers a label, the session's store ID, the binding's
// identifier and the expiry.
const (
	boundVersion   = 1
	boundRawLen    = 1 + 8 + sha256.Size
	boundCookieLen = 55 // base64.RawURLEncoding.EncodedLen(boundRawLen)
	boundLabel     = "httpstate session bound cookie v1\x00"
)

// mac writes the MAC of a bound cookie under key k into out.
func (b *binder) mac(k int, id string, sid []byte, exp int64, out *[sha256.Size]byte) {
	ms := b.keys[k].pool.Get().(*macState)
	ms.h.Reset()
	in := append(ms.in[:0], boundLabel...)
	in = appendString(in, id)
	in = appendBytes(in, sid)
	in = binary.BigEndian.AppendUint64(in, uint64(exp))
	ms.in = in
	ms.h.Write(in)
	copy(out[:], ms.h.Sum(ms.sum[:0]))
	b.keys[k].pool.Put(ms)
}

// cookieValue returns the bound cookie value for the session under id,
// bound by sid, expiring at exp (unix seconds).
func (b *binder) cookieValue(id string, sid []byte, exp int64) string {
	var raw [boundRawLen]byte
	raw[0] = boundVersion
	binary.BigEndian.PutUint64(raw[1:], uint64(exp))
	var sum [sha256.Size]byte
	b.mac(0, id, sid, exp, &sum)
	copy(raw[9:], sum[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// verify returns the expiry of v if it is a bound cookie of the session
// under id, bound by sid, under any of the keys.
func (b *binder) verify(v, id string, sid []byte) (int64, bool) {
	if len(v) != boundCookieLen {
		return 0, false
	}
	var raw [boundRawLen]byte
	// Decode only reads its source; a view of v spares the copy.
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], unsafe.Slice(unsafe.StringData(v), len(v)))
	if err != nil || n != boundRawLen || raw[0] != boundVersion {
		return 0, false
	}
	exp := int64(binary.BigEndian.Uint64(raw[1:9]))
	var sum [sha256.Size]byte
	for k := range b.keys {
		b.mac(k, id, sid, exp, &sum)
		if hmac.Equal(sum[:], raw[9:]) {
			return exp, exp > 0
		}
	}
	return 0, false
}

// check looks for a valid bound cookie of the session under id among
// the request's cookies. It returns the cookie's expiry, or the reason
// there is none: "missing", "expired" or "invalid".
func (b *binder) check(h http.Header, id string, sid []byte, now int64) (exp int64, reason string) {
	reason = "missing"
	cookieValues(h, b.cookieName, func(v string) bool {
		e, ok := b.verify(v, id, sid)
		switch {
		case ok && e > now:
			exp, reason = e, ""
			return true
		case ok:
			reason = "expired"
		case reason == "missing":
			reason = "invalid"
		}
		return false
	})
	return exp, reason
}

// boundCookie returns the bound cookie expiring at exp (unix seconds, on
// the Manager's clock), with a Max-Age to match.
func (b *binder) boundCookie(id string, sid []byte, exp int64) (*http.Cookie, error) {
	maxAge := max(time.Unix(exp, 0).Sub(b.m.now()), time.Second)
	return b.m.attrs.Cookie(b.cookieName, b.cookieValue(id, sid, exp), maxAge)
}

// intercept runs before the handler. It serves the two endpoints and
// checks a bound session's bound cookie, and reports whether it wrote
// the response (the handler must then not run).
func (b *binder) intercept(w *responseWriter, r *http.Request, s *Session) bool {
	if r.Method == http.MethodPost {
		switch r.URL.Path {
		case b.registerPath:
			b.register(w, r, s)
			return true
		case b.refreshPath:
			b.refresh(w, r, s)
			return true
		}
	}
	if s.client != liveToken || len(s.st.ext) == 0 {
		return false
	}
	bd, ok, err := s.st.binding()
	if !ok {
		return false
	}
	m := b.m
	var reason string
	if err != nil {
		// Fail closed: no cookie can be shown to belong to a binding
		// that cannot be read.
		m.log.WarnContext(r.Context(), "device binding unreadable; its requests are refused", "session", shortID(s.id))
		reason = "invalid"
		if !hasCookie(r.Header, b.cookieName) {
			reason = "missing"
		}
	} else {
		s.boundExp, reason = b.check(r.Header, s.id, bd.id, m.now().Unix())
	}
	if reason == "" {
		return false
	}
	if b.mode == BindingReportOnly {
		m.emit(r.Context(), observe.Event{Kind: observe.DeviceBindingCheck, Op: "report", Outcome: observe.OK, Reason: reason})
		return false
	}
	m.emit(r.Context(), observe.Event{Kind: observe.DeviceBindingCheck, Op: "enforce", Outcome: observe.Rejected, Reason: reason})
	if reason == "missing" {
		s.reset()
		s.client = refusedToken
		return false
	}
	// The bound cookie is there but no good: drop it and come back. A
	// DBSC browser refreshes before it follows; anything else returns
	// without a bound cookie and is served as anonymous.
	w.committed = true
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if c, err := m.attrs.Expire(b.cookieName); err == nil {
		h.Add("Set-Cookie", c.String())
	}
	h.Set("Location", r.URL.RequestURI())
	w.ResponseWriter.WriteHeader(http.StatusTemporaryRedirect)
	return true
}

func hasCookie(h http.Header, name string) bool {
	found := false
	cookieValues(h, name, func(string) bool { found = true; return true })
	return found
}

// renewed runs when a response gives the session a new token: it
// reissues the bound cookie for the new token, or offers registration to
// a logged-in session that is not bound. Called with s.mu held.
func (b *binder) renewed(s *Session, h http.Header) error {
	bd, ok, err := s.st.binding()
	switch {
	case ok && err == nil && s.boundExp > b.m.now().Unix():
		// The same expiry: a renewal never extends a bound cookie.
		c, err := b.boundCookie(s.id, bd.id, s.boundExp)
		if err != nil {
			return err
		}
		h.Add("Set-Cookie", c.String())
	case !ok && s.userID != "":
		ch, err := b.challenger.Issue(registrationBinding(s.id))
		if err != nil {
			return err
		}
		v, err := dbsc.Registration{Path: b.registerPath, Challenge: ch}.HeaderValue()
		if err != nil {
			return err
		}
		h.Set(dbsc.HeaderRegistration, v)
	}
	return nil
}

// ended runs when a response expires the session cookie: a bound cookie
// the request carried goes too, which makes a DBSC browser refresh at
// once and learn that its session is over.
func (b *binder) ended(h http.Header, r *http.Request) {
	if !hasCookie(r.Header, b.cookieName) {
		return
	}
	if c, err := b.m.attrs.Expire(b.cookieName); err == nil {
		h.Add("Set-Cookie", c.String())
	}
}

// proofReason maps a dbsc error to its observe Reason.
func proofReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{dbsc.ErrReplayed, "replayed"}, {dbsc.ErrExpired, "expired"}, {dbsc.ErrChallenge, "challenge"},
		{dbsc.ErrSignature, "signature"}, {dbsc.ErrAlgorithm, "algorithm"}, {dbsc.ErrKey, "key"},
		{dbsc.ErrAuthorization, "authorization"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "malformed"
}

// endpoint is one request to RegisterPath or RefreshPath.
type endpoint struct {
	b    *binder
	w    *responseWriter
	r    *http.Request
	s    *Session
	kind observe.Kind
	op   string
	t0   time.Time
}

func (e *endpoint) report(outcome observe.Outcome, reason string, err error) {
	m := e.b.m
	if m.obs == nil {
		return
	}
	m.obs.Observe(e.r.Context(), observe.Event{Kind: e.kind, Op: e.op, Outcome: outcome, Reason: reason, Err: err,
		Start: e.t0, Duration: time.Since(e.t0)})
}

// header returns the response's header, marking the response as the
// Manager's own: the session is saved, if at all, by save.
func (e *endpoint) header() http.Header {
	e.w.committed = true
	h := e.w.Header()
	h.Set("Cache-Control", "no-store")
	return h
}

func (e *endpoint) refuse(status int, reason, msg string) {
	e.report(observe.Rejected, reason, nil)
	e.header()
	http.Error(e.w.ResponseWriter, msg, status)
}

// save commits the session's change. It reports true when it has
// answered the request itself (a store failure: the ErrorHandler's
// response); otherwise err is nil or says why the change was refused.
func (e *endpoint) save() (answered bool, err error) {
	e.header()
	_, err = e.b.m.commit(e.r.Context(), e.s, e.w.Header(), e.r)
	if err != nil && !errors.Is(err, errBindingConflict) && !errors.Is(err, ErrTooLarge) {
		e.report(observe.Error, "", err)
		e.w.abort(err)
		return true, nil
	}
	return false, err
}

func (e *endpoint) json(v any) {
	body, err := json.Marshal(v)
	if err != nil {
		e.report(observe.Error, "", err)
		e.w.abort(err)
		return
	}
	h := e.header()
	h.Set("Content-Type", "application/json")
	e.w.ResponseWriter.WriteHeader(http.StatusOK)
	e.w.ResponseWriter.Write(body)
}

// challengeAhead adds a challenge for the binding sid to h.
func (b *binder) challengeAhead(h http.Header, sid string) error {
	ch, err := b.challenger.Issue(refreshBinding(sid))
	if err != nil {
		return err
	}
	v, err := dbsc.ChallengeHeaderValue(ch, sid)
	if err != nil {
		return err
	}
	h.Set(dbsc.HeaderChallenge, v)
	return nil
}

// newBindingID returns a new DBSC session identifier: 128 random bits.
// It starts with a letter so that it is an RFC 9651 token, the form in
// which Chromium sends it back unquoted.
func newBindingID() string {
	var b [16]byte
	rand.Read(b[:])
	return "b" + base64.RawURLEncoding.EncodeToString(b[:])
}

// register serves POST RegisterPath: the browser's answer to the offer,
// a proof signed with the new key and carrying it.
func (b *binder) register(w *responseWriter, r *http.Request, s *Session) {
	m := b.m
	e := &endpoint{b: b, w: w, r: r, s: s, kind: observe.DeviceBindingRegister, t0: m.startCall()}
	s.mu.Lock()
	live := s.client == liveToken && s.userID != ""
	_, bound, _ := s.st.binding()
	id := s.id
	s.mu.Unlock()
	switch {
	case !live:
		e.refuse(http.StatusForbidden, "no_session", "No logged-in session to bind.")
		return
	case bound:
		e.refuse(http.StatusForbidden, "already_bound", "The session is bound already.")
		return
	}
	proof, err := dbsc.ResponseProof(r.Header)
	var v dbsc.Verified
	if err == nil {
		v, err = b.challenger.Registration(proof, registrationBinding(id), "", nil)
	}
	if err != nil {
		e.refuse(http.StatusBadRequest, proofReason(err), "Registration refused.")
		return
	}
	now := m.now()
	bd := binding{id: []byte(newBindingID()), alg: v.Key.Algorithm(), jwk: v.Key.MarshalJWK(),
		registered: now.UnixMilli(), lastChallenge: v.ChallengeIssued.UnixNano()}
	data := bd.encode()
	s.mu.Lock()
	err = s.change(op{kind: opExtAdd, n: tagBinding, update: func(_ []byte, bound bool) ([]byte, error) {
		if bound {
			return nil, errAlreadyBound
		}
		return data, nil
	}})
	s.mu.Unlock()
	if err == nil {
		var answered bool
		if answered, err = e.save(); answered {
			return
		}
	}
	switch {
	case errors.Is(err, ErrTooLarge):
		e.refuse(http.StatusInternalServerError, "too_large", "The session has no room for a binding.")
		return
	case errors.Is(err, errBindingConflict):
		e.refuse(http.StatusForbidden, "already_bound", "The session is bound already.")
		return
	case s.record != stored:
		// Logged out or revoked while this request ran.
		e.refuse(http.StatusForbidden, "no_session", "No logged-in session to bind.")
		return
	}
	h := w.Header()
	c, err := b.boundCookie(s.id, bd.id, now.Add(b.lifetime).Unix())
	if err == nil {
		setCookie(h, c)
		err = b.challengeAhead(h, string(bd.id))
	}
	if err != nil {
		e.report(observe.Error, "", err)
		w.abort(err)
		return
	}
	e.report(observe.OK, "", nil)
	e.json(dbsc.Instructions{
		SessionIdentifier: string(bd.id),
		RefreshURL:        b.refreshPath,
		Credentials:       []dbsc.Credential{b.credential},
	})
}

// refresh serves POST RefreshPath.
func (b *binder) refresh(w *responseWriter, r *http.Request, s *Session) {
	m := b.m
	e := &endpoint{b: b, w: w, r: r, s: s, kind: observe.DeviceBindingRefresh, t0: m.startCall()}
	sid, err := dbsc.SessionID(r.Header)
	if err != nil {
		e.refuse(http.StatusBadRequest, "malformed", "No Sec-Secure-Session-Id.")
		return
	}
	e.op = "proof"
	terminate := func(reason string, err error) {
		if err != nil {
			e.report(observe.Error, reason, err)
		} else {
			e.report(observe.Rejected, reason, nil)
		}
		// Chromium heeds a termination only if it names the session.
		e.json(dbsc.Instructions{SessionIdentifier: sid, Terminate: true})
	}
	challenge := func(outcome observe.Outcome, reason string) {
		h := e.header()
		if err := b.challengeAhead(h, sid); err != nil {
			e.report(observe.Error, "", err)
			w.abort(err)
			return
		}
		e.report(outcome, reason, nil)
		w.ResponseWriter.WriteHeader(http.StatusForbidden)
	}
	s.mu.Lock()
	live := s.client == liveToken
	bd, bound, berr := s.st.binding()
	s.mu.Unlock()
	switch {
	case !live:
		terminate("ended", nil)
		return
	case bound && berr != nil:
		terminate("unbound", fmt.Errorf("session: device binding of %s: %w", shortID(s.id), berr))
		return
	case !bound || string(bd.id) != sid:
		terminate("unbound", nil)
		return
	}
	if len(r.Header.Values(dbsc.HeaderResponse)) == 0 {
		e.op = "challenge"
		challenge(observe.OK, "")
		return
	}
	key, err := dbsc.ParseJWK(bd.jwk, bd.alg)
	if err != nil {
		terminate("unbound", fmt.Errorf("session: device binding key of %s: %w", shortID(s.id), err))
		return
	}
	proof, err := dbsc.ResponseProof(r.Header)
	var v dbsc.Verified
	if err == nil {
		v, err = b.challenger.Refresh(proof, refreshBinding(sid), key, time.Unix(0, bd.lastChallenge))
	}
	if err != nil {
		challenge(observe.Rejected, proofReason(err))
		return
	}
	now := m.now()
	issued, at := v.ChallengeIssued.UnixNano(), now.UnixMilli()
	s.mu.Lock()
	err = s.change(op{kind: opExtUpdate, n: tagBinding, update: func(old []byte, bound bool) ([]byte, error) {
		if !bound {
			return nil, errUnbound
		}
		cur, err := decodeBinding(old)
		switch {
		case err != nil || string(cur.id) != sid:
			return nil, errUnbound
		case cur.lastChallenge >= issued:
			// Another refresh answered this challenge, or a later one,
			// first.
			return nil, errProofReplayed
		}
		cur.lastChallenge, cur.lastRefresh, cur.refreshes = issued, at, cur.refreshes+1
		return cur.encode(), nil
	}})
	s.mu.Unlock()
	if err == nil {
		var answered bool
		if answered, err = e.save(); answered {
			return
		}
	}
	switch {
	case errors.Is(err, errProofReplayed):
		challenge(observe.Rejected, "replayed")
		return
	case err != nil:
		terminate("unbound", nil)
		return
	case s.record != stored:
		terminate("ended", nil)
		return
	}
	h := w.Header()
	c, err := b.boundCookie(s.id, bd.id, now.Add(b.lifetime).Unix())
	if err == nil {
		setCookie(h, c)
		err = b.challengeAhead(h, sid)
	}
	if err != nil {
		e.report(observe.Error, "", err)
		w.abort(err)
		return
	}
	e.report(observe.OK, "", nil)
	w.ResponseWriter.WriteHeader(http.StatusOK)
}
