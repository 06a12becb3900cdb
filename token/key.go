package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/go-jose/go-jose/v4"
)

// Algorithm names a JWS signature algorithm (the "alg" header).
type Algorithm string

// The algorithms this package signs and verifies. Each key type maps to
// exactly one of them, so a key can never be used with an algorithm other
// than the one it was made for.
const (
	// EdDSA is Ed25519 (RFC 8037): small keys, fast, deterministic; the
	// default.
	EdDSA Algorithm = "EdDSA"
	// ES256 is ECDSA on P-256 with SHA-256.
	ES256 Algorithm = "ES256"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256, for verifiers that know
	// nothing else. Keys must have at least 2048 bits.
	RS256 Algorithm = "RS256"
	// HS256 is HMAC with SHA-256: one shared secret of at least 32 bytes
	// both signs and verifies, so every verifier can also mint tokens. Use
	// it only when the issuer and the verifier are the same program.
	HS256 Algorithm = "HS256"
)

// MinHMACKeySize is the shortest secret NewHMACKey accepts: as many bytes
// as the hash output, as RFC 7518 section 3.2 requires.
const MinHMACKeySize = 32

// MinRSAKeyBits is the smallest RSA modulus NewKey and a remote key set
// accept.
const MinRSAKeyBits = 2048

// accessTokenType is the "typ" header of every access token (RFC 9068). A
// verifier that insists on it cannot be handed an ID token or any other
// JWT signed by the same key.
const accessTokenType = "at+jwt"

// Key is a signing key bound to one algorithm and identified by a key ID
// that appears in the header of every token it signs. Keys are immutable
// and safe for concurrent use.
type Key struct {
	id     string
	alg    Algorithm
	public any // ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey, or the HS256 secret

	// signer signs with the private half of a public-key algorithm; nil
	// for HS256, whose secret is public.
	signer crypto.Signer
	// external is true when signer is not one of the standard library's
	// private key types: it may be a KMS or an HSM that takes time, or
	// fails, so its calls honour the context and its signatures are
	// checked before a token carries them.
	external bool

	// header is the base64url protected header of every token the key
	// signs: alg, kid and typ.
	header string
}

// GenerateKey returns a new random key for alg: an Ed25519 key, a P-256
// key, a 2048-bit RSA key or a 32-byte HMAC secret. An empty alg means
// EdDSA, the default.
func GenerateKey(alg Algorithm) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case EdDSA, "":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, MinRSAKeyBits)
	case HS256:
		secret := make([]byte, MinHMACKeySize)
		rand.Read(secret)
		return NewHMACKey(secret)
	default:
		return nil, fmt.Errorf("token: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("token: generate %s key: %w", alg, err)
	}
	return NewKey(priv)
}

// NewKey makes a signing key of a private key, which may be one loaded by
// the caller (for example with x509.ParsePKCS8PrivateKey) or any other
// crypto.Signer, such as a key held in a KMS or an HSM. The algorithm
// follows from the public half, signer.Public():
//
//	ed25519.PublicKey  EdDSA
//	*ecdsa.PublicKey   ES256 (P-256 only)
//	*rsa.PublicKey     RS256 (at least 2048 bits)
//
// Every token is signed by calling signer.Sign, with the whole signing
// input for Ed25519 and its SHA-256 digest (crypto.SHA256, PKCS #1 v1.5
// for RSA) otherwise. A signer that is not an ed25519.PrivateKey,
// *ecdsa.PrivateKey or *rsa.PrivateKey is treated as remote: Issuer.Issue
// stops waiting for it when its context is done, and checks each
// signature it returns against the public key before using it, so a
// signer that answers with another key's signatures is an error at
// issue time rather than tokens no verifier accepts.
//
// The key ID is the RFC 7638 JWK thumbprint (SHA-256, base64url) of the
// public key, so every server that loads the same key, in memory or
// through a Signer, derives the same ID.
func NewKey(signer crypto.Signer) (*Key, error) {
	var external bool
	switch k := signer.(type) {
	case nil:
		return nil, errors.New("token: NewKey of a nil signer")
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, errors.New("token: Ed25519 private key has the wrong length")
		}
	case *ecdsa.PrivateKey:
		if k == nil {
			return nil, errors.New("token: NewKey of a nil ECDSA key")
		}
	case *rsa.PrivateKey:
		if k == nil {
			return nil, errors.New("token: NewKey of a nil RSA key")
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("token: invalid RSA key: %w", err)
		}
	default:
		external = true
	}
	var alg Algorithm
	public := signer.Public()
	switch p := public.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, errors.New("token: Ed25519 public key has the wrong length")
		}
		alg = EdDSA
	case *ecdsa.PublicKey:
		if p == nil || p.Curve != elliptic.P256() {
			return nil, errors.New("token: ECDSA keys must be on curve P-256 (ES256)")
		}
		alg = ES256
	case *rsa.PublicKey:
		if p == nil || p.N == nil || p.N.BitLen() < MinRSAKeyBits {
			return nil, fmt.Errorf("token: RSA keys must have at least %d bits", MinRSAKeyBits)
		}
		alg = RS256
	default:
		return nil, fmt.Errorf("token: unsupported public key type %T", public)
	}
	return newKey(alg, public, signer, external)
}

