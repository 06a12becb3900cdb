package cookie

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/httpstate/httpstate/observe"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/cpu"
)

// The two sealed formats. Decode opens both everywhere; Encode writes
// version 2 where the CPU has AES and carry-less multiplication
// instructions, and version 1 elsewhere (see hardwareAESGCM).
const (
	// Version 2: AES-256-GCM under a key of the day.
	sealV2        = 2
	sealV2Info    = "httpstate/cookie v2 seal aes-256-gcm"
	sealV2DayInfo = "httpstate/cookie v2 seal day key " // + the day, 4 bytes
	sealV2Header  = 1 + keyIDSize + 4                   // version, key ID, day
	sealV2Nonce   = 12

	// Version 1: XChaCha20-Poly1305.
	sealV1       = 1
	sealV1Info   = "httpstate/cookie v1 seal xchacha20poly1305"
	sealV1Header = 1 + keyIDSize // version, key ID
	sealV1Nonce  = chacha20poly1305.NonceSizeX

	// Both formats end with the 16-byte tag of the AEAD, after the
	// expiry and the payload.
	sealTag = 16

	sealV2Overhead = sealV2Header + sealV2Nonce + 8 + sealTag // 45 bytes
	sealV1Overhead = sealV1Header + sealV1Nonce + 8 + sealTag // 53 bytes
)

// hardwareAESGCM reports whether AES-GCM runs in constant time and at
// hardware speed here, by the test crypto/tls makes to prefer AES-GCM
// over ChaCha20-Poly1305. Without it, Go's AES uses lookup tables, which
// are slow and can leak key bits through cache timing, so the Sealer
// writes version 1 instead.
var hardwareAESGCM = cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3 ||
	cpu.ARM64.HasAES && cpu.ARM64.HasPMULL ||
	cpu.S390X.HasAES && cpu.S390X.HasAESCTR && cpu.S390X.HasGHASH ||
	runtime.GOARCH == "ppc64" || runtime.GOARCH == "ppc64le"

// maxDayKeys bounds the day keys each master secret keeps for opening:
// about three years of days, so that a process derives each day's key
// about once while its site's values live less than that. Values forged
// with arbitrary days are never kept, so they cannot grow it.
const maxDayKeys = 1024

// Sealer encrypts and authenticates cookie values, so that a browser can
// keep them but neither read nor change them. It is safe for concurrent
// use; build one at start-up with NewSealer.
type Sealer struct {
	// Observer, if not nil, sees an observe.CookieDecode event with Op
	// "sealed" for every Decode. Set it before the Sealer is first used.
	Observer observe.Observer

	keys   []*sealKey
	now    func() time.Time
	format byte // what Encode writes: sealV2, or sealV1 without AES hardware
	bufs   buffers
}

// sealKey is what one master secret seals and opens with.
type sealKey struct {
	id [keyIDSize]byte
	v1 cipher.AEAD // XChaCha20-Poly1305, for version 1 values

	// root is the HKDF-SHA256 output from which each day's AES-256 key
	// is expanded.
	root []byte
	// today is the most recent day key used, the one Encode seals with.
	today atomic.Pointer[dayKey]
	// days holds the keys (uint32 day → cipher.AEAD) of days whose
	// values have opened, at most maxDayKeys of them.
	days  sync.Map
	nDays atomic.Int32
}

type dayKey struct {
	day  uint32
	aead cipher.AEAD
}

// NewSealer returns a Sealer keyed by one or more master secrets of at
// least MinSecretSize random bytes each. The first secret seals; every
// secret opens. List a new secret first and keep the old ones after it
// until every value they sealed has expired; see the package
// documentation for the rotation procedure.
//
// Each secret's keys are derived with HKDF-SHA256 here, once. Sealing
// and opening derive nothing more per value: only the first value of a
// day that a Sealer seals or opens costs the derivation of that day's
// AES-256 key (see the package documentation's Wire format).
func NewSealer(secrets ...[]byte) (*Sealer, error) {
	v1, err := deriveKeys(sealV1Info, secrets)
	if err != nil {
		return nil, err
	}
	v2, err := deriveKeys(sealV2Info, secrets)
	if err != nil {
		return nil, err
	}
	s := &Sealer{keys: make([]*sealKey, len(secrets)), now: time.Now, format: sealV1}
	if hardwareAESGCM {
		s.format = sealV2
	}
	for i := range secrets {
		aead, err := chacha20poly1305.NewX(v1[i].key)
		if err != nil {
			return nil, fmt.Errorf("cookie: %w", err)
		}
		s.keys[i] = &sealKey{id: v1[i].id, v1: aead, root: v2[i].key}
	}
	return s, nil
}

