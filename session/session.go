package session

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Errors returned by Session methods.
var (
	// ErrNoValue is returned by Get and Pop for a key the session does not
	// hold.
	ErrNoValue = errors.New("session: no value for key")

	// ErrResponseStarted is returned by RenewID, Login and Logout, and by
	// Put on a session the client does not have yet, once the response
	// has begun: the headers that would carry the new cookie are gone, so
	// the change could never reach the browser.
	ErrResponseStarted = errors.New("session: response already started; the session cookie can no longer change")

	// ErrTooLarge is returned by Put, Update and AddFlash when the change
	// would make the session's record larger than Options.MaxSize. The
	// session is left as it was. A save whose replay after a concurrent
	// change crosses the limit fails with it too.
	ErrTooLarge = errors.New("session: the session would exceed its size limit (Options.MaxSize)")

	// ErrTooManyFlashes is returned by AddFlash when MaxFlashes messages
	// are already queued: a client that never reads them (a script
	// posting without following redirects) cannot make the session grow.
	ErrTooManyFlashes = errors.New("session: too many flash messages queued")

	// ErrReadConflict reports that the request changed a key it had read
	// while a concurrent request changed the same key, so the value it
	// wrote was computed from stale data. With Options.StrictReads the
	// request fails with it (409 Conflict from the default ErrorHandler)
	// and saves nothing; otherwise it is only logged.
	ErrReadConflict = errors.New("session: a key this request read and then wrote was changed by a concurrent request")
)

// MaxFlashes is how many flash messages a session queues at most.
const MaxFlashes = 32

// Session is one client's session during one request. Get it with
// FromContext or Manager.FromContext inside a handler wrapped by
// Manager.Middleware. Its methods are safe for concurrent use by
// goroutines serving that request.
//
// Changes are recorded in memory and saved once, just before the response
// starts. If another request saved the same session in the meantime, the
// Manager reloads it and replays this request's changes on top: keys this
// request did not touch keep the other request's values, and Update
// functions run again on the freshest value.
type Session struct {
	m     *Manager
	outer *Session // the session of an enclosing Manager's Middleware
	mu    sync.Mutex

	phase    phase
	client   clientToken
	record   recordState
	loadedAt int64 // unix ns when the request's session was loaded, by the Manager's clock (see when)

	call *callContext // reused for the request's store calls

	// Room for what the request path would otherwise allocate: the loaded
	// session's ID, its values, the first changes and small encoded
	// values (see Put).
	idBuf  [idLen]byte
	kvBuf  [2]kv
	extBuf [1]extension // a device binding

	token   string // raw token; empty until drawn or loaded
	drawn   bool   // token was drawn in this request: the client does not have it
	id      string // store ID of token
	version uint64 // stored version the state was loaded at; 0 if new
	userID  string
	st      state

	// A renewal moves the state to a new token: the record it leaves is
	// turned into a tombstone pointing at the new one at commit, with a
	// compare-and-swap, so that of two concurrent renewals exactly one
	// wins and a revocation that finds the tombstone follows it.
	oldID      string
	oldVersion uint64

	// What only a request that changes its session needs, allocated on
	// the first change: a read-only request, most requests, carries
	// none of it.
	w *writes

	ops      []op  // this request's changes, for replay after a conflict
	touchDue bool  // the idle deadline is due for extension
	boundExp int64 // unix seconds: expiry of the valid bound cookie the request presented; 0 if none
	ended    []string
	expired  []string
	reads    readKeys
}

// writes is the part of a Session that only a changing request needs.
type writes struct {
	opsBuf [2]op    // room for the first changes
	arena  [64]byte // room for small encoded values (see Session.encode)
	arenaN int

	// The state as loaded (or last saved), on which ops are replayed when
	// the session is saved in a batch.
	base        state
	baseUser    string
	baseVersion uint64

	wait waiting       // this request's place in a lane (see hot.go)
	req  *http.Request // the request, for a batch led by another
}

