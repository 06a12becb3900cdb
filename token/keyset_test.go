package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestNewKeyRejectsWeakOrUnsupportedKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	for name, priv := range map[string]crypto.Signer{
		"RSA key of 1024 bits":                  small,
		"ECDSA key on P-384":                    p384,
		"nil":                                   nil,
		"nil RSA key":                           (*rsa.PrivateKey)(nil),
		"nil ECDSA key":                         (*ecdsa.PrivateKey)(nil),
		"Ed25519 key of the wrong length":       edPriv[:40],
		"Signer with a 1024-bit RSA public key": wrapSigner(small),
		"Signer with a P-384 public key":        wrapSigner(p384),
		"Signer with an unsupported public key": publicOnly{"not a key"},
		"Signer with a nil RSA public key":      publicOnly{(*rsa.PublicKey)(nil)},
	} {
		if k, err := NewKey(priv); err == nil {
			t.Errorf("NewKey(%s) = %s key; want an error", name, k.Algorithm())
		}
	}
	for name, secret := range map[string][]byte{
		"HMAC secret of 31 bytes": make([]byte, 31),
		"empty HMAC secret":       {},
		"nil HMAC secret":         nil,
	} {
		if k, err := NewHMACKey(secret); err == nil {
			t.Errorf("NewHMACKey(%s) = %s key; want an error", name, k.Algorithm())
		}
	}
	if _, err := GenerateKey("none"); err == nil {
		t.Error(`GenerateKey("none") succeeded`)
	}
}

func TestGenerateKeyMakesEveryAlgorithm(t *testing.T) {
	algs := []Algorithm{EdDSA, ES256, HS256}
	if !testing.Short() {
		algs = append(algs, RS256) // slow: it searches for primes
	}
	for _, alg := range algs {
		k, err := GenerateKey(alg)
		if err != nil || k.Algorithm() != alg || k.ID() == "" {
			t.Errorf("GenerateKey(%s) = %v, %v", alg, k, err)
		}
	}
	if k, err := GenerateKey(""); err != nil || k.Algorithm() != EdDSA {
		t.Errorf(`GenerateKey("") = %v, %v; want an EdDSA key`, k, err)
	}
}

// The key ID is the RFC 7638 thumbprint; section 3.1 of the RFC gives this
// RSA key and its thumbprint as the worked example.
func TestKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON([]byte(`{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`)); err != nil {
		t.Fatal(err)
	}
	id, err := keyID(jwk.Key)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; id != want {
		t.Errorf("keyID = %s, want %s", id, want)
	}
}

func TestHMACKeyIsCopiedAndItsIDHidesIt(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	k, err := NewHMACKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	ks := NewKeySet(k)
	tok, err := newIssuer(ks).Issue(t.Context(), "u", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range secret {
		secret[i] = 'x'
	}
	if _, err := newVerifier(ks, HS256).Verify(t.Context(), tok); err != nil {
		t.Errorf("changing the caller's slice broke the key: %v", err)
	}
	if !strings.HasPrefix(k.ID(), "hs-") || strings.Contains(k.ID(), b64([]byte(strings.Repeat("s", 32)))[:8]) {
		t.Errorf("HMAC key ID %q", k.ID())
	}
}

func TestKeyRotation(t *testing.T) {
	old, next := edKey(t), edKey(t)
	ks := NewKeySet(old.Key)
	is := newIssuer(ks)
	v := newVerifier(ks, EdDSA)
	kid := func(tok string) string {
		h, _, err := parseHeader(tok)
		if err != nil {
			t.Fatal(err)
		}
		return h.kid
	}

	before, err := is.Issue(t.Context(), "u", nil)
	if err != nil {
		t.Fatal(err)
	}

	// Step 1: publish the new key; the old one still signs.
	if err := ks.Add(next.Key); err != nil {
		t.Fatal(err)
	}
	if err := ks.Add(next.Key); err != nil {
		t.Fatalf("adding a key twice: %v", err)
	}
	if tok, _ := is.Issue(t.Context(), "u", nil); kid(tok) != old.ID() {
		t.Errorf("after Add, tokens are signed by %s; want the old key", kid(tok))
	}
	if got := ks.IDs(); !slices.Equal(got, []string{old.ID(), next.ID()}) {
		t.Errorf("IDs = %v", got)
	}

	// Step 2: sign with the new key; old tokens still verify.
	if err := ks.SetCurrent(next.ID()); err != nil {
		t.Fatal(err)
	}
	after, err := is.Issue(t.Context(), "u", nil)
	if err != nil {
		t.Fatal(err)
	}
	if kid(after) != next.ID() || ks.Current() != next.Key {
		t.Errorf("after SetCurrent, tokens are signed by %s", kid(after))
	}
	for _, tok := range []string{before, after} {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Errorf("during rotation: %v", err)
		}
	}

	// Step 3: retire the old key; its tokens are rejected.
	if err := ks.Retire(next.ID()); err == nil {
		t.Error("retiring the current key succeeded")
	}
	if err := ks.Retire(old.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), before); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of a retired key: %v; want ErrInvalid", err)
	}
	if _, err := v.Verify(t.Context(), after); err != nil {
		t.Errorf("token of the current key: %v", err)
	}
	if err := ks.Retire(old.ID()); err != nil {
		t.Errorf("retiring twice: %v", err)
	}
	if err := ks.SetCurrent(old.ID()); err == nil {
		t.Error("SetCurrent of a retired key succeeded")
	}
	if err := ks.Add(nil); err == nil {
		t.Error("Add(nil) succeeded")
	}
}

