package token

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/httpstate/httpstate/session"
)

// ErrReused reports that a refresh token was presented after it had
// already been exchanged: either a thief or the legitimate client is using
// a copy. The whole token family has been revoked when Refresh returns it.
// It wraps ErrInvalid.
var ErrReused = fmt.Errorf("%w: refresh token reused; its token family was revoked", ErrInvalid)

// DefaultRefreshLifetime is the absolute lifetime of a token family when
// Refresher.Lifetime is zero: after it, the user signs in again.
const DefaultRefreshLifetime = 30 * 24 * time.Hour

// maxPrevious is how many exchanged secrets a family remembers for reuse
// detection. A token exchanged longer ago than that is merely unknown: it
// still grants nothing, but its use no longer revokes the family.
const maxPrevious = 16

// refreshAttempts bounds the reload-and-retry loop of Refresh when its
// compare-and-swap loses.
const refreshAttempts = 3

// Refresher issues access tokens together with rotating refresh tokens,
// and exchanges a refresh token for a new pair.
//
// # Token families
//
// A sign-in starts a token family: one record in Store whose ID is a random
// family ID (a non-secret handle, like a session's) and whose UserID is the
// subject, so Store.ListByUser lists a user's families. The refresh token
// is "<family ID>.<secret>", the secret being 256 bits from crypto/rand in
// base64url; the record keeps only the secret's SHA-256, so reading the
// store does not yield usable tokens. The record also holds the hashes of
// the last 16 exchanged secrets, the custom claims to put in every access
// token of the family, and the family's absolute end.
//
// # Rotation and reuse
//
// Every refresh token works exactly once. Refresh exchanges the current
// secret for a new one with a compare-and-swap save, and returns a new
// access token with it. Presenting a secret that was already exchanged
// means two parties hold copies of it, and the server cannot tell which is
// the thief, so Refresh deletes the whole family (every device holding a
// token of it must sign in again) and returns ErrReused. A wrong secret
// under a real family ID is merely ErrInvalid: knowing a family ID, which
// is not secret, must not let anyone log a user out.
//
// # Concurrent refreshes
//
// Two refreshes of the same token that run at the same time both load the
// family; exactly one compare-and-swap wins and returns a new pair. The
// loser reloads, finds its secret already exchanged, and treats it as
// reuse: the family is revoked and the loser gets ErrReused. This strict
// rule is deliberate. A duplicate request from a client and a thief racing
// that client look identical to the server, and a grace window for "the
// same token again, moments later" is precisely where a thief who got in
// first would go unnoticed. The rule also does not depend on timing: a
// second use of a token revokes the family whether it overlaps the first
// or follows it. The price falls on clients, which must run one refresh at
// a time and send the user to sign in again if a refresh response is lost.
//
// # Store
//
// Give the Refresher its own Store (another table, key prefix or
// database), not the one holding browser sessions: a token family is not a
// browser session, and sharing a store would make families show up in
// session.Manager.Devices and be ended by Manager.RevokeAll.
//
// A Refresher is configured by its fields and must not be changed while in
// use. It is safe for concurrent use.
type Refresher struct {
	// Store keeps the token families. Required.
	Store session.Store

	// Issuer signs the access tokens. Required.
	Issuer *Issuer

	// Lifetime is the absolute lifetime of a family, counted from sign-in.
	// Zero means DefaultRefreshLifetime.
	Lifetime time.Duration

	// IdleTimeout, if positive, ends a family that has not been refreshed
	// for that long, before its Lifetime is up.
	IdleTimeout time.Duration

	now func() time.Time // for tests; nil means time.Now
}

// Pair is what a client gets at sign-in and from each refresh. It encodes
// to JSON as an OAuth 2.0 token response (RFC 6749 section 5.1).
type Pair struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"` // always "Bearer"
	ExpiresIn    int    `json:"expires_in"` // seconds until the access token expires
	RefreshToken string `json:"refresh_token"`
}

// Family describes one live token family, for a "your devices" page. It
// holds nothing that lets anyone refresh.
type Family struct {
	ID        string // handle for RevokeFamily
	UserID    string
	Created   time.Time // sign-in
	LastUsed  time.Time // last refresh, or sign-in
	Expires   time.Time // when the family ends unless refreshed (with an IdleTimeout) or for good
	Rotations int       // refreshes so far
}

