package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/httpstate/httpstate/cookie"
)

// Default timeouts. The plain pair follows OWASP ASVS level 2; remembered
// sessions ("remember me") trade some of that for convenience.
const (
	DefaultIdleTimeout         = 30 * time.Minute
	DefaultLifetime            = 12 * time.Hour
	DefaultRememberIdleTimeout = 7 * 24 * time.Hour
	DefaultRememberLifetime    = 30 * 24 * time.Hour
	DefaultTouchInterval       = time.Minute
	DefaultStoreTimeout        = 3 * time.Second
	DefaultCookieName          = "session"
)

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

	// Bearer accepts the session token in an "Authorization: Bearer"
	// header, for API clients, when the request carries no session cookie.
	// Such sessions never receive Set-Cookie. A token is never accepted
	// from a URL.
	Bearer bool

	// StoreTimeout bounds each store call the Manager makes, on top of
	// any deadline the request's context already has (default 3 seconds;
	// negative for none). net/http gives request contexts no deadline, so
	// without this bound a store that stops answering would hold every
	// request until the client gave up; with it, the client promptly gets
	// the ErrorHandler's response. Stores that implement InProcess get
	// no bound unless StoreTimeout is set.
	StoreTimeout time.Duration

	// Codec encodes values (default JSON).
	Codec Codec

	// ErrorHandler writes the response when the store fails. The default
	// answers 503 with a short plain-text message. The error has already
	// been logged. A store error is never treated as "no session".
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// Logger receives errors and warnings (default slog.Default()). Tokens
	// are never logged; a session appears as a short prefix of its store
	// ID, itself a hash of the token.
	Logger *slog.Logger

	// ClientIP returns the address recorded for the device list. The
	// default is the host of r.RemoteAddr; behind a trusted proxy, read
	// its forwarding header here.
	ClientIP func(r *http.Request) string

	// Clock returns the current time (default time.Now), for tests of
	// timeouts.
	Clock func() time.Time
}

// Manager loads, saves and renews sessions. It is safe for concurrent use;
// create one per application and wrap handlers with Middleware.
type Manager struct {
	store         Store
	cookieName    string
	attrs         cookie.Attributes
	idle, life    time.Duration
	rIdle, rLife  time.Duration
	touchInterval time.Duration
	storeTimeout  time.Duration
	bearer        bool
	codec         Codec
	onError       func(http.ResponseWriter, *http.Request, error)
	log           *slog.Logger
	clientIP      func(*http.Request) string
	now           func() time.Time
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
		attrs:         opts.Cookie,
		idle:          or(opts.IdleTimeout, DefaultIdleTimeout),
		life:          or(opts.Lifetime, DefaultLifetime),
		rIdle:         or(opts.RememberIdleTimeout, DefaultRememberIdleTimeout),
		rLife:         or(opts.RememberLifetime, DefaultRememberLifetime),
		touchInterval: or(opts.TouchInterval, DefaultTouchInterval),
		storeTimeout:  or(opts.StoreTimeout, DefaultStoreTimeout),
		bearer:        opts.Bearer,
		codec:         opts.Codec,
		onError:       opts.ErrorHandler,
		log:           opts.Logger,
		clientIP:      opts.ClientIP,
		now:           opts.Clock,
	}
	if m.codec == nil {
		m.codec = JSON
	}
	if ip, ok := store.(InProcess); ok && opts.StoreTimeout == 0 && ip.InProcess() {
		m.storeTimeout = -1
	}
	if m.onError == nil {
		m.onError = unavailable
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
	return m, nil
}

// bound returns ctx limited by StoreTimeout.
func (m *Manager) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if m.storeTimeout < 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, m.storeTimeout)
}

// load1, save1, delete1 and list1 are the store's methods, each call
// bounded by StoreTimeout on its own, so a long compare-and-swap retry
// loop under contention is not cut short by a budget meant for one call.
func (m *Manager) load1(ctx context.Context, id string) (Record, error) {
	ctx, cancel := m.bound(ctx)
	defer cancel()
	return m.store.Load(ctx, id)
}

func (m *Manager) save1(ctx context.Context, rec Record) error {
	ctx, cancel := m.bound(ctx)
	defer cancel()
	return m.store.Save(ctx, rec)
}

