package token

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "https://api.test"
)

// testKey is a key together with its raw private half, so tests can sign
// tokens with headers and claims no Issuer would ever produce.
type testKey struct {
	*Key
	priv any
}

func newTestKey(t testing.TB, priv any) testKey {
	t.Helper()
	var k *Key
	var err error
	if secret, ok := priv.([]byte); ok {
		k, err = NewHMACKey(secret)
	} else {
		k, err = NewKey(priv.(crypto.Signer))
	}
	if err != nil {
		t.Fatal(err)
	}
	return testKey{k, priv}
}

// Generating RSA keys is slow, so the test binary makes two and shares
// them.
var rsaKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var out [2]*rsa.PrivateKey
	for i := range out {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out[i] = k
	}
	return out
})

func edKey(t testing.TB) testKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newTestKey(t, priv)
}

func ecKey(t testing.TB) testKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newTestKey(t, priv)
}

func rsaKey(t testing.TB, i int) testKey { return newTestKey(t, rsaKeys()[i]) }

func hsKey(t testing.TB) testKey {
	secret := make([]byte, 32)
	rand.Read(secret)
	return newTestKey(t, secret)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// header returns the header an Issuer would write for k.
func (k testKey) header() map[string]any {
	return map[string]any{"alg": string(k.alg), "kid": k.id, "typ": "at+jwt"}
}

// validClaims returns the claims an Issuer would write now.
func validClaims() map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience,
		"exp": now + 300, "nbf": now, "iat": now, "jti": "jti-1",
	}
}

// with returns a copy of m with the given changes; a nil value deletes the
// entry.
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// signRaw builds a compact JWS from raw header and payload bytes, signed
// with priv under alg (which need not match the header).
func signRaw(t testing.TB, alg Algorithm, priv any, header, payload []byte) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	return input + "." + b64(rawSignature(t, alg, priv, []byte(input)))
}

func rawSignature(t testing.TB, alg Algorithm, priv any, input []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(input)
	switch alg {
	case EdDSA:
		return ed25519.Sign(priv.(ed25519.PrivateKey), input)
	case ES256:
		r, s, err := ecdsa.Sign(rand.Reader, priv.(*ecdsa.PrivateKey), sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	case RS256:
		sig, err := rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case HS256:
		m := hmac.New(sha256.New, priv.([]byte))
		m.Write(input)
		return m.Sum(nil)
	}
	t.Fatalf("rawSignature: algorithm %q", alg)
	return nil
}

// sign signs claims with k under header hdr.
func (k testKey) sign(t testing.TB, hdr, claims map[string]any) string {
	t.Helper()
	return signRaw(t, k.alg, k.priv, mustJSON(t, hdr), mustJSON(t, claims))
}

// newVerifier returns a Verifier for the test issuer and audience that
// accepts algs.
func newVerifier(keys KeySource, algs ...Algorithm) *Verifier {
	return mustVerifier(keys, VerifierOptions{Algorithms: algs})
}

// mustVerifier returns a Verifier with opts, whose Issuer and Audience
// default to the test's.
func mustVerifier(keys KeySource, opts VerifierOptions) *Verifier {
	opts.Issuer = cmp.Or(opts.Issuer, testIssuer)
	opts.Audience = cmp.Or(opts.Audience, testAudience)
	v, err := NewVerifier(keys, opts)
	if err != nil {
		panic(err)
	}
	return v
}

func newIssuer(keys *KeySet) *Issuer {
	is, err := NewIssuer(keys, IssuerOptions{Issuer: testIssuer, Audience: []string{testAudience}})
	if err != nil {
		panic(err)
	}
	return is
}
