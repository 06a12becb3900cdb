package session_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/dbsc/dbsctest"
	"github.com/httpstate/httpstate/store/memory"
)

// Device-bound sessions: one option. After a login the browser registers
// a key it keeps (Chrome does this by itself; here dbsctest plays
// Chrome), and from then on the session's cookie works only together
// with a short-lived bound cookie that only the key can renew. A copy of
// the session cookie is served as an anonymous session.
func Example_deviceBinding() {
	store := memory.New()
	defer store.Close()
	sessions := must(session.New(store, session.Options{
		DeviceBinding: session.DeviceBinding{
			Mode:    session.BindingEnforce,
			Secrets: [][]byte{[]byte("at least 32 random bytes, from your secret store")},
		},
	}))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Login("alice", false)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		fmt.Fprintf(w, "user=%q refused=%t", s.UserID(), s.BindingRefused())
	})
	srv := httptest.NewTLSServer(sessions.Middleware(mux))
	defer srv.Close()

	laptop := browserFor(srv)
	resp := must(laptop.Post(srv.URL+"/login", "", nil))
	resp.Body.Close()
	fmt.Println("registration offered:", resp.Header.Get("Secure-Session-Registration") != "")
	chrome := &dbsctest.Browser{Client: laptop}
	if err := chrome.Register(context.Background(), resp); err != nil {
		log.Fatal(err)
	}
	fmt.Println("laptop:", visit(laptop, "GET", srv.URL+"/me"))

	// Malware on the laptop copies the session cookie, but cannot take
	// the key out of the laptop's TPM.
	stolen := browserFor(srv)
	u := must(url.Parse(srv.URL))
	for _, c := range laptop.Jar.Cookies(u) {
		if c.Name == sessions.CookieName() {
			stolen.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value}})
		}
	}
	fmt.Println("copy:", visit(stolen, "GET", srv.URL+"/me"))

	// Every few minutes the laptop signs a challenge for a new bound
	// cookie.
	fmt.Println("refresh:", must(chrome.Refresh(context.Background())))
	devices := must(sessions.Devices(context.Background(), "alice"))
	fmt.Println("bound:", devices[0].Bound, devices[0].Binding.Algorithm, devices[0].Binding.Refreshes, "refresh")
	// Output:
	// registration offered: true
	// laptop: user="alice" refused=false
	// copy: user="" refused=true
	// refresh: 200
	// bound: true ES256 1 refresh
}
