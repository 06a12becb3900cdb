package session

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of the Store contract. Stores return them (possibly
// wrapped with %w) and callers test for them with errors.Is.
var (
	// ErrNotFound reports that no live record exists under an ID: it was
	// never saved, it was deleted, or its Expiry has passed.
	ErrNotFound = errors.New("session: record not found")

	// ErrConflict reports that a compare-and-swap Save lost: the stored
	// version is not the one the caller loaded (another writer saved first,
	// or the record was deleted or expired in between).
	ErrConflict = errors.New("session: version conflict")
)

// Record is what a Store keeps for one session.
//
// Stores treat Data as opaque bytes; the Manager owns its encoding. The
// metadata a person sees in a list of their devices (creation time, last
// activity, user agent, address) lives inside Data, so a Store only has to
// understand the five fields below.
type Record struct {
	// ID is the storage key: the unpadded base64url SHA-256 of the session
	// token (43 bytes). The token itself never reaches a Store. Knowing an ID
	// does not let anyone act as the session, so it doubles as the
	// non-secret handle shown in a user's device list.
	ID string

	// UserID names the user the session belongs to, or is empty for an
	// anonymous session. Records with a non-empty UserID are found by
	// Store.ListByUser.
	UserID string

	// Version counts the successful saves of this record. Load returns the
	// stored version; Save takes the version the caller loaded (0 for a
	// record it believes new) and stores Version+1.
	Version uint64

	// Expiry is the instant after which the record is dead. Stores must
	// treat a record whose Expiry is not after the current time as absent
	// in every method, whether or not it has been physically removed yet.
	Expiry time.Time

	// Data is the encoded session. Load's caller must not modify it, and a
	// Store may keep the slice it was given by Save; neither side writes to
	// Data once it has been handed over.
	Data []byte
}

// Store keeps session records. It is the whole contract between the Manager
// (and package token) and a storage engine; session/storetest checks that an
// implementation honours it.
//
// All methods are safe for concurrent use by many goroutines and, for stores
// shared over a network, by many processes. Every method honours ctx: when
// ctx is done the method returns promptly with an error that wraps ctx.Err()
// or describes the failure; it never blocks past the deadline waiting for an
// unreachable server. Errors other than ErrNotFound and ErrConflict mean the
// Store could not answer (an outage, a timeout, corrupt data) and must never
// be reported as ErrNotFound: a caller treats "not found" as "log the user
// out", so an outage reported as not found would log everyone out.
type Store interface {
	// Load returns the live record stored under id, with its current
	// Version. If there is none, or its Expiry has passed, Load returns
	// ErrNotFound.
	Load(ctx context.Context, id string) (Record, error)

	// Save stores rec under rec.ID with Version rec.Version+1, provided the
	// stored version still equals rec.Version. rec.Version == 0 means the
	// caller expects no live record under rec.ID. If the condition does not
	// hold (another writer saved first, or the record was deleted or has
	// expired since it was loaded) Save changes nothing and returns
	// ErrConflict, so that a slow writer can never bring back a deleted
	// session. The check and the write are one atomic step.
	//
	// Save also maintains the user index: after it returns nil the record
	// is listed by ListByUser(rec.UserID) and by no other user's list. A
	// zero or past rec.Expiry is invalid; Save returns an error for it.
	Save(ctx context.Context, rec Record) error

	// Delete removes the record stored under id, and its user index entry.
	// Deleting a record that does not exist is not an error. Once Delete
	// returns nil, Load(id) reports ErrNotFound and every Save that loaded
	// an earlier version reports ErrConflict.
	Delete(ctx context.Context, id string) error

	// ListByUser returns every live record whose UserID is userID, in no
	// particular order. A user with no live records gets an empty slice and
	// a nil error. Records that expired are not returned.
	ListByUser(ctx context.Context, userID string) ([]Record, error)

	// DeleteExpired physically removes up to limit records whose Expiry has
	// passed, with their user index entries, and returns how many it
	// removed; callers loop until it returns 0 to sweep everything. A limit
	// of 0 or less means no limit. Stores whose engine expires records by
	// itself (Redis, Memcached) may return 0, nil.
	DeleteExpired(ctx context.Context, limit int) (int, error)
}

// InProcess is implemented by stores that keep their records in the
// process's own memory and so answer every call without waiting on a
// network, a disk or another process, as store/memory does. The Manager
// puts no Options.StoreTimeout deadline on their calls unless the options
// set one explicitly: the deadline guards against a server that stops
// answering, which such a store cannot do, and on every call it costs a
// timer and several allocations. A store that wraps another reports what
// the wrapped store reports, or false if it may block itself.
type InProcess interface {
	Store
	// InProcess reports whether every call returns without blocking on
	// I/O or on another process.
	InProcess() bool
}
