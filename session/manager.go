package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/httpstate/httpstate/cookie"
	"github.com/httpstate/httpstate/observe"
)

// Default timeouts and limits. The plain pair of timeouts follows OWASP
// ASVS level 2; remembered sessions ("remember me") trade some of that for
// convenience.
const (
	DefaultIdleTimeout         = 30 * time.Minute
	DefaultLifetime            = 12 * time.Hour
	DefaultRememberIdleTimeout = 7 * 24 * time.Hour
	DefaultRememberLifetime    = 30 * 24 * time.Hour
	DefaultTouchInterval       = time.Minute
	DefaultStoreTimeout        = 3 * time.Second
	DefaultCookieName          = "session"

	// DefaultMaxSize bounds a session's record (64 KiB): far above what a
	// session needs (an ID, a cart, a few preferences), far below every
	// store's limits, and small enough that rewriting the record on each
	// write stays cheap.
	DefaultMaxSize = 64 << 10
)

// tombstoneLifetime is how long the tombstone of a renewed or ended
// session stays: long enough for any request or revocation that loaded
// the old record to find it when its compare-and-swap fails.
const tombstoneLifetime = 5 * time.Minute

// Codec encodes session values. It must round-trip any value it encodes
// into a variable of the same type; it need not know the types in advance.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error) {
	if b, ok := encodeScalar(v); ok {
		return b, nil
	}
	return json.Marshal(v)
}

func (jsonCodec) Unmarshal(data []byte, v any) error {
	if decodeScalar(data, v) {
		return nil
	}
	return json.Unmarshal(data, v)
}

// JSON is the default Codec: encoding/json, which needs no registration of
// types and keeps stored sessions readable.
var JSON Codec = jsonCodec{}

// Options configure a Manager. The zero value is the secure default.
type Options struct {
	// CookieName is the session cookie's name (default "session"). With
	// the default secure attributes the Manager sends it as
	// "__Host-session", a prefix that stops subdomains and plain-HTTP
	// pages from setting or overwriting it.
	CookieName string

	// Cookie holds the cookie's attributes; the zero value is Secure,
	// HttpOnly, SameSite=Lax and Path=/. Set Cookie.Insecure only for
	// development over plain HTTP; with a Domain the prefix becomes
	// "__Secure-" because "__Host-" forbids one.
	Cookie cookie.Attributes

	// IdleTimeout ends a session after this long without a request
	// (default 30 minutes); Lifetime ends it this long after creation or
	// login whatever its activity (default 12 hours). Both are enforced on
	// the server, not just by the cookie.
	IdleTimeout, Lifetime time.Duration

	// RememberIdleTimeout and RememberLifetime replace the two timeouts
	// for sessions logged in with "remember me" (defaults 7 and 30 days).
	RememberIdleTimeout, RememberLifetime time.Duration

	// TouchInterval bounds how often a request that only reads the session
	// writes to the store to extend its idle deadline (default one
	// minute). A read-only request within the interval writes nothing and
	// sends no Set-Cookie.
	TouchInterval time.Duration

	// StoreTimeout bounds each store call the Manager makes, on top of
	// any deadline the request's context already has (default 3 seconds;
	// negative for none). net/http gives request contexts no deadline, so
	// without this bound a store that stops answering would hold every
	// request until the client gave up; with it, the client promptly gets
	// the ErrorHandler's response. The bound costs nothing on a call that
	// does not wait: a timer is armed only when a store waits for its
	// context's Done channel, so an in-process store pays for none.
	StoreTimeout time.Duration

	// MaxSize bounds the size of a session's record in bytes (default
	// DefaultMaxSize; at most MaxDataLen). Put, Update and AddFlash return
	// ErrTooLarge rather than cross it.
	MaxSize int

	// StrictReads makes a read-modify-write conflict fail the request:
	// when a request Puts or Deletes a key it had read with Get or Pop,
	// and a concurrent request changed that key before this one saved,
	// the request ends with ErrReadConflict through ErrorHandler (409
	// Conflict by default) and saves none of its changes. Without it the
	// request's value is saved over the concurrent change and the conflict
	// is logged at WARN level with the key's name (never its value) and
	// reported to the Observer. Update never conflicts this way: it runs
	// again on the fresh value.
	StrictReads bool

	// Codec encodes values (default JSON).
	Codec Codec

	// ErrorHandler writes the response when the session cannot be loaded
	// or saved. The default answers 503 Service Unavailable with
	// Retry-After for a store failure, 409 Conflict for ErrReadConflict
	// and 500 for ErrTooLarge, each with a short plain-text message. The
	// error has already been logged. A store error is never treated as
	// "no session".
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// Logger receives errors and warnings (default slog.Default()). Tokens
	// are never logged; a session appears as a short prefix of its store
	// ID, itself a hash of the token.
	Logger *slog.Logger

	// Observer, if not nil, receives an event for every store call, save,
	// lapsed token, login, logout, renewal, revocation and conflict; see
	// package observe. Nil costs nothing.
	Observer observe.Observer

	// ClientIP returns the address recorded for the device list. The
	// default is the host of r.RemoteAddr; behind a trusted proxy, read
	// its forwarding header here.
	ClientIP func(r *http.Request) string

	// Clock returns the current time (default time.Now), for tests of
	// timeouts.
	Clock func() time.Time

	// DeviceBinding binds logged-in sessions to the browser's device with
	// Device Bound Session Credentials, so that a session cookie copied
	// off the device stops working within minutes (off by default; see
	// DeviceBinding).
	DeviceBinding DeviceBinding
}

