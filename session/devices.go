package session

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/httpstate/httpstate/observe"
)

// Device describes one live session of a user, for a "your devices" page
// or an administrator. It holds nothing that lets anyone act as the
// session.
type Device struct {
	// Handle identifies the session for Revoke. It is the session's store
	// ID, a hash of its token, and Session.Handle returns it for the
	// current request's session.
	Handle     string
	UserID     string
	Created    time.Time // creation, or the last login
	LastSeen   time.Time // last save; at most one TouchInterval stale
	Expires    time.Time // when the session ends unless used again
	UserAgent  string
	IP         string
	Remembered bool

	// Bound reports that the session is bound to a key its browser holds
	// (see DeviceBinding): its cookie alone, copied to another device,
	// stops working within the bound cookie's lifetime. Binding
	// describes the binding; it is the zero value when Bound is false.
	Bound   bool
	Binding Binding
}

// Devices returns userID's live sessions, most recently used first.
func (m *Manager) Devices(ctx context.Context, userID string) ([]Device, error) {
	recs, err := m.list1(ctx, nil, userID)
	if err != nil {
		return nil, fmt.Errorf("session: list devices: %w", err)
	}
	now := m.now()
	out := make([]Device, 0, len(recs))
	for _, rec := range recs {
		d, ok := m.device(rec, now)
		if ok {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Device) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.Handle, b.Handle))
	})
	return out, nil
}

// device decodes one stored record. It reports false for a record that is
// not a live session (a tombstone, unreadable data, or timed out under the
// current configuration).
func (m *Manager) device(rec Record, now time.Time) (Device, bool) {
	if isTombstone(rec.Data) {
		return Device{}, false
	}
	st, err := decodeState(rec.Data)
	if err != nil {
		return Device{}, false
	}
	exp := m.deadline(&st)
	if !exp.After(now) {
		return Device{}, false
	}
	d := Device{
		Handle: rec.ID, UserID: rec.UserID,
		Created: unixMilli(st.created), LastSeen: unixMilli(st.seen), Expires: exp,
		UserAgent: string(st.agent), IP: string(st.ip), Remembered: st.remember,
	}
	if bd, ok, err := st.binding(); ok {
		d.Bound = true
		if err == nil {
			d.Binding = bd.describe()
			if m.bind != nil {
				d.Binding.CookieExpires = unixMilli(bd.lastProof()).Add(m.bind.lifetime).Truncate(time.Second)
			}
		}
	}
	return d, true
}

// Revoke ends the session with the given handle if it belongs to userID,
// as when a user removes one of their devices. It returns ErrNotFound if
// userID has no live session with that handle, so one user can never end
// another's session by guessing handles. The revoked device's next request
// gets an anonymous session.
//
// Once Revoke returns nil, the device behind the handle is logged out even
// if it renewed its token in the meantime (a Login, a RenewID): a renewal
// leaves a tombstone naming the record it moved to, and Revoke follows it.
// A request of that device already in flight cannot save the session
// back: its compare-and-swap fails and it finds the session ended.
func (m *Manager) Revoke(ctx context.Context, userID, handle string) (err error) {
	t0 := m.startCall()
	n := 0
	defer func() { m.emitRevoke(ctx, "one", t0, n, err) }()
	if userID == "" || !ValidUserID(userID) || !ValidID(handle) {
		return ErrNotFound
	}
	ended, err := m.end(ctx, nil, handle, userID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrNotFound
		}
		return fmt.Errorf("session: revoke: %w", err)
	}
	if ended {
		n = 1
	}
	return nil
}

// emitRevoke reports a Revoke or RevokeAll that began at t0.
func (m *Manager) emitRevoke(ctx context.Context, op string, t0 time.Time, n int, err error) {
	if m.obs == nil {
		return
	}
	e := observe.Event{Kind: observe.Revoke, Op: op, Start: t0, Duration: time.Since(t0), Attempts: n, Outcome: observe.OK}
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		e.Outcome = observe.NotFound
	default:
		e.Outcome, e.Err = observe.Error, err
	}
	m.obs.Observe(ctx, e)
}

