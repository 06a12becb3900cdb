package dbsc

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// MinSecretSize is the smallest master secret NewChallenger accepts.
const MinSecretSize = 32

// DefaultChallengeTTL is how long a challenge can be answered when
// ChallengerOptions.TTL is zero. A browser answers within seconds; the
// margin covers a slow TPM and a backgrounded tab.
const DefaultChallengeTTL = 5 * time.Minute

// maxClockSkew is how far in the future a challenge's issue time may lie,
// for servers whose clocks differ slightly.
const maxClockSkew = time.Minute

const (
	challengeVersion = 1
	keyIDSize        = 4
	nonceSize        = 16
	tagSize          = 32
	challengeSize    = 1 + keyIDSize + 8 + nonceSize + tagSize
)

// ChallengerOptions configures a Challenger. The zero value is usable.
type ChallengerOptions struct {
	// TTL is how long after issue a challenge may be answered; zero means
	// DefaultChallengeTTL.
	TTL time.Duration
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Challenger issues and checks challenges without storing them.
//
// A challenge is 61 random-looking bytes in unpadded base64url (82
// characters):
//
//	version (1) | key ID (4) | issued, Unix nanoseconds (8) | nonce (16) | tag (32)
//
// where tag is HMAC-SHA256, under a key derived from the secret with
// HKDF-SHA256, over a context string, everything before the tag, and the
// binding: the session the challenge was issued for. So a challenge
// issued for one session is refused for any other (ErrChallenge), and one
// older than the TTL is refused (ErrExpired) whatever the browser kept.
//
// A stateless challenge can be answered more than once; the caller makes
// it single-use. Every verification returns the challenge's issue time,
// and the caller stores it with the session (the last answered challenge)
// and passes it back as notAfter on the next verification: a challenge
// issued at or before the last answered one is refused with ErrReplayed.
// The caller must save that time with compare-and-swap (or under the
// session's lock) in the same write that accepts the proof, so two
// concurrent answers to one challenge cannot both win. Issue times are
// strictly increasing per Challenger, so each challenge has its own.
//
// A server that sends the next challenge ahead (Secure-Session-Challenge
// on the registration and refresh responses, which Chromium signs at the
// next refresh, saving a round trip) must set the TTL longer than the
// bound cookie's lifetime: the challenge is answered only when that
// cookie runs out.
//
// The first secret issues; all of them verify, so secrets rotate without
// failing refreshes in flight. A Challenger is safe for concurrent use.
type Challenger struct {
	keys []challengeKey
	ttl  time.Duration
	now  func() time.Time
	last chan int64 // holds the last issue time; a one-slot lock
}

type challengeKey struct {
	id  [keyIDSize]byte
	mac []byte
}

// NewChallenger returns a Challenger keyed by secrets, each at least
// MinSecretSize random bytes. The secrets must differ from every other
// secret the application uses; keys are derived from them with a label
// of this package's own.
func NewChallenger(secrets [][]byte, opts ChallengerOptions) (*Challenger, error) {
	if len(secrets) == 0 {
		return nil, errors.New("dbsc: NewChallenger needs at least one secret")
	}
	c := &Challenger{ttl: opts.TTL, now: opts.Now, last: make(chan int64, 1)}
	if c.ttl <= 0 {
		c.ttl = DefaultChallengeTTL
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.last <- 0
	for i, s := range secrets {
		if len(s) < MinSecretSize {
			return nil, fmt.Errorf("dbsc: secret %d has %d bytes, want at least %d", i, len(s), MinSecretSize)
		}
		id, err := hkdf.Key(sha256.New, s, nil, "httpstate dbsc challenge key id", keyIDSize)
		if err != nil {
			return nil, err
		}
		mac, err := hkdf.Key(sha256.New, s, nil, "httpstate dbsc challenge mac", 32)
		if err != nil {
			return nil, err
		}
		k := challengeKey{mac: mac}
		copy(k.id[:], id)
		c.keys = append(c.keys, k)
	}
	return c, nil
}

// TTL returns how long a challenge stays answerable.
func (c *Challenger) TTL() time.Duration { return c.ttl }

// Issue returns a new challenge bound to binding: the DBSC session
// identifier for refreshes, or an identifier of the login session for a
// registration. binding must not be empty.
func (c *Challenger) Issue(binding string) (string, error) {
	if binding == "" {
		return "", errors.New("dbsc: a challenge needs a binding")
	}
	issued := c.now().UnixNano()
	prev := <-c.last
	if issued <= prev {
		issued = prev + 1
	}
	c.last <- issued
	b := make([]byte, challengeSize)
	b[0] = challengeVersion
	copy(b[1:], c.keys[0].id[:])
	binary.BigEndian.PutUint64(b[1+keyIDSize:], uint64(issued))
	if _, err := rand.Read(b[1+keyIDSize+8 : challengeSize-tagSize]); err != nil {
		return "", err
	}
	copy(b[challengeSize-tagSize:], c.keys[0].tag(b[:challengeSize-tagSize], binding))
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (k *challengeKey) tag(body []byte, binding string) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte("httpstate dbsc challenge v1\x00"))
	m.Write(body)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(binding)))
	m.Write(n[:])
	m.Write([]byte(binding))
	return m.Sum(nil)
}