// Manager loads, saves, renews and revokes sessions. It is safe for
// concurrent use; create one per application (or one per kind of session,
// see FromContext) and wrap handlers with Middleware.
type Manager struct {
	store         Store
	lanes         lanes
	cookieName    string
	attrs         cookie.Attributes
	idle, life    time.Duration
	rIdle, rLife  time.Duration
	touchInterval time.Duration
	storeTimeout  time.Duration
	maxSize       int
	strictReads   bool
	codec         Codec
	onError       func(http.ResponseWriter, *http.Request, error)
	log           *slog.Logger
	obs           observe.Observer
	clientIP      func(*http.Request) string
	now           func() time.Time
	bind          *binder // nil when DeviceBinding is off
}

// New returns a Manager that keeps sessions in store. It returns an error
// if the options are inconsistent, such as a cookie name or attribute
// combination browsers would reject.
func New(store Store, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("session: nil Store")
	}
	m := &Manager{
		store:         store,
		lanes:         lanes{seed: maphash.MakeSeed()},
		attrs:         opts.Cookie,
		idle:          or(opts.IdleTimeout, DefaultIdleTimeout),
		life:          or(opts.Lifetime, DefaultLifetime),
		rIdle:         or(opts.RememberIdleTimeout, DefaultRememberIdleTimeout),
		rLife:         or(opts.RememberLifetime, DefaultRememberLifetime),
		touchInterval: or(opts.TouchInterval, DefaultTouchInterval),
		storeTimeout:  or(opts.StoreTimeout, DefaultStoreTimeout),
		maxSize:       opts.MaxSize,
		strictReads:   opts.StrictReads,
		codec:         opts.Codec,
		onError:       opts.ErrorHandler,
		log:           opts.Logger,
		obs:           opts.Observer,
		clientIP:      opts.ClientIP,
		now:           opts.Clock,
	}
	if m.maxSize == 0 {
		m.maxSize = DefaultMaxSize
	}
	if m.maxSize < 0 || m.maxSize > MaxDataLen {
		return nil, fmt.Errorf("session: MaxSize %d is not between 1 and MaxDataLen (%d)", m.maxSize, MaxDataLen)
	}
	if m.codec == nil {
		m.codec = JSON
	}
	if m.onError == nil {
		m.onError = defaultErrorHandler
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.clientIP == nil {
		m.clientIP = remoteHost
	}
	if m.now == nil {
		m.now = time.Now
	}
	name := opts.CookieName
	if name == "" {
		name = DefaultCookieName
	}
	if !strings.HasPrefix(name, "__") && !m.attrs.Insecure {
		if m.attrs.Domain == "" && (m.attrs.Path == "" || m.attrs.Path == "/") {
			name = "__Host-" + name
		} else {
			name = "__Secure-" + name
		}
	}
	m.cookieName = name
	// Build one cookie now so that a bad name or attribute combination is
	// reported at start-up, not on the first login.
	if _, err := m.attrs.Cookie(name, newToken(), time.Hour); err != nil {
		return nil, fmt.Errorf("session: cookie: %w", err)
	}
	if min(m.idle, m.life, m.rIdle, m.rLife, m.touchInterval) < 0 {
		return nil, errors.New("session: negative timeout")
	}
	if m.idle > m.life || m.rIdle > m.rLife {
		return nil, errors.New("session: an idle timeout longer than its lifetime can never apply")
	}
	var err error
	if m.bind, err = newBinder(m, opts.DeviceBinding); err != nil {
		return nil, err
	}
	return m, nil
}

