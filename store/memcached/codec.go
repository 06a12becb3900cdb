package memcached

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/httpstate/httpstate/session"
)

// The value of a record item. Memcached keeps only opaque bytes, a CAS
// token and a TTL, so everything the Store contract needs beyond the data
// travels in a small header:
//
//	format   byte    recordFormat
//	version  uint64  big endian, at least 1
//	expiry   int64   big endian, unix milliseconds
//	userLen  uint32  big endian
//	user     userLen bytes
//	data     the rest
const (
	recordFormat = 1
	recordHeader = 1 + 8 + 8 + 4
)

// The value of a user index item: the IDs of one user's records, each with
// the latest expiry a Save gave it under that user, so that entries of
// records that expired can be dropped without loading them.
//
//	format   byte    indexFormat
//	entries  repeated: idLen byte, id, expiry int64 big endian unix ms
//
// Record IDs are parts of memcached keys, which are at most 250 bytes, so
// one byte holds their length.
const indexFormat = 2

var errCorrupt = errors.New("memcached: corrupt item (not written by this package, or damaged)")

// stored is a decoded record item.
type stored struct {
	version uint64
	expiry  int64 // unix ms
	userID  string
	data    []byte
}

func (st *stored) live(nowMs int64) bool { return st.expiry > nowMs }

func encodeRecord(version uint64, expiry int64, userID string, data []byte) []byte {
	b := make([]byte, recordHeader, recordHeader+len(userID)+len(data))
	b[0] = recordFormat
	binary.BigEndian.PutUint64(b[1:], version)
	binary.BigEndian.PutUint64(b[9:], uint64(expiry))
	binary.BigEndian.PutUint32(b[17:], uint32(len(userID)))
	b = append(b, userID...)
	return append(b, data...)
}

// decodeRecord parses a record item. The returned data aliases b.
func decodeRecord(b []byte) (stored, error) {
	if len(b) < recordHeader || b[0] != recordFormat {
		return stored{}, errCorrupt
	}
	st := stored{
		version: binary.BigEndian.Uint64(b[1:]),
		expiry:  int64(binary.BigEndian.Uint64(b[9:])),
	}
	n := binary.BigEndian.Uint32(b[17:])
	rest := b[recordHeader:]
	if st.version == 0 || uint64(n) > uint64(len(rest)) {
		return stored{}, errCorrupt
	}
	st.userID = string(rest[:n])
	st.data = rest[n:]
	return st, nil
}

type indexEntry struct {
	id     string
	expiry int64 // unix ms
}

func encodeIndex(entries []indexEntry) []byte {
	size := 1
	for _, e := range entries {
		size += 1 + len(e.id) + 8
	}
	b := make([]byte, 1, size)
	b[0] = indexFormat
	for _, e := range entries {
		b = append(b, byte(len(e.id)))
		b = append(b, e.id...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.expiry))
	}
	return b
}

func decodeIndex(b []byte) ([]indexEntry, error) {
	if len(b) < 1 || b[0] != indexFormat {
		return nil, errCorrupt
	}
	b = b[1:]
	var entries []indexEntry
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n+8 {
			return nil, errCorrupt
		}
		entries = append(entries, indexEntry{
			id:     string(b[1 : 1+n]),
			expiry: int64(binary.BigEndian.Uint64(b[1+n:])),
		})
		b = b[1+n+8:]
	}
	return entries, nil
}

// maxRelativeTTL is memcached's limit for a relative expiration: larger
// values are read as absolute unix timestamps.
const maxRelativeTTL = 30 * 24 * 60 * 60

// skewSeconds is session.MaxClockSkew in seconds.
const skewSeconds = int64(session.MaxClockSkew / time.Second)

// expiration is the memcached Expiration for an item that must live until
// exp, which is after now.
//
// Memcached's clock ticks once a second and an item dies when that clock
// reaches its expiry, which can be up to a second early by the wall clock;
// rounding up and adding a second keeps the item at least until exp. The
// expiry in the value's header, checked on every read, is what hides a
// record at exp exactly.
//
// A relative TTL (up to 30 days) counts from the item's arrival, so the
// server's clock may be set to any time. An absolute one is read by the
// server's clock, which may run up to session.MaxClockSkew ahead of ours:
// it gets that much more, so that the server never drops an item before
// exp by our clock.
func expiration(exp, now time.Time) int32 {
	left := exp.Sub(now)
	if secs := int64(left/time.Second) + 2; secs <= maxRelativeTTL {
		return int32(secs)
	}
	abs := exp.Unix() + 2 + skewSeconds
	if abs > math.MaxInt32 {
		// Past 2038 memcached's 32-bit expiration cannot say when; the
		// item then lives until evicted and the header hides it at exp.
		return 0
	}
	return int32(abs)
}