// Verify checks that challenge was issued by this Challenger (under any
// of its secrets) for binding, is not older than the TTL, and was issued
// after notAfter (the issue time of the last challenge answered for the
// session; the zero time when there was none). It returns the issue time,
// which the caller stores as the new notAfter. Errors wrap ErrChallenge,
// ErrExpired or ErrReplayed.
func (c *Challenger) Verify(challenge, binding string, notAfter time.Time) (time.Time, error) {
	if len(challenge) != base64.RawURLEncoding.EncodedLen(challengeSize) {
		return time.Time{}, fmt.Errorf("%w: wrong length", ErrChallenge)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(challenge)
	if err != nil || b[0] != challengeVersion {
		return time.Time{}, fmt.Errorf("%w: not a challenge of this server", ErrChallenge)
	}
	var key *challengeKey
	for i := range c.keys {
		if string(c.keys[i].id[:]) == string(b[1:1+keyIDSize]) {
			key = &c.keys[i]
			break
		}
	}
	if key == nil {
		return time.Time{}, fmt.Errorf("%w: unknown key", ErrChallenge)
	}
	if !hmac.Equal(key.tag(b[:challengeSize-tagSize], binding), b[challengeSize-tagSize:]) {
		return time.Time{}, fmt.Errorf("%w: not issued for this session", ErrChallenge)
	}
	issuedNanos := int64(binary.BigEndian.Uint64(b[1+keyIDSize:]))
	issued := time.Unix(0, issuedNanos)
	now := c.now()
	switch {
	case issued.After(now.Add(maxClockSkew)):
		return time.Time{}, fmt.Errorf("%w: issued in the future", ErrChallenge)
	case now.Sub(issued) > c.ttl:
		return time.Time{}, fmt.Errorf("%w: issued %s ago", ErrExpired, now.Sub(issued).Round(time.Second))
	case !notAfter.IsZero() && issuedNanos <= notAfter.UnixNano():
		return time.Time{}, ErrReplayed
	}
	return issued, nil
}

// Verified is what a verified proof establishes.
type Verified struct {
	// Key is the session's public key: from the proof at registration,
	// the stored one at refresh.
	Key *PublicKey
	// ChallengeIssued is the issue time of the challenge the proof
	// answered. Store it with the session: it is the notAfter of the
	// next refresh.
	ChallengeIssued time.Time
}

// Registration verifies a registration proof (the Secure-Session-Response
// of a request to the registration endpoint): its embedded key must use
// one of algs (empty means ES256 and RS256) and sign the proof; its jti
// must be a challenge from c bound to binding; and its authorization
// claim must equal authorization (absent when authorization is empty).
// A registration has no previous challenge, so replay within the TTL is
// the caller's to refuse: accept one registration per login session.
func (c *Challenger) Registration(proof, binding, authorization string, algs []Algorithm) (Verified, error) {
	p, err := ParseProof(proof)
	if err != nil {
		return Verified{}, err
	}
	if p.Key == nil {
		return Verified{}, fmt.Errorf("%w: registration proof has no jwk", ErrMalformed)
	}
	if !allowed(algs, p.Algorithm) {
		return Verified{}, fmt.Errorf("%w: %s was not offered", ErrAlgorithm, p.Algorithm)
	}
	if err := p.verify(p.Key); err != nil {
		return Verified{}, err
	}
	if p.HasAuthorization != (authorization != "") || !hmac.Equal([]byte(p.Authorization), []byte(authorization)) {
		return Verified{}, ErrAuthorization
	}
	issued, err := c.Verify(p.Challenge, binding, time.Time{})
	if err != nil {
		return Verified{}, err
	}
	return Verified{Key: p.Key, ChallengeIssued: issued}, nil
}

// Refresh verifies a refresh proof against the session's stored key: it
// must be signed by key, carry no jwk (the specification forbids one at
// refresh, and a key there could only be an attempt to swap it), and
// answer a challenge from c bound to binding and issued after notAfter.
func (c *Challenger) Refresh(proof, binding string, key *PublicKey, notAfter time.Time) (Verified, error) {
	p, err := ParseProof(proof)
	if err != nil {
		return Verified{}, err
	}
	if p.Key != nil {
		return Verified{}, fmt.Errorf("%w: refresh proof carries a jwk", ErrMalformed)
	}
	if err := p.verify(key); err != nil {
		return Verified{}, err
	}
	issued, err := c.Verify(p.Challenge, binding, notAfter)
	if err != nil {
		return Verified{}, err
	}
	return Verified{Key: key, ChallengeIssued: issued}, nil
}