func or(d, def time.Duration) time.Duration {
	if d != 0 {
		return d
	}
	return def
}

// CookieName returns the name the session cookie is sent under, prefix
// included.
func (m *Manager) CookieName() string { return m.cookieName }

// MaxSize returns the limit on a session's record size, in bytes.
func (m *Manager) MaxSize() int { return m.maxSize }

func defaultErrorHandler(w http.ResponseWriter, _ *http.Request, err error) {
	switch {
	case errors.Is(err, ErrReadConflict):
		http.Error(w, "Conflict: this request and another one changed the same data at the same time. Please try again.", http.StatusConflict)
	case errors.Is(err, ErrTooLarge):
		http.Error(w, "The session has grown past its size limit.", http.StatusInternalServerError)
	default:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "Service unavailable: session storage did not answer. Please try again shortly.", http.StatusServiceUnavailable)
	}
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// timeouts returns the idle timeout and lifetime that apply to st.
func (m *Manager) timeouts(st *state) (idle, life time.Duration) {
	if st.remember {
		return m.rIdle, m.rLife
	}
	return m.idle, m.life
}

// deadline is when st's session ends: the earlier of its idle and absolute
// deadlines.
func (m *Manager) deadline(st *state) time.Time {
	idle, life := m.timeouts(st)
	return unixMilli(min(st.seen+idle.Milliseconds(), st.created+life.Milliseconds()))
}

// storeExpiry is the Expiry to give a store for a record that must live
// until deadline: never less than MaxClockSkew ahead, so that no store
// whose clock runs ahead of ours judges it expired as it arrives. The
// Manager enforces deadlines itself on every load, so the margin never
// extends a session.
func storeExpiry(deadline, now time.Time) time.Time {
	if floor := now.Add(MaxClockSkew); deadline.Before(floor) {
		return floor
	}
	return deadline
}

// fail logs err and writes the error response.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	level := slog.LevelError
	if errors.Is(err, ErrReadConflict) {
		level = slog.LevelWarn
	}
	m.log.Log(r.Context(), level, "session could not be loaded or saved", "err", err, "method", r.Method, "path", r.URL.Path)
	m.onError(w, r, err)
}

// Middleware loads the request's session before next runs and saves it
// just before the response's first byte. It never buffers the response,
// and the writer it passes on keeps every capability of w (see
// http.ResponseController).
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := &requestState{Context: r.Context()}
		s := &rs.s
		s.call = &rs.call
		if err := m.load(r.Context(), r, s); err != nil {
			m.fail(w, r, err)
			return
		}
		s.outer = FromContext(r.Context())
		r = r.WithContext(rs)
		rs.w = responseWriter{ResponseWriter: w, m: m, r: r, s: s}
		if m.bind != nil && m.bind.intercept(&rs.w, r, s) {
			return
		}
		next.ServeHTTP(&rs.w, r)
		rs.w.finish()
	})
}

// requestState holds what the Middleware needs for one request in one
// allocation. It is also the request's new context: Value answers for the
// session and defers everything else to the request's own context, which
// spares the allocation of a context.WithValue.
type requestState struct {
	context.Context
	s    Session
	w    responseWriter
	call callContext
}

func (rs *requestState) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return &rs.s
	}
	return rs.Context.Value(key)
}

