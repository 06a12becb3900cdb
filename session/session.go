package session

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Errors returned by Session methods.
var (
	// ErrNoValue is returned by Get and Pop for a key the session does not
	// hold.
	ErrNoValue = errors.New("session: no value for key")

	// ErrResponseStarted is returned by RenewID, Login, Logout and Token,
	// and by Put on a session the client does not have yet, once the
	// response has begun: the headers that would carry the new cookie are
	// gone, so the change could never reach the browser.
	ErrResponseStarted = errors.New("session: response already started; the session cookie can no longer change")
)

// Session is one client's session during one request. Get it with
// FromContext inside a handler wrapped by Manager.Middleware. Its methods
// are safe for concurrent use by goroutines serving that request.
//
// Changes are recorded in memory and saved once, just before the response
// starts. If another request saved the same session in the meantime, the
// Manager reloads it and replays this request's changes on top: keys this
// request did not touch keep the other request's values, and Update
// functions run again on the freshest value.
type Session struct {
	m  *Manager
	mu sync.Mutex

	token   string // raw token; empty until known or generated
	id      string // store ID of token
	version uint64 // stored version the state was loaded at; 0 if new
	userID  string
	st      state
	stored  bool // a record exists (or existed when loaded) under id

	// A renewal moves the state to a new token. The old record is claimed
	// with a compare-and-swap at commit so that of two concurrent renewals
	// exactly one succeeds.
	oldID      string
	oldVersion uint64

	sent      string // the token the client presented, if it named this session
	presented bool   // the request carried a session cookie, valid or not
	issued    bool   // Token handed the token to the handler: the record must exist

	ops     []op // this request's changes, for replay after a conflict
	dirty   bool
	retired []string // store IDs to delete at commit (old IDs, destroyed sessions)
	ended   bool     // Logout was called: the cookie must be removed unless a new session is saved
	lapsed  bool     // the request carried a token that named no live session
	bearer  bool     // the token came from an Authorization header
	started bool     // the response has started
	touch   bool     // the idle deadline is due for extension
}

// op is one recorded change, replayable on a fresher state.
type op struct {
	kind   opKind
	key    string
	val    []byte
	update func(old []byte, ok bool) ([]byte, error)
	flash  Flash
	n      int // number of flashes consumed
	user   string
	flag   bool
	at     int64
}

type opKind uint8

const (
	opPut opKind = iota
	opDelete
	opClear
	opUpdate
	opFlash
	opConsumeFlashes
	opLogin
)

// apply performs o on st. It is used both when the change is made and
// when it is replayed after a conflict, so the two can never disagree.
func (o *op) apply(st *state, userID *string) error {
	switch o.kind {
	case opPut:
		st.put(o.key, o.val)
	case opDelete:
		st.del(o.key)
	case opClear:
		st.values = nil
		st.flashes = nil
	case opUpdate:
		old, ok := st.get(o.key)
		v, err := o.update(old, ok)
		if err != nil {
			return err
		}
		st.put(o.key, v)
	case opFlash:
		st.flashes = append(slices.Clip(st.flashes), o.flash)
	case opConsumeFlashes:
		// Only the messages this request read are removed: a flash added
		// by a concurrent request survives to be shown next time.
		n := min(o.n, len(st.flashes))
		st.flashes = slices.Clone(st.flashes[n:])
	case opLogin:
		*userID = o.user
		st.remember = o.flag
		st.created = o.at
	}
	return nil
}

func (s *Session) record(o op) error {
	if err := o.apply(&s.st, &s.userID); err != nil {
		return err
	}
	s.ops = append(s.ops, o)
	s.dirty = true
	return nil
}

// checkWritable refuses changes to a session the client cannot be told
// about: one with no cookie yet, once the headers are gone.
func (s *Session) checkWritable() error {
	if s.started && !s.stored && !s.bearer {
		return ErrResponseStarted
	}
	return nil
}

// Put stores v under key, encoded with the Manager's Codec.
func (s *Session) Put(key string, v any) error {
	b, err := s.m.codec.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable(); err != nil {
		return err
	}
	return s.record(op{kind: opPut, key: key, val: b})
}

// Get decodes the value stored under key into a T. It returns ErrNoValue
// if the session has no such key, and the Codec's error if the stored
// value does not decode into a T. No type registration is needed: the
// value is decoded into whatever type the caller asks for.
func Get[T any](s *Session, key string) (T, error) {
	var v T
	s.mu.Lock()
	b, ok := s.st.get(key)
	s.mu.Unlock()
	if !ok {
		return v, ErrNoValue
	}
	// Decoding the common types here rather than through the Codec
	// interface keeps v off the heap.
	if _, isJSON := s.m.codec.(jsonCodec); isJSON && decodeScalar(b, &v) {
		return v, nil
	}
	p := new(T)
	err := s.m.codec.Unmarshal(b, p)
	return *p, err
}

// Pop is Get followed by Delete of the same key.
func Pop[T any](s *Session, key string) (T, error) {
	v, err := Get[T](s, key)
	if err == nil {
		s.Delete(key)
	}
	return v, err
}