// Rotation happens while requests verify; run under -race.
func TestKeySetConcurrentRotationAndVerification(t *testing.T) {
	keys := []testKey{edKey(t), edKey(t), edKey(t)}
	ks := NewKeySet(keys[0].Key)
	ks.Add(keys[1].Key)
	is, v := newIssuer(ks), newVerifier(ks, EdDSA)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := is.Issue(t.Context(), "u", nil)
				if err != nil {
					t.Error(err)
					return
				}
				// Only keys 0 and 1 are ever current, and they are never
				// retired, so every token must verify.
				if _, err := v.Verify(t.Context(), tok); err != nil {
					t.Error(err)
					return
				}
				ks.JWKS()
			}
		})
	}
	for i := range 200 {
		ks.Add(keys[2].Key)
		ks.SetCurrent(keys[i%2].ID())
		ks.Retire(keys[2].ID())
	}
	close(stop)
	wg.Wait()
}

func TestJWKSPublishesOnlyPublicKeys(t *testing.T) {
	ed, ec, rs, hs := edKey(t), ecKey(t), rsaKey(t, 0), hsKey(t)
	ks := NewKeySet(ec.Key)
	for _, k := range []testKey{ed, rs, hs} {
		ks.Add(k.Key)
	}
	body, err := ks.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), `"d"`) || strings.Contains(string(body), `"k"`) || strings.Contains(string(body), hs.ID()) {
		t.Fatalf("JWKS leaks a private or secret key: %s", body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" {
			t.Errorf("key %s: public %v, use %q", k.KeyID, k.IsPublic(), k.Use)
		}
		ids = append(ids, k.KeyID+"/"+k.Algorithm)
	}
	want := []string{ec.ID() + "/ES256", ed.ID() + "/EdDSA", rs.ID() + "/RS256"}
	if !slices.Equal(ids, want) {
		t.Errorf("JWKS keys = %v, want %v (current first)", ids, want)
	}
	// What a RemoteKeySet reads back is what the KeySet verifies with.
	parsed, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []testKey{ed, ec, rs} {
		if got := parsed[k.ID()]; got.alg != k.alg {
			t.Errorf("parsed %s as %q", k.alg, got.alg)
		}
	}
	if len(parsed) != 3 {
		t.Errorf("parsed %d keys", len(parsed))
	}
}

func TestJWKSHandler(t *testing.T) {
	ed, hs := edKey(t), hsKey(t)
	ks := NewKeySet(ed.Key)
	ks.Add(hs.Key)
	h := ks.JWKSHandler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/jwk-set+json" ||
		rec.Header().Get("Cache-Control") != "public, max-age=300" || !strings.Contains(rec.Body.String(), ed.ID()) {
		t.Fatalf("GET: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	etag := rec.Header().Get("ETag")

	req := httptest.NewRequest("GET", "/.well-known/jwks.json", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", rec.Code)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes", rec.Code, rec.Body.Len())
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}

	// After a rotation the document, and so its ETag, changes.
	next := edKey(t)
	ks.Add(next.Key)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("ETag") == etag || !strings.Contains(rec.Body.String(), next.ID()) {
		t.Errorf("after Add: %d ETag %s", rec.Code, rec.Header().Get("ETag"))
	}
	ks.SetCurrent(next.ID())
	ks.Retire(ed.ID())
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if strings.Contains(rec.Body.String(), ed.ID()) {
		t.Errorf("retired key still published: %s", rec.Body)
	}

	// An HS256-only set has nothing to publish.
	rec = httptest.NewRecorder()
	NewKeySet(hs.Key).JWKSHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "keys") {
		t.Errorf("HS256-only set: %d %s", rec.Code, rec.Body)
	}
}