// load builds the request's session. Only a store failure is an error: a
// missing, malformed, forged, expired or unreadable token yields a fresh
// anonymous session.
func (m *Manager) load(ctx context.Context, r *http.Request, s *Session) error {
	now := m.now()
	ms := now.UnixMilli()
	s.m = m
	s.loadedAt = now.UnixNano()
	s.st.created, s.st.seen = ms, ms
	tok, id, presented := "", "", false
	cookieValues(r.Header, m.cookieName, func(v string) bool {
		presented = true
		if idInto(&s.idBuf, v) {
			// The bytes are written once, here, and never again, so a
			// string over them is as immutable as any other: the request
			// path spares the allocation of a copy.
			id, tok = unsafe.String(&s.idBuf[0], idLen), v
			return true
		}
		return false
	})
	if !presented {
		return nil
	}
	if id == "" {
		m.lapse(ctx, s, "malformed")
		return nil
	}
	rec, err := m.load1(ctx, &s.call, id)
	switch {
	case errors.Is(err, ErrNotFound):
		m.lapse(ctx, s, "unknown")
		return nil
	case err != nil:
		return fmt.Errorf("session: load: %w", err)
	case isTombstone(rec.Data):
		m.lapse(ctx, s, "revoked")
		return nil
	}
	st, err := decodeStateInto(rec.Data, s.kvBuf[:0], s.extBuf[:0])
	if err != nil {
		m.log.WarnContext(ctx, "session record unreadable; starting a new session", "session", shortID(id), "err", err)
		m.lapse(ctx, s, "stale")
		return nil
	}
	if !m.deadline(&st).After(now) {
		// The store's expiry was computed with the timeouts of the time;
		// the current configuration is the one that counts.
		m.lapse(ctx, s, "expired")
		s.expired = append(s.expired, id)
		return nil
	}
	s.client, s.record = liveToken, stored
	s.token, s.id = tok, id
	s.version, s.userID, s.st = rec.Version, rec.UserID, st
	s.touchDue = now.Sub(unixMilli(st.seen)) >= m.touchInterval
	return nil
}

func (m *Manager) lapse(ctx context.Context, s *Session, reason string) {
	s.client = deadToken
	m.emit(ctx, observe.Event{Kind: observe.Lapsed, Reason: reason})
}

// errLost reports a save that found its session ended by another request
// (logged out, revoked, renewed) or by a revocation this session's
// credentials predate.
var errLost = errors.New("session ended concurrently")

// maxAttempts bounds compare-and-swap retries; each lost attempt means
// another request saved, so the system as a whole always progresses.
const maxAttempts = 100

// commit saves the session and, while the headers are still writable (h
// is not nil), sets the cookie. It is called just before the response's
// first byte and again after the handler returns if the session changed
// after that. It reports whether it set or expired the cookie.
func (m *Manager) commit(ctx context.Context, s *Session, h http.Header, r *http.Request) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = started
	for _, id := range s.ended {
		if _, err := m.end(ctx, &s.call, id, ""); err != nil {
			return false, fmt.Errorf("session: logout: %w", err)
		}
		m.emit(ctx, observe.Event{Kind: observe.Logout})
	}
	s.ended = nil
	for _, id := range s.expired {
		if err := m.delete1(ctx, &s.call, id); err != nil {
			return false, fmt.Errorf("session: delete: %w", err)
		}
	}
	s.expired = nil

	var t0 time.Time
	if m.obs != nil {
		t0 = time.Now()
	}
	logins := s.logins()
	wrote, attempts, err := m.save(ctx, s, r)
	if m.obs != nil && attempts > 0 {
		m.emit(ctx, saveEvent(t0, attempts, err))
	}
	if errors.Is(err, errLost) {
		// Another request logged out, revoked or renewed this session
		// first, or a revocation caught it. That decision stands; this
		// request's changes are dropped rather than bringing the session
		// back.
		m.log.InfoContext(ctx, "session ended by a concurrent request or a revocation; changes dropped", "session", shortID(s.id))
		m.emit(ctx, observe.Event{Kind: observe.EndedConcurrently})
		s.reset()
		s.client = deadToken
		wrote, err = false, nil
	}
	if err != nil {
		return false, err
	}
	if wrote && logins > 0 {
		m.emit(ctx, observe.Event{Kind: observe.Login})
	}
	if h == nil {
		return false, nil
	}
	switch {
	case wrote && (s.drawn || s.st.remember):
		// A new token, or a remembered session whose persistent cookie
		// slides with the idle deadline.
		var maxAge time.Duration
		if s.st.remember {
			maxAge = m.deadline(&s.st).Sub(s.when())
		}
		c, err := m.attrs.Cookie(m.cookieName, s.token, maxAge)
		if err != nil {
			return false, err
		}
		setCookie(h, c)
		if m.bind != nil && s.drawn {
			if err := m.bind.renewed(s, h); err != nil {
				return false, err
			}
		}
		return true, nil
	case s.record == noRecord && s.client != noToken && s.client != refusedToken:
		// The browser holds a cookie that names nothing: remove it rather
		// than have every later request look it up again. (A request
		// refused for its device binding names a live session: its
		// cookie stays.)
		c, err := m.attrs.Expire(m.cookieName)
		if err != nil {
			return false, err
		}
		setCookie(h, c)
		if m.bind != nil {
			m.bind.ended(h, r)
		}
		return true, nil
	}
	return false, nil
}

