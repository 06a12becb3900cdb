package refresh

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/httpstate/httpstate/session"
)

// Family describes one live token family, for a "your devices" page or an
// operator's listing. It holds nothing that lets anyone refresh.
type Family struct {
	ID        string // the family ID: a non-secret handle, for Families.Revoke
	UserID    string
	Created   time.Time // sign-in
	LastUsed  time.Time // the latest exchange, or sign-in
	Expires   time.Time // when the family ends unless refreshed (with an idle timeout) or for good
	Rotations int       // exchanges so far
}

// Families lists and revokes the token families in a store. It reads and
// deletes records only, so it needs no Issuer and no signing key: an
// operator's command can use it with nothing but the store. Make one with
// NewFamilies; it is safe for concurrent use, alongside any number of
// Refreshers on the same store.
type Families struct {
	store session.Store

	now func() time.Time // for tests; nil means time.Now
}

// NewFamilies returns a Families over store, the store a Refresher keeps
// its families in.
func NewFamilies(store session.Store) (*Families, error) {
	if store == nil {
		return nil, errors.New("refresh: NewFamilies needs a Store")
	}
	return &Families{store: store}, nil
}

func (fs *Families) clock() time.Time {
	if fs.now != nil {
		return fs.now()
	}
	return time.Now()
}

func (fs *Families) check() error {
	if fs == nil || fs.store == nil {
		return errors.New("refresh: Families not made by NewFamilies")
	}
	return nil
}

// List returns userID's live token families, most recently used first.
// A record that cannot be decoded is left out rather than failing the
// whole list.
func (fs *Families) List(ctx context.Context, userID string) ([]Family, error) {
	if err := fs.check(); err != nil {
		return nil, err
	}
	recs, err := fs.store.ListByUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("refresh: list families: %w", err)
	}
	now := fs.clock()
	out := make([]Family, 0, len(recs))
	for _, rec := range recs {
		f, err := decodeFamily(rec.Data)
		if err != nil || rec.UserID != userID || !now.Before(rec.Expiry) {
			continue
		}
		out = append(out, Family{
			ID: rec.ID, UserID: rec.UserID, Created: time.UnixMilli(f.Created),
			LastUsed: time.UnixMilli(f.Used), Expires: rec.Expiry, Rotations: f.Rotations,
		})
	}
	slices.SortFunc(out, func(a, b Family) int {
		return cmp.Or(b.LastUsed.Compare(a.LastUsed), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Revoke ends the family with the given ID if it belongs to userID, as
// when a user signs out one of their devices. It returns
// session.ErrNotFound if userID has no live family with that ID, so one
// user cannot end another's family by guessing IDs.
func (fs *Families) Revoke(ctx context.Context, userID, familyID string) error {
	if err := fs.check(); err != nil {
		return err
	}
	if userID == "" || familyID == "" {
		return session.ErrNotFound
	}
	rec, err := fs.store.Load(ctx, familyID)
	if errors.Is(err, session.ErrNotFound) || (err == nil && rec.UserID != userID) {
		return session.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("refresh: revoke family: %w", err)
	}
	if err := fs.store.Delete(ctx, familyID); err != nil {
		return fmt.Errorf("refresh: revoke family: %w", err)
	}
	return nil
}

// RevokeAll ends every family of userID and returns how many it ended.
// Call it when a password changes, an account is disabled, or the claims
// stored in the families must change. Access tokens already issued stay
// valid until they expire, which is why they are short-lived.
func (fs *Families) RevokeAll(ctx context.Context, userID string) (int, error) {
	if err := fs.check(); err != nil {
		return 0, err
	}
	if userID == "" {
		return 0, errors.New("refresh: RevokeAll with an empty user ID")
	}
	recs, err := fs.store.ListByUser(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("refresh: revoke all: %w", err)
	}
	n := 0
	for _, rec := range recs {
		if rec.UserID != userID {
			continue
		}
		if err := fs.store.Delete(ctx, rec.ID); err != nil {
			return n, fmt.Errorf("refresh: revoke all: %w", err)
		}
		n++
	}
	return n, nil
}

// RevokeToken ends the family of refreshToken, as at sign-out. The token
// may be the family's current one or one that stopped working: a family ID
// with a secret the family never issued is ErrInvalid and revokes nothing,
// since family IDs are not secret. A family that no longer exists is not
// an error.
func (fs *Families) RevokeToken(ctx context.Context, refreshToken string) error {
	if err := fs.check(); err != nil {
		return err
	}
	id, hash, ok := parseToken(refreshToken)
	if !ok {
		return fmt.Errorf("%w: malformed refresh token", ErrInvalid)
	}
	rec, err := fs.store.Load(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("refresh: revoke: %w", err)
	}
	f, err := decodeFamily(rec.Data)
	if err != nil {
		return err
	}
	if matchSecret(&f, hash) == secretUnknown {
		return fmt.Errorf("%w: refresh token does not match its family", ErrInvalid)
	}
	if err := fs.store.Delete(ctx, id); err != nil {
		return fmt.Errorf("refresh: revoke: %w", err)
	}
	return nil
}
