package refresh

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/httpstate/httpstate/observe"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/token"
)

// Errors that callers branch on.
var (
	// ErrInvalid reports a refresh token that grants nothing: malformed,
	// unknown, expired, revoked, or a real family ID with a secret it
	// never issued.
	ErrInvalid = errors.New("refresh: invalid refresh token")

	// ErrReused reports a refresh token presented after it had stopped
	// working, outside the grace rule: either a thief or the legitimate
	// client is using a copy. The whole token family has been revoked
	// when Refresh returns it (unless the error also says that deleting
	// the family failed). It wraps ErrInvalid.
	ErrReused = fmt.Errorf("%w: reused; its token family was revoked", ErrInvalid)
)

// Defaults and bounds of Options.
const (
	// DefaultLifetime is the absolute lifetime of a token family when
	// Options.Lifetime is zero: after it, the user signs in again.
	DefaultLifetime = 30 * 24 * time.Hour

	// DefaultGrace is the grace window when Options.Grace is zero: long
	// enough for a client's request timeout and one retry, short next to
	// the minutes between two refreshes. It is Okta's default grace
	// period for refresh token rotation (its "leeway", 30 seconds), and
	// half the most Amazon Cognito allows (60 seconds). Auth0's reuse
	// interval defaults to 0, the strict rule (Grace < 0 here) under
	// which a retry after a lost response revokes the family; its
	// interval, when set, also admits only the token rotated out last,
	// as here.
	DefaultGrace = 30 * time.Second

	// MaxGrace is the largest Options.Grace allowed. Longer than a few
	// minutes is no longer a retry, and every second of grace is a second
	// in which a copy of a just-rotated token is exchanged for a working
	// access token instead of revoking the family at once.
	MaxGrace = 5 * time.Minute
)

// saveAttempts bounds the compare-and-swap saves of one Refresh. Each
// conflict means another exchange of the family succeeded, so the family
// makes progress; the bound only caps how long one call keeps trying.
const saveAttempts = 5

// Reasons a Refresh event gives; the token section's vocabulary in
// package observe.
const (
	reasonGrace     = "grace"     // OK: a repeat of the latest rotation within the grace window
	reasonRecovered = "recovered" // OK: the save's answer was lost; a reload showed it written
	reasonMalformed = "malformed" // Rejected: not a refresh token
	reasonUnknown   = "unknown"   // Rejected: no live family with that ID
	reasonExpired   = "expired"   // Rejected: the family's lifetime or idle timeout ran out
	reasonMismatch  = "mismatch"  // Rejected: a live family's ID with a secret it never issued
)

// Options configures a Refresher.
type Options struct {
	// Lifetime is the absolute lifetime of a family, counted from sign-in.
	// Zero means DefaultLifetime; it must not be negative.
	Lifetime time.Duration

	// IdleTimeout, if positive, ends a family that has not been refreshed
	// for that long, before its Lifetime is up.
	IdleTimeout time.Duration

	// Grace is how long after a rotation the refresh token it exchanged
	// may be presented again for a fresh pair rather than revoking the
	// family (see Refresher). Zero means DefaultGrace, a negative value
	// turns the grace rule off, and more than MaxGrace is a configuration
	// error.
	Grace time.Duration

	// Observer, if not nil, receives an observe.Refresh event for every
	// Refresh, with its outcome, reason and duration. Events never hold a
	// token, a family ID or a user ID. Nil reports nothing and costs
	// nothing.
	Observer observe.Observer
}

