package redis

import (
	"encoding/binary"
	"errors"
	"time"
	"unsafe"

	"github.com/httpstate/httpstate/session"
)

// A record is one Redis string: a small binary header, the user ID and the
// data. One string is the most compact layout Redis offers (a hash with
// four fields costs a dictionary per session once the data outgrows a
// listpack), Load reads it with one GET, and the compare-and-swap script
// reads only the header with GETRANGE, never the data.
//
//	format   byte    recordFormat
//	version  uint64  big endian, at least 1
//	expiry   int64   big endian, unix milliseconds
//	userLen  uint32  big endian
//	user     userLen bytes
//	data     the rest
//
// The Lua scripts in scripts.go read the same offsets; change both or
// neither.
const (
	recordFormat = 1
	recordHeader = 1 + 8 + 8 + 4
)

var errCorrupt = errors.New("redis: corrupt record (not written by this package, or damaged)")

// encode returns the stored value of a record followed by the 8-byte
// version the caller loaded, in one allocation: Save passes both to the
// compare-and-swap script, and value is buf[:n], expected buf[n:].
func encode(loaded uint64, expiry int64, userID string, data []byte) (buf []byte, n int) {
	n = recordHeader + len(userID) + len(data)
	buf = make([]byte, recordHeader, n+8)
	buf[0] = recordFormat
	binary.BigEndian.PutUint64(buf[1:], loaded+1)
	binary.BigEndian.PutUint64(buf[9:], uint64(expiry))
	binary.BigEndian.PutUint32(buf[17:], uint32(len(userID)))
	buf = append(buf, userID...)
	buf = append(buf, data...)
	buf = binary.BigEndian.AppendUint64(buf, loaded)
	return buf, n
}

// decode parses a stored value. UserID and Data alias v, which Redis
// replies are never written to after they arrive: a Load costs no copy of
// the data, and the session.Record contract forbids callers to write to
// Data.
func decode(id, v string) (session.Record, error) {
	if len(v) < recordHeader || v[0] != recordFormat {
		return session.Record{}, errCorrupt
	}
	version := binary.BigEndian.Uint64([]byte(v[1:9]))
	expiry := int64(binary.BigEndian.Uint64([]byte(v[9:17])))
	n := binary.BigEndian.Uint32([]byte(v[17:21]))
	rest := v[recordHeader:]
	if version == 0 || uint64(n) > uint64(len(rest)) {
		return session.Record{}, errCorrupt
	}
	return session.Record{
		ID:      id,
		UserID:  rest[:n],
		Version: version,
		Expiry:  time.UnixMilli(expiry),
		Data:    bytesOf(rest[n:]),
	}, nil
}

// bytesOf returns the bytes of s without copying them.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
