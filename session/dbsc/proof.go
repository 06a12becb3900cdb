package dbsc

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
)

// ProofType is the "typ" header every DBSC proof carries.
const ProofType = "dbsc+jwt"

// maxProofSize bounds a proof: an RS256 registration proof with a 4096-bit
// key is under 2 KiB.
const maxProofSize = 8 << 10

// Proof is a parsed DBSC proof (section 8.7): a compact JWS whose header
// names the algorithm, has typ "dbsc+jwt" and, at registration, carries
// the new public key as "jwk"; whose payload holds the signed challenge
// as "jti" and, at registration, the server's "authorization" value.
// ParseProof checks only its form; Registration and Refresh verify it.
type Proof struct {
	Algorithm Algorithm
	// Key is the public key from the "jwk" header, nil when absent.
	Key *PublicKey
	// Challenge is the "jti" claim: the challenge the browser signed.
	Challenge string
	// Authorization is the "authorization" claim; HasAuthorization says
	// whether the claim was present at all.
	Authorization    string
	HasAuthorization bool

	signingInput []byte
	signature    []byte
}

// ParseProof parses a proof without verifying its signature. It refuses
// with ErrMalformed anything that is not three unpadded base64url parts,
// whose header or payload is not a JSON object, whose typ is not
// "dbsc+jwt", that has a "crit" header, or whose jti is missing or not a
// string; with ErrAlgorithm an algorithm other than ES256 and RS256
// ("none" included); and with ErrKey an unacceptable embedded key.
func ParseProof(token string) (*Proof, error) {
	if len(token) > maxProofSize {
		return nil, fmt.Errorf("%w: proof of %d bytes", ErrMalformed, len(token))
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, fmt.Errorf("%w: proof is not a compact JWS", ErrMalformed)
	}
	hb, err1 := b64Canonical(h64)
	pb, err2 := b64Canonical(p64)
	sig, err3 := b64Canonical(s64)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, fmt.Errorf("%w: proof parts are not unpadded base64url", ErrMalformed)
	}
	hdr, err := objectMembers(hb)
	if err != nil {
		return nil, fmt.Errorf("%w: proof header: %v", ErrMalformed, err)
	}
	typ, err := stringMember(hdr, "typ")
	if err != nil || typ != ProofType {
		return nil, fmt.Errorf("%w: proof typ must be %q", ErrMalformed, ProofType)
	}
	if _, ok := hdr["crit"]; ok {
		return nil, fmt.Errorf("%w: proof has critical header parameters", ErrMalformed)
	}
	algName, err := stringMember(hdr, "alg")
	if err != nil {
		return nil, fmt.Errorf("%w: proof alg: %v", ErrMalformed, err)
	}
	alg := Algorithm(algName)
	if !alg.valid() {
		return nil, fmt.Errorf("%w: proof alg %q", ErrAlgorithm, algName)
	}
	p := &Proof{Algorithm: alg, signingInput: []byte(token[:len(h64)+1+len(p64)]), signature: sig}
	if raw, ok := hdr["jwk"]; ok {
		members, err := objectMembers(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: proof jwk: %v", ErrMalformed, err)
		}
		var j jwk
		for name, dst := range map[string]*string{"kty": &j.Kty, "crv": &j.Crv, "x": &j.X, "y": &j.Y, "n": &j.N, "e": &j.E, "alg": &j.Alg, "d": &j.D} {
			if _, ok := members[name]; !ok {
				continue
			}
			if *dst, err = stringMember(members, name); err != nil {
				return nil, fmt.Errorf("%w: proof jwk: %v", ErrMalformed, err)
			}
		}
		if p.Key, err = j.publicKey(alg); err != nil {
			return nil, fmt.Errorf("proof jwk: %w", err)
		}
	}
	claims, err := objectMembers(pb)
	if err != nil {
		return nil, fmt.Errorf("%w: proof payload: %v", ErrMalformed, err)
	}
	if p.Challenge, err = stringMember(claims, "jti"); err != nil {
		return nil, fmt.Errorf("%w: proof jti: %v", ErrMalformed, err)
	}
	if _, ok := claims["authorization"]; ok {
		if p.Authorization, err = stringMember(claims, "authorization"); err != nil {
			return nil, fmt.Errorf("%w: proof authorization: %v", ErrMalformed, err)
		}
		p.HasAuthorization = true
	}
	return p, nil
}

// objectMembers decodes a JSON object into its members, by exact name.
// It refuses anything but one object, and a name that appears twice,
// which two JSON parsers could resolve differently. (encoding/json alone
// would also match names case-insensitively.)
func objectMembers(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not an object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out[name] = v
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the object")
	}
	return out, nil
}

// stringMember returns the member name of m, which must be a JSON string.
func stringMember(m map[string]json.RawMessage, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", fmt.Errorf("no %q", name)
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%q is not a string", name)
	}
	return s, nil
}

// verify checks the signature with key, whose algorithm must be the
// proof's.
func (p *Proof) verify(key *PublicKey) error {
	if key == nil {
		return fmt.Errorf("%w: no key to verify with", ErrKey)
	}
	if p.Algorithm != key.alg {
		return fmt.Errorf("%w: proof signed with %s, session key is %s", ErrAlgorithm, p.Algorithm, key.alg)
	}
	digest := sha256.Sum256(p.signingInput)
	switch key.alg {
	case ES256:
		// JWS ES256 signatures are r || s, 32 bytes each (RFC 7518
		// section 3.4), never DER.
		if len(p.signature) != 64 {
			return fmt.Errorf("%w: ES256 signature of %d bytes", ErrSignature, len(p.signature))
		}
		r := new(big.Int).SetBytes(p.signature[:32])
		s := new(big.Int).SetBytes(p.signature[32:])
		if !ecdsa.Verify(key.ec, digest[:], r, s) {
			return ErrSignature
		}
	case RS256:
		if err := rsa.VerifyPKCS1v15(key.rsa, crypto.SHA256, digest[:], p.signature); err != nil {
			return ErrSignature
		}
	}
	return nil
}

// SignProof builds and signs a proof the way a browser does: the header
// {"alg","jwk"(registration only),"typ":"dbsc+jwt"}, the payload {"jti",
// "authorization"(when not empty)}. signer must hold the private half of
// key. It exists for the test client and for tests; servers never sign.
func SignProof(signer crypto.Signer, key *PublicKey, registration bool, challenge, authorization string) (string, error) {
	hdr := map[string]any{"alg": string(key.alg), "typ": ProofType}
	if registration {
		hdr["jwk"] = json.RawMessage(jwkWithoutAlg(key))
	}
	claims := map[string]any{"jti": challenge}
	if authorization != "" {
		claims["authorization"] = authorization
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		return "", err
	}
	pb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(pb)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch key.alg {
	case ES256:
		priv, ok := signer.(*ecdsa.PrivateKey)
		if !ok {
			return "", fmt.Errorf("%w: ES256 needs an *ecdsa.PrivateKey", ErrKey)
		}
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case RS256:
		if sig, err = signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			return "", err
		}
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// jwkWithoutAlg is the JWK a browser embeds: Chrome sends no "alg" member.
func jwkWithoutAlg(k *PublicKey) []byte {
	var m map[string]any
	_ = json.Unmarshal(k.jwk, &m)
	delete(m, "alg")
	b, _ := json.Marshal(m)
	return b
}

// allowed reports whether alg is in algs (empty means ES256 and RS256).
func allowed(algs []Algorithm, alg Algorithm) bool {
	if len(algs) == 0 {
		return alg.valid()
	}
	return slices.Contains(algs, alg)
}
