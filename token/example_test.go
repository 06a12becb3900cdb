package token_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/httpstate/httpstate/store/memory"
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

	issuer := &token.Issuer{Keys: keys, Issuer: "https://auth.example.com", Audience: []string{"https://api.example.com"}}
	tok, err := issuer.Issue("user-42", map[string]any{"scope": "orders:read"})
	if err != nil {
		log.Fatal(err)
	}

	verifier := &token.Verifier{
		Keys:       keys,
		Algorithms: []token.Algorithm{token.EdDSA},
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
	}
	claims, err := verifier.Verify(context.Background(), tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, claims.Scopes())

	// A token meant for another API is refused.
	other := &token.Issuer{Keys: keys, Issuer: "https://auth.example.com", Audience: []string{"https://billing.example.com"}}
	tok, _ = other.Issue("user-42", nil)
	_, err = verifier.Verify(context.Background(), tok)
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
	issuer := &token.Issuer{Keys: keys, Issuer: "https://auth.example.com", Audience: []string{"api"}}
	verifier := &token.Verifier{Keys: keys, Algorithms: []token.Algorithm{token.EdDSA}, Issuer: "https://auth.example.com", Audience: "api"}
	ctx := context.Background()

	before, _ := issuer.Issue("user-42", nil)

	newKey, _ := token.GenerateKey(token.EdDSA)
	keys.Add(newKey) // 1. published in the JWKS; wait token.JWKSMaxAge
	keys.SetCurrent(newKey.ID())
	after, _ := issuer.Issue("user-42", nil) // 2. signed with the new key

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

// The refresh flow: a sign-in returns an access token and a refresh token;
// each refresh returns a new pair and retires the refresh token it was
// given. Presenting a retired refresh token is treated as theft.
func ExampleRefresher() {
	key, _ := token.GenerateKey(token.EdDSA)
	store := memory.New() // a store of its own, not the browser sessions' store
	defer store.Close()
	refresher := &token.Refresher{
		Store:  store,
		Issuer: &token.Issuer{Keys: token.NewKeySet(key), Issuer: "https://auth.example.com", Audience: []string{"api"}},
	}
	ctx := context.Background()

	first, err := refresher.Issue(ctx, "user-42", map[string]any{"scope": "orders:read"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first.TokenType, first.ExpiresIn)

	second, err := refresher.Refresh(ctx, first.RefreshToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshed:", second.RefreshToken != first.RefreshToken)

	// Someone presents the first refresh token again: a copy is in the
	// wrong hands, so the whole family is revoked.
	_, err = refresher.Refresh(ctx, first.RefreshToken)
	fmt.Println("reuse detected:", errors.Is(err, token.ErrReused))
	_, err = refresher.Refresh(ctx, second.RefreshToken)
	fmt.Println("family revoked:", errors.Is(err, token.ErrInvalid))
	// Output:
	// Bearer 600
	// refreshed: true
	// reuse detected: true
	// family revoked: true
}

// Bearer protects API handlers; ClaimsFrom gives them the verified claims.
func ExampleBearer() {
	key, _ := token.GenerateKey(token.EdDSA)
	keys := token.NewKeySet(key)
	issuer := &token.Issuer{Keys: keys, Issuer: "https://auth.example.com", Audience: []string{"api"}}
	bearer := &token.Bearer{
		Verifier: &token.Verifier{Keys: keys, Algorithms: []token.Algorithm{token.EdDSA}, Issuer: "https://auth.example.com", Audience: "api"},
		Realm:    "api",
	}
	orders := bearer.Require("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders of %s", token.ClaimsFrom(r.Context()).Subject)
	}))

	tok, _ := issuer.Issue("user-42", map[string]any{"scope": "orders:read"})
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

	issuer := &token.Issuer{Keys: keys, Issuer: auth.URL, Audience: []string{"api"}}
	tok, _ := issuer.Issue("user-42", nil)

	verifier := &token.Verifier{
		Keys:       &token.RemoteKeySet{URL: auth.URL + "/.well-known/jwks.json"},
		Algorithms: []token.Algorithm{token.ES256},
		Issuer:     auth.URL,
		Audience:   "api",
	}
	claims, err := verifier.Verify(context.Background(), tok)
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
	a, err := token.NewKey(parsed)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := token.NewKey(priv)
	fmt.Println(a.Algorithm(), a.ID() == b.ID())
	// Output: EdDSA true
}