func (m *Manager) delete1(ctx context.Context, id string) error {
	ctx, cancel := m.bound(ctx)
	defer cancel()
	return m.store.Delete(ctx, id)
}

func (m *Manager) list1(ctx context.Context, userID string) ([]Record, error) {
	ctx, cancel := m.bound(ctx)
	defer cancel()
	return m.store.ListByUser(ctx, userID)
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

// Store returns the Manager's store.
func (m *Manager) Store() Store { return m.store }

func unavailable(w http.ResponseWriter, _ *http.Request, _ error) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "Service unavailable: session storage did not answer. Please try again shortly.", http.StatusServiceUnavailable)
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

// load builds the request's session. Only a store failure is an error: a
// missing, malformed, forged, expired or unreadable token yields a fresh
// anonymous session.
func (m *Manager) load(r *http.Request, s *Session) error {
	now := m.now()
	s.m = m
	s.st.created = now.UnixMilli()
	s.st.seen = s.st.created
	tok, id, presented := "", "", false
	cookieValues(r.Header, m.cookieName, func(v string) bool {
		presented, s.presented = true, true
		if id = idFromToken(v); id != "" {
			tok = v
			return true
		}
		return false
	})
	if !presented && m.bearer {
		if tok = bearerToken(r.Header); tok != "" {
			presented, s.bearer = true, true
			id = idFromToken(tok)
		}
	}
	if !presented {
		return nil
	}
	if id == "" {
		s.lapsed = true
		return nil
	}
	rec, err := m.load1(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		s.lapsed = true
		return nil
	case err != nil:
		return fmt.Errorf("session: load: %w", err)
	case isTombstone(rec.Data):
		s.lapsed = true
		return nil
	}
	st, err := decodeState(rec.Data)
	if err != nil {
		m.log.WarnContext(r.Context(), "session record unreadable; starting a new session", "session", shortID(id), "err", err)
		s.lapsed = true
		return nil
	}
	if !m.deadline(&st).After(now) {
		// The store's expiry was computed with the timeouts of the time;
		// the current configuration is the one that counts.
		s.lapsed = true
		s.retired = append(s.retired, id)
		return nil
	}
	s.token, s.id, s.sent = tok, id, tok
	s.version, s.userID, s.st, s.stored = rec.Version, rec.UserID, st, true
	s.touch = now.Sub(unixMilli(st.seen)) >= m.touchInterval
	return nil
}

// errLost reports a commit that found its session ended by another request.
var errLost = errors.New("session ended concurrently")

// maxAttempts bounds compare-and-swap retries; each lost attempt means
// another request saved, so the system as a whole always progresses.
const maxAttempts = 100

