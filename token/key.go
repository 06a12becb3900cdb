package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

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

// MinHMACKeySize is the shortest secret NewKey accepts for HS256: as many
// bytes as the hash output, as RFC 7518 section 3.2 requires.
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
	signer jose.Signer
}

// GenerateKey returns a new random key for alg: an Ed25519 key, a P-256
// key, a 2048-bit RSA key or a 32-byte HMAC secret. An empty alg means
// EdDSA, the default.
func GenerateKey(alg Algorithm) (*Key, error) {
	var priv any
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
		priv = secret
	default:
		return nil, fmt.Errorf("token: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("token: generate %s key: %w", alg, err)
	}
	return NewKey(priv)
}

// NewKey wraps a private key loaded by the caller (for example with
// x509.ParsePKCS8PrivateKey). The algorithm follows from the key's type:
//
//	ed25519.PrivateKey  EdDSA
//	*ecdsa.PrivateKey   ES256 (P-256 only)
//	*rsa.PrivateKey     RS256 (at least 2048 bits)
//	[]byte              HS256 (at least 32 bytes; NewKey keeps a copy)
//
// The key ID is the RFC 7638 JWK thumbprint (SHA-256, base64url) of the
// public key, so every server that loads the same key derives the same ID.
// An HMAC secret has no public half; its ID is derived from the secret
// with HMAC so that the ID reveals nothing about it.
func NewKey(private any) (*Key, error) {
	var (
		alg    Algorithm
		public any
	)
	switch k := private.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, errors.New("token: Ed25519 private key has the wrong length")
		}
		alg, public = EdDSA, k.Public()
	case *ecdsa.PrivateKey:
		if k == nil || k.Curve != elliptic.P256() {
			return nil, errors.New("token: ECDSA keys must be on curve P-256 (ES256)")
		}
		alg, public = ES256, &k.PublicKey
	case *rsa.PrivateKey:
		if k == nil || k.N.BitLen() < MinRSAKeyBits {
			return nil, fmt.Errorf("token: RSA keys must have at least %d bits", MinRSAKeyBits)
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("token: invalid RSA key: %w", err)
		}
		alg, public = RS256, &k.PublicKey
	case []byte:
		if len(k) < MinHMACKeySize {
			return nil, fmt.Errorf("token: HS256 secrets must be at least %d bytes, got %d", MinHMACKeySize, len(k))
		}
		secret := append([]byte(nil), k...)
		alg, public, private = HS256, secret, secret
	default:
		return nil, fmt.Errorf("token: unsupported private key type %T", private)
	}
	id, err := keyID(public)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: private},
		(&jose.SignerOptions{}).WithType(accessTokenType).WithHeader("kid", id),
	)
	if err != nil {
		return nil, fmt.Errorf("token: %s signer: %w", alg, err)
	}
	return &Key{id: id, alg: alg, public: public, signer: signer}, nil
}

// ID returns the key ID, the "kid" header of tokens the key signs.
func (k *Key) ID() string { return k.id }

// Algorithm returns the one algorithm the key signs and verifies with.
func (k *Key) Algorithm() Algorithm { return k.alg }

// isPublic reports whether the verification half of k may be published.
func (k *Key) isPublic() bool { return k.alg != HS256 }

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