// logins counts the Login calls among the session's pending changes.
func (s *Session) logins() int {
	n := 0
	for i := range s.ops {
		if s.ops[i].kind == opLogin {
			n++
		}
	}
	return n
}

func saveEvent(t0 time.Time, attempts int, err error) observe.Event {
	e := observe.Event{Kind: observe.Save, Start: t0, Duration: time.Since(t0), Attempts: attempts, Outcome: observe.OK}
	switch {
	case err == nil:
	case errors.Is(err, errLost):
		e.Outcome = observe.Lost
	case errors.Is(err, ErrReadConflict), errors.Is(err, ErrTooLarge), errors.Is(err, errBindingConflict):
		e.Outcome, e.Err = observe.Rejected, err
	default:
		e.Outcome, e.Err = observe.Error, err
	}
	return e
}

func setCookie(h http.Header, c *http.Cookie) {
	h.Add("Set-Cookie", c.String())
	h.Add("Vary", "Cookie")
	// Shared caches must not store a response that sets a session cookie
	// and hand it, cookie and all, to another user.
	if cc := h.Get("Cache-Control"); cc == "" {
		h.Set("Cache-Control", `no-cache="Set-Cookie"`)
	} else if !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private") {
		h.Set("Cache-Control", cc+`, no-cache="Set-Cookie"`)
	}
}

// save writes the session if anything needs writing. It reports whether it
// wrote and how many store saves it attempted. Called with s.mu held.
func (m *Manager) save(ctx context.Context, s *Session, r *http.Request) (bool, int, error) {
	switch s.record {
	case noRecord:
		if !s.hasContent() {
			return false, 0, nil
		}
		if s.token == "" {
			s.newIdentity()
		}
		return m.saveNew(ctx, s, r)
	case renewing:
		return m.saveNew(ctx, s, r)
	}
	if len(s.ops) == 0 && !s.touchDue {
		return false, 0, nil
	}
	return m.saveInPlace(ctx, s, r)
}

// prepare returns the state and record the next save writes: the current
// state stamped with this request's time, user agent and address.
func (m *Manager) prepare(s *Session, r *http.Request, now time.Time) (state, Record, error) {
	st := s.st
	m.stamp(&st, r, now)
	rec, err := m.encodeRecord(&st, s.userID, s.id, s.version, now)
	if err == nil && len(rec.Data) > m.maxSize && s.grew() {
		err = fmt.Errorf("session: save: %w", ErrTooLarge)
	}
	return st, rec, err
}

// stamp records in st that the session was used now, by r's client.
func (m *Manager) stamp(st *state, r *http.Request, now time.Time) {
	st.seen = now.UnixMilli()
	// Copied only when they change, which for one browser is rarely.
	if agent := truncate(r.UserAgent(), maxAgentLen); string(st.agent) != agent {
		st.agent = []byte(agent)
	}
	if ip := truncate(m.clientIP(r), maxAgentLen); string(st.ip) != ip {
		st.ip = []byte(ip)
	}
}

