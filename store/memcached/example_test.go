package memcached_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memcached"
)

// App servers sharing sessions in Memcached, which may evict them: a
// visitor whose session was evicted starts a fresh one.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := memcached.Open(ctx, []string{"cache1.internal:11211", "cache2.internal:11211"},
		memcached.WithKeyPrefix("shop:"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	sessions, err := session.New(store, session.Options{})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		visits, err := session.Update(session.FromContext(r.Context()), "visits", func(n int) int { return n + 1 })
		if err != nil {
			http.Error(w, "session unavailable", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "visit %d\n", visits)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).Logout(); err != nil {
			http.Error(w, "logout failed", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	// It needs a server, so go test compiles this example without running it.
	log.Fatal(http.ListenAndServeTLS(":8443", "cert.pem", "key.pem", sessions.Middleware(mux)))
}
