package routers_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// chi: Use takes the session middleware as it is, and handlers reach the
// session through the request's context.
func Example_chi() {
	store := memory.New()
	defer store.Close()
	sessions, err := session.New(store, session.Options{})
	if err != nil {
		log.Fatal(err)
	}

	r := chi.NewRouter()
	r.Use(sessions.Middleware)
	r.Post("/cart/{item}", func(w http.ResponseWriter, r *http.Request) {
		cart, err := session.Update(session.FromContext(r.Context()), "cart",
			func(cart []string) []string { return append(cart, chi.URLParam(r, "item")) })
		if err != nil {
			http.Error(w, "could not update the cart", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "cart:", cart)
	})

	// The session cookie is Secure: a browser keeps it over HTTPS.
	srv := httptest.NewTLSServer(r)
	defer srv.Close()
	browser := srv.Client()
	browser.Jar, _ = cookiejar.New(nil)
	for _, item := range []string{"apple", "pear"} {
		resp, err := browser.Post(srv.URL+"/cart/"+item, "", nil)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(os.Stdout, resp.Body)
		resp.Body.Close()
	}
	// Output:
	// cart: [apple]
	// cart: [apple pear]
}

// gorilla/mux: the same middleware, through Router.Use. Login renews the
// session token; the browser's cookie jar follows it.
func Example_gorillaMux() {
	store := memory.New()
	defer store.Close()
	sessions, err := session.New(store, session.Options{})
	if err != nil {
		log.Fatal(err)
	}

	r := mux.NewRouter()
	r.Use(sessions.Middleware)
	r.HandleFunc("/login/{user}", func(w http.ResponseWriter, r *http.Request) {
		// ... check the password, then:
		if err := session.FromContext(r.Context()).Login(mux.Vars(r)["user"], false); err != nil {
			http.Error(w, "could not log in", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "logged in")
	}).Methods("POST")
	r.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %q\n", session.FromContext(r.Context()).UserID())
	}).Methods("GET")

	srv := httptest.NewTLSServer(r)
	defer srv.Close()
	browser := srv.Client()
	browser.Jar, _ = cookiejar.New(nil)
	show := func(resp *http.Response, err error) {
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(os.Stdout, resp.Body)
		resp.Body.Close()
	}
	show(browser.Get(srv.URL + "/me"))
	show(browser.Post(srv.URL+"/login/alice", "", nil))
	show(browser.Get(srv.URL + "/me"))
	// Output:
	// user ""
	// logged in
	// user "alice"
}
