package demo_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
)

// TestPasswordChangeRacingLoginsLeavesNoneLoggedIn changes bob's password
// while 50 clients log in with the old one through the real login form:
// half start with the change, half as soon as the change request reaches
// the server. Logins checked before the new password is stored succeed,
// those checked after fail; either way, once the change has returned and
// every login has answered, each of the 50 clients' next request is
// anonymous.
func TestPasswordChangeRacingLoginsLeavesNoneLoggedIn(t *testing.T) {
	s := newShop(t, withClientHeader)
	// Cheap hashes for the old password and room for every check at
	// once, so that the logins race the change instead of queueing; the
	// new password gets the shop's real, slow hash, which keeps the
	// change busy while logins run.
	demo.SetCheapPassword(s.app, "bob", "battery staple")
	demo.SetHashGate(s.app, 64, 64)
	changeEntered := make(chan struct{})
	var once sync.Once
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && r.URL.Path == "/password" {
			once.Do(func() { close(changeEntered) })
		}
		s.app.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	client := func() *browser {
		c := *srv.Client()
		c.Jar = newJar()
		return &browser{t: t, base: srv.URL, c: &c}
	}

	changer := client()
	changer.login("bob", "battery staple", false)
	const n = 50
	clients := make([]*browser, n)
	for i := range clients {
		// The login's own answer, not the page it redirects to, is what
		// says whether it got in: the next request is the check.
		clients[i] = client()
		clients[i].c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	start := make(chan struct{})
	var loggedIn, refused atomic.Int32
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			if i < n/2 {
				<-start
			} else {
				<-changeEntered
			}
			form := url.Values{"username": {"bob"}, "password": {"battery staple"}}
			req, _ := http.NewRequest("POST", c.base+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(clientHeader, fmt.Sprintf("10.50.0.%d", i))
			p := c.do(req)
			switch p.status {
			case http.StatusSeeOther:
				loggedIn.Add(1)
			case http.StatusUnprocessableEntity:
				refused.Add(1)
			default:
				t.Errorf("login %d: status %d", i, p.status)
			}
		})
	}
	var changed page
	wg.Go(func() {
		<-start
		changed = changer.post("/password", url.Values{"current": {"battery staple"}, "new": {"a new and longer passphrase"}, "confirm": {"a new and longer passphrase"}})
	})
	close(start)
	wg.Wait()
	if !changed.has("Password changed.") {
		t.Fatalf("the password change failed: status %d", changed.status)
	}
	t.Logf("%d logins got in, %d were refused the old password", loggedIn.Load(), refused.Load())
	if loggedIn.Load() == 0 {
		t.Fatal("no login got in before the new password was stored: nothing raced the revocation")
	}

	for i, c := range clients {
		if c.get("/").has(`id="user-name"`) {
			t.Errorf("client %d is still logged in after the password change returned", i)
		}
	}
	if !changer.get("/").has(`id="user-name"`) {
		t.Error("the password change logged out the session that made it")
	}
}
