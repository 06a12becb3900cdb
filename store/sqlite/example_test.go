package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/sqlite"
)

func Example() {
	dir, err := os.MkdirTemp("", "httpstate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "sessions.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// A session Manager does this for each request; here by hand.
	rec := session.Record{
		ID:     "Pk3Yb0x6GmR1F9tDqWcE8sLvZ2aNuJ7hKoTi4XyQ5wM", // SHA-256 of the cookie's token
		UserID: "alice",
		Expiry: time.Now().Add(24 * time.Hour),
		Data:   []byte("encoded session"),
	}
	if err := store.Save(ctx, rec); err != nil {
		log.Fatal(err)
	}
	got, err := store.Load(ctx, rec.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.UserID, got.Version, string(got.Data))
	// Output: alice 1 encoded session
}
