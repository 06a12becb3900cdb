package sqlite_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/sqlite"
)

// A server whose sessions survive its restarts, in a file next to it. The
// handler counts a visitor's visits in the session.
func Example() {
	dir, err := os.MkdirTemp("", "httpstate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "sessions.db"))
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
	// In production: http.ListenAndServeTLS(addr, cert, key, sessions.Middleware(mux)).
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()

	// A browser, which keeps the session cookie between requests.
	browser := srv.Client()
	browser.Jar, _ = cookiejar.New(nil)
	for range 3 {
		resp, err := browser.Get(srv.URL)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(os.Stdout, resp.Body)
		resp.Body.Close()
	}
	// Output:
	// visit 1
	// visit 2
	// visit 3
}
