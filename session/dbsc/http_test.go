package dbsc_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/httpstate/httpstate/internal/testclock"
	"github.com/httpstate/httpstate/session/dbsc"
	"github.com/httpstate/httpstate/session/dbsc/dbsctest"
)

// TestHTTPCopiedCookiesDie plays the whole protocol over HTTP: the
// original browser stays in across refreshes, a copy of its cookies works
// only until the bound cookie it copied goes stale, and replayed or
// foreign proofs are refused.
func TestHTTPCopiedCookiesDie(t *testing.T) {
	for _, alg := range []dbsc.Algorithm{dbsc.ES256, dbsc.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			clk := testclock.New(time.Now())
			c := newChallenger(t, clk)
			bs := newBoundServer(c)
			bs.now = clk.Now
			srv := httptest.NewTLSServer(bs.handler())
			defer srv.Close()
			ctx := context.Background()
			newClient := func() *http.Client {
				cl := *srv.Client() // a client of its own, with its own jar
				cl.Jar, _ = cookiejar.New(nil)
				return &cl
			}
			get := func(cl *http.Client) int {
				t.Helper()
				resp, err := cl.Get(srv.URL + "/private")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}

			orig := newClient()
			login, err := orig.Post(srv.URL+"/login", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			login.Body.Close()
			b := &dbsctest.Browser{Client: orig, Alg: alg}
			if err := b.Register(ctx, login); err != nil {
				t.Fatal(err)
			}
			// A second registration for the same login is refused.
			again := &dbsctest.Browser{Client: orig, Alg: alg}
			if err := again.Register(ctx, login); err == nil {
				t.Fatal("a login registered twice")
			}

			// The thief copies every cookie of the original browser.
			u, _ := url.Parse(srv.URL)
			thief := newClient()
			thief.Jar.SetCookies(u, orig.Jar.Cookies(u))
			if got := get(thief); got != http.StatusOK {
				t.Fatalf("the copy within the bound cookie's lifetime: %d", got)
			}

			for round := range 3 {
				clk.Advance(bs.boundTTL) // the bound cookies go stale
				if got := get(thief); got != http.StatusForbidden {
					t.Fatalf("round %d: the copy with a stale bound cookie: %d", round, got)
				}
				if got := get(orig); got != http.StatusForbidden {
					t.Fatalf("round %d: the original before its refresh: %d", round, got)
				}
				if status, err := b.Refresh(ctx); err != nil || status != http.StatusOK {
					t.Fatalf("round %d: refresh: %d, %v", round, status, err)
				}
				if got := get(orig); got != http.StatusOK {
					t.Fatalf("round %d: the original after its refresh: %d", round, got)
				}
				if got := get(thief); got != http.StatusForbidden {
					t.Fatalf("round %d: the copy after the original refreshed: %d", round, got)
				}
			}

			// The thief replays the original's last proof: refused.
			replay := &dbsctest.Browser{Client: thief, Key: b.Key, Instructions: b.Instructions,
				RefreshURL: b.RefreshURL, Challenge: b.Challenge}
			stolen, _ := b.Key.RefreshProof(b.Challenge) // what a captured request carried
			req, _ := http.NewRequest(http.MethodPost, b.RefreshURL.String(), nil)
			req.Header.Set(dbsc.HeaderSessionID, b.Instructions.SessionIdentifier)
			req.Header.Set(dbsc.HeaderResponse, stolen)
			resp, err := thief.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("a replayed refresh proof: %d", resp.StatusCode)
			}
			// With its own key, the thief answers the challenge it gets,
			// and is still refused: the signature is not the session's.
			other, err := dbsctest.NewKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			replay.Key = other
			if status, _ := replay.Refresh(ctx); status != http.StatusForbidden {
				t.Fatalf("a refresh signed by another key: %d", status)
			}
			if got := get(thief); got != http.StatusForbidden {
				t.Fatalf("the copy after its failed refreshes: %d", got)
			}
		})
	}
}
