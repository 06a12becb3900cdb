package dbscbrowser_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/httpstate/httpstate/session/dbsc"
)

// boundTTL is how long the server honours a bound cookie, on its own
// clock. The browser keeps the cookie longer (cookieMaxAge), past
// Chromium's two-minute proactive-refresh window, so that every refresh
// in the test is one the test caused by moving the server's clock.
const (
	boundTTL     = 5 * time.Minute
	cookieMaxAge = 10 * time.Minute
	boundName    = "__Host-bound"
)

// server is a login site that binds its sessions with session/dbsc. It
// is deliberately small: the session Manager will do the same with a
// store.
type server struct {
	challenger *dbsc.Challenger

	clk *clock // the server's clock, moved by the test

	mu       sync.Mutex
	sessions map[string]*sess
	byDBSC   map[string]*sess
	events   []string // what happened, for failure messages
	// Headers as Chromium sent them, to check their form.
	sessionIDHeaders, proofHeaders []string
	refreshes, challenged          int
}

type sess struct {
	login      string
	dbscID     string
	key        []byte // JWK, as a store keeps it
	thumbprint string
	lastIssued time.Time
	bound      string
	boundUntil time.Time
}

// clock is the server's time; the test moves it instead of waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newServer(c *dbsc.Challenger, clk *clock) *server {
	return &server{challenger: c, clk: clk, sessions: map[string]*sess{}, byDBSC: map[string]*sess{}}
}

func (s *server) logf(format string, args ...any) {
	s.events = append(s.events, fmt.Sprintf(format, args...))
}

func page(w http.ResponseWriter, status int, id, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>%s</title><p id=%q>%s</p>", text, id, text)
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	// The login: an ordinary session cookie, and the offer to bind it.
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		login := rand.Text()
		ch, err := s.challenger.Issue("login:" + login)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		reg, err := dbsc.Registration{Path: "/dbsc/register", Challenge: ch}.HeaderValue()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.mu.Lock()
		s.sessions[login] = &sess{login: login}
		s.logf("login")
		s.mu.Unlock()
		w.Header().Set(dbsc.HeaderRegistration, reg)
		http.SetCookie(w, &http.Cookie{Name: "__Host-sid", Value: login, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		page(w, http.StatusOK, "welcome", "logged in")
	})
	mux.HandleFunc("POST /dbsc/register", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("__Host-sid")
		if err != nil {
			s.mu.Lock()
			s.logf("register without session cookie")
			s.mu.Unlock()
			http.Error(w, "no session", http.StatusBadRequest)
			return
		}
		proof, err := dbsc.ResponseProof(r.Header)
		var v dbsc.Verified
		if err == nil {
			v, err = s.challenger.Registration(proof, "login:"+c.Value, "", nil)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.proofHeaders = append(s.proofHeaders, r.Header.Get(dbsc.HeaderResponse))
		st := s.sessions[c.Value]
		if err != nil || st == nil || st.key != nil {
			s.logf("registration refused: %v", err)
			http.Error(w, "registration refused", http.StatusBadRequest)
			return
		}
		st.dbscID, st.key, st.thumbprint, st.lastIssued = "d"+rand.Text(), v.Key.MarshalJWK(), v.Key.Thumbprint(), v.ChallengeIssued
		s.byDBSC[st.dbscID] = st
		bound := s.rotate(st)
		cred, err := dbsc.CookieCredential(bound)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.logf("registered %s key %s", st.dbscID, st.thumbprint)
		if err := s.challengeAhead(w, st.dbscID); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, bound)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(dbsc.Instructions{
			SessionIdentifier: st.dbscID,
			RefreshURL:        "/dbsc/refresh",
			Credentials:       []dbsc.Credential{cred},
		})
	})
	mux.HandleFunc("POST /dbsc/refresh", func(w http.ResponseWriter, r *http.Request) {
		raw := r.Header.Get(dbsc.HeaderSessionID)
		id, err := dbsc.SessionID(r.Header)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sessionIDHeaders = append(s.sessionIDHeaders, raw)
		st := s.byDBSC[id]
		if err != nil || st == nil {
			s.logf("refresh for unknown session %q: %v", raw, err)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(dbsc.Instructions{Terminate: true})
			return
		}
		key, err := dbsc.ParseJWK(st.key, dbsc.ES256)
		if err != nil {
			if key, err = dbsc.ParseJWK(st.key, dbsc.RS256); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		proof, perr := dbsc.ResponseProof(r.Header)
		var v dbsc.Verified
		if perr == nil {
			s.proofHeaders = append(s.proofHeaders, r.Header.Get(dbsc.HeaderResponse))
			v, perr = s.challenger.Refresh(proof, id, key, st.lastIssued)
		}
		if perr != nil {
			ch, err := s.challenger.Issue(id)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			hv, _ := dbsc.ChallengeHeaderValue(ch, id)
			s.challenged++
			s.logf("refresh challenged: %v", perr)
			w.Header().Set(dbsc.HeaderChallenge, hv)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		st.lastIssued = v.ChallengeIssued
		s.refreshes++
		s.logf("refreshed %s", id)
		if err := s.challengeAhead(w, id); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, s.rotate(st))
		w.WriteHeader(http.StatusOK)
	})
	// A page only the session's browser may see.
	mux.HandleFunc("GET /private", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var st *sess
		if c, err := r.Cookie("__Host-sid"); err == nil {
			st = s.sessions[c.Value]
		}
		switch {
		case st == nil:
			page(w, http.StatusUnauthorized, "anonymous", "please log in")
		case st.key == nil:
			// Not bound (yet, or a browser without DBSC): the ordinary
			// session cookie is enough.
			page(w, http.StatusOK, "secret", "secret for an unbound session")
		default:
			b, err := r.Cookie(boundName)
			switch {
			case err == nil && b.Value == st.bound && s.clk.now().Before(st.boundUntil):
				page(w, http.StatusOK, "secret", "secret")
			case err == nil:
				// A stale or superseded bound cookie: expire it and come
				// back. The session's own browser refreshes before it
				// follows the redirect; a copy returns without one.
				s.logf("stale bound cookie, redirecting")
				http.SetCookie(w, &http.Cookie{Name: boundName, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
				w.Header().Set("Cache-Control", "no-store")
				http.Redirect(w, r, "/private", http.StatusTemporaryRedirect)
			default:
				s.logf("bound session without bound cookie refused")
				page(w, http.StatusForbidden, "refused", "this session is bound to another device")
			}
		}
	})
	return mux
}

// challengeAhead sends the challenge the browser will sign at the next
// refresh, so that refresh needs one request instead of two.
func (s *server) challengeAhead(w http.ResponseWriter, id string) error {
	ch, err := s.challenger.Issue(id)
	if err != nil {
		return err
	}
	hv, err := dbsc.ChallengeHeaderValue(ch, id)
	if err != nil {
		return err
	}
	w.Header().Set(dbsc.HeaderChallenge, hv)
	return nil
}

// rotate issues a new bound cookie; s.mu is held.
func (s *server) rotate(st *sess) *http.Cookie {
	st.bound, st.boundUntil = rand.Text(), s.clk.now().Add(boundTTL)
	return &http.Cookie{Name: boundName, Value: st.bound, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(cookieMaxAge / time.Second)}
}