// Update replaces the value under key with fn(old), where old is the
// current value (the zero T if there is none), and returns the new value.
// If another request saves the session before this one, fn runs again on
// that request's value before saving, so concurrent updates such as
// counters or cart additions are never lost. fn may therefore run more
// than once and must not have side effects.
func Update[T any](s *Session, key string, fn func(T) T) (T, error) {
	codec := s.m.codec
	var result T
	upd := func(old []byte, ok bool) ([]byte, error) {
		var v T
		if ok {
			if err := codec.Unmarshal(old, &v); err != nil {
				return nil, err
			}
		}
		result = fn(v)
		return codec.Marshal(result)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable(); err != nil {
		return result, err
	}
	err := s.record(op{kind: opUpdate, key: key, update: upd})
	return result, err
}

// Delete removes key from the session.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.get(key); ok || s.stored {
		s.record(op{kind: opDelete, key: key})
	}
}

// Clear removes every value and flash message. The session itself, its
// user and its cookie remain; use Logout to end the session.
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(op{kind: opClear})
}

// Keys returns the keys of the session's values in sorted order.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, len(s.st.values))
	for i, e := range s.st.values {
		keys[i] = e.key
	}
	return keys
}

// Has reports whether the session holds a value under key.
func (s *Session) Has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.st.get(key)
	return ok
}

// AddFlash queues a one-time message, shown by the next request that calls
// Flashes.
func (s *Session) AddFlash(kind, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable(); err != nil {
		return err
	}
	return s.record(op{kind: opFlash, flash: Flash{kind, message}})
}

// Flashes returns the queued flash messages and removes them from the
// session.
func (s *Session) Flashes() []Flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.st.flashes) == 0 {
		return nil
	}
	out := slices.Clone(s.st.flashes)
	s.record(op{kind: opConsumeFlashes, n: len(out)})
	return out
}

// UserID returns the ID recorded by Login, or "" for an anonymous session.
func (s *Session) UserID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userID
}

// Remembered reports whether the session was created with "remember me":
// a persistent cookie and the Manager's longer Remember timeouts.
func (s *Session) Remembered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.remember
}

// Lapsed reports whether the request presented a session token that names
// no live session: it expired, was logged out or revoked, or was never
// issued. The request then runs with a fresh anonymous session; Lapsed lets
// a page say "your session has expired" instead of silently starting over.
func (s *Session) Lapsed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lapsed
}

// IsNew reports whether the session has no stored record yet: nothing has
// been saved for this client.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stored
}

// Handle returns the session's non-secret handle, the value Device.Handle
// holds for it, or "" for a session not saved yet. It identifies the
// session in device lists and revocation requests; it cannot be used to
// act as the session.
func (s *Session) Handle() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stored {
		return ""
	}
	return s.id
}

// Created returns when the session was created, or last logged in.
func (s *Session) Created() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return unixMilli(s.st.created)
}

// RenewID gives the session a new token, keeping its data, and makes the
// old token worthless once the response starts. Call it whenever the
// privilege level changes (login, logout, role change, password change) so
// that a token planted or observed earlier (session fixation) is useless.
// It returns ErrResponseStarted if the response has begun.
func (s *Session) RenewID() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewLocked()
}

func (s *Session) renewLocked() error {
	if s.started {
		return ErrResponseStarted
	}
	if s.stored && s.oldID == "" {
		s.oldID, s.oldVersion = s.id, s.version
	}
	s.newIdentity()
	return nil
}

// Login records that the session belongs to userID, renews the session's
// token, and sets "remember me": a remembered session gets a persistent
// cookie and the Manager's Remember timeouts, otherwise the cookie lasts
// until the browser closes. The absolute lifetime restarts at login.
func (s *Session) Login(userID string, remember bool) error {
	if userID == "" {
		return errors.New("session: Login with an empty user ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.renewLocked(); err != nil {
		return err
	}
	return s.record(op{kind: opLogin, user: userID, flag: remember, at: s.m.now().UnixMilli()})
}

// Logout ends the session: its record is deleted and its cookie expired
// when the response starts, so replaying the old cookie afterwards gets an
// anonymous session. The request continues with a fresh, empty anonymous
// session, which is saved (under a new token) only if the handler puts
// something in it, such as a "you have logged out" flash. It returns
// ErrResponseStarted if the response has begun.
func (s *Session) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrResponseStarted
	}
	if s.stored {
		s.retired = append(s.retired, s.id)
	}
	if s.oldID != "" {
		s.retired = append(s.retired, s.oldID)
	}
	s.reset()
	s.ended = true
	return nil
}

// reset turns s into a fresh anonymous session with no token, keeping
// what the request itself carried (bearer, presented) and the IDs still to
// retire. Called with s.mu held.
func (s *Session) reset() {
	now := s.m.now().UnixMilli()
	s.token, s.id, s.sent, s.version, s.userID = "", "", "", 0, ""
	s.st = state{created: now, seen: now}
	s.stored, s.issued, s.dirty, s.touch = false, false, false, false
	s.oldID, s.oldVersion = "", 0
	s.ops = nil
}

// Token returns the session's token, creating one for a new session. It is
// the secret that authenticates the client: it is meant for API clients
// that send it back in an "Authorization: Bearer" header (see
// Options.Bearer), and must never be logged or put in a URL. Browser
// sessions never need it: the cookie carries it. It returns
// ErrResponseStarted if a new token would have to be created after the
// response has begun.
func (s *Session) Token() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" {
		if s.started {
			return "", ErrResponseStarted
		}
		s.newIdentity()
	}
	s.issued = true
	return s.token, nil
}

// newIdentity draws a fresh token: the session's state will be saved as a
// new record under it.
func (s *Session) newIdentity() {
	s.token = newToken()
	s.id = idFromToken(s.token)
	s.version = 0
	s.stored = false
	s.dirty = true
}

type ctxKey struct{}

// FromContext returns the request's session, or nil if the request did not
// pass through Manager.Middleware.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}
