package postgres_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/postgres"
)

// An app server among several on one PostgreSQL database: a session
// saved through one is seen by all, and a logout on one is final on all.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Open creates a pool and owns it; postgres.New takes the pgxpool.Pool
	// an app already has. The table is created if it is missing.
	store, err := postgres.Open(ctx, "postgres://app@db.internal/app?target_session_attrs=read-write")
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