// Refresher starts token families at sign-in and exchanges refresh tokens
// for new pairs. Make one with New; it is safe for concurrent use. To
// list and revoke families, use Families, which needs no Issuer.
type Refresher struct {
	store       session.Store
	issuer      *token.Issuer
	lifetime    time.Duration
	idleTimeout time.Duration
	grace       time.Duration // 0 when the grace rule is off
	observer    observe.Observer

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

// New returns a Refresher that keeps families in store and signs access
// tokens with issuer. It checks the options once, here. Give it a store of
// its own (see the package documentation).
func New(store session.Store, issuer *token.Issuer, opts Options) (*Refresher, error) {
	switch {
	case store == nil:
		return nil, errors.New("refresh: New needs a Store")
	case issuer == nil:
		return nil, errors.New("refresh: New needs an Issuer")
	case opts.Lifetime < 0 || opts.IdleTimeout < 0:
		return nil, errors.New("refresh: Options.Lifetime and IdleTimeout must not be negative")
	case opts.Grace > MaxGrace:
		return nil, fmt.Errorf("refresh: Options.Grace %v is more than MaxGrace", opts.Grace)
	}
	r := &Refresher{
		store: store, issuer: issuer, lifetime: opts.Lifetime, idleTimeout: opts.IdleTimeout,
		grace: opts.Grace, observer: opts.Observer,
	}
	if r.lifetime == 0 {
		r.lifetime = DefaultLifetime
	}
	switch {
	case r.grace == 0:
		r.grace = DefaultGrace
	case r.grace < 0:
		r.grace = 0
	}
	return r, nil
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
	if r.idleTimeout > 0 {
		if idle := time.UnixMilli(f.Used).Add(r.idleTimeout); idle.Before(end) {
			return idle
		}
	}
	return end
}

// Issue starts a token family for subject, a user ID, and returns its
// first pair. The custom claims in extra go into every access token of the
// family; they are fixed for its life, so when they must change (a role
// was removed) revoke the user's families with Families.RevokeAll.
//
// If the store's answer to the save is lost, Issue reads the family back
// and returns the pair if it was written; otherwise it returns the error,
// and a family that was written after all is never handed out and ends at
// its lifetime.
func (r *Refresher) Issue(ctx context.Context, subject string, extra map[string]any) (Pair, error) {
	if r == nil || r.store == nil {
		return Pair{}, errors.New("refresh: Refresher not made by New")
	}
	if subject == "" {
		return Pair{}, errors.New("refresh: Issue with an empty subject")
	}
	var rawExtra json.RawMessage
	if len(extra) > 0 {
		b, err := json.Marshal(extra)
		if err != nil {
			return Pair{}, fmt.Errorf("refresh: encode custom claims: %w", err)
		}
		rawExtra = b
	}
	now := r.clock()
	secret, hash := newSecret()
	f := familyData{
		Format: 1, Current: hash, Created: now.UnixMilli(), Used: now.UnixMilli(),
		Ends: now.Add(r.lifetime).UnixMilli(), Extra: rawExtra,
	}
	id, _ := newSecret()
	pair, err := r.pair(ctx, subject, extra, id, secret)
	if err != nil {
		return Pair{}, err
	}
	data, err := json.Marshal(f)
	if err != nil {
		return Pair{}, fmt.Errorf("refresh: encode token family: %w", err)
	}
	rec := session.Record{ID: id, UserID: subject, Expiry: r.expiry(&f), Data: data}
	err = r.store.Save(ctx, rec)
	if err != nil && !errors.Is(err, session.ErrConflict) {
		// The outcome is unknown: look.
		if _, got, _, lerr := r.load(ctx, id); lerr == nil && subtle.ConstantTimeCompare(got.Current, hash) == 1 {
			return pair, nil
		}
	}
	if err != nil {
		return Pair{}, fmt.Errorf("refresh: save token family: %w", err)
	}
	return pair, nil
}

// Refresh exchanges a refresh token for a new pair. Errors:
//
//   - ErrReused (which wraps ErrInvalid): the token had stopped working
//     and is not covered by the grace rule, so the family has been
//     revoked; the user must sign in again on every device of that family.
//   - ErrInvalid: the token is malformed, unknown, expired or revoked, or
//     names a family with a secret it never issued.
//   - anything else: the store failed, and whether the token was
//     exchanged is unknown. Retrying the same token within the grace
//     window is safe: if the exchange was written the retry is a grace
//     exchange, and if not it is a plain one. Either way it returns a pair
//     that is the family's only current one.
//
// When the store reports a save's outcome as unknown, Refresh reads the
// family again before giving up: if its save was written it returns that
// pair, and if nothing was written it tries again, so a caller sees an
// error only when the store cannot be read either.
func (r *Refresher) Refresh(ctx context.Context, refreshToken string) (Pair, error) {
	if r == nil || r.store == nil {
		return Pair{}, errors.New("refresh: Refresher not made by New")
	}
	if r.observer == nil {
		p, _, err := r.refresh(ctx, refreshToken)
		return p, err
	}
	start := time.Now()
	p, reason, err := r.refresh(ctx, refreshToken)
	e := observe.Event{Kind: observe.Refresh, Outcome: observe.OK, Reason: reason, Start: start, Duration: time.Since(start)}
	switch {
	case errors.Is(err, ErrReused):
		e.Outcome, e.Reason = observe.Reused, ""
		if err != ErrReused {
			e.Err = err // the family could not be deleted
		}
	case errors.Is(err, ErrInvalid):
		e.Outcome = observe.Rejected
	case err != nil:
		e.Outcome, e.Reason, e.Err = observe.Error, "", err
	}
	r.observer.Observe(ctx, e)
	return p, err
}

func (r *Refresher) refresh(ctx context.Context, refreshToken string) (Pair, string, error) {
	id, hash, ok := parseToken(refreshToken)
	if !ok {
		return Pair{}, reasonMalformed, fmt.Errorf("%w: malformed refresh token", ErrInvalid)
	}
	var (
		pending     []byte // the secret hash of a save whose outcome is unknown
		pendingPair Pair
		saveErr     error // the error of that save
	)
	for saves := 0; ; saves++ {
		rec, f, reason, err := r.load(ctx, id)
		if err != nil {
			if saveErr != nil && !errors.Is(err, ErrInvalid) {
				return Pair{}, "", fmt.Errorf("refresh: save token family, outcome unknown: %w (reading it back: %v)", saveErr, err)
			}
			return Pair{}, reason, err
		}
		if pending != nil && subtle.ConstantTimeCompare(f.Current, pending) == 1 {
			// The save whose answer was lost was written.
			return pendingPair, reasonRecovered, nil
		}
		if saves == saveAttempts {
			if saveErr != nil {
				return Pair{}, "", fmt.Errorf("refresh: save token family: %w", saveErr)
			}
			return Pair{}, "", fmt.Errorf("refresh: refresh kept conflicting: %w", session.ErrConflict)
		}
		pending, saveErr = nil, nil
		now := r.clock()
		grace := false
		switch matchSecret(&f, hash) {
		case secretUnknown:
			return Pair{}, reasonMismatch, fmt.Errorf("%w: refresh token does not match its family", ErrInvalid)
		case secretLast:
			if r.grace == 0 || !now.Before(time.UnixMilli(f.Rotated).Add(r.grace)) {
				return Pair{}, "", r.revoke(ctx, id)
			}
			grace = true
		case secretPrevious:
			return Pair{}, "", r.revoke(ctx, id)
		}
		if !now.Before(r.expiry(&f)) {
			return Pair{}, reasonExpired, fmt.Errorf("%w: refresh token expired", ErrInvalid)
		}
		var extra map[string]any
		if len(f.Extra) > 0 {
			d := json.NewDecoder(bytes.NewReader(f.Extra))
			d.UseNumber() // integers round-trip exactly
			if err := d.Decode(&extra); err != nil {
				return Pair{}, "", fmt.Errorf("%w: %w", errCorruptFamily, err)
			}
		}
		secret, next := newSecret()
		pair, err := r.pair(ctx, rec.UserID, extra, id, secret)
		if err != nil {
			return Pair{}, "", err
		}
		if !grace {
			// A rotation: the presented secret becomes the one a retry
			// may repeat, for the grace window from now.
			f.Last, f.Rotated = f.Current, now.UnixMilli()
		}
		// A grace exchange supersedes the pair of the rotation it
		// repeats, so the family keeps exactly one current secret; Last
		// and its window stay as they are, so retries cannot extend it.
		f.stopWorking()
		f.Current, f.Used = next, now.UnixMilli()
		f.Rotations++
		rec.Data, err = json.Marshal(f)
		if err != nil {
			return Pair{}, "", fmt.Errorf("refresh: encode token family: %w", err)
		}
		rec.Expiry = r.expiry(&f)
		err = r.store.Save(ctx, rec)
		switch {
		case err == nil:
			if grace {
				return pair, reasonGrace, nil
			}
			return pair, "", nil
		case errors.Is(err, session.ErrConflict):
			// Someone changed the family since we loaded it; judge the
			// token again against what they stored.
		default:
			// The save may or may not have been written. Reading the
			// family back tells: written, it is our pair; not written,
			// the token is judged again, and should this save land late
			// after all, the compare-and-swap makes the next one fail
			// and the token is judged against it.
			pending, pendingPair, saveErr = next, pair, err
		}
	}
}

// revoke ends the family after a reuse, and returns ErrReused.
func (r *Refresher) revoke(ctx context.Context, id string) error {
	if err := r.store.Delete(ctx, id); err != nil {
		return fmt.Errorf("%w (but deleting the family failed: %w)", ErrReused, err)
	}
	return ErrReused
}

// load reads a family; on a rejection it also returns the reason.
func (r *Refresher) load(ctx context.Context, id string) (session.Record, familyData, string, error) {
	rec, err := r.store.Load(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return rec, familyData{}, reasonUnknown, fmt.Errorf("%w: refresh token unknown, expired or revoked", ErrInvalid)
	}
	if err != nil {
		return rec, familyData{}, "", fmt.Errorf("refresh: load token family: %w", err)
	}
	f, err := decodeFamily(rec.Data)
	return rec, f, "", err
}

func (r *Refresher) pair(ctx context.Context, subject string, extra map[string]any, id, secret string) (Pair, error) {
	access, err := r.issuer.Issue(ctx, subject, extra)
	if err != nil {
		return Pair{}, err
	}
	return Pair{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int(r.issuer.TTL() / time.Second),
		RefreshToken: id + "." + secret,
	}, nil
}
