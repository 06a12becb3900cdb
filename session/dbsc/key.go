package dbsc

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// Algorithm is a JWS algorithm a session key signs with.
type Algorithm string

// The algorithms the specification defines for keys. "none" (a session
// without a key) is not supported: it binds nothing to the device.
const (
	// ES256 is ECDSA on P-256 with SHA-256; what TPMs, Chrome's software
	// keys and most browsers use.
	ES256 Algorithm = "ES256"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256.
	RS256 Algorithm = "RS256"
)

func (a Algorithm) valid() bool { return a == ES256 || a == RS256 }

// MinRSABits is the smallest RSA modulus accepted for a session key.
const MinRSABits = 2048

// PublicKey is a session's public key: the one a browser sent in its
// registration proof, and the one every refresh proof must verify with.
// Its zero value is not a key; obtain one from a verified registration or
// from ParseJWK.
type PublicKey struct {
	alg Algorithm
	ec  *ecdsa.PublicKey
	rsa *rsa.PublicKey
	jwk []byte // canonical JWK, the storage form
}

// Algorithm returns the algorithm the key signs with.
func (k *PublicKey) Algorithm() Algorithm { return k.alg }

// MarshalJWK returns the key as a JWK (RFC 7517) with exactly the members
// its thumbprint hashes plus "alg", keys sorted. Store it with the
// session; ParseJWK reads it back.
func (k *PublicKey) MarshalJWK() []byte { return bytes.Clone(k.jwk) }

// Thumbprint returns the base64url (unpadded) SHA-256 JWK thumbprint of
// the key (RFC 7638): the identifier the specification uses for keys, and
// a safe one to log.
func (k *PublicKey) Thumbprint() string {
	var m []byte
	switch {
	case k.ec != nil:
		x, y := ecCoords(k.ec)
		m = fmt.Appendf(nil, `{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, x, y)
	case k.rsa != nil:
		n, e := rsaParams(k.rsa)
		m = fmt.Appendf(nil, `{"e":"%s","kty":"RSA","n":"%s"}`, e, n)
	default:
		return ""
	}
	sum := sha256.Sum256(m)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Equal reports whether k and o are the same key for the same algorithm.
func (k *PublicKey) Equal(o *PublicKey) bool {
	if k == nil || o == nil {
		return k == o
	}
	return k.alg == o.alg && bytes.Equal(k.jwk, o.jwk)
}

// jwk is the union of the members of EC and RSA public JWKs.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Alg string `json:"alg,omitempty"`
	D   string `json:"d,omitempty"` // present only on private keys, refused
}

// ParseJWK reads a public key in JWK form, as MarshalJWK writes it or as
// a browser sends it. alg is the algorithm the key must sign with; a JWK
// whose "alg" member names another, whose key type does not fit alg, or
// that holds private material, is refused. Errors wrap ErrMalformed or
// ErrKey.
func ParseJWK(data []byte, alg Algorithm) (*PublicKey, error) {
	var j jwk
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%w: JWK: %v", ErrMalformed, err)
	}
	return j.publicKey(alg)
}

func (j *jwk) publicKey(alg Algorithm) (*PublicKey, error) {
	if !alg.valid() {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, string(alg))
	}
	if j.Alg != "" && Algorithm(j.Alg) != alg {
		return nil, fmt.Errorf("%w: JWK for %q used with %q", ErrAlgorithm, j.Alg, string(alg))
	}
	if j.D != "" {
		return nil, fmt.Errorf("%w: JWK holds a private key", ErrKey)
	}
	switch alg {
	case ES256:
		if j.Kty != "EC" || j.Crv != "P-256" {
			return nil, fmt.Errorf("%w: ES256 needs an EC P-256 JWK, got kty %q crv %q", ErrAlgorithm, j.Kty, j.Crv)
		}
		x, err1 := b64Fixed(j.X, 32)
		y, err2 := b64Fixed(j.Y, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: EC JWK coordinates must be 32 bytes of unpadded base64url", ErrMalformed)
		}
		// ParseUncompressedPublicKey refuses points off the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("%w: point not on P-256", ErrKey)
		}
		return newECKey(pub), nil
	case RS256:
		if j.Kty != "RSA" {
			return nil, fmt.Errorf("%w: RS256 needs an RSA JWK, got kty %q", ErrAlgorithm, j.Kty)
		}
		n, err1 := b64Canonical(j.N)
		e, err2 := b64Canonical(j.E)
		if err1 != nil || err2 != nil || len(n) == 0 || n[0] == 0 || len(e) == 0 || e[0] == 0 {
			return nil, fmt.Errorf("%w: RSA JWK needs n and e as minimal unpadded base64url", ErrMalformed)
		}
		if len(e) != 3 || e[0] != 1 || e[1] != 0 || e[2] != 1 {
			return nil, fmt.Errorf("%w: RSA exponent must be 65537", ErrKey)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
		if pub.N.BitLen() < MinRSABits || pub.N.BitLen() > 8192 {
			return nil, fmt.Errorf("%w: RSA modulus of %d bits", ErrKey, pub.N.BitLen())
		}
		return newRSAKey(pub), nil
	}
	panic("unreachable")
}

func newECKey(pub *ecdsa.PublicKey) *PublicKey {
	x, y := ecCoords(pub)
	return &PublicKey{alg: ES256, ec: pub,
		jwk: fmt.Appendf(nil, `{"alg":"ES256","crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, x, y)}
}

func newRSAKey(pub *rsa.PublicKey) *PublicKey {
	n, e := rsaParams(pub)
	return &PublicKey{alg: RS256, rsa: pub,
		jwk: fmt.Appendf(nil, `{"alg":"RS256","e":"%s","kty":"RSA","n":"%s"}`, e, n)}
}

func ecCoords(pub *ecdsa.PublicKey) (x, y string) {
	b, err := pub.Bytes() // 0x04 | X (32) | Y (32) on P-256
	if err != nil || len(b) != 65 {
		return "", ""
	}
	return base64.RawURLEncoding.EncodeToString(b[1:33]), base64.RawURLEncoding.EncodeToString(b[33:])
}

func rsaParams(pub *rsa.PublicKey) (n, e string) {
	return base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
}

// NewPublicKey wraps an ECDSA P-256 or RSA public key, for the test client
// and for servers that received a key out of band. It applies the checks
// ParseJWK applies.
func NewPublicKey(pub any) (*PublicKey, error) {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA key not on P-256", ErrKey)
		}
		x, y := ecCoords(p)
		return (&jwk{Kty: "EC", Crv: "P-256", X: x, Y: y}).publicKey(ES256)
	case *rsa.PublicKey:
		n, e := rsaParams(p)
		return (&jwk{Kty: "RSA", N: n, E: e}).publicKey(RS256)
	}
	return nil, fmt.Errorf("%w: key of type %T", ErrKey, pub)
}

// b64Canonical decodes unpadded base64url and refuses any other encoding
// of the same bytes (trailing bits set), so one key has one JWK.
func b64Canonical(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func b64Fixed(s string, n int) ([]byte, error) {
	b, err := b64Canonical(s)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), n)
	}
	return b, nil
}
