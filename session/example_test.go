package session_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// visit sends one request with a browser-like client and returns the body.
func visit(c *http.Client, method, url string) string {
	resp, err := c.Do(must(http.NewRequest(method, url, nil)))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func browserFor(srv *httptest.Server) *http.Client {
	c := *srv.Client()
	c.Jar = must(cookiejar.New(nil))
	return &c
}

// The login and logout flow: Login renews the token (against session
// fixation) and records the user; Logout deletes the session on the
// server, so the old cookie is worthless even if someone kept a copy.
func Example_loginLogout() {
	store := memory.New()
	defer store.Close()
	sessions := must(session.New(store, session.Options{}))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// Check the password first; then:
		s := session.FromContext(r.Context())
		if err := s.Login("alice", r.FormValue("remember") == "on"); err != nil {
			http.Error(w, "login failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "welcome")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		s.Logout()
		s.AddFlash("info", "You have been logged out.")
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		for _, f := range s.Flashes() {
			fmt.Fprintln(w, f.Message)
		}
		if s.UserID() == "" {
			fmt.Fprintln(w, "hello, stranger")
			return
		}
		fmt.Fprintln(w, "hello,", s.UserID())
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()
	browser := browserFor(srv)

	fmt.Println(visit(browser, "POST", srv.URL+"/login"))
	fmt.Println(visit(browser, "GET", srv.URL+"/"))
	fmt.Println(visit(browser, "POST", srv.URL+"/logout"))
	// Output:
	// welcome
	// hello, alice
	// You have been logged out.
	// hello, stranger
}

// A shopping cart kept in the session. Update re-runs its function on the
// freshest cart if another tab saved first, so concurrent additions are
// never lost, and values decode into the caller's own types with no
// registration.
func Example_cart() {
	type Cart struct {
		Items map[string]int
	}
	store := memory.New()
	defer store.Close()
	sessions := must(session.New(store, session.Options{}))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /cart/{sku}", func(w http.ResponseWriter, r *http.Request) {
		sku := r.PathValue("sku")
		cart, err := session.Update(session.FromContext(r.Context()), "cart", func(c Cart) Cart {
			if c.Items == nil {
				c.Items = map[string]int{}
			}
			c.Items[sku]++
			return c
		})
		if err != nil {
			http.Error(w, "could not update cart", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d %s in cart", cart.Items[sku], sku)
	})
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		cart, err := session.Get[Cart](session.FromContext(r.Context()), "cart")
		if err != nil {
			fmt.Fprint(w, "cart is empty")
			return
		}
		fmt.Fprintf(w, "apples=%d pears=%d", cart.Items["apple"], cart.Items["pear"])
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()
	browser := browserFor(srv)

	fmt.Println(visit(browser, "GET", srv.URL+"/cart"))
	fmt.Println(visit(browser, "POST", srv.URL+"/cart/apple"))
	fmt.Println(visit(browser, "POST", srv.URL+"/cart/apple"))
	fmt.Println(visit(browser, "POST", srv.URL+"/cart/pear"))
	fmt.Println(visit(browser, "GET", srv.URL+"/cart"))
	// Output:
	// cart is empty
	// 1 apple in cart
	// 2 apple in cart
	// 1 pear in cart
	// apples=2 pears=1
}

// "Log out everywhere else", as after a password change: list the user's
// devices, then revoke every session but the current one.
func ExampleManager_RevokeAll() {
	store := memory.New()
	defer store.Close()
	sessions := must(session.New(store, session.Options{}))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Login("bob", false)
	})
	mux.HandleFunc("POST /password", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		// Change the password first; then end every other session and
		// give this one a fresh token too.
		n, err := sessions.RevokeAll(r.Context(), s.UserID(), s.Handle())
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		s.RenewID()
		fmt.Fprintf(w, "password changed; %d other sessions ended", n)
	})
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if s.UserID() == "" {
			fmt.Fprint(w, "logged out")
			return
		}
		devices, err := sessions.Devices(r.Context(), s.UserID())
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s has %d session(s)", s.UserID(), len(devices))
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()
	laptop, phone := browserFor(srv), browserFor(srv)

	visit(laptop, "POST", srv.URL+"/login")
	visit(phone, "POST", srv.URL+"/login")
	fmt.Println(visit(laptop, "GET", srv.URL+"/devices"))
	fmt.Println(visit(laptop, "POST", srv.URL+"/password"))
	fmt.Println(visit(laptop, "GET", srv.URL+"/devices"))
	fmt.Println(visit(phone, "GET", srv.URL+"/devices"))
	// Output:
	// bob has 2 session(s)
	// password changed; 1 other sessions ended
	// bob has 1 session(s)
	// logged out
}

// A user session and an administrator session on one request, each with
// its own cookie, timeouts and store: Manager.FromContext picks one.
func ExampleManager_FromContext() {
	userStore, adminStore := memory.New(), memory.New()
	defer userStore.Close()
	defer adminStore.Close()
	users := must(session.New(userStore, session.Options{}))
	admins := must(session.New(adminStore, session.Options{
		CookieName: "admin", IdleTimeout: 10 * time.Minute, Lifetime: time.Hour,
	}))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		users.FromContext(r.Context()).Login("carol", false)
	})
	mux.HandleFunc("POST /admin/login", func(w http.ResponseWriter, r *http.Request) {
		// Check the administrator's second factor first; then:
		admins.FromContext(r.Context()).Login("carol", false)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		user, admin := users.FromContext(r.Context()), admins.FromContext(r.Context())
		fmt.Fprintf(w, "user %q, administrator %q", user.UserID(), admin.UserID())
	})
	srv := httptest.NewTLSServer(users.Middleware(admins.Middleware(mux)))
	defer srv.Close()
	browser := browserFor(srv)

	visit(browser, "POST", srv.URL+"/login")
	fmt.Println(visit(browser, "GET", srv.URL+"/"))
	visit(browser, "POST", srv.URL+"/admin/login")
	fmt.Println(visit(browser, "GET", srv.URL+"/"))
	// Output:
	// user "carol", administrator ""
	// user "carol", administrator "carol"
}
