package session

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Sentinel errors of the Store contract. Stores return them (possibly
// wrapped with %w) and callers test for them with errors.Is.
var (
	// ErrNotFound reports that no live record exists under an ID: it was
	// never saved, it was deleted, or its Expiry has passed.
	ErrNotFound = errors.New("session: record not found")

	// ErrConflict reports that a compare-and-swap Save lost: the stored
	// version is not the one the caller loaded (another writer saved first,
	// or the record was deleted or expired in between). Nothing was
	// written.
	ErrConflict = errors.New("session: version conflict")

	// ErrInvalid reports a record that no Store may keep: an ID or UserID
	// outside the limits of ValidID and ValidUserID, or an Expiry that is
	// zero or not after the store's current time. Nothing was written.
	ErrInvalid = errors.New("session: invalid record")
)

// ConflictError is a compare-and-swap conflict that carries the record as
// the store found it, so that the caller need not load it again before it
// retries. It matches ErrConflict with errors.Is. A Store may return it
// from Save in place of a plain ErrConflict when it learns the current
// record in the same round trip; the Manager then replays a request's
// changes on Current directly.
type ConflictError struct {
	// Current is the live record stored under the ID when the save lost,
	// as Load would have returned it. Found is false if there was none
	// (deleted or expired); Current.ID is the ID of the lost save either
	// way, which is how a caller tells whose conflict it holds.
	Current Record
	Found   bool
}

func (e *ConflictError) Error() string { return ErrConflict.Error() }

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Limits of what a Store keeps. Every Store accepts every record within
// them, so that an application can move from one store to another; the
// Manager never hands a Store anything outside them.
const (
	// MaxIDLen is the longest Record.ID, in bytes. IDs are 1 to MaxIDLen
	// bytes of the URL-safe characters A-Z a-z 0-9 - _ . ~ (RFC 3986's
	// unreserved set), so that they fit a Memcached key or a Redis key
	// prefix and compare byte for byte in every database.
	MaxIDLen = 64

	// MaxUserIDLen is the longest Record.UserID, in bytes. User IDs are
	// valid UTF-8 without control characters (U+0000 to U+001F and U+007F
	// to U+009F), which every database stores as text.
	MaxUserIDLen = 255

	// MaxDataLen is the largest Record.Data every Store accepts, in bytes
	// (1 MiB). Options.MaxSize cannot exceed it. Some stores take more;
	// none is required to.
	MaxDataLen = 1 << 20

	// MaxClockSkew is how far the clocks that judge Expiry may disagree:
	// the calling process's clock (the Manager's, and the store's own in
	// stores that compare Expiry in the process) and a server's clock
	// (stores that compare it in the database). The Manager never saves a
	// record whose Expiry is less than MaxClockSkew ahead of its clock,
	// so no store ever judges a record it was just given as already
	// expired. Application servers that share a store must keep their
	// clocks within the same bound (NTP does far better), because a
	// revocation compares an instant taken on one server with instants
	// taken on the others; see Manager.RevokeAll.
	MaxClockSkew = 10 * time.Second
)

// ValidID reports whether id is within the limits of Record.ID.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
		default:
			return false
		}
	}
	return true
}