// commit saves the session and, while the headers are still writable,
// sets the cookie. It is called just before the response's first byte and
// again after the handler returns if the session changed after that.
func (m *Manager) commit(ctx context.Context, s *Session, h http.Header, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	headersOpen := !s.started
	s.started = true
	for _, id := range s.retired {
		if err := m.delete1(ctx, id); err != nil {
			return fmt.Errorf("session: delete: %w", err)
		}
	}
	s.retired = nil

	wrote, err := m.save(ctx, s, r)
	if errors.Is(err, errLost) {
		// Another request logged out, revoked or renewed this session
		// first. Its decision stands; this request's changes are dropped
		// rather than bringing the session back.
		m.log.InfoContext(ctx, "session ended by a concurrent request; changes dropped", "session", shortID(s.id))
		s.reset()
		s.ended, s.lapsed = true, true
		wrote, err = false, nil
	}
	if err != nil {
		return err
	}
	if !headersOpen || s.bearer {
		return nil
	}
	switch {
	case wrote && (s.token != s.sent || s.st.remember):
		// A new token, or a remembered session whose persistent cookie
		// slides with the idle deadline.
		var maxAge time.Duration
		if s.st.remember {
			maxAge = m.deadline(&s.st).Sub(m.now())
		}
		c, err := m.attrs.Cookie(m.cookieName, s.token, maxAge)
		if err != nil {
			return err
		}
		setCookie(h, c)
	case !s.stored && s.presented && (s.ended || s.lapsed):
		// The browser holds a cookie that names nothing: remove it rather
		// than have every later request look it up again.
		c, err := m.attrs.Expire(m.cookieName)
		if err != nil {
			return err
		}
		setCookie(h, c)
	}
	return nil
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

// save writes the session if anything needs writing and reports whether it
// wrote. Called with s.mu held.
func (m *Manager) save(ctx context.Context, s *Session, r *http.Request) (bool, error) {
	if !s.stored && s.oldID == "" && !s.issued &&
		len(s.st.values) == 0 && len(s.st.flashes) == 0 && s.userID == "" {
		// Nothing worth a record: anonymous sessions cost the store
		// nothing until they hold something.
		return false, nil
	}
	if s.stored && !s.dirty && !s.touch {
		return false, nil
	}
	if s.token == "" {
		s.newIdentity()
	}
	now := m.now()
	for attempt := 1; ; attempt++ {
		if s.oldID != "" {
			err := m.save1(ctx, Record{ID: s.oldID, Version: s.oldVersion, Expiry: now.Add(time.Minute), Data: tombstone})
			if errors.Is(err, ErrConflict) && attempt < maxAttempts {
				if err := backoff(ctx, attempt); err != nil {
					return false, err
				}
				if err := m.rebase(ctx, s, s.oldID, &s.oldVersion); err != nil {
					return false, err
				}
				continue
			}
			if err != nil {
				return false, fmt.Errorf("session: renew: %w", err)
			}
			// The old token is dead from here on; the tombstone also
			// answers any request still holding it.
			old := s.oldID
			s.oldID = ""
			defer func() {
				if err := m.delete1(ctx, old); err != nil {
					m.log.WarnContext(ctx, "deleting a renewed session's old record failed; it expires on its own", "session", shortID(old), "err", err)
				}
			}()
		}
		st := s.st
		st.seen = now.UnixMilli()
		// Copied only when they change, which for one browser is rarely.
		if agent := truncate(r.UserAgent(), maxAgentLen); string(st.agent) != agent {
			st.agent = []byte(agent)
		}
		if ip := truncate(m.clientIP(r), maxAgentLen); string(st.ip) != ip {
			st.ip = []byte(ip)
		}
		exp := m.deadline(&st)
		if !exp.After(now) {
			return false, errLost
		}
		err := m.save1(ctx, Record{ID: s.id, UserID: s.userID, Version: s.version, Expiry: exp, Data: st.encode(nil)})
		if err == nil {
			s.st = st
			s.version++
			s.stored = true
			s.dirty, s.touch, s.ops = false, false, nil
			return true, nil
		}
		if !errors.Is(err, ErrConflict) || !s.stored || attempt >= maxAttempts {
			return false, fmt.Errorf("session: save: %w", err)
		}
		if len(s.ops) == 0 {
			// Only the idle deadline was due; whoever won saved a fresher
			// one.
			s.touch = false
			return false, nil
		}
		if err := backoff(ctx, attempt); err != nil {
			return false, err
		}
		if err := m.rebase(ctx, s, s.id, &s.version); err != nil {
			return false, err
		}
	}
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
// it. It returns errLost if the record is gone or was renewed away.
func (m *Manager) rebase(ctx context.Context, s *Session, id string, version *uint64) error {
	rec, err := m.load1(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && isTombstone(rec.Data) {
		return errLost
	}
	if err != nil {
		return fmt.Errorf("session: reload after conflict: %w", err)
	}
	st, err := decodeState(rec.Data)
	if err != nil {
		return errLost
	}
	user := rec.UserID
	for i := range s.ops {
		if err := s.ops[i].apply(&st, &user); err != nil {
			return fmt.Errorf("session: replay after conflict: %w", err)
		}
	}
	s.st, s.userID, *version = st, user, rec.Version
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// fail logs err and writes the error response.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	m.log.ErrorContext(r.Context(), "session store failed", "err", err, "method", r.Method, "path", r.URL.Path)
	m.onError(w, r, err)
}

// Middleware loads the request's session before next runs and saves it
// just before the response's first byte. It never buffers the response.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := &requestState{}
		if err := m.load(r, &rs.s); err != nil {
			m.fail(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, &rs.s))
		rs.w = responseWriter{ResponseWriter: w, m: m, r: r, s: &rs.s}
		next.ServeHTTP(&rs.w, r)
		rs.w.finish()
	})
}

// requestState puts a request's Session and writer in one allocation.
type requestState struct {
	s Session
	w responseWriter
}
