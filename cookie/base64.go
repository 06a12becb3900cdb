package cookie

import (
	"encoding/base64"
	"encoding/binary"
)

// b64 is the cookie-safe alphabet. Strict rejects non-zero trailing bits,
// so each byte string has exactly one encoding and a changed character
// can never decode to the same bytes.
var b64 = base64.RawURLEncoding.Strict()

// Base64 is a third of the cost of encoding and decoding a value, and
// encoding/base64 works three bytes (or eight characters) at a time with
// a store per character. encodeB64 and decodeB64 produce and accept
// exactly what b64 does (FuzzBase64 holds them to it), handling all but
// the last few characters in whole machine words, and leaving the end,
// with its padding-free tail and trailing-bit checks, to b64.

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// b64Pairs maps 12 bits to their two characters, the first in the low
// byte: 8 KB, computed once, read only.
var b64Pairs = func() (t [1 << 12]uint16) {
	for i := range t {
		t[i] = uint16(b64Alphabet[i>>6]) | uint16(b64Alphabet[i&63])<<8
	}
	return t
}()

// b64Values maps a character to its 6 bits, and every other byte to 0xff.
var b64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(b64Alphabet) {
		t[b64Alphabet[i]] = byte(i)
	}
	return t
}()

// encodeB64 writes the base64url text of src to dst, which must be
// b64.EncodedLen(len(src)) bytes long: six bytes become eight characters
// per step, from one 8-byte load and into one 8-byte store.
func encodeB64(dst, src []byte) {
	di, si := 0, 0
	for ; len(src)-si >= 8 && len(dst)-di >= 8; si, di = si+6, di+8 {
		v := binary.BigEndian.Uint64(src[si:])
		binary.LittleEndian.PutUint64(dst[di:], uint64(b64Pairs[v>>52])|
			uint64(b64Pairs[v>>40&0xfff])<<16|
			uint64(b64Pairs[v>>28&0xfff])<<32|
			uint64(b64Pairs[v>>16&0xfff])<<48)
	}
	// si is a multiple of 3, so the rest encodes on its own.
	b64.Encode(dst[di:], src[si:])
}

// decodeB64 decodes text into dst, which must be b64.DecodedLen(len(text))
// bytes long, and reports whether text is the canonical encoding of what
// it wrote. Like b64, it skips CR and LF in the last few characters;
// callers refuse those first.
func decodeB64(dst []byte, text string) bool {
	di, si := 0, 0
	for ; len(text)-si >= 8 && len(dst)-di >= 8; si, di = si+8, di+6 {
		s := text[si : si+8]
		a, b, c, d := b64Values[s[0]], b64Values[s[1]], b64Values[s[2]], b64Values[s[3]]
		e, f, g, h := b64Values[s[4]], b64Values[s[5]], b64Values[s[6]], b64Values[s[7]]
		if a|b|c|d|e|f|g|h > 63 {
			return false
		}
		binary.BigEndian.PutUint64(dst[di:], uint64(a)<<58|uint64(b)<<52|uint64(c)<<46|uint64(d)<<40|
			uint64(e)<<34|uint64(f)<<28|uint64(g)<<22|uint64(h)<<16)
	}
	// si is a multiple of 4, so the rest, at most a dozen characters,
	// decodes on its own.
	n, err := b64.Decode(dst[di:], []byte(text[si:]))
	return err == nil && di+n == len(dst)
}
