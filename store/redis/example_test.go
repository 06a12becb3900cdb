package redis_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/redis"
)

// App servers sharing sessions in Redis, each Load served from the
// process's memory while the session does not change.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// For a cluster, list some of its nodes; for Sentinel, list the
	// sentinels and set Sentinel: rueidis.SentinelOption{MasterSet: name}.
	// The client cache serves repeated Loads of a session from this
	// process's memory until Redis reports a change.
	store, err := redis.Open(ctx, rueidis.ClientOption{InitAddress: []string{"redis.internal:6379"}},
		redis.WithClientCache(10*time.Second))
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
