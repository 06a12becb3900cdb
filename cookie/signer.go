package cookie

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"

	"github.com/httpstate/httpstate/observe"
)

const (
	signInfo    = "httpstate/cookie v1 sign hmac-sha256"
	signSigned  = 1 + keyIDSize + 8                 // version, key ID, expiry: the MACed part of the trailer
	signTrailer = signSigned + sha256.Size          // + tag
	signB64     = (signTrailer*8 + 5) / 6           // 60 characters
	signMinLen  = 1 + signB64                       // "." and the trailer, for an empty payload
	signBufSize = signSigned + 4 + 64 + sha256.Size // scratch that fits typical names and the tag
)

// Signer authenticates cookie values without encrypting them, for data
// that page scripts may read (pair it with Attributes.ScriptReadable) but
// nobody may change. Use a Sealer for anything a user should not see. It
// is safe for concurrent use; build one at start-up with NewSigner.
type Signer struct {
	// Observer, if not nil, sees an observe.CookieDecode event with Op
	// "signed" for every Decode. Set it before the Signer is first used.
	Observer observe.Observer

	keys []signKey
	now  func() time.Time
	bufs buffers
}

type signKey struct {
	id   [keyIDSize]byte
	macs *sync.Pool // of *macState: HMAC setup is the costly part of a MAC
}

type macState struct {
	h   hash.Hash
	buf []byte
}

// NewSigner returns a Signer keyed by one or more master secrets of at
// least MinSecretSize random bytes each, with the same rotation rules as
// NewSealer: the first secret signs, every secret verifies. The same
// secrets may key a Sealer too; HKDF derives unrelated keys for each.
func NewSigner(secrets ...[]byte) (*Signer, error) {
	derived, err := deriveKeys(signInfo, secrets)
	if err != nil {
		return nil, err
	}
	s := &Signer{keys: make([]signKey, len(derived)), now: time.Now}
	for i, d := range derived {
		key := d.key
		s.keys[i] = signKey{id: d.id, macs: &sync.Pool{New: func() any {
			return &macState{h: hmac.New(sha256.New, key), buf: make([]byte, 0, signBufSize)}
		}}}
	}
	return s, nil
}

// Encode signs payload for the cookie named name, accepted by Decode until
// ttl has passed. The value is the base64url payload, a ".", and a
// 60-character trailer, so a script can read the payload by decoding
// the part before the last ".". See Codec for the errors it returns.
func (s *Signer) Encode(name string, payload []byte, ttl time.Duration) (string, error) {
	if len(s.keys) == 0 {
		return "", errorf(ErrInvalid, name, "Signer not made by NewSigner")
	}
	exp, err := expiryAt(name, s.now(), ttl)
	if err != nil {
		return "", err
	}
	pLen := b64.EncodedLen(len(payload))
	if err := checkEncodedSize(name, pLen+signMinLen); err != nil {
		return "", err
	}
	var trailer [signTrailer]byte
	k := &s.keys[0]
	trailer[0] = version
	copy(trailer[1:], k.id[:])
	binary.BigEndian.PutUint64(trailer[1+keyIDSize:], exp)
	k.sum(trailer[signSigned:], trailer[:signSigned], name, payload)
	sc := s.bufs.get()
	out := sc.buf[:pLen+signMinLen]
	encodeB64(out, payload)
	out[pLen] = '.'
	encodeB64(out[pLen+1:], trailer[:])
	v := string(out)
	s.bufs.put(sc)
	return v, nil
}

// Decode verifies a value signed by Encode under the same name, with any
// of the Signer's keys. See Codec for what it returns.
func (s *Signer) Decode(name, value string) (payload []byte, stale bool, err error) {
	payload, v, err := s.decode(name, value)
	if s.Observer != nil {
		v.report(s.Observer, "signed")
	}
	return payload, v == verdictStale, err
}

func (s *Signer) decode(name, value string) ([]byte, verdict, error) {
	if len(value) > maxValueLen || len(value) < signMinLen || value[len(value)-signMinLen] != '.' || !noLineBreaks(value) {
		return nil, verdictMalformed, errorf(ErrInvalid, name, "not a signed value")
	}
	enc, encTrailer := value[:len(value)-signMinLen], value[len(value)-signB64:]
	var trailer [signTrailer]byte
	if !decodeB64(trailer[:], encTrailer) {
		return nil, verdictMalformed, errorf(ErrInvalid, name, "not a signed value")
	}
	payload := make([]byte, b64.DecodedLen(len(enc)))
	if !decodeB64(payload, enc) {
		return nil, verdictMalformed, errorf(ErrInvalid, name, "not a signed value")
	}
	if trailer[0] != version {
		return nil, verdictMalformed, errorf(ErrInvalid, name, "unknown format version %d", trailer[0])
	}
	ki := -1
	for i := range s.keys {
		if string(s.keys[i].id[:]) == string(trailer[1:1+keyIDSize]) {
			ki = i
			break
		}
	}
	if ki < 0 {
		return nil, verdictUnknownKey, errorf(ErrUnknownKey, name, "signed with key %08x", binary.BigEndian.Uint32(trailer[1:]))
	}
	var want [sha256.Size]byte
	s.keys[ki].sum(want[:], trailer[:signSigned], name, payload)
	if !hmac.Equal(want[:], trailer[signSigned:]) {
		return nil, verdictForged, errorf(ErrInvalid, name, "signature mismatch")
	}
	if exp := binary.BigEndian.Uint64(trailer[1+keyIDSize:]); expired(s.now(), exp) {
		return nil, verdictExpired, errorf(ErrExpired, name, "expired at %v", time.Unix(int64(exp), 0).UTC())
	}
	if ki > 0 {
		return payload, verdictStale, nil
	}
	return payload, verdictOK, nil
}

// sum writes into dst the HMAC-SHA256 of the trailer's signed part, the
// name's length and bytes, and the payload. The length prefix keeps the
// split between name and payload unambiguous.
func (k *signKey) sum(dst, signed []byte, name string, payload []byte) {
	m := k.macs.Get().(*macState)
	m.h.Reset()
	b := append(m.buf[:0], signed...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
	b = append(b, name...)
	m.h.Write(b)
	m.h.Write(payload)
	m.buf = m.h.Sum(b[:0])
	copy(dst, m.buf)
	k.macs.Put(m)
}
