package dbsc_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/httpstate/httpstate/session/dbsc"
	"github.com/httpstate/httpstate/session/dbsc/dbsctest"
)

// boundServer is a minimal server that binds its sessions: what the
// session Manager will do, in a few dozen lines, for the example and the
// HTTP-level tests.
type boundServer struct {
	challenger *dbsc.Challenger
	boundTTL   time.Duration
	now        func() time.Time

	mu       sync.Mutex
	sessions map[string]*boundSession // by login cookie
	byDBSC   map[string]*boundSession // by DBSC session identifier
}

type boundSession struct {
	login      string
	dbscID     string
	key        []byte    // the public key as a JWK, as a store would keep it
	lastIssued time.Time // issue time of the last answered challenge
	bound      string    // current bound cookie value
	boundUntil time.Time
}

func newBoundServer(c *dbsc.Challenger) *boundServer {
	return &boundServer{challenger: c, boundTTL: 5 * time.Minute, now: time.Now,
		sessions: map[string]*boundSession{}, byDBSC: map[string]*boundSession{}}
}

func token() string { return rand.Text() }

func (s *boundServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sess := &boundSession{login: token()}
		s.mu.Lock()
		s.sessions[sess.login] = sess
		s.mu.Unlock()
		ch, err := s.challenger.Issue("login:" + sess.login)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		reg, _ := dbsc.Registration{Path: "/dbsc/register", Challenge: ch}.HeaderValue()
		w.Header().Set(dbsc.HeaderRegistration, reg)
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: sess.login, Path: "/", HttpOnly: true})
	})
	mux.HandleFunc("POST /dbsc/register", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sid")
		if err != nil {
			http.Error(w, "no session", http.StatusBadRequest)
			return
		}
		proof, err := dbsc.ResponseProof(r.Header)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		v, err := s.challenger.Registration(proof, "login:"+c.Value, "", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		sess := s.sessions[c.Value]
		if sess == nil || sess.key != nil { // one registration per login
			s.mu.Unlock()
			http.Error(w, "cannot register", http.StatusBadRequest)
			return
		}
		sess.dbscID, sess.key, sess.lastIssued = "d"+token(), v.Key.MarshalJWK(), v.ChallengeIssued
		s.byDBSC[sess.dbscID] = sess
		bound := s.rotate(sess)
		s.mu.Unlock()
		http.SetCookie(w, bound)
		cred, _ := dbsc.CookieCredential(bound)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(dbsc.Instructions{
			SessionIdentifier: sess.dbscID, RefreshURL: "/dbsc/refresh",
			Credentials: []dbsc.Credential{cred},
		})
	})
	mux.HandleFunc("POST /dbsc/refresh", func(w http.ResponseWriter, r *http.Request) {
		id, err := dbsc.SessionID(r.Header)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		sess := s.byDBSC[id]
		if sess == nil {
			// An unknown session: tell the browser to drop it.
			json.NewEncoder(w).Encode(dbsc.Instructions{Terminate: true})
			return
		}
		key, err := dbsc.ParseJWK(sess.key, dbsc.ES256)
		if err != nil {
			if key, err = dbsc.ParseJWK(sess.key, dbsc.RS256); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		proof, perr := dbsc.ResponseProof(r.Header)
		var v dbsc.Verified
		if perr == nil {
			v, perr = s.challenger.Refresh(proof, id, key, sess.lastIssued)
		}
		if perr != nil {
			// No proof, or one that failed: ask for a fresh one.
			ch, err := s.challenger.Issue(id)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			hv, _ := dbsc.ChallengeHeaderValue(ch, id)
			w.Header().Set(dbsc.HeaderChallenge, hv)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		// Accepting the proof and recording its challenge is one step
		// under the lock: the same challenge cannot win twice.
		sess.lastIssued = v.ChallengeIssued
		http.SetCookie(w, s.rotate(sess))
	})
	mux.HandleFunc("GET /private", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sid")
		s.mu.Lock()
		defer s.mu.Unlock()
		var sess *boundSession
		if err == nil {
			sess = s.sessions[c.Value]
		}
		if sess == nil {
			http.Error(w, "log in", http.StatusUnauthorized)
			return
		}
		if sess.key != nil {
			b, err := r.Cookie("__Host-bound")
			if err != nil || b.Value != sess.bound || !s.now().Before(sess.boundUntil) {
				http.Error(w, "bound cookie missing or stale", http.StatusForbidden)
				return
			}
		}
		fmt.Fprint(w, "secret")
	})
	return mux
}

// rotate issues a new bound cookie; s.mu is held.
func (s *boundServer) rotate(sess *boundSession) *http.Cookie {
	sess.bound, sess.boundUntil = token(), s.now().Add(s.boundTTL)
	return &http.Cookie{Name: "__Host-bound", Value: sess.bound, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.boundTTL / time.Second)}
}

// The browser's side, played by dbsctest.Browser against a server built
// with this package: login, registration, a refresh with a challenge.
func Example() {
	c, err := dbsc.NewChallenger([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, dbsc.ChallengerOptions{})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewTLSServer(newBoundServer(c).handler())
	defer srv.Close()

	client := srv.Client()
	client.Jar, _ = cookiejar.New(nil)
	ctx := context.Background()
	login, err := client.Post(srv.URL+"/login", "", nil)
	if err != nil {
		panic(err)
	}
	login.Body.Close()
	fmt.Println("offer:", login.Header.Get(dbsc.HeaderRegistration) != "")

	browser := &dbsctest.Browser{Client: client}
	if err := browser.Register(ctx, login); err != nil {
		panic(err)
	}
	fmt.Println("registered:", browser.Instructions.Credentials[0].Name)

	status, err := browser.Refresh(ctx) // 403 + challenge, then a proof
	fmt.Println("refresh:", status, err)

	resp, err := client.Get(srv.URL + "/private")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("private:", resp.StatusCode)
	// Output:
	// offer: true
	// registered: __Host-bound
	// refresh: 200 <nil>
	// private: 200
}

func ExampleRegistration_HeaderValue() {
	v, err := dbsc.Registration{
		Algorithms: []dbsc.Algorithm{dbsc.ES256},
		Path:       "/dbsc/register",
		Challenge:  "abc",
	}.HeaderValue()
	fmt.Println(v, err)
	// Output: (ES256);path="/dbsc/register";challenge="abc" <nil>
}

// A challenge is answered once: the issue time of the last answered
// challenge, stored with the session, refuses it the second time.
func ExampleChallenger_Verify() {
	c, err := dbsc.NewChallenger([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, dbsc.ChallengerOptions{})
	if err != nil {
		panic(err)
	}
	ch, _ := c.Issue("session-1")

	var last time.Time // stored with the session
	issued, err := c.Verify(ch, "session-1", last)
	fmt.Println("first answer:", err)
	last = issued

	_, err = c.Verify(ch, "session-1", last)
	fmt.Println("second answer:", err)
	_, err = c.Verify(ch, "session-2", time.Time{})
	fmt.Println("another session:", errors.Is(err, dbsc.ErrChallenge))
	// Output:
	// first answer: <nil>
	// second answer: dbsc: challenge already answered
	// another session: true
}