// familyData is the JSON in Record.Data.
type familyData struct {
	Format    int             `json:"v"`
	Current   []byte          `json:"cur"`            // SHA-256 of the current secret
	Previous  [][]byte        `json:"prev,omitempty"` // SHA-256 of exchanged secrets, oldest first
	Created   int64           `json:"created"`        // unix ms
	Used      int64           `json:"used"`           // unix ms of the last rotation
	Ends      int64           `json:"ends"`           // unix ms of the absolute end
	Rotations int             `json:"n"`
	Extra     json.RawMessage `json:"extra,omitempty"` // custom claims of every access token
}

var errCorruptFamily = errors.New("token: corrupt token family record")

func decodeFamily(b []byte) (familyData, error) {
	var f familyData
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%w: %w", errCorruptFamily, err)
	}
	if f.Format != 1 || len(f.Current) != sha256.Size || len(f.Previous) > maxPrevious || f.Rotations < 0 {
		return f, errCorruptFamily
	}
	for _, p := range f.Previous {
		if len(p) != sha256.Size {
			return f, errCorruptFamily
		}
	}
	return f, nil
}

func (r *Refresher) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// expiry is the record's Expiry: the family's end, or sooner if it goes
// idle.
func (r *Refresher) expiry(f *familyData) time.Time {
	end := time.UnixMilli(f.Ends)
	if r.IdleTimeout > 0 {
		if idle := time.UnixMilli(f.Used).Add(r.IdleTimeout); idle.Before(end) {
			return idle
		}
	}
	return end
}

func (r *Refresher) check() error {
	if r.Store == nil || r.Issuer == nil {
		return errors.New("token: Refresher needs Store and Issuer")
	}
	return nil
}

// Issue starts a token family for subject, a user ID, and returns its
// first pair. The custom claims in extra go into every access token of the
// family; they are fixed for its life, so when they must change (a role
// was removed) revoke the user's families with RevokeAll.
func (r *Refresher) Issue(ctx context.Context, subject string, extra map[string]any) (Pair, error) {
	if err := r.check(); err != nil {
		return Pair{}, err
	}
	if subject == "" {
		return Pair{}, errors.New("token: Refresher.Issue with an empty subject")
	}
	var rawExtra json.RawMessage
	if len(extra) > 0 {
		b, err := json.Marshal(extra)
		if err != nil {
			return Pair{}, fmt.Errorf("token: encode custom claims: %w", err)
		}
		rawExtra = b
	}
	now := r.clock()
	secret, hash := newSecret()
	f := familyData{
		Format: 1, Current: hash, Created: now.UnixMilli(), Used: now.UnixMilli(),
		Ends: now.Add(cmp.Or(r.Lifetime, DefaultRefreshLifetime)).UnixMilli(), Extra: rawExtra,
	}
	id, _ := newSecret()
	pair, err := r.pair(subject, extra, id, secret)
	if err != nil {
		return Pair{}, err
	}
	data, err := json.Marshal(f)
	if err != nil {
		return Pair{}, fmt.Errorf("token: encode token family: %w", err)
	}
	rec := session.Record{ID: id, UserID: subject, Expiry: r.expiry(&f), Data: data}
	if err := r.Store.Save(ctx, rec); err != nil {
		return Pair{}, fmt.Errorf("token: save token family: %w", err)
	}
	return pair, nil
}