// encodeRecord returns the record that saves st, or errLost if the
// session's deadline has passed.
func (m *Manager) encodeRecord(st *state, userID, id string, version uint64, now time.Time) (Record, error) {
	exp := m.deadline(st)
	if !exp.After(now) {
		return Record{}, errLost
	}
	return Record{ID: id, UserID: userID, Version: version, Expiry: storeExpiry(exp, now), Data: st.encode(nil)}, nil
}

// grew reports whether the request made changes that can enlarge the
// session; a save that only extends the idle deadline of a session already
// over a lowered MaxSize must not fail.
func (s *Session) grew() bool {
	for i := range s.ops {
		if grows(s.ops[i].kind) {
			return true
		}
	}
	return false
}

// settle marks the session's state as stored under its token.
func (s *Session) settle() {
	s.record = stored
	s.oldID, s.oldVersion = "", 0
	s.ops, s.touchDue = nil, false
	if s.w != nil {
		s.w.base, s.w.baseUser, s.w.baseVersion = s.st, s.userID, s.version
	}
}

// saveNew saves the session under a new token: a session's first save,
// or a renewal (RenewID, Login). A renewal saves the new record first and
// then turns the old one into a tombstone naming the new one, with a
// compare-and-swap on the version the request loaded: until that swap
// succeeds the old record is untouched, so a failure anywhere leaves the
// client with the session it had, and the new record exists before the
// tombstone points to it, so a revocation that follows the tombstone
// always finds it. A session that belongs to a user is then checked
// against the user's revocations (see RevokeAll).
func (m *Manager) saveNew(ctx context.Context, s *Session, r *http.Request) (bool, int, error) {
	now := s.when()
	attempt := 1
	for ; ; attempt++ {
		st, rec, err := m.prepare(s, r, now)
		if err != nil {
			return false, attempt - 1, err
		}
		saved := rec.Version + 1
		if err = m.save1(ctx, &s.call, rec); err != nil {
			var ok bool
			if saved, ok = m.confirm(ctx, &s.call, rec, err); !ok {
				if errors.Is(err, ErrConflict) && s.version > 0 {
					// The new record was ended between two attempts: a
					// revocation found it.
					return false, attempt, errLost
				}
				return false, attempt, fmt.Errorf("session: save: %w", err)
			}
		}
		s.st = st
		s.version = saved
		if s.record != renewing {
			break
		}
		old := Record{ID: s.oldID, Version: s.oldVersion, Expiry: storeExpiry(now.Add(tombstoneLifetime), now),
			Data: tombstone{kind: tombstoneRenewed, successor: s.id}.encode()}
		err = m.save1(ctx, &s.call, old)
		if err == nil || m.confirmed(ctx, &s.call, old, err) {
			break
		}
		if !errors.Is(err, ErrConflict) || attempt >= maxAttempts {
			m.discard(ctx, s.id)
			return false, attempt, fmt.Errorf("session: renew: %w", err)
		}
		conflict := err
		if err := backoff(ctx, attempt); err != nil {
			m.discard(ctx, s.id)
			return false, attempt, err
		}
		if err := m.rebase(ctx, s, s.oldID, &s.oldVersion, conflict); err != nil {
			m.discard(ctx, s.id)
			return false, attempt, err
		}
	}
	renewed := s.record == renewing
	s.settle()
	if renewed {
		m.emit(ctx, observe.Event{Kind: observe.Renew})
	}
	if s.userID != "" {
		if err := m.checkRevoked(ctx, s, now); err != nil {
			return false, attempt, err
		}
	}
	return true, attempt, nil
}

// discard removes a new record that a failed renewal leaves behind. It is
// best-effort: the record's token never reached the client, so a record
// that survives is unreachable and expires.
func (m *Manager) discard(ctx context.Context, id string) {
	if err := m.delete1(context.WithoutCancel(ctx), nil, id); err != nil {
		m.log.WarnContext(ctx, "deleting the new record of a failed renewal failed; it expires unused", "session", shortID(id), "err", err)
	}
}

