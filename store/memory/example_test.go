package memory_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// A server whose sessions live in its own memory: they are gone when it
// restarts. The handler counts a visitor's visits in the session.
func Example() {
	store := memory.New()
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
