package refresh

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// maxPrevious is how many secrets that stopped working a family remembers
// for reuse detection. A token that stopped working longer ago than that
// is merely unknown: it still grants nothing, but its use no longer
// revokes the family.
const maxPrevious = 16

// familyData is the JSON in session.Record.Data. Records written before
// the grace window existed have no Last and Rotated; they decode with no
// secret eligible for a grace exchange until their next rotation.
type familyData struct {
	Format  int    `json:"v"`
	Current []byte `json:"cur"` // SHA-256 of the current secret

	// Previous holds the SHA-256 of every secret that stopped working,
	// oldest first: each one a rotation exchanged, and each current
	// secret a grace exchange superseded.
	Previous [][]byte `json:"prev,omitempty"`

	// Last is the SHA-256 of the secret the latest rotation exchanged (it
	// is also in Previous), the one secret a grace exchange accepts, until
	// Rotated plus the grace window. A grace exchange changes neither.
	Last    []byte `json:"last,omitempty"`
	Rotated int64  `json:"rot,omitempty"` // unix ms of the latest rotation

	Created   int64           `json:"created"` // unix ms
	Used      int64           `json:"used"`    // unix ms of the latest exchange
	Ends      int64           `json:"ends"`    // unix ms of the absolute end
	Rotations int             `json:"n"`       // exchanges so far
	Extra     json.RawMessage `json:"extra,omitempty"`
}

var errCorruptFamily = errors.New("refresh: corrupt token family record")

// decodeFamily reads a family record. The bytes come from a store, which
// may be shared over a network, so nothing in them is trusted: every hash
// must have the right length and the list its bound.
func decodeFamily(b []byte) (familyData, error) {
	var f familyData
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%w: %w", errCorruptFamily, err)
	}
	if f.Format != 1 || len(f.Current) != sha256.Size || len(f.Previous) > maxPrevious || f.Rotations < 0 ||
		(len(f.Last) != 0 && len(f.Last) != sha256.Size) || f.Rotated < 0 {
		return f, errCorruptFamily
	}
	for _, p := range f.Previous {
		if len(p) != sha256.Size {
			return f, errCorruptFamily
		}
	}
	return f, nil
}

// stopWorking moves the current secret to Previous, keeping the newest
// maxPrevious.
func (f *familyData) stopWorking() {
	f.Previous = append(f.Previous, f.Current)
	if len(f.Previous) > maxPrevious {
		f.Previous = f.Previous[len(f.Previous)-maxPrevious:]
	}
}

type secretMatch int

const (
	secretUnknown  secretMatch = iota
	secretCurrent              // the family's current secret
	secretLast                 // the secret the latest rotation exchanged
	secretPrevious             // any other secret that stopped working
)

func matchSecret(f *familyData, hash [sha256.Size]byte) secretMatch {
	if subtle.ConstantTimeCompare(f.Current, hash[:]) == 1 {
		return secretCurrent
	}
	if subtle.ConstantTimeCompare(f.Last, hash[:]) == 1 {
		return secretLast
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
	tokenLen    = 2*secretLen + 1
)

// newSecret returns a random secret and the SHA-256 of its raw bytes.
func newSecret() (string, []byte) {
	var b [secretBytes]byte
	rand.Read(b[:])
	sum := sha256.Sum256(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]), sum[:]
}

// parseToken splits a refresh token into its family ID and the SHA-256 of
// its secret. Only the canonical spelling is accepted.
func parseToken(tok string) (string, [sha256.Size]byte, bool) {
	var sum [sha256.Size]byte
	if len(tok) != tokenLen || tok[secretLen] != '.' {
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
