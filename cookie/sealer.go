package cookie

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	sealInfo     = "httpstate/cookie v1 seal xchacha20poly1305"
	sealHeader   = 1 + keyIDSize                              // version, key ID
	sealNonce    = chacha20poly1305.NonceSizeX                // 24
	sealPrefix   = sealHeader + sealNonce                     // where the ciphertext starts
	sealOverhead = sealPrefix + 8 + chacha20poly1305.Overhead // + expiry + tag
)

// Sealer encrypts and authenticates cookie values, so that a browser can
// keep them but neither read nor change them. It is safe for concurrent
// use; build one at start-up with NewSealer.
type Sealer struct {
	keys []sealKey
	now  func() time.Time
}

type sealKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// NewSealer returns a Sealer keyed by one or more master secrets of at
// least MinSecretSize random bytes each. The first secret seals; every
// secret opens. List a new secret first and keep the old ones after it
// until every value they sealed has expired; see the package
// documentation for the rotation procedure.
//
// A 32-byte XChaCha20-Poly1305 key is derived from each secret with
// HKDF-SHA256 here, once, so sealing and opening cost no key derivation.
func NewSealer(secrets ...[]byte) (*Sealer, error) {
	derived, err := deriveKeys(sealInfo, secrets)
	if err != nil {
		return nil, err
	}
	s := &Sealer{keys: make([]sealKey, len(derived)), now: time.Now}
	for i, d := range derived {
		aead, err := chacha20poly1305.NewX(d.key)
		if err != nil {
			return nil, fmt.Errorf("cookie: %w", err)
		}
		s.keys[i] = sealKey{id: d.id, aead: aead}
	}
	return s, nil
}

// Encode seals payload for the cookie named name, readable by Decode until
// ttl has passed. The result is base64url, about 4/3 of len(payload) plus
// 71 bytes. See Codec for the errors it returns.
func (s *Sealer) Encode(name string, payload []byte, ttl time.Duration) (string, error) {
	if len(s.keys) == 0 {
		return "", errorf(ErrInvalid, name, "Sealer not made by NewSealer")
	}
	exp, err := expiryAt(name, s.now(), ttl)
	if err != nil {
		return "", err
	}
	rawLen := sealOverhead + len(payload)
	encLen := b64.EncodedLen(rawLen)
	if err := checkEncodedSize(name, encLen); err != nil {
		return "", err
	}
	// One buffer holds the sealed bytes, then the associated data, then
	// the base64 text, so a value costs one allocation plus the string.
	aadLen := sealHeader + len(name)
	buf := make([]byte, rawLen+aadLen+encLen)
	raw := buf[:rawLen]
	k := &s.keys[0]
	raw[0] = version
	copy(raw[1:sealHeader], k.id[:])
	nonce := raw[sealHeader:sealPrefix]
	_, _ = rand.Read(nonce) // never fails; crashes the program instead
	plain := raw[sealPrefix : rawLen-chacha20poly1305.Overhead]
	binary.BigEndian.PutUint64(plain, exp)
	copy(plain[8:], payload)
	aad := buf[rawLen : rawLen+aadLen]
	copy(aad, raw[:sealHeader])
	copy(aad[sealHeader:], name)
	k.aead.Seal(plain[:0], nonce, plain, aad)
	out := buf[rawLen+aadLen:]
	b64.Encode(out, raw)
	return string(out), nil
}

// Decode opens a value sealed by Encode under the same name, with any of
// the Sealer's keys. See Codec for what it returns.
func (s *Sealer) Decode(name, value string) (payload []byte, stale bool, err error) {
	if len(value) > maxValueLen || !noLineBreaks(value) {
		return nil, false, errorf(ErrInvalid, name, "not a sealed value")
	}
	rawLen := b64.DecodedLen(len(value))
	if rawLen < sealOverhead {
		return nil, false, errorf(ErrInvalid, name, "sealed value too short")
	}
	buf := make([]byte, rawLen+sealHeader+len(name))
	raw := buf[:rawLen]
	if n, err := b64.Decode(raw, []byte(value)); err != nil || n != rawLen {
		return nil, false, errorf(ErrInvalid, name, "not a sealed value")
	}
	if raw[0] != version {
		return nil, false, errorf(ErrInvalid, name, "unknown format version %d", raw[0])
	}
	ki := -1
	for i := range s.keys {
		if string(s.keys[i].id[:]) == string(raw[1:sealHeader]) {
			ki = i
			break
		}
	}
	if ki < 0 {
		return nil, false, errorf(ErrUnknownKey, name, "sealed with key %x", raw[1:sealHeader])
	}
	aad := buf[rawLen:]
	copy(aad, raw[:sealHeader])
	copy(aad[sealHeader:], name)
	plain, err := s.keys[ki].aead.Open(raw[sealPrefix:sealPrefix], raw[sealHeader:sealPrefix], raw[sealPrefix:], aad)
	if err != nil {
		return nil, false, errorf(ErrInvalid, name, "authentication failed")
	}
	if exp := binary.BigEndian.Uint64(plain); expired(s.now(), exp) {
		return nil, false, errorf(ErrExpired, name, "expired at %v", time.Unix(int64(exp), 0).UTC())
	}
	return plain[8:len(plain):len(plain)], ki > 0, nil
}
