package postgres_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/postgres"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Open creates and owns a pool; postgres.New takes the app's own.
	store, err := postgres.Open(ctx, testenv.PostgresURL, postgres.WithTable("httpstate_example_sessions"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// A record's ID is the SHA-256 of the session token, never the token.
	newID := func() string {
		sum := sha256.Sum256([]byte(rand.Text()))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	alice := "alice-" + rand.Text() // unique, so runs never meet
	expiry := time.Now().Add(time.Hour)

	// Version 0 creates a record; it fails if a live one is already there.
	laptop := session.Record{ID: newID(), UserID: alice, Expiry: expiry, Data: []byte("laptop")}
	phone := session.Record{ID: newID(), UserID: alice, Expiry: expiry, Data: []byte("phone")}
	for _, rec := range []session.Record{laptop, phone} {
		if err := store.Save(ctx, rec); err != nil {
			log.Fatal(err)
		}
	}

	// Two requests load the same version; the second save loses.
	first, err := store.Load(ctx, phone.ID)
	if err != nil {
		log.Fatal(err)
	}
	second := first
	first.Data = []byte("phone, cart: 1 item")
	second.Data = []byte("phone, cart: empty")
	fmt.Println("first save:", store.Save(ctx, first))
	fmt.Println("second save conflicts:", errors.Is(store.Save(ctx, second), session.ErrConflict))

	// Signing out everywhere: list the user's sessions and delete each.
	devices, err := store.ListByUser(ctx, alice)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("devices:", len(devices))
	for _, d := range devices {
		if err := store.Delete(ctx, d.ID); err != nil {
			log.Fatal(err)
		}
	}
	_, err = store.Load(ctx, phone.ID)
	fmt.Println("phone after sign-out is gone:", errors.Is(err, session.ErrNotFound))

	// It needs a server, so `go test` compiles this example without running it.
	// Against one, it prints:
	// first save: <nil>
	// second save conflicts: true
	// devices: 2
	// phone after sign-out is gone: true
}
