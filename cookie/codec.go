package cookie

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/httpstate/httpstate/observe"
)

// Sentinel errors. Every error from building, encoding or decoding a
// cookie wraps one of them (Value.Get's may wrap http.ErrNoCookie
// instead); test with errors.Is. A decoding error of any kind means "no
// usable value": treat the cookie as absent, and use the sentinel only to
// decide what to log or whether to delete the cookie.
var (
	// ErrInvalid reports a value that is malformed, was tampered with,
	// was sealed or signed for another cookie name, or does not decode
	// into the requested type; or, when building a cookie, a name, value
	// or attribute combination that browsers would reject.
	ErrInvalid = errors.New("cookie: invalid")

	// ErrExpired reports an authentic value whose embedded expiry has
	// passed, whatever the browser did with the cookie's Max-Age.
	ErrExpired = errors.New("cookie: expired")

	// ErrUnknownKey reports a well-formed value that names a key not
	// configured: one removed by rotation, or a forgery.
	ErrUnknownKey = errors.New("cookie: unknown key")

	// ErrTooLarge reports a value or cookie that would not fit in the
	// MaxSize bytes browsers keep. Nothing is ever truncated.
	ErrTooLarge = errors.New("cookie: too large")
)

// errorf wraps sentinel with the cookie's name and a reason. Names are not
// secret; values never appear in errors.
func errorf(sentinel error, name, format string, args ...any) error {
	return fmt.Errorf("%w: %q: %s", sentinel, name, fmt.Sprintf(format, args...))
}

// A Codec turns a payload into a cookie value bound to one cookie name and
// back. *Sealer and *Signer are the two implementations; Value uses either.
type Codec interface {
	// Encode returns a cookie value holding payload that Decode accepts
	// only under the same name and only until ttl has passed. It returns
	// an error wrapping ErrTooLarge if name=value alone would exceed
	// MaxSize, and one wrapping ErrInvalid if ttl is not positive.
	Encode(name string, payload []byte, ttl time.Duration) (string, error)

	// Decode returns the payload of a value produced by Encode under the
	// same name. stale reports that the value was made with a key other
	// than the current one: it is valid, but should be re-issued so that
	// the old key can be retired. Decode never panics; for anything but
	// an authentic, unexpired value it returns an error wrapping
	// ErrInvalid, ErrExpired or ErrUnknownKey. The payload is the caller's
	// to keep and modify.
	Decode(name, value string) (payload []byte, stale bool, err error)
}

// MinSecretSize is the shortest master secret NewSealer and NewSigner
// accept. Generate secrets with crypto/rand, for example with
// "openssl rand -base64 32", never from a password.
const MinSecretSize = 32

// keyIDSize is the length of the key ID at the start of every value: long
// enough that two configured secrets practically never collide (a
// collision is reported at construction), short enough to cost a cookie
// only a few bytes, and derived through HKDF so it reveals nothing about
// the secret.
const keyIDSize = 4

// keyIDInfo labels the HKDF derivation of key IDs. A secret gets the same
// ID in a Sealer and a Signer, so operators can match IDs across both.
const keyIDInfo = "httpstate/cookie v1 key id"

// maxValueLen is the longest value that fits in a cookie: MaxSize less a
// one-byte name and "=". Decoders refuse longer input before doing work.
const maxValueLen = MaxSize - 2

// version is the first byte of a signed value's trailer, so the format can
// change without misreading old cookies. Sealed values have their own
// versions, sealV1 and sealV2.
const version = 1

type derivedKey struct {
	id  [keyIDSize]byte
	key []byte
}

// deriveKeys derives one 32-byte key per master secret with HKDF-SHA256,
// labelled with info so the same secret yields unrelated keys for sealing
// and signing. It runs once, at construction, never per value.
func deriveKeys(info string, secrets [][]byte) ([]derivedKey, error) {
	if len(secrets) == 0 {
		return nil, errors.New("cookie: no master secret")
	}
	keys := make([]derivedKey, len(secrets))
	for i, s := range secrets {
		if len(s) < MinSecretSize {
			return nil, fmt.Errorf("cookie: master secret %d is %d bytes; at least %d are required", i, len(s), MinSecretSize)
		}
		id, err := hkdf.Key(sha256.New, s, nil, keyIDInfo, keyIDSize)
		if err != nil {
			return nil, fmt.Errorf("cookie: derive key ID: %w", err)
		}
		key, err := hkdf.Key(sha256.New, s, nil, info, 32)
		if err != nil {
			return nil, fmt.Errorf("cookie: derive key: %w", err)
		}
		copy(keys[i].id[:], id)
		keys[i].key = key
		for j := range i {
			if keys[j].id == keys[i].id {
				if subtle.ConstantTimeCompare(secrets[j], s) == 1 {
					return nil, fmt.Errorf("cookie: master secrets %d and %d are the same", j, i)
				}
				return nil, fmt.Errorf("cookie: master secrets %d and %d have the same key ID; generate a new secret", j, i)
			}
		}
	}
	return keys, nil
}