// writing returns the session's writes, allocating them on first use with
// the state as it stands, unchanged so far, as the base. Called with s.mu
// held, or by the commit that holds it.
func (s *Session) writing() *writes {
	if s.w == nil {
		s.w = &writes{base: s.st, baseUser: s.userID, baseVersion: s.version}
	}
	return s.w
}

// phase is where the request is in its life.
type phase uint8

const (
	handling phase = iota // the handler runs; headers can still change
	started               // the response has begun; the cookie is fixed
)

// clientToken is what the request carried.
type clientToken uint8

const (
	noToken      clientToken = iota // no session cookie
	liveToken                       // a token naming the live session loaded
	deadToken                       // a token naming no live session (Lapsed)
	refusedToken                    // a live device-bound session's token without a valid bound cookie (BindingRefused)
)

// recordState says what exists in the store for the session as it stands.
type recordState uint8

const (
	// noRecord: nothing is stored for this session (yet). A new one is
	// saved under a freshly drawn token at commit if it holds anything.
	noRecord recordState = iota
	// stored: the record under id, at version, is this session's.
	stored
	// renewing: the state will be saved under a new token (id); the
	// record under oldID becomes a tombstone at commit.
	renewing
)

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

	// For a Put or Delete of a key the request had read: what it read,
	// to tell at replay whether a concurrent request changed it.
	read      bool
	readVal   []byte
	readFound bool
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
	// opExtAdd and opExtUpdate replace the extension tagged n with
	// update(old); the first may grow the record and is held to MaxSize,
	// the second keeps it about the same size (a binding's refresh) and
	// is not, so that a session at its size limit can still refresh.
	opExtAdd
	opExtUpdate
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
		if *userID != "" && *userID != o.user {
			// Another user's data never carries over (see Login), nor
			// does the device binding the previous user's login made.
			st.values, st.flashes = nil, nil
			st.setExtension(tagBinding, nil)
		}
		*userID = o.user
		st.remember = o.flag
		st.created, st.auth = o.at/1000, o.at
	case opExtAdd, opExtUpdate:
		tag := uint64(o.n)
		old, ok := st.extension(tag)
		v, err := o.update(old, ok)
		if err != nil {
			return err
		}
		st.setExtension(tag, v)
	}
	return nil
}

// stale reports, for a replayed op, whether the value it had read was
// changed by someone else: st is the fresh state just before o applies.
func (o *op) stale(st *state) bool {
	if !o.read {
		return false
	}
	v, ok := st.get(o.key)
	return ok != o.readFound || !bytes.Equal(v, o.readVal)
}

// readKeys remembers the keys a request read, so that a Put or Delete of
// one of them can be checked at replay. The first few live inline: a
// request reads few keys, and the read path must not allocate for this.
// The value read need not be kept: until the request itself changes the
// key, it is the value the session holds when the Put comes.
type readKeys struct {
	inline [2]string
	n      int
	more   []string
}

func (l *readKeys) add(key string) {
	if !l.has(key) {
		if l.n < len(l.inline) {
			l.inline[l.n] = key
			l.n++
			return
		}
		l.more = append(l.more, key)
	}
}

func (l *readKeys) has(key string) bool {
	for i := range l.n {
		if l.inline[i] == key {
			return true
		}
	}
	for _, k := range l.more {
		if k == key {
			return true
		}
	}
	return false
}

// change applies o to the session and keeps it for replay. A change that
// would make the record larger than the size limit is undone and refused.
func (s *Session) change(o op) error {
	s.writing()
	prev, prevUser := s.st, s.userID
	if err := o.apply(&s.st, &s.userID); err != nil {
		s.st, s.userID = prev, prevUser
		return err
	}
	if grows(o.kind) && s.st.size() > s.m.maxSize {
		s.st, s.userID = prev, prevUser
		return ErrTooLarge
	}
	if s.ops == nil {
		s.ops = s.w.opsBuf[:0]
	}
	s.ops = append(s.ops, o)
	return nil
}