// Refresh exchanges a refresh token for a new pair. The token it was given
// stops working. Errors:
//
//   - ErrReused (which wraps ErrInvalid): the token had already been
//     exchanged, so the family has been revoked; the user must sign in
//     again on every device of that family.
//   - ErrInvalid: the token is malformed, unknown, expired or revoked.
//   - anything else: the store could not answer; the token is untouched
//     and may be retried.
func (r *Refresher) Refresh(ctx context.Context, refreshToken string) (Pair, error) {
	if err := r.check(); err != nil {
		return Pair{}, err
	}
	id, hash, ok := parseRefreshToken(refreshToken)
	if !ok {
		return Pair{}, fmt.Errorf("%w: malformed refresh token", ErrInvalid)
	}
	for range refreshAttempts {
		rec, f, err := r.load(ctx, id)
		if err != nil {
			return Pair{}, err
		}
		now := r.clock()
		switch matchSecret(&f, hash) {
		case secretUnknown:
			return Pair{}, fmt.Errorf("%w: refresh token does not match its family", ErrInvalid)
		case secretPrevious:
			if err := r.Store.Delete(ctx, id); err != nil {
				return Pair{}, fmt.Errorf("%w (but deleting the family failed: %w)", ErrReused, err)
			}
			return Pair{}, ErrReused
		}
		if !now.Before(r.expiry(&f)) {
			return Pair{}, fmt.Errorf("%w: refresh token expired", ErrInvalid)
		}
		var extra map[string]any
		if len(f.Extra) > 0 {
			d := json.NewDecoder(bytes.NewReader(f.Extra))
			d.UseNumber() // integers round-trip exactly
			if err := d.Decode(&extra); err != nil {
				return Pair{}, fmt.Errorf("%w: %w", errCorruptFamily, err)
			}
		}
		secret, next := newSecret()
		pair, err := r.pair(rec.UserID, extra, id, secret)
		if err != nil {
			return Pair{}, err
		}
		f.Previous = append(f.Previous, f.Current)
		if len(f.Previous) > maxPrevious {
			f.Previous = f.Previous[len(f.Previous)-maxPrevious:]
		}
		f.Current, f.Used = next, now.UnixMilli()
		f.Rotations++
		rec.Data, err = json.Marshal(f)
		if err != nil {
			return Pair{}, fmt.Errorf("token: encode token family: %w", err)
		}
		rec.Expiry = r.expiry(&f)
		err = r.Store.Save(ctx, rec)
		if errors.Is(err, session.ErrConflict) {
			// Someone changed the family since we loaded it; judge the
			// token again against what they stored.
			continue
		}
		if err != nil {
			return Pair{}, fmt.Errorf("token: save token family: %w", err)
		}
		return pair, nil
	}
	return Pair{}, fmt.Errorf("token: refresh kept conflicting: %w", session.ErrConflict)
}

// Revoke ends the family of refreshToken, as at sign-out. The token must be
// the family's current one or an exchanged one: a family ID with a wrong
// secret is ErrInvalid and revokes nothing. A family that no longer exists
// is not an error.
func (r *Refresher) Revoke(ctx context.Context, refreshToken string) error {
	if err := r.check(); err != nil {
		return err
	}
	id, hash, ok := parseRefreshToken(refreshToken)
	if !ok {
		return fmt.Errorf("%w: malformed refresh token", ErrInvalid)
	}
	_, f, err := r.load(ctx, id)
	if errors.Is(err, ErrInvalid) {
		return nil
	}
	if err != nil {
		return err
	}
	if matchSecret(&f, hash) == secretUnknown {
		return fmt.Errorf("%w: refresh token does not match its family", ErrInvalid)
	}
	if err := r.Store.Delete(ctx, id); err != nil {
		return fmt.Errorf("token: revoke: %w", err)
	}
	return nil
}

// RevokeFamily ends the family with the given ID if it belongs to userID,
// as when a user signs out one of their devices. It returns
// session.ErrNotFound if userID has no live family with that ID, so one
// user cannot end another's family by guessing IDs.
func (r *Refresher) RevokeFamily(ctx context.Context, userID, familyID string) error {
	if err := r.check(); err != nil {
		return err
	}
	if userID == "" || familyID == "" {
		return session.ErrNotFound
	}
	rec, err := r.Store.Load(ctx, familyID)
	if errors.Is(err, session.ErrNotFound) || (err == nil && rec.UserID != userID) {
		return session.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("token: revoke family: %w", err)
	}
	if err := r.Store.Delete(ctx, familyID); err != nil {
		return fmt.Errorf("token: revoke family: %w", err)
	}
	return nil
}