// NewHMACKey makes an HS256 key of a shared secret of at least
// MinHMACKeySize bytes, from a CSPRNG. NewHMACKey keeps a copy. The secret
// has no public half; the key ID is derived from it with HMAC, so that the
// ID reveals nothing about it.
func NewHMACKey(secret []byte) (*Key, error) {
	if len(secret) < MinHMACKeySize {
		return nil, fmt.Errorf("token: HS256 secrets must be at least %d bytes, got %d", MinHMACKeySize, len(secret))
	}
	return newKey(HS256, append([]byte(nil), secret...), nil, false)
}

func newKey(alg Algorithm, public any, signer crypto.Signer, external bool) (*Key, error) {
	id, err := keyID(public)
	if err != nil {
		return nil, err
	}
	hdr, err := json.Marshal(struct {
		Alg Algorithm `json:"alg"`
		Kid string    `json:"kid"`
		Typ string    `json:"typ"`
	}{alg, id, accessTokenType})
	if err != nil {
		return nil, fmt.Errorf("token: encode header: %w", err)
	}
	return &Key{
		id: id, alg: alg, public: public, signer: signer, external: external,
		header: base64.RawURLEncoding.EncodeToString(hdr),
	}, nil
}

// ID returns the key ID, the "kid" header of tokens the key signs.
func (k *Key) ID() string { return k.id }

// Algorithm returns the one algorithm the key signs and verifies with.
func (k *Key) Algorithm() Algorithm { return k.alg }

// isPublic reports whether the verification half of k may be published.
func (k *Key) isPublic() bool { return k.alg != HS256 }

// signCompact returns the compact JWS of payload under k's header.
func (k *Key) signCompact(ctx context.Context, payload []byte) (string, error) {
	input := k.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := k.sign(ctx, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// sign returns the JWS signature of input. A remote signer runs on its own
// goroutine so that a done ctx ends the wait; the goroutine ends when the
// signer returns, since crypto.Signer offers no way to cancel it.
func (k *Key) sign(ctx context.Context, input []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("token: sign: %w", context.Cause(ctx))
	}
	if !k.external {
		return k.rawSign(input)
	}
	type result struct {
		sig []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		sig, err := k.rawSign(input)
		done <- result{sig, err}
	}()
	select {
	case r := <-done:
		return r.sig, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("token: waiting for the signer: %w", context.Cause(ctx))
	}
}

func (k *Key) rawSign(input []byte) ([]byte, error) {
	if k.alg == HS256 {
		m := hmac.New(sha256.New, k.public.([]byte))
		m.Write(input)
		return m.Sum(nil), nil
	}
	digest := sha256.Sum256(input)
	var sig []byte
	var err error
	if k.alg == EdDSA {
		sig, err = k.signer.Sign(rand.Reader, input, crypto.Hash(0))
	} else {
		sig, err = k.signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("token: sign: %w", err)
	}
	if k.alg == ES256 {
		// crypto.Signer answers with ASN.1; JWS wants r and s as two
		// fixed-size big-endian integers (RFC 7518 section 3.4).
		if sig, err = ecdsaJWS(sig); err != nil {
			return nil, err
		}
	}
	if k.external && !k.verifies(input, digest[:], sig) {
		return nil, errors.New("token: the signer's signature does not verify with its public key")
	}
	return sig, nil
}

func (k *Key) verifies(input, digest, sig []byte) bool {
	switch pub := k.public.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, input, sig)
	case *ecdsa.PublicKey:
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, digest, r, s)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil
	}
	return false
}

// ecdsaJWS converts an ASN.1 ECDSA P-256 signature to the 64 bytes of r
// and s that JWS uses.
func ecdsaJWS(der []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) > 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, errors.New("token: the signer returned a malformed ECDSA signature")
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return sig, nil
}

func keyID(public any) (string, error) {
	if secret, ok := public.([]byte); ok {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("httpstate token key ID"))
		return "hs-" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16]), nil
	}
	jwk := jose.JSONWebKey{Key: public}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("token: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}
