package session

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"
)

// The Manager's encoding of Record.Data. It is a compact binary format
// rather than JSON or gob so that a read-only request decodes a session
// without reflection and without copying its values, user agent or
// address:
//
//	format   byte     1 (0 marks a tombstone left by RenewID)
//	flags    byte     bit 0: remember me
//	created  uvarint  unix milliseconds (start of the absolute lifetime)
//	seen     uvarint  unix milliseconds (start of the idle timeout)
//	agent    string   user agent at the last save
//	ip       string   client address at the last save
//	nvalues  uvarint, then nvalues × (key string, value string), keys sorted
//	nflash   uvarint, then nflash × (kind string, message string)
//
// where string is a uvarint length followed by that many bytes.
const (
	formatTombstone = 0
	formatV1        = 1
	flagRemember    = 1
)

// maxAgentLen bounds what a client can make us store about it.
const maxAgentLen = 256

var errCorrupt = errors.New("session: corrupt record data")

// state is the decoded content of a session record.
type state struct {
	remember bool
	created  int64  // unix ms
	seen     int64  // unix ms
	agent    []byte // alias the record's data, as values do: they are
	ip       []byte // read only to list devices, so decoding copies neither
	values   []kv   // sorted by key
	flashes  []Flash
}

type kv struct {
	key string
	val []byte
}

// Flash is a one-time message stored in the session until it is read, such
// as "Your password was changed".
type Flash struct {
	Kind    string // for example "info" or "error"; free-form
	Message string
}

func (st *state) find(key string) (int, bool) {
	return slices.BinarySearchFunc(st.values, key, func(e kv, k string) int {
		switch {
		case e.key < k:
			return -1
		case e.key > k:
			return 1
		}
		return 0
	})
}

func (st *state) get(key string) ([]byte, bool) {
	if i, ok := st.find(key); ok {
		return st.values[i].val, true
	}
	return nil, false
}

func (st *state) put(key string, val []byte) {
	i, ok := st.find(key)
	if ok {
		// Copy-on-write: the slice may share its array with a state that
		// a conflict replay still needs.
		st.values = slices.Clone(st.values)
		st.values[i].val = val
		return
	}
	st.values = slices.Insert(slices.Clip(st.values), i, kv{key, val})
}

func (st *state) del(key string) {
	if i, ok := st.find(key); ok {
		st.values = slices.Delete(slices.Clone(st.values), i, i+1)
	}
}

func (st *state) encode(dst []byte) []byte {
	size := 24 + len(st.agent) + len(st.ip)
	for _, e := range st.values {
		size += 10 + len(e.key) + len(e.val)
	}
	for _, f := range st.flashes {
		size += 10 + len(f.Kind) + len(f.Message)
	}
	dst = slices.Grow(dst, size)
	var flags byte
	if st.remember {
		flags |= flagRemember
	}
	dst = append(dst, formatV1, flags)
	dst = binary.AppendUvarint(dst, uint64(st.created))
	dst = binary.AppendUvarint(dst, uint64(st.seen))
	dst = appendBytes(dst, st.agent)
	dst = appendBytes(dst, st.ip)
	dst = binary.AppendUvarint(dst, uint64(len(st.values)))
	for _, e := range st.values {
		dst = appendString(dst, e.key)
		dst = binary.AppendUvarint(dst, uint64(len(e.val)))
		dst = append(dst, e.val...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(st.flashes)))
	for _, f := range st.flashes {
		dst = appendString(dst, f.Kind)
		dst = appendString(dst, f.Message)
	}
	return dst
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// isTombstone reports whether data marks a record that RenewID moved away.
func isTombstone(data []byte) bool { return len(data) > 0 && data[0] == formatTombstone }

var tombstone = []byte{formatTombstone}

// decodeState parses data. Values alias data, which the Store contract
// says nobody modifies, so decoding copies no value bytes.
func decodeState(data []byte) (state, error) {
	var st state
	d := decoder{b: data}
	if d.byte() != formatV1 {
		return st, errCorrupt
	}
	flags := d.byte()
	if flags&^flagRemember != 0 {
		return st, errCorrupt
	}
	st.remember = flags&flagRemember != 0
	st.created = int64(d.uvarint())
	st.seen = int64(d.uvarint())
	st.agent = d.bytes()
	st.ip = d.bytes()
	n := d.count()
	if n > 0 {
		st.values = make([]kv, 0, n)
	}
	for range n {
		k := d.bytes()
		v := d.bytes()
		if d.err != nil {
			break
		}
		// Keys must be strictly increasing: binary search depends on it,
		// and it rules out duplicates.
		if len(st.values) > 0 && st.values[len(st.values)-1].key >= string(k) {
			return st, errCorrupt
		}
		st.values = append(st.values, kv{string(k), v})
	}
	nf := d.count()
	for range nf {
		f := Flash{Kind: string(d.bytes()), Message: string(d.bytes())}
		if d.err != nil {
			break
		}
		st.flashes = append(st.flashes, f)
	}
	if d.err != nil || len(d.b) != 0 || st.created < 0 || st.seen < 0 {
		return state{}, errCorrupt
	}
	return st, nil
}

// decoder reads the format above; the first error sticks and every later
// read returns zero values, so callers check err once at the end.
type decoder struct {
	b   []byte
	err error
}

// fail records the error and empties the input, so that every later read
// takes its fast path's bounds check and returns a zero value.
func (d *decoder) fail() {
	d.err, d.b = errCorrupt, nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	// Lengths and counts almost always fit in one byte.
	if len(d.b) > 0 && d.b[0] < 0x80 {
		v := d.b[0]
		d.b = d.b[1:]
		return uint64(v)
	}
	v, n := binary.Uvarint(d.b)
	// Only the shortest encoding is valid, so every state has exactly one
	// spelling.
	if n <= 0 || d.b[n-1] == 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// count reads a number of entries, each at least two bytes long, and
// rejects counts the remaining input cannot hold so a forged count cannot
// make us allocate.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b))/2 {
		d.fail()
		return 0
	}
	return int(n)
}

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms) }
