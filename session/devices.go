package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
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
}

// Devices returns userID's live sessions, most recently used first.
func (m *Manager) Devices(ctx context.Context, userID string) ([]Device, error) {
	recs, err := m.list1(ctx, userID)
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

// Device decodes one stored record. It reports false for a record that is
// not a live session (a renewal's tombstone, unreadable data, or timed out
// under the current configuration).
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
	return Device{
		Handle: rec.ID, UserID: rec.UserID,
		Created: unixMilli(st.created), LastSeen: unixMilli(st.seen), Expires: exp,
		UserAgent: string(st.agent), IP: string(st.ip), Remembered: st.remember,
	}, true
}

// Revoke ends the session with the given handle if it belongs to userID,
// as when a user removes one of their devices. It returns ErrNotFound if
// userID has no live session with that handle, so one user can never end
// another's session by guessing handles. The revoked device's next request
// gets an anonymous session.
func (m *Manager) Revoke(ctx context.Context, userID, handle string) error {
	if userID == "" || handle == "" {
		return ErrNotFound
	}
	rec, err := m.load1(ctx, handle)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrNotFound
		}
		return fmt.Errorf("session: revoke: %w", err)
	}
	if rec.UserID != userID || isTombstone(rec.Data) {
		return ErrNotFound
	}
	if err := m.delete1(ctx, handle); err != nil {
		return fmt.Errorf("session: revoke: %w", err)
	}
	return nil
}

// RevokeAll ends every session of userID except the one whose handle is
// except (pass "" to end them all, or the current Session.Handle to "log
// out everywhere else"). Call it when a password changes, together with
// RenewID on the current session. It returns how many sessions it ended.
//
// A request on a revoked session that is already in flight cannot save it
// back: its compare-and-swap fails and it finds the session gone.
func (m *Manager) RevokeAll(ctx context.Context, userID, except string) (int, error) {
	if userID == "" {
		return 0, errors.New("session: RevokeAll with an empty user ID")
	}
	recs, err := m.list1(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("session: revoke all: %w", err)
	}
	n := 0
	for _, rec := range recs {
		if rec.ID == except || rec.UserID != userID {
			continue
		}
		if err := m.delete1(ctx, rec.ID); err != nil {
			return n, fmt.Errorf("session: revoke all: %w", err)
		}
		n++
	}
	return n, nil
}