// confirmed resolves an ambiguous save: err is neither nil nor a
// conflict, so the store may have written rec anyway (a timeout or a lost
// reply after the write). It loads the record again and reports whether
// it now holds exactly what rec wrote.
func (m *Manager) confirmed(ctx context.Context, cp **callContext, rec Record, err error) bool {
	_, ok := m.confirm(ctx, cp, rec, err)
	return ok
}

// confirm is confirmed for a record of a user, which must also be in the
// user's index: a store can write a record and then fail to index it
// (Redis and Memcached keep the index under another key), and a record
// missing from the index would escape RevokeAll. If it is missing, the
// record is saved once more, as loaded, which indexes it. confirm returns
// the version that now holds rec's data.
func (m *Manager) confirm(ctx context.Context, cp **callContext, rec Record, err error) (uint64, bool) {
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) || ctx.Err() != nil {
		return 0, false
	}
	got, lerr := m.load1(ctx, cp, rec.ID)
	if lerr != nil || got.Version != rec.Version+1 || string(got.Data) != string(rec.Data) {
		return 0, false
	}
	if rec.UserID != "" {
		recs, lerr := m.list1(ctx, cp, rec.UserID)
		if lerr != nil {
			return 0, false
		}
		if !slices.ContainsFunc(recs, func(r Record) bool { return r.ID == rec.ID }) {
			if m.save1(ctx, cp, got) != nil {
				// Written but not indexed, and the store still fails: the
				// original error stands; the next save indexes it.
				return 0, false
			}
			m.log.InfoContext(ctx, "session store wrote a record without its user index entry; saved it again", "session", shortID(rec.ID), "err", err)
			return got.Version + 1, true
		}
	}
	m.log.InfoContext(ctx, "session store reported an error after writing; the write is confirmed", "session", shortID(rec.ID), "err", err)
	return got.Version, true
}

// backoff waits a random time that grows with the number of conflicts
// already lost, so that many requests racing on one session stop
// colliding in lockstep. The first retry is immediate.
func backoff(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return nil
	}
	d := time.Duration(rand.N(1<<min(attempt, 7))) * 50 * time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("session: save: %w", ctx.Err())
	}
}

// rebase reloads the record under id and replays the request's changes on
// it. It returns errLost if the record is gone or was renewed away, and
// ErrReadConflict (with StrictReads) if a key the request read and then
// wrote was changed meanwhile.
func (m *Manager) rebase(ctx context.Context, s *Session, id string, version *uint64, conflict error) error {
	st, user, v, err := m.reload(ctx, &s.call, id, conflict)
	if err != nil {
		return err
	}
	base := st
	if err := m.replay(ctx, s, &st, &user); err != nil {
		return err
	}
	w := s.writing()
	w.base, w.baseVersion = base, v
	s.st, s.userID, *version = st, user, v
	return nil
}

// reload loads and decodes the record under id after a lost
// compare-and-swap, unless the store's conflict error carries it. It
// returns errLost if the session is gone, a tombstone or unreadable.
func (m *Manager) reload(ctx context.Context, cp **callContext, id string, conflict error) (state, string, uint64, error) {
	var rec Record
	var err error
	if ce := (*ConflictError)(nil); errors.As(conflict, &ce) && ce.Current.ID == id {
		if !ce.Found {
			return state{}, "", 0, errLost
		}
		rec = ce.Current
	} else {
		rec, err = m.load1(ctx, cp, id)
	}
	if errors.Is(err, ErrNotFound) || err == nil && isTombstone(rec.Data) {
		return state{}, "", 0, errLost
	}
	if err != nil {
		return state{}, "", 0, fmt.Errorf("session: reload after conflict: %w", err)
	}
	st, err := decodeState(rec.Data)
	if err != nil {
		return state{}, "", 0, errLost
	}
	return st, rec.UserID, rec.Version, nil
}