// RevokeAll ends every session of userID except the one whose handle is
// except (pass "" to end them all, or the current Session.Handle to "log
// out everywhere else"). Call it when a password changes or an account is
// disabled, together with RenewID on the current session. It returns how
// many sessions it ended.
//
// Once RevokeAll returns, no session of userID that existed when it was
// called can make another authenticated request, and neither can one that
// was being logged in or renewed from credentials checked before it
// returned, in this process or another sharing the store, even if its
// save lands after RevokeAll has listed the user's sessions. It works in
// three steps:
//
//  1. It records in the store the instant it began, for userID: a session
//     authenticated (see Session.Login) before that instant is revoked. Every save that creates a record for a user (a login, a
//     renewal) reads this instant after writing, and ends its own record
//     if it is revoked; a renewal carries the original authentication
//     instant forward.
//  2. It marks the excepted session as authenticated after that instant,
//     following its renewals.
//  3. It lists the user's sessions and ends each one with a
//     compare-and-swap, so that no request in flight can save it back.
//
// A save that lands before step 3 lists is ended there; one that lands
// after it reads the instant of step 1. Either way it ends. On stores
// shared by several application servers, authentication instants come
// from each server's clock, so the servers' clocks must agree to better
// than the time a login takes to check credentials (see MaxClockSkew).
//
// The guarantee is as complete as Store.ListByUser: on a store whose index
// can forget entries (store/memcached) a session missed by the list
// survives. A renewal of the excepted session that races RevokeAll may
// end it too; no other session survives.
func (m *Manager) RevokeAll(ctx context.Context, userID, except string) (n int, err error) {
	t0 := m.startCall()
	defer func() { m.emitRevoke(ctx, "all", t0, n, err) }()
	if userID == "" || !ValidUserID(userID) {
		return 0, errors.New("session: RevokeAll needs a valid, non-empty user ID")
	}
	now := m.now()
	validAfter := now.UnixMicro()
	if err := m.raiseMarker(ctx, userID, validAfter, now); err != nil {
		return 0, fmt.Errorf("session: revoke all: %w", err)
	}
	spared := map[string]bool{}
	if ValidID(except) {
		id, err := m.reauthenticate(ctx, userID, except, validAfter)
		if err != nil {
			return 0, fmt.Errorf("session: revoke all: %w", err)
		}
		spared[except], spared[id] = true, true
	}
	recs, err := m.list1(ctx, nil, userID)
	if err != nil {
		return 0, fmt.Errorf("session: revoke all: %w", err)
	}
	for _, rec := range recs {
		if spared[rec.ID] || rec.UserID != userID || isTombstone(rec.Data) {
			continue
		}
		ended, err := m.endRecord(ctx, nil, rec, userID)
		if err != nil {
			return n, fmt.Errorf("session: revoke all: %w", err)
		}
		if ended {
			n++
		}
	}
	return n, nil
}

// end turns the session under id into a tombstone, following renewals to
// the record the session lives in now. With a non-empty user the session
// must be user's: ErrNotFound otherwise. It reports whether it ended a
// live session; one that is already gone is not an error.
func (m *Manager) end(ctx context.Context, cp **callContext, id, user string) (bool, error) {
	// gone is the answer when no live session is at the end of the chain:
	// for a revocation on behalf of user, there is no such session of
	// user's to end.
	gone := func() (bool, error) {
		if user != "" {
			return false, ErrNotFound
		}
		return false, nil
	}
	for range maxAttempts {
		rec, err := m.load1(ctx, cp, id)
		switch {
		case errors.Is(err, ErrNotFound):
			return gone()
		case err != nil:
			return false, err
		case isTombstone(rec.Data):
			next, ok := successor(rec.Data)
			if !ok {
				return gone()
			}
			id = next
			continue
		case user != "" && rec.UserID != user:
			// Never user's, or the device has since logged in as someone
			// else: that session is not user's to end.
			return gone()
		}
		ended, err := m.endRecord(ctx, cp, rec, user)
		if err != nil || ended {
			return ended, err
		}
		// The record changed under us; look again.
	}
	return false, errors.New("session: the session kept changing while it was being ended")
}

// endRecord replaces rec, as loaded, by an ended tombstone with a
// compare-and-swap. If rec changed since it was loaded, it ends whatever
// the session became instead (following a renewal), as end does.
func (m *Manager) endRecord(ctx context.Context, cp **callContext, rec Record, user string) (bool, error) {
	now := m.now()
	dead := Record{ID: rec.ID, Version: rec.Version, Expiry: storeExpiry(now.Add(tombstoneLifetime), now),
		Data: tombstone{kind: tombstoneEnded}.encode()}
	err := m.save1(ctx, cp, dead)
	if err == nil || m.confirmed(ctx, cp, dead, err) {
		return true, nil
	}
	if !errors.Is(err, ErrConflict) {
		return false, err
	}
	ended, err := m.end(ctx, cp, rec.ID, user)
	if errors.Is(err, ErrNotFound) {
		// It was user's when listed; whatever it is now, it is not a
		// live session of user's.
		return false, nil
	}
	return ended, err
}

// successor returns the ID a renewed tombstone points to.
func successor(data []byte) (string, bool) {
	t, err := decodeTombstone(data)
	if err != nil || t.kind != tombstoneRenewed {
		return "", false
	}
	return t.successor, true
}