func grows(k opKind) bool { return k == opPut || k == opUpdate || k == opFlash || k == opExtAdd }

// checkWritable refuses changes to a session the client cannot be told
// about: one with no cookie yet, once the headers are gone.
func (s *Session) checkWritable() error {
	if s.phase == started && s.record != stored {
		return ErrResponseStarted
	}
	return nil
}

// writeOp records a Put or Delete of key, noting what the request had read
// of it.
func (s *Session) writeOp(o op) error {
	if s.reads.has(o.key) {
		o.read = true
		o.readVal, o.readFound = s.st.get(o.key)
	}
	return s.change(o)
}

// Put stores v under key, encoded with the Manager's Codec. It returns
// ErrTooLarge if the session would exceed Options.MaxSize.
//
// If the request read key earlier (Get, Pop) and a concurrent request
// changes key before this one saves, the value put here was computed from
// stale data: see Options.StrictReads. Update has no such problem.
func (s *Session) Put(key string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable(); err != nil {
		return err
	}
	b, err := s.encode(v)
	if err != nil {
		return err
	}
	return s.writeOp(op{kind: opPut, key: key, val: b})
}

// encode encodes v with the Manager's Codec. Small ints, bools and strings
// encoded as JSON go into the Session's arena instead of memory of their
// own: most requests that write put one such value. Called with s.mu held.
func (s *Session) encode(v any) ([]byte, error) {
	if _, isJSON := s.m.codec.(jsonCodec); isJSON {
		w := s.writing()
		free := w.arena[w.arenaN:w.arenaN]
		if b, ok := appendScalar(free, v); ok {
			if len(b) <= cap(free) { // it fit; otherwise append moved it
				w.arenaN += len(b)
			}
			// The arena is never written twice, like any encoded value.
			return b[:len(b):len(b)], nil
		}
	}
	return s.m.codec.Marshal(v)
}

// Get decodes the value stored under key into a T. It returns ErrNoValue
// if the session has no such key, and the Codec's error if the stored
// value does not decode into a T. No type registration is needed: the
// value is decoded into whatever type the caller asks for.
func Get[T any](s *Session, key string) (T, error) {
	var v T
	s.mu.Lock()
	b, ok := s.st.get(key)
	s.reads.add(key)
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
		err = s.Delete(key)
	}
	return v, err
}

// Update replaces the value under key with fn(old), where old is the
// current value (the zero T if there is none), and returns the new value.
// If another request saves the session before this one, fn runs again on
// that request's value before saving, so concurrent updates such as
// counters or cart additions are never lost. fn may therefore run more
// than once and must not have side effects. It returns ErrTooLarge if
// the session would exceed Options.MaxSize.
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
	err := s.change(op{kind: opUpdate, key: key, update: upd})
	return result, err
}

// Delete removes key from the session.
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.get(key); !ok && s.record == noRecord {
		return nil
	}
	if err := s.checkWritable(); err != nil {
		return err
	}
	return s.writeOp(op{kind: opDelete, key: key})
}

// Clear removes every value and flash message. The session itself, its
// user and its cookie remain; use Logout to end the session.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable(); err != nil {
		return err
	}
	return s.change(op{kind: opClear})
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
// Flashes. It returns ErrTooManyFlashes if MaxFlashes messages are already
// queued, and ErrTooLarge if the session would exceed Options.MaxSize;
// the message is then not queued.
func (s *Session) AddFlash(kind, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable(); err != nil {
		return err
	}
	if len(s.st.flashes) >= MaxFlashes {
		return ErrTooManyFlashes
	}
	return s.change(op{kind: opFlash, flash: Flash{kind, message}})
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
	if s.checkWritable() == nil {
		s.change(op{kind: opConsumeFlashes, n: len(out)})
	}
	return out
}

// UserID returns the ID recorded by Login, or "" for an anonymous session.
func (s *Session) UserID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userID
}

// Remembered reports whether the session was logged in with "remember
// me": a persistent cookie and the Manager's longer Remember timeouts.
func (s *Session) Remembered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.remember
}

