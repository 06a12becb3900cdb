package memcached_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memcached"
)

func Example() {
	client := memcache.New("127.0.0.1:11211")
	client.MaxIdleConns = 64
	store, err := memcached.New(client, memcached.WithKeyPrefix("shop:"), memcached.WithTimeout(200*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()

	// A record's ID is the SHA-256 of the session token, never the token.
	id := func() string {
		sum := sha256.Sum256([]byte(rand.Text()))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	alice := "alice-" + rand.Text() // unique, so runs never meet

	// Version 0 creates a record; it fails if one is already there.
	if err := store.Save(ctx, session.Record{ID: id(), UserID: alice, Expiry: time.Now().Add(time.Hour), Data: []byte("laptop")}); err != nil {
		log.Fatal(err)
	}
	phone := session.Record{ID: id(), UserID: alice, Expiry: time.Now().Add(time.Hour), Data: []byte("phone")}
	if err := store.Save(ctx, phone); err != nil {
		log.Fatal(err)
	}

	// Two requests load the same version; the second save loses.
	first, _ := store.Load(ctx, phone.ID)
	second := first
	first.Data = []byte("phone, cart: 1 item")
	fmt.Println("first save:", store.Save(ctx, first))
	second.Data = []byte("phone, cart: empty")
	fmt.Println("second save conflicts:", errors.Is(store.Save(ctx, second), session.ErrConflict))

	// After a password change, revoke every session of the user.
	recs, err := store.ListByUser(ctx, alice)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sessions:", len(recs))
	for _, r := range recs {
		if err := store.Delete(ctx, r.ID); err != nil {
			log.Fatal(err)
		}
	}
	_, err = store.Load(ctx, phone.ID)
	fmt.Println("phone logged out:", errors.Is(err, session.ErrNotFound))
	// It needs a server, so `go test` compiles this example without running it.
	// Against one, it prints:
	// first save: <nil>
	// second save conflicts: true
	// sessions: 2
	// phone logged out: true
}
