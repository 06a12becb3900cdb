package storeurl_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
)

// Parse names the kind of store without contacting it, and gives a form
// of the URL that is safe to print.
func ExampleParse() {
	for _, u := range []string{
		"sqlite:httpstate.db",
		"postgres://app:s3cret@db.internal:5432/shop?sslmode=verify-full",
		"redis://cache.internal:26379?master_set=sessions",
		"ftp://example.com",
	} {
		loc, err := storeurl.Parse(u)
		if errors.Is(err, storeurl.ErrInvalid) {
			fmt.Println("invalid:", err)
			continue
		}
		fmt.Println(loc.Kind, loc.Redacted)
	}
	// Output:
	// sqlite sqlite:httpstate.db
	// postgres postgres://app:xxxxx@db.internal:5432/shop?sslmode=verify-full
	// redis redis://cache.internal:26379?master_set=sessions
	// invalid: invalid store URL "ftp://example.com": unknown scheme "ftp"; want memory:, sqlite:PATH, postgres://, mysql://, redis://, rediss://, memcached:// or dynamodb://
}

// Open returns a ready store, checked with a first read, and the Closer
// that releases it.
func ExampleOpen() {
	store, closer, err := storeurl.Open(context.Background(), "memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer closer.Close()
	_, err = storeurl.Ping(context.Background(), store)
	fmt.Println("reachable:", err == nil)
	// Output:
	// reachable: true
}