// reauthenticate marks the session under id, if it is a live session of
// user, as authenticated at auth: RevokeAll's excepted session survives
// the instant RevokeAll records. It follows renewals and returns the ID it
// marked (or the last it reached).
func (m *Manager) reauthenticate(ctx context.Context, user, id string, auth int64) (string, error) {
	for range maxAttempts {
		rec, err := m.load1(ctx, nil, id)
		if errors.Is(err, ErrNotFound) {
			return id, nil
		}
		if err != nil {
			return id, err
		}
		if isTombstone(rec.Data) {
			next, ok := successor(rec.Data)
			if !ok {
				return id, nil
			}
			id = next
			continue
		}
		if rec.UserID != user {
			return id, nil
		}
		st, err := decodeState(rec.Data)
		if err != nil || st.auth >= auth {
			return id, nil
		}
		st.auth = auth
		next := rec
		next.Data = st.encode(nil)
		err = m.save1(ctx, nil, next)
		if err == nil || m.confirmed(ctx, nil, next, err) {
			return id, nil
		}
		if !errors.Is(err, ErrConflict) {
			return id, err
		}
	}
	return id, errors.New("session: the excepted session kept changing")
}

// checkRevoked ends the session just saved for s.userID if a RevokeAll
// recorded an instant at or after the session's authentication, and
// reports errLost then. Called with s.mu held, after the save.
func (m *Manager) checkRevoked(ctx context.Context, s *Session, now time.Time) error {
	validAfter, err := m.revokedUntil(ctx, &s.call, s.userID)
	if err != nil {
		return fmt.Errorf("session: checking revocations: %w", err)
	}
	for range maxAttempts {
		if s.st.auth >= validAfter {
			return nil
		}
		dead := Record{ID: s.id, Version: s.version, Expiry: storeExpiry(now.Add(tombstoneLifetime), now),
			Data: tombstone{kind: tombstoneEnded}.encode()}
		err := m.save1(ctx, &s.call, dead)
		if err == nil || m.confirmed(ctx, &s.call, dead, err) {
			m.log.InfoContext(ctx, "session authenticated before a revocation of its user; ended", "session", shortID(s.id))
			return errLost
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("session: ending a revoked session: %w", err)
		}
		// Changed since it was saved: a RevokeAll excepting it marked it
		// reauthenticated, or something ended it.
		rec, err := m.load1(ctx, &s.call, s.id)
		if errors.Is(err, ErrNotFound) || err == nil && isTombstone(rec.Data) {
			return errLost
		}
		if err != nil {
			return fmt.Errorf("session: checking revocations: %w", err)
		}
		st, err := decodeState(rec.Data)
		if err != nil {
			return errLost
		}
		s.st, s.version, s.userID = st, rec.Version, rec.UserID
	}
	return errors.New("session: the session kept changing while its revocation was checked")
}

// A user's revocation marker is a record of its own, in the same store as
// the sessions, under an ID that no session ID can take (session IDs are
// 43 characters of base64url; this starts with '~'). It is not indexed
// under the user, so listing and revoking never see it. Its data is:
//
//	format      byte     1
//	validAfter  uvarint  unix microseconds
//
// It expires once every session authenticated before validAfter has
// reached its absolute lifetime under the current timeouts.
const markerFormat = 1

func markerID(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return "~revoked." + base64.RawURLEncoding.EncodeToString(sum[:])
}

func decodeMarker(data []byte) (int64, bool) {
	if len(data) < 2 || data[0] != markerFormat {
		return 0, false
	}
	v, n := binary.Uvarint(data[1:])
	if n <= 0 || 1+n != len(data) || v > 1<<62 {
		return 0, false
	}
	return int64(v), true
}

// revokedUntil returns the instant recorded by the user's latest
// RevokeAll, or 0.
func (m *Manager) revokedUntil(ctx context.Context, cp **callContext, userID string) (int64, error) {
	rec, err := m.load1(ctx, cp, markerID(userID))
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, ok := decodeMarker(rec.Data)
	if !ok {
		return 0, errCorrupt
	}
	return v, nil
}

// raiseMarker records validAfter for userID unless a later instant is
// recorded already.
func (m *Manager) raiseMarker(ctx context.Context, userID string, validAfter int64, now time.Time) error {
	id := markerID(userID)
	exp := storeExpiry(time.UnixMicro(validAfter).Add(max(m.life, m.rLife)), now)
	for range maxAttempts {
		rec, err := m.load1(ctx, nil, id)
		switch {
		case errors.Is(err, ErrNotFound):
			rec = Record{ID: id}
		case err != nil:
			return err
		default:
			if v, ok := decodeMarker(rec.Data); ok && v >= validAfter {
				return nil
			}
		}
		next := Record{ID: id, Version: rec.Version, Expiry: exp,
			Data: binary.AppendUvarint([]byte{markerFormat}, uint64(validAfter))}
		if rec.Expiry.After(exp) {
			next.Expiry = rec.Expiry
		}
		err = m.save1(ctx, nil, next)
		if err == nil || m.confirmed(ctx, nil, next, err) {
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return errors.New("session: the revocation marker kept changing")
}