// expiryAt returns the Unix second after which a value made now with ttl
// is refused, rounded up so that a value never expires early.
func expiryAt(name string, now time.Time, ttl time.Duration) (uint64, error) {
	if ttl <= 0 {
		return 0, errorf(ErrInvalid, name, "ttl %v is not positive", ttl)
	}
	t := now.Add(ttl)
	secs := t.Unix()
	if t.Nanosecond() != 0 {
		secs++
	}
	return uint64(secs), nil
}

// expired reports whether a value whose expiry is exp is dead at now.
func expired(now time.Time, exp uint64) bool {
	return exp > 1<<62 || now.Unix() >= int64(exp)
}

// checkEncodedSize refuses a value that could not fit in any cookie.
func checkEncodedSize(name string, valueLen int) error {
	if n := len(name) + 1 + valueLen; n > MaxSize {
		return errorf(ErrTooLarge, name, "name=value would be %d bytes, over the %d browsers keep", n, MaxSize)
	}
	return nil
}

// noLineBreaks reports whether s is free of CR and LF. The base64 decoder
// refuses every other byte outside its alphabet but skips these two, which
// would let two different strings decode to one value.
func noLineBreaks(s string) bool {
	return strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, '\r') < 0
}

// scratchSize fits everything one Encode writes before its string: the
// sealed bytes, the associated data and the base64 text. Name and text
// together fit in MaxSize, so that is at most 7/4 of MaxSize plus a
// header.
const scratchSize = 2 * MaxSize

// nonceBatch is how many random bytes a scratch space draws from
// crypto/rand at a time, for 32 nonces: one call per 32 values instead of
// one per value.
const nonceBatch = 32 * sealV2Nonce

// scratch is working space for one Encode at a time.
type scratch struct {
	buf [scratchSize]byte

	// nonces holds random bytes not yet used; left counts them, from
	// the end. Each byte is handed out once: a scratch has one user at a
	// time, and a nonce is taken before it is used.
	nonces [nonceBatch]byte
	left   int
}

// nonce fills dst with fresh random bytes.
func (sc *scratch) nonce(dst []byte) {
	if sc.left < len(dst) {
		_, _ = rand.Read(sc.nonces[:]) // never fails; crashes the program instead
		sc.left = len(sc.nonces)
	}
	copy(dst, sc.nonces[len(sc.nonces)-sc.left:])
	sc.left -= len(dst)
}

// buffers is a pool of scratch space, so that an Encode allocates only the
// string it returns.
type buffers struct{ p sync.Pool }

func (b *buffers) get() *scratch {
	if sc, _ := b.p.Get().(*scratch); sc != nil {
		return sc
	}
	return new(scratch)
}

func (b *buffers) put(sc *scratch) { b.p.Put(sc) }

// verdict is how one decode ended, in the terms of observe.CookieDecode.
type verdict uint8

const (
	verdictOK         verdict = iota // authentic, current key
	verdictStale                     // authentic, older key
	verdictExpired                   // authentic, past its expiry
	verdictUnknownKey                // names no configured key
	verdictForged                    // fails authentication: tampered, or made for another name
	verdictMalformed                 // not a value of this codec's format
)

// report sends the CookieDecode event for v to o. The event holds the
// codec kind and the verdict only: never the value, the payload, the
// cookie's name or a key ID. Codec.Decode has no context, so the event
// carries context.Background(): a tracing observer sees no parent span.
func (v verdict) report(o observe.Observer, op string) {
	e := observe.Event{Kind: observe.CookieDecode, Op: op}
	switch v {
	case verdictOK:
		e.Outcome = observe.OK
	case verdictStale:
		e.Outcome = observe.Stale
	case verdictExpired:
		e.Outcome = observe.Expired
	case verdictUnknownKey:
		e.Outcome, e.Reason = observe.Rejected, "unknown_key"
	case verdictForged:
		e.Outcome, e.Reason = observe.Rejected, "forged"
	default:
		e.Outcome, e.Reason = observe.Rejected, "malformed"
	}
	o.Observe(context.Background(), e)
}
