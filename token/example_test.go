package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/httpstate/httpstate/token"
)

// An issuer signs short-lived access tokens; a verifier, in the same
// process or another, checks them.
func Example() {
	key, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	keys := token.NewKeySet(key)
	ctx := context.Background()

	issuer, err := token.NewIssuer(keys, token.IssuerOptions{Issuer: "https://auth.example.com", Audience: []string{"https://api.example.com"}})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := issuer.Issue(ctx, "user-42", map[string]any{"scope": "orders:read"})
	if err != nil {
		log.Fatal(err)
	}

	verifier, err := token.NewVerifier(keys, token.VerifierOptions{
		Algorithms: []token.Algorithm{token.EdDSA},
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	claims, err := verifier.Verify(ctx, tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, claims.Scopes())

	// A token meant for another API is refused.
	other, _ := token.NewIssuer(keys, token.IssuerOptions{Issuer: "https://auth.example.com", Audience: []string{"https://billing.example.com"}})
	tok, _ = other.Issue(ctx, "user-42", nil)
	_, err = verifier.Verify(ctx, tok)
	fmt.Println(errors.Is(err, token.ErrInvalid))
	// Output:
	// user-42 [orders:read]
	// true
}

// Rotating keys without rejecting a single valid token: publish the new key,
// switch to it, and retire the old one once its tokens have expired.
func ExampleKeySet_rotation() {
	oldKey, _ := token.GenerateKey(token.EdDSA)
	keys := token.NewKeySet(oldKey)
	issuer, _ := token.NewIssuer(keys, token.IssuerOptions{Issuer: "https://auth.example.com", Audience: []string{"api"}})
	verifier, _ := token.NewVerifier(keys, token.VerifierOptions{Algorithms: []token.Algorithm{token.EdDSA}, Issuer: "https://auth.example.com", Audience: "api"})
	ctx := context.Background()

	before, _ := issuer.Issue(ctx, "user-42", nil)

	newKey, _ := token.GenerateKey(token.EdDSA)
	keys.Add(newKey) // 1. published in the JWKS; wait token.JWKSMaxAge
	keys.SetCurrent(newKey.ID())
	after, _ := issuer.Issue(ctx, "user-42", nil) // 2. signed with the new key

	_, err := verifier.Verify(ctx, before)
	fmt.Println("old token during rotation:", err == nil)

	keys.Retire(oldKey.ID()) // 3. after the old key's last token expired
	_, err = verifier.Verify(ctx, before)
	fmt.Println("old token after retirement:", err == nil)
	_, err = verifier.Verify(ctx, after)
	fmt.Println("new token:", err == nil)
	// Output:
	// old token during rotation: true
	// old token after retirement: false
	// new token: true
}

// Bearer protects API handlers; ClaimsFrom gives them the verified claims.
func ExampleBearer() {
	key, _ := token.GenerateKey(token.EdDSA)
	keys := token.NewKeySet(key)
	ctx := context.Background()
	issuer, _ := token.NewIssuer(keys, token.IssuerOptions{Issuer: "https://auth.example.com", Audience: []string{"api"}})
	verifier, _ := token.NewVerifier(keys, token.VerifierOptions{Algorithms: []token.Algorithm{token.EdDSA}, Issuer: "https://auth.example.com", Audience: "api"})
	bearer := &token.Bearer{Verifier: verifier, Realm: "api"}
	orders := bearer.Require("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders of %s", token.ClaimsFrom(r.Context()).Subject)
	}))

	tok, _ := issuer.Issue(ctx, "user-42", map[string]any{"scope": "orders:read"})
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	orders.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body)

	w = httptest.NewRecorder()
	orders.ServeHTTP(w, httptest.NewRequest("GET", "/orders", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output:
	// 200 orders of user-42
	// 401 Bearer realm="api"
}

// Another service verifies tokens with the keys the issuer publishes,
// without sharing any secret.
func ExampleRemoteKeySet() {
	key, _ := token.GenerateKey(token.ES256)
	keys := token.NewKeySet(key)
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", keys.JWKSHandler())
	auth := httptest.NewServer(mux) // the issuer
	defer auth.Close()

	ctx := context.Background()
	issuer, _ := token.NewIssuer(keys, token.IssuerOptions{Issuer: auth.URL, Audience: []string{"api"}})
	tok, _ := issuer.Issue(ctx, "user-42", nil)

	// In production the JWKS URL is https; plain http is allowed only on
	// a loopback host, as here.
	remote, err := token.NewRemoteKeySet(auth.URL+"/.well-known/jwks.json", token.RemoteKeySetOptions{})
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := token.NewVerifier(remote, token.VerifierOptions{
		Algorithms: []token.Algorithm{token.ES256},
		Issuer:     auth.URL,
		Audience:   "api",
	})
	if err != nil {
		log.Fatal(err)
	}
	claims, err := verifier.Verify(ctx, tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject)
	// Output: user-42
}

// Servers that share a signing key load it from configuration; the key ID
// is derived from the key, so every server names it the same way.
func ExampleNewKey() {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pemText := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}) // e.g. from a secret store

	block, _ := pem.Decode(pemText)
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		log.Fatal(err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		log.Fatalf("%T is not a signing key", parsed)
	}
	a, err := token.NewKey(signer)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := token.NewKey(priv)
	fmt.Println(a.Algorithm(), a.ID() == b.ID())
	// Output: EdDSA true
}

// kmsKey stands for a key held in a KMS or an HSM: the private half never
// leaves it, and each Sign is a call to it.
type kmsKey struct{ inside crypto.Signer }

func (k kmsKey) Public() crypto.PublicKey { return k.inside.Public() }

func (k kmsKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.inside.Sign(rand, digest, opts)
}

// A signing key can stay in a KMS or an HSM: NewKey takes any
// crypto.Signer, and every token is signed through it. Issue stops
// waiting for the signer when its context is done.
func ExampleNewKey_signer() {
	inside, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, err := token.NewKey(kmsKey{inside})
	if err != nil {
		log.Fatal(err)
	}
	keys := token.NewKeySet(key)
	issuer, _ := token.NewIssuer(keys, token.IssuerOptions{Issuer: "https://auth.example.com", Audience: []string{"api"}})
	verifier, _ := token.NewVerifier(keys, token.VerifierOptions{Algorithms: []token.Algorithm{token.ES256}, Issuer: "https://auth.example.com", Audience: "api"})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := issuer.Issue(ctx, "user-42", nil)
	if err != nil {
		log.Fatal(err)
	}
	claims, err := verifier.Verify(ctx, tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.Algorithm(), claims.Subject)
	// Output: ES256 user-42
}