// Lapsed reports whether the request presented a session token that names
// no live session: it expired, was logged out or revoked, or was never
// issued by this server. The request then runs with a fresh anonymous
// session; Lapsed lets a page say "your session has ended" instead of
// silently starting over.
func (s *Session) Lapsed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client == deadToken
}

// BindingRefused reports whether the request presented the token of a
// device-bound session without a valid bound cookie while
// Options.DeviceBinding is in BindingEnforce mode. The request then runs
// with a fresh anonymous session, exactly as if it had carried no session
// cookie, except that the browser's session cookie is left alone; the
// stored session is not ended, so the device it is bound to carries on
// once its browser has refreshed the bound cookie. A page may use it to
// say "this session belongs to another device; please log in".
func (s *Session) BindingRefused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client == refusedToken
}

// IsNew reports whether the session has no stored record yet: nothing has
// been saved for this client, or it is moving to a new token this request.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.record != stored
}

// Handle returns the session's non-secret handle, the value Device.Handle
// holds for it, or "" for a session not saved under its current token yet.
// It identifies the session in device lists and revocation requests; it
// cannot be used to act as the session.
func (s *Session) Handle() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.record != stored {
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

// Info describes a session as the server holds it, for diagnostic pages
// such as the demo's "under the hood". It holds no token.
type Info struct {
	Handle  string // "" until the session is saved under its current token
	UserID  string
	Version uint64 // the stored version the request loaded; 0 for a new session

	Created          time.Time // creation, or the last login
	LastSeen         time.Time // the last save; at most one TouchInterval stale
	IdleDeadline     time.Time // when the session ends unless used again
	AbsoluteDeadline time.Time // when it ends whatever its use
	Remembered       bool

	Values  []Value // sorted by key
	Flashes int     // queued flash messages

	// Size is the length in bytes of the record as it stands (what the
	// next save would store), MaxSize the Manager's limit on it.
	Size, MaxSize int

	// Bound reports that a browser has bound the session to a key it
	// holds (see DeviceBinding), and Binding describes the binding. Its
	// CookieExpires is the expiry of the valid bound cookie this request
	// presented, zero if it presented none.
	Bound   bool
	Binding Binding
}

// Value is one of a session's values as stored.
type Value struct {
	Key     string
	Encoded []byte // the Codec's encoding; JSON by default
}

// Info returns what the server holds for the session, with this request's
// changes so far.
func (s *Session) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	idle, life := s.m.timeouts(&s.st)
	info := Info{
		UserID: s.userID, Version: s.version,
		Created: unixMilli(s.st.created), LastSeen: unixMilli(s.st.seen),
		IdleDeadline:     unixMilli(s.st.seen).Add(idle),
		AbsoluteDeadline: unixMilli(s.st.created).Add(life),
		Remembered:       s.st.remember,
		Values:           make([]Value, len(s.st.values)),
		Flashes:          len(s.st.flashes),
		Size:             s.st.size(),
		MaxSize:          s.m.maxSize,
	}
	if s.record == stored {
		info.Handle = s.id
	}
	for i, e := range s.st.values {
		info.Values[i] = Value{Key: e.key, Encoded: bytes.Clone(e.val)}
	}
	if bd, ok, err := s.st.binding(); ok {
		info.Bound = true
		if err == nil {
			info.Binding = bd.describe()
		}
		if s.boundExp > 0 {
			info.Binding.CookieExpires = time.Unix(s.boundExp, 0)
		}
	}
	return info
}

// RenewID gives the session a new token, keeping its data, and makes the
// old token worthless once the response starts. Call it whenever the
// privilege level changes (login, logout, role change, password change) so
// that a token planted or observed earlier (session fixation) is useless.
// A device binding (see DeviceBinding) is kept: the response carries a
// bound cookie for the new token, with the expiry of the one the request
// presented. It returns ErrResponseStarted if the response has begun.
func (s *Session) RenewID() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewLocked()
}