// ValidUserID reports whether userID is within the limits of
// Record.UserID. The empty string is valid: it marks an anonymous record.
func ValidUserID(userID string) bool {
	if len(userID) > MaxUserIDLen {
		return false
	}
	for i := 0; i < len(userID); {
		c := userID[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(userID[i:])
		if r == utf8.RuneError && n == 1 || r >= 0x80 && r <= 0x9f {
			return false
		}
		i += n
	}
	return true
}

// CheckRecord returns an error wrapping ErrInvalid if a Store must refuse
// rec by the limits above, judging Expiry by now. Stores call it first
// thing in Save, with their own notion of the current time.
func CheckRecord(rec Record, now time.Time) error {
	switch {
	case !ValidID(rec.ID):
		return fmt.Errorf("%w: ID is not 1 to %d URL-safe bytes", ErrInvalid, MaxIDLen)
	case !ValidUserID(rec.UserID):
		return fmt.Errorf("%w: user ID is not at most %d bytes of UTF-8 without control characters", ErrInvalid, MaxUserIDLen)
	case rec.Expiry.IsZero() || !rec.Expiry.After(now):
		return fmt.Errorf("%w: Expiry is zero or not after the current time", ErrInvalid)
	}
	return nil
}

// Record is what a Store keeps for one session.
//
// Stores treat Data as opaque bytes; the Manager owns its encoding. The
// metadata a person sees in a list of their devices (creation time, last
// activity, user agent, address) lives inside Data, so a Store only has to
// understand the five fields below.
type Record struct {
	// ID is the storage key, within the limits of ValidID. For a session
	// it is the unpadded base64url SHA-256 of the session token (43
	// bytes): the token itself never reaches a Store. Knowing an ID does
	// not let anyone act as the session, so it doubles as the non-secret
	// handle shown in a user's device list.
	ID string

	// UserID names the user the record belongs to, or is empty for an
	// anonymous record. It is within the limits of ValidUserID. Records
	// with a non-empty UserID are found by Store.ListByUser.
	UserID string

	// Version counts the successful saves of this record. Load returns the
	// stored version; Save takes the version the caller loaded (0 for a
	// record it believes new) and stores Version+1.
	Version uint64

	// Expiry is the instant from which the record is dead. A Store keeps it
	// to the millisecond at least (it may drop finer digits) and treats a
	// record whose Expiry is not after its current time as absent in every
	// method, whether or not it has been physically removed yet. Each
	// store documents whose clock is its current time: the calling
	// process's or a server's; they agree within MaxClockSkew.
	Expiry time.Time

	// Data is the encoded session, at most MaxDataLen bytes. Load's
	// caller must not modify it, and a Store may keep the slice it was
	// given by Save; neither side writes to Data once it has been handed
	// over.
	Data []byte
}

// Store keeps session records. It is the whole contract between the Manager
// and a storage engine; session/storetest checks that an implementation
// honours it, and the contract promises nothing that storetest does not
// check.
//
// All methods are safe for concurrent use by many goroutines and, for stores
// shared over a network, by many processes. Every method honours ctx: when
// ctx is done the method returns promptly with an error that wraps ctx.Err()
// or describes the failure; it never blocks past the deadline waiting for an
// unreachable server.
//
// # Errors
//
// ErrNotFound, ErrConflict and ErrInvalid have the meanings documented on
// them and mean that the method changed nothing. Any other error means the
// Store could not answer (an outage, a timeout, corrupt data) and must never
// be reported as ErrNotFound: a caller treats "not found" as "log the user
// out", so an outage reported as not found would log everyone out.
//
// Such an error from Save or Delete leaves the outcome unknown: the write
// may have happened (a timeout or a dropped connection after the server
// committed, a reply lost after the write). A caller that must know loads
// the record again: after a Save it finds either the version it loaded
// (not written), Version+1 with the Data it sent (written), or something
// newer (written or not, and overtaken either way). The Manager does so,
// so an ambiguous failure is never mistaken for a lost session.
type Store interface {
	// Load returns the live record stored under id, with its current
	// Version. If there is none, or its Expiry has passed, or id is not a
	// ValidID, Load returns ErrNotFound.
	Load(ctx context.Context, id string) (Record, error)

	// Save stores rec under rec.ID with Version rec.Version+1, provided the
	// stored version still equals rec.Version. rec.Version == 0 means the
	// caller expects no live record under rec.ID. If the condition does not
	// hold (another writer saved first, or the record was deleted or has
	// expired since it was loaded) Save changes nothing and returns
	// ErrConflict, so that a slow writer can never bring back a deleted
	// session. The check and the write are one atomic step. A store that
	// learns the current record in the same round trip may return a
	// *ConflictError carrying it.
	//
	// Save returns an error wrapping ErrInvalid, and changes nothing, for a
	// record CheckRecord refuses, judging Expiry by the calling process's
	// clock or the server's, as the store documents.
	//
	// Save also maintains the user index: once it returns nil the record
	// is listed by ListByUser(rec.UserID) and by no other user's list.
	Save(ctx context.Context, rec Record) error

	// Delete removes the record stored under id, and its user index entry.
	// Deleting a record that does not exist, or an id that is not a
	// ValidID, is not an error. Once Delete returns nil, Load(id) reports
	// ErrNotFound and every Save that loaded an earlier version reports
	// ErrConflict.
	Delete(ctx context.Context, id string) error

	// ListByUser returns every live record whose UserID is userID, in no
	// particular order: every record whose Save returned nil before
	// ListByUser was called and that was not deleted, overwritten for
	// another user or expired since. (A store whose index can forget, such
	// as a cache that evicts, says so in its documentation and declares it
	// to storetest with storetest.ForgetfulIndex; Manager.RevokeAll is only
	// as complete as this list.) A user with no live records, the empty
	// user ID and a user ID that is not a ValidUserID get an empty slice
	// and a nil error.
	ListByUser(ctx context.Context, userID string) ([]Record, error)

	// DeleteExpired physically removes up to limit records whose Expiry has
	// passed, with their user index entries, and returns how many it
	// removed; callers loop until it returns 0 to sweep everything. A limit
	// of 0 or less means no limit. Stores whose engine expires records by
	// itself (Redis, Memcached) may return 0, nil.
	DeleteExpired(ctx context.Context, limit int) (int, error)
}