// RevokeAll ends every family of userID and returns how many it ended.
// Call it when a password changes, an account is disabled, or the claims
// stored in the families must change. Access tokens already issued stay
// valid until they expire, which is why they are short-lived.
func (r *Refresher) RevokeAll(ctx context.Context, userID string) (int, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	if userID == "" {
		return 0, errors.New("token: RevokeAll with an empty user ID")
	}
	recs, err := r.Store.ListByUser(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("token: revoke all: %w", err)
	}
	n := 0
	for _, rec := range recs {
		if rec.UserID != userID {
			continue
		}
		if err := r.Store.Delete(ctx, rec.ID); err != nil {
			return n, fmt.Errorf("token: revoke all: %w", err)
		}
		n++
	}
	return n, nil
}

// Families returns userID's live token families, most recently used
// first.
func (r *Refresher) Families(ctx context.Context, userID string) ([]Family, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	recs, err := r.Store.ListByUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("token: list families: %w", err)
	}
	now := r.clock()
	out := make([]Family, 0, len(recs))
	for _, rec := range recs {
		f, err := decodeFamily(rec.Data)
		if err != nil || rec.UserID != userID {
			continue
		}
		exp := r.expiry(&f)
		if !now.Before(exp) {
			continue
		}
		out = append(out, Family{
			ID: rec.ID, UserID: rec.UserID, Created: time.UnixMilli(f.Created),
			LastUsed: time.UnixMilli(f.Used), Expires: exp, Rotations: f.Rotations,
		})
	}
	slices.SortFunc(out, func(a, b Family) int {
		return cmp.Or(b.LastUsed.Compare(a.LastUsed), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (r *Refresher) load(ctx context.Context, id string) (session.Record, familyData, error) {
	rec, err := r.Store.Load(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return rec, familyData{}, fmt.Errorf("%w: refresh token unknown, expired or revoked", ErrInvalid)
	}
	if err != nil {
		return rec, familyData{}, fmt.Errorf("token: load token family: %w", err)
	}
	f, err := decodeFamily(rec.Data)
	if err != nil {
		return rec, f, err
	}
	return rec, f, nil
}

func (r *Refresher) pair(subject string, extra map[string]any, id, secret string) (Pair, error) {
	access, claims, err := r.Issuer.issue(subject, extra)
	if err != nil {
		return Pair{}, err
	}
	return Pair{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int(claims.Expiry.Sub(claims.IssuedAt) / time.Second),
		RefreshToken: id + "." + secret,
	}, nil
}

type secretMatch int

const (
	secretUnknown secretMatch = iota
	secretCurrent
	secretPrevious
)

func matchSecret(f *familyData, hash [sha256.Size]byte) secretMatch {
	if subtle.ConstantTimeCompare(f.Current, hash[:]) == 1 {
		return secretCurrent
	}
	for _, p := range f.Previous {
		if subtle.ConstantTimeCompare(p, hash[:]) == 1 {
			return secretPrevious
		}
	}
	return secretUnknown
}

// A family ID and a secret are each 32 random bytes in unpadded base64url
// (43 characters), joined by a dot.
const (
	secretBytes = 32
	secretLen   = 43
	refreshLen  = 2*secretLen + 1
)

// newSecret returns a random secret and the SHA-256 of its raw bytes.
func newSecret() (string, []byte) {
	var b [secretBytes]byte
	rand.Read(b[:])
	sum := sha256.Sum256(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]), sum[:]
}

// parseRefreshToken splits a refresh token into its family ID and the
// SHA-256 of its secret. Only the canonical spelling is accepted.
func parseRefreshToken(tok string) (string, [sha256.Size]byte, bool) {
	var sum [sha256.Size]byte
	if len(tok) != refreshLen || tok[secretLen] != '.' {
		return "", sum, false
	}
	id, secret := tok[:secretLen], tok[secretLen+1:]
	var raw [secretBytes]byte
	enc := base64.RawURLEncoding.Strict()
	if n, err := enc.Decode(raw[:], []byte(id)); err != nil || n != secretBytes {
		return "", sum, false
	}
	if n, err := enc.Decode(raw[:], []byte(secret)); err != nil || n != secretBytes {
		return "", sum, false
	}
	return id, sha256.Sum256(raw[:]), true
}
