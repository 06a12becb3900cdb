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
//	format   byte     2 (1 is the same without auth and extensions;
//	                  0 marks a tombstone, below)
//	flags    byte     bit 0: remember me
//	created  uvarint  unix milliseconds (start of the absolute lifetime)
//	seen     uvarint  unix milliseconds (start of the idle timeout)
//	auth     uvarint  unix microseconds: when the user's credentials were
//	                  last checked (0 for an anonymous session)
//	agent    string   user agent at the last save
//	ip       string   client address at the last save
//	nvalues  uvarint, then nvalues × (key string, value string), keys sorted
//	nflash   uvarint, then nflash × (kind string, message string)
//	next     uvarint, then next × (tag uvarint, data string), tags
//	         increasing: extensions, kept as they are by code that does
//	         not know their tag
//
// where string is a uvarint length followed by that many bytes. Every
// state has exactly one spelling, which FuzzDecodeState checks.
//
// A tombstone takes the place of a record that must stay dead for a
// while, so that a compare-and-swap based on the record's old version
// fails and a request holding its token finds it ended:
//
//	format     byte    0
//	kind       byte    1: renewed (the session moved to successor's ID),
//	                   2: ended (logged out or revoked)
//	successor  string  the new record's ID (renewed only)
//
// A lone 0 byte, written by earlier versions, is an ended tombstone.
const (
	formatTombstone = 0
	formatV1        = 1
	formatV2        = 2
	flagRemember    = 1

	tombstoneRenewed = 1
	tombstoneEnded   = 2
)

// maxAgentLen bounds what a client can make us store about it.
const maxAgentLen = 256

var errCorrupt = errors.New("session: corrupt record data")

// state is the decoded content of a session record.
type state struct {
	remember bool
	created  int64  // unix ms
	seen     int64  // unix ms
	auth     int64  // unix µs; 0 for anonymous sessions
	agent    []byte // alias the record's data, as values do: they are
	ip       []byte // read only to list devices, so decoding copies neither
	values   []kv   // sorted by key
	flashes  []Flash
	ext      []extension // sorted by tag
}

type kv struct {
	key string
	val []byte
}

type extension struct {
	tag  uint64
	data []byte
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

// size returns len(st.encode(nil)) without encoding.
func (st *state) size() int {
	n := 2 + uvarintLen(uint64(st.created)) + uvarintLen(uint64(st.seen)) + uvarintLen(uint64(st.auth)) +
		bytesLen(len(st.agent)) + bytesLen(len(st.ip)) + uvarintLen(uint64(len(st.values)))
	for _, e := range st.values {
		n += bytesLen(len(e.key)) + bytesLen(len(e.val))
	}
	n += uvarintLen(uint64(len(st.flashes)))
	for _, f := range st.flashes {
		n += bytesLen(len(f.Kind)) + bytesLen(len(f.Message))
	}
	n += uvarintLen(uint64(len(st.ext)))
	for _, x := range st.ext {
		n += uvarintLen(x.tag) + bytesLen(len(x.data))
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func bytesLen(n int) int { return uvarintLen(uint64(n)) + n }

func (st *state) encode(dst []byte) []byte {
	dst = slices.Grow(dst, st.size())
	var flags byte
	if st.remember {
		flags |= flagRemember
	}
	dst = append(dst, formatV2, flags)
	dst = binary.AppendUvarint(dst, uint64(st.created))
	dst = binary.AppendUvarint(dst, uint64(st.seen))
	dst = binary.AppendUvarint(dst, uint64(st.auth))
	dst = appendBytes(dst, st.agent)
	dst = appendBytes(dst, st.ip)
	dst = binary.AppendUvarint(dst, uint64(len(st.values)))
	for _, e := range st.values {
		dst = appendString(dst, e.key)
		dst = appendBytes(dst, e.val)
	}
	dst = binary.AppendUvarint(dst, uint64(len(st.flashes)))
	for _, f := range st.flashes {
		dst = appendString(dst, f.Kind)
		dst = appendString(dst, f.Message)
	}
	dst = binary.AppendUvarint(dst, uint64(len(st.ext)))
	for _, x := range st.ext {
		dst = binary.AppendUvarint(dst, x.tag)
		dst = appendBytes(dst, x.data)
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

// tombstone is the decoded form of a tombstone record.
type tombstone struct {
	kind      byte
	successor string // renewed only
}

func (t tombstone) encode() []byte {
	b := []byte{formatTombstone, t.kind}
	if t.kind == tombstoneRenewed {
		b = appendString(b, t.successor)
	}
	return b
}

// isTombstone reports whether data is a tombstone rather than a session.
func isTombstone(data []byte) bool { return len(data) > 0 && data[0] == formatTombstone }

// decodeTombstone parses a record for which isTombstone is true.
func decodeTombstone(data []byte) (tombstone, error) {
	if len(data) == 1 {
		return tombstone{kind: tombstoneEnded}, nil
	}
	d := decoder{b: data[1:]}
	t := tombstone{kind: d.byte()}
	switch t.kind {
	case tombstoneRenewed:
		t.successor = string(d.bytes())
		if !ValidID(t.successor) {
			d.fail()
		}
	case tombstoneEnded:
	default:
		d.fail()
	}
	if d.err != nil || len(d.b) != 0 {
		return tombstone{}, errCorrupt
	}
	return t, nil
}

// decodeState parses data. Values alias data, which the Store contract
// says nobody modifies, so decoding copies no value bytes.
func decodeState(data []byte) (state, error) {
	var st state
	d := decoder{b: data}
	format := d.byte()
	if format != formatV1 && format != formatV2 {
		return st, errCorrupt
	}
	flags := d.byte()
	if flags&^flagRemember != 0 {
		return st, errCorrupt
	}
	st.remember = flags&flagRemember != 0
	st.created = int64(d.uvarint())
	st.seen = int64(d.uvarint())
	if format == formatV2 {
		st.auth = int64(d.uvarint())
	}
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
			return state{}, errCorrupt
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
	if format == formatV2 {
		nx := d.count()
		for range nx {
			x := extension{tag: d.uvarint(), data: d.bytes()}
			if d.err != nil {
				break
			}
			if len(st.ext) > 0 && st.ext[len(st.ext)-1].tag >= x.tag {
				return state{}, errCorrupt
			}
			st.ext = append(st.ext, x)
		}
	} else {
		// Sessions saved before the auth field existed count as
		// authenticated when they were created or last logged in.
		st.auth = st.created * 1000
	}
	if d.err != nil || len(d.b) != 0 || st.created < 0 || st.seen < 0 || st.auth < 0 {
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
