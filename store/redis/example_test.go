package redis_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/redis"
)

func Example() {
	ctx := context.Background()
	// For a cluster, list some of its nodes; for Sentinel, list the
	// sentinels and add Sentinel: rueidis.SentinelOption{MasterSet: "name"}.
	store, err := redis.Open(ctx, rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}},
		redis.WithKeyPrefix("shop:"), redis.WithClientCache(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// A record's ID is the SHA-256 of the session token, never the token.
	id := func() string {
		sum := sha256.Sum256([]byte(rand.Text()))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	alice := "alice-" + rand.Text() // unique, so runs never meet

	// Version 0 creates a record; it fails if one is already there.
	laptop := session.Record{ID: id(), UserID: alice, Expiry: time.Now().Add(time.Hour), Data: []byte("laptop")}
	phone := session.Record{ID: id(), UserID: alice, Expiry: time.Now().Add(time.Hour), Data: []byte("phone")}
	for _, rec := range []session.Record{laptop, phone} {
		if err := store.Save(ctx, rec); err != nil {
			log.Fatal(err)
		}
	}

	// Two requests load the same version; the second save loses and
	// changes nothing.
	first, err := store.Load(ctx, phone.ID)
	if err != nil {
		log.Fatal(err)
	}
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