// replay applies s's changes to st, as they were made, and reports the
// read-modify-write conflicts it finds: a Put or Delete of a key the
// request had read, which st holds with another value. With StrictReads
// such a conflict is ErrReadConflict and st must be discarded.
func (m *Manager) replay(ctx context.Context, s *Session, st *state, user *string) error {
	var stale []string
	for i := range s.ops {
		o := &s.ops[i]
		if o.stale(st) {
			stale = append(stale, o.key)
			// A later replay reports only what changes after this one:
			// from here on the request knowingly overwrites this value.
			o.readVal, o.readFound = st.get(o.key)
		}
		if err := o.apply(st, user); err != nil {
			return fmt.Errorf("session: replay after conflict: %w", err)
		}
	}
	for _, key := range stale {
		outcome := observe.OK
		if m.strictReads {
			outcome = observe.Rejected
		} else {
			m.log.WarnContext(ctx, "read-modify-write conflict: a concurrent request changed a session key this request read and then wrote; this request's value was saved over it (use session.Update, or Options.StrictReads to refuse)",
				"session", shortID(s.id), "key", key)
		}
		m.emit(ctx, observe.Event{Kind: observe.ReadConflict, Key: key, Outcome: outcome})
	}
	if len(stale) > 0 && m.strictReads {
		return fmt.Errorf("%w (keys %q)", ErrReadConflict, stale)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// emit reports e to the Observer, if there is one.
func (m *Manager) emit(ctx context.Context, e observe.Event) {
	if m.obs != nil {
		m.obs.Observe(ctx, e)
	}
}

// load1, save1, delete1 and list1 are the store's methods, each call
// bounded by StoreTimeout on its own (so a long compare-and-swap retry
// loop under contention is not cut short by a budget meant for one call)
// and reported to the Observer. cp holds the request's reusable call
// context, or is nil outside a request.
func (m *Manager) load1(ctx context.Context, cp **callContext, id string) (Record, error) {
	t0 := m.startCall()
	cctx, c := m.bound(ctx, cp)
	rec, err := m.store.Load(cctx, id)
	m.endCall(ctx, c, "load", t0, err)
	return rec, err
}

func (m *Manager) save1(ctx context.Context, cp **callContext, rec Record) error {
	t0 := m.startCall()
	cctx, c := m.bound(ctx, cp)
	err := m.store.Save(cctx, rec)
	m.endCall(ctx, c, "save", t0, err)
	return err
}

func (m *Manager) delete1(ctx context.Context, cp **callContext, id string) error {
	t0 := m.startCall()
	cctx, c := m.bound(ctx, cp)
	err := m.store.Delete(cctx, id)
	m.endCall(ctx, c, "delete", t0, err)
	return err
}

func (m *Manager) list1(ctx context.Context, cp **callContext, userID string) ([]Record, error) {
	t0 := m.startCall()
	cctx, c := m.bound(ctx, cp)
	recs, err := m.store.ListByUser(cctx, userID)
	m.endCall(ctx, c, "list", t0, err)
	return recs, err
}

// bound returns the context for one store call: a call context limited
// by StoreTimeout, or ctx itself when there is no timeout. It reuses *cp
// unless a store asked that one for Done: goroutines the store started
// to watch it (context.WithCancel does, for a Context it does not know)
// may outlive the call and must keep seeing it ended.
func (m *Manager) bound(ctx context.Context, cp **callContext) (context.Context, *callContext) {
	if m.storeTimeout < 0 {
		return ctx, nil
	}
	var c *callContext
	if cp != nil {
		c = *cp
	}
	if c == nil || c.armed() {
		c = new(callContext)
		if cp != nil {
			*cp = c
		}
	}
	c.start(ctx, m.storeTimeout)
	return c, c
}

func (m *Manager) startCall() time.Time {
	if m.obs == nil {
		return time.Time{}
	}
	return time.Now()
}

func (m *Manager) endCall(ctx context.Context, c *callContext, op string, t0 time.Time, err error) {
	if c != nil {
		c.release()
	}
	if m.obs == nil {
		return
	}
	e := observe.Event{Kind: observe.StoreCall, Op: op, Start: t0, Duration: time.Since(t0), Outcome: observe.OK}
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		e.Outcome = observe.NotFound
	case errors.Is(err, ErrConflict):
		e.Outcome = observe.Conflict
	default:
		e.Outcome, e.Err = observe.Error, err
	}
	m.obs.Observe(ctx, e)
}