// dayOf returns the UTC day number of t, which selects the key of a
// version 2 value.
func dayOf(t time.Time) uint32 {
	return uint32(t.Unix() / 86400)
}

// deriveDay returns the AES-256-GCM of one day: its key is expanded from
// the secret's root with HKDF, labelled with the day.
func (k *sealKey) deriveDay(day uint32) (cipher.AEAD, error) {
	var info [len(sealV2DayInfo) + 4]byte
	copy(info[:], sealV2DayInfo)
	binary.BigEndian.PutUint32(info[len(sealV2DayInfo):], day)
	key, err := hkdf.Expand(sha256.New, k.root, string(info[:]), 32)
	if err != nil {
		return nil, fmt.Errorf("cookie: derive day key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cookie: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealAEAD returns the key to seal with on day.
func (k *sealKey) sealAEAD(day uint32) (cipher.AEAD, error) {
	if t := k.today.Load(); t != nil && t.day == day {
		return t.aead, nil
	}
	aead, known := k.cachedDay(day)
	if !known {
		var err error
		if aead, err = k.deriveDay(day); err != nil {
			return nil, err
		}
		k.keepDay(day, aead)
	}
	k.today.Store(&dayKey{day: day, aead: aead})
	return aead, nil
}

// cachedDay returns the key of day if it is at hand.
func (k *sealKey) cachedDay(day uint32) (cipher.AEAD, bool) {
	if t := k.today.Load(); t != nil && t.day == day {
		return t.aead, true
	}
	if a, ok := k.days.Load(day); ok {
		return a.(cipher.AEAD), true
	}
	return nil, false
}

// keepDay remembers the key of a day whose value proved authentic (or
// that this Sealer seals with), forgetting all others once there are
// maxDayKeys: a rare re-derivation is cheaper than tracking their age.
func (k *sealKey) keepDay(day uint32, aead cipher.AEAD) {
	if k.nDays.Add(1) > maxDayKeys {
		k.days.Clear()
		k.nDays.Store(1)
	}
	k.days.Store(day, aead)
}

// Encode seals payload for the cookie named name, readable by Decode until
// ttl has passed. The result is base64url, 4/3 of len(payload) plus 60
// bytes (71 where the CPU has no AES instructions). See Codec for the
// errors it returns.
func (s *Sealer) Encode(name string, payload []byte, ttl time.Duration) (string, error) {
	if len(s.keys) == 0 {
		return "", errorf(ErrInvalid, name, "Sealer not made by NewSealer")
	}
	now := s.now()
	exp, err := expiryAt(name, now, ttl)
	if err != nil {
		return "", err
	}
	header, nonceLen, overhead := sealV2Header, sealV2Nonce, sealV2Overhead
	if s.format == sealV1 {
		header, nonceLen, overhead = sealV1Header, sealV1Nonce, sealV1Overhead
	}
	rawLen := overhead + len(payload)
	encLen := b64.EncodedLen(rawLen)
	if err := checkEncodedSize(name, encLen); err != nil {
		return "", err
	}
	k := s.keys[0]
	aead, day := k.v1, dayOf(now)
	if s.format == sealV2 {
		if aead, err = k.sealAEAD(day); err != nil {
			return "", err
		}
	}
	// Scratch space holds the sealed bytes, then the associated data,
	// then the base64 text, so a value costs only its string.
	sc := s.bufs.get()
	buf := sc.buf[:rawLen+header+len(name)+encLen]
	raw := buf[:rawLen]
	raw[0] = s.format
	copy(raw[1:], k.id[:])
	if s.format == sealV2 {
		binary.BigEndian.PutUint32(raw[1+keyIDSize:], day)
	}
	nonce := raw[header : header+nonceLen]
	sc.nonce(nonce)
	plain := raw[header+nonceLen : rawLen-sealTag]
	binary.BigEndian.PutUint64(plain, exp)
	copy(plain[8:], payload)
	aad := buf[rawLen : rawLen+header+len(name)]
	copy(aad, raw[:header])
	copy(aad[header:], name)
	aead.Seal(plain[:0], nonce, plain, aad)
	out := buf[rawLen+len(aad):]
	encodeB64(out, raw)
	v := string(out)
	s.bufs.put(sc)
	return v, nil
}

// Decode opens a value sealed by Encode under the same name, with any of
// the Sealer's keys, in either format. See Codec for what it returns.
func (s *Sealer) Decode(name, value string) (payload []byte, stale bool, err error) {
	payload, v, err := s.decode(name, value)
	if s.Observer != nil {
		v.report(s.Observer, "sealed")
	}
	return payload, v == verdictStale, err
}

func (s *Sealer) decode(name, value string) ([]byte, verdict, error) {
	if len(value) > maxValueLen || !noLineBreaks(value) {
		return nil, verdictMalformed, errorf(ErrInvalid, name, "not a sealed value")
	}
	rawLen := b64.DecodedLen(len(value))
	if rawLen < sealV2Overhead {
		return nil, verdictMalformed, errorf(ErrInvalid, name, "sealed value too short")
	}
	// One buffer holds the decoded bytes and the associated data, and is
	// opened in place: the payload returned is a piece of it.
	buf := make([]byte, rawLen+sealV2Header+len(name))
	raw := buf[:rawLen]
	if !decodeB64(raw, value) {
		return nil, verdictMalformed, errorf(ErrInvalid, name, "not a sealed value")
	}
	var header, nonceLen int
	switch raw[0] {
	case sealV2:
		header, nonceLen = sealV2Header, sealV2Nonce
	case sealV1:
		if rawLen < sealV1Overhead {
			return nil, verdictMalformed, errorf(ErrInvalid, name, "sealed value too short")
		}
		header, nonceLen = sealV1Header, sealV1Nonce
	default:
		return nil, verdictMalformed, errorf(ErrInvalid, name, "unknown format version %d", raw[0])
	}
	ki := -1
	for i, k := range s.keys {
		if string(k.id[:]) == string(raw[1:1+keyIDSize]) {
			ki = i
			break
		}
	}
	if ki < 0 {
		return nil, verdictUnknownKey, errorf(ErrUnknownKey, name, "sealed with key %08x", binary.BigEndian.Uint32(raw[1:]))
	}
	k := s.keys[ki]
	aead, known := k.v1, true
	var day uint32
	if raw[0] == sealV2 {
		day = binary.BigEndian.Uint32(raw[1+keyIDSize:])
		if aead, known = k.cachedDay(day); !known {
			// A day not seen yet, or a forgery: derive its key, and keep
			// it only if the value proves authentic.
			var err error
			if aead, err = k.deriveDay(day); err != nil {
				return nil, verdictMalformed, err
			}
		}
	}
	aad := buf[rawLen : rawLen+header+len(name)]
	copy(aad, raw[:header])
	copy(aad[header:], name)
	sealed := raw[header+nonceLen:]
	plain, err := aead.Open(sealed[:0], raw[header:header+nonceLen], sealed, aad)
	if err != nil {
		return nil, verdictForged, errorf(ErrInvalid, name, "authentication failed")
	}
	if !known {
		k.keepDay(day, aead)
	}
	if exp := binary.BigEndian.Uint64(plain); expired(s.now(), exp) {
		return nil, verdictExpired, errorf(ErrExpired, name, "expired at %v", time.Unix(int64(exp), 0).UTC())
	}
	payload := plain[8:len(plain):len(plain)]
	if ki > 0 {
		return payload, verdictStale, nil
	}
	return payload, verdictOK, nil
}