func (s *Session) renewLocked() error {
	if s.phase == started {
		return ErrResponseStarted
	}
	if s.record == stored {
		s.oldID, s.oldVersion = s.id, s.version
		s.record = renewing
	}
	s.newIdentity()
	return nil
}

// newIdentity draws a fresh token: the state will be saved under it as a
// new record.
func (s *Session) newIdentity() {
	s.token, s.drawn = newToken(), true
	s.id = idFromToken(s.token)
	s.version = 0
}

// Login records that the session belongs to userID, renews the session's
// token, and sets "remember me": a remembered session gets a persistent
// cookie and the Manager's Remember timeouts, otherwise the cookie lasts
// until the browser closes. The absolute lifetime restarts at login.
//
// If the session belonged to another user, its values, flash messages and
// device binding are dropped: one user never inherits another's data on
// a shared browser. Logging in from an anonymous session keeps them, so
// that a cart filled before login carries over. With Options.DeviceBinding
// on, the response offers the browser to bind the session (unless it is
// bound already, as after logging in again as the same user).
//
// The session counts as authenticated at the start of the request, not at
// the call: credentials checked by the handler are at least that old, so
// a Manager.RevokeAll that began before they were checked ends this
// session too. userID must be a ValidUserID.
func (s *Session) Login(userID string, remember bool) error {
	if userID == "" || !ValidUserID(userID) {
		return errors.New("session: Login needs a user ID of 1 to 255 bytes of UTF-8 without control characters")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.renewLocked(); err != nil {
		return err
	}
	return s.change(op{kind: opLogin, user: userID, flag: remember, at: s.when().UnixMicro()})
}

// Logout ends the session: its record is turned into a tombstone and its
// cookie expired when the response starts, so replaying the old cookie
// afterwards gets an anonymous session. A device binding ends with it,
// and a bound cookie the request carried is expired too. The request continues with a
// fresh, empty anonymous session, which is saved (under a new token) only
// if the handler puts something in it, such as a "you have logged out"
// flash. It returns ErrResponseStarted if the response has begun.
func (s *Session) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == started {
		return ErrResponseStarted
	}
	switch s.record {
	case stored:
		s.ended = append(s.ended, s.id)
	case renewing:
		s.ended = append(s.ended, s.oldID)
	}
	s.reset()
	return nil
}

// reset turns s into a fresh anonymous session with no record, keeping
// what the request itself carried and the IDs still to end. Called with
// s.mu held.
func (s *Session) reset() {
	s.token, s.drawn, s.id, s.version, s.userID = "", false, "", 0, ""
	start := s.when().UnixMilli()
	s.st = state{created: start, seen: start}
	if s.w != nil {
		s.w.base, s.w.baseUser, s.w.baseVersion = s.st, "", 0
	}
	s.record = noRecord
	s.oldID, s.oldVersion = "", 0
	s.ops, s.touchDue = nil, false
	s.reads = readKeys{}
	s.boundExp = 0
}

// when returns the time the request's session was loaded, by the
// Manager's clock: the request's time for everything it stamps.
func (s *Session) when() time.Time { return time.Unix(0, s.loadedAt) }

// hasContent reports whether a session without a record holds anything
// worth one. Anonymous sessions cost the store nothing until they do.
func (s *Session) hasContent() bool {
	return len(s.st.values) > 0 || len(s.st.flashes) > 0 || s.userID != ""
}

type ctxKey struct{}

// FromContext returns the request's session: that of the innermost
// Manager.Middleware the request passed through, or nil if it passed
// through none. With several Managers on one request, use
// Manager.FromContext to pick one.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// FromContext returns the session m's Middleware made for the request, or
// nil if the request did not pass through it. Several Managers (say a
// user session and an administrator session, with their own cookies and
// stores) can wrap one handler; each finds its own session this way.
func (m *Manager) FromContext(ctx context.Context) *Session {
	s := FromContext(ctx)
	for s != nil && s.m != m {
		s = s.outer
	}
	return s
}
