package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/httpstate/httpstate/store/memory"
	"github.com/httpstate/httpstate/token"
	"github.com/httpstate/httpstate/token/refresh"
)

// The refresh flow: a sign-in returns an access token and a refresh token;
// each refresh returns a new pair and retires the refresh token it was
// given. A retry right after a lost response gets a fresh pair; an older
// refresh token presented again is treated as theft.
func ExampleRefresher() {
	key, _ := token.GenerateKey(token.EdDSA)
	issuer, err := token.NewIssuer(token.NewKeySet(key), token.IssuerOptions{Issuer: "https://auth.example.com", Audience: []string{"api"}})
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New() // a store of its own, not the browser sessions' store
	defer store.Close()
	refresher, err := refresh.New(store, issuer, refresh.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	first, err := refresher.Issue(ctx, "user-42", map[string]any{"scope": "orders:read"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first.TokenType, first.ExpiresIn)

	lost, err := refresher.Refresh(ctx, first.RefreshToken)
	if err != nil {
		log.Fatal(err)
	}
	// The response carrying lost never reached the client, which retries
	// within the grace window: it gets a fresh pair, and lost stops
	// working.
	second, err := refresher.Refresh(ctx, first.RefreshToken)
	fmt.Println("retry:", err == nil, second.RefreshToken != lost.RefreshToken)

	third, _ := refresher.Refresh(ctx, second.RefreshToken)

	// Someone presents the first refresh token again, now two rotations
	// old: a copy is in the wrong hands, so the whole family is revoked.
	_, err = refresher.Refresh(ctx, first.RefreshToken)
	fmt.Println("reuse detected:", errors.Is(err, refresh.ErrReused))
	_, err = refresher.Refresh(ctx, third.RefreshToken)
	fmt.Println("family revoked:", errors.Is(err, refresh.ErrInvalid))
	// Output:
	// Bearer 600
	// retry: true true
	// reuse detected: true
	// family revoked: true
}

// Listing and revoking families needs the store and nothing else: no
// Issuer, no signing key.
func ExampleFamilies() {
	store := memory.New()
	defer store.Close()
	ctx := context.Background()

	// Elsewhere, the API server signed the user in twice.
	key, _ := token.GenerateKey(token.EdDSA)
	issuer, _ := token.NewIssuer(token.NewKeySet(key), token.IssuerOptions{Issuer: "https://auth.example.com", Audience: []string{"api"}})
	refresher, _ := refresh.New(store, issuer, refresh.Options{})
	refresher.Issue(ctx, "user-42", nil)
	phone, _ := refresher.Issue(ctx, "user-42", nil)

	families, err := refresh.NewFamilies(store)
	if err != nil {
		log.Fatal(err)
	}
	list, _ := families.List(ctx, "user-42")
	fmt.Println("families:", len(list))

	// Sign-out from the phone ends its family only.
	families.RevokeToken(ctx, phone.RefreshToken)
	list, _ = families.List(ctx, "user-42")
	fmt.Println("after sign-out:", len(list))

	n, _ := families.RevokeAll(ctx, "user-42") // the password changed
	fmt.Println("revoked:", n)
	// Output:
	// families: 2
	// after sign-out: 1
	// revoked: 1
}
