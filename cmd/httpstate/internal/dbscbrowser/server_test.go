package dbscbrowser_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/internal/testclock"
	"github.com/httpstate/httpstate/observe"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/dbsc"
	"github.com/httpstate/httpstate/store/memory"
)

// site is a login site whose sessions a session.Manager binds with
// Options.DeviceBinding, in Enforce mode, on a clock the test moves.
type site struct {
	m   *session.Manager
	clk *clock

	mu     sync.Mutex
	events []string // what the Manager reported, for failure messages
	// Headers as Chromium sent them, to check their form.
	sessionIDHeaders, proofHeaders []string
	refreshes, challenged          int
}

// clock is the server's time; the test moves it instead of waiting.
type clock = testclock.Clock

func newSite(t *testing.T) *site {
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	s := &site{clk: testclock.New(time.Now())}
	m, err := session.New(store, session.Options{
		Clock:    s.clk.Now,
		Observer: observe.Func(s.observe),
		DeviceBinding: session.DeviceBinding{
			Mode:    session.BindingEnforce,
			Secrets: [][]byte{[]byte("httpstate dbsc browser test secret!")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.m = m
	return s
}

func (s *site) observe(_ context.Context, e observe.Event) {
	switch e.Kind {
	case observe.DeviceBindingRegister, observe.DeviceBindingRefresh, observe.DeviceBindingCheck, observe.Login, observe.Logout:
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, fmt.Sprintf("%s op=%s outcome=%s reason=%s err=%v", e.Kind, e.Op, e.Outcome, e.Reason, e.Err))
	if e.Kind == observe.DeviceBindingRefresh && e.Op == "proof" && e.Outcome == observe.OK {
		s.refreshes++
	}
	if e.Kind == observe.DeviceBindingRefresh && e.Op == "challenge" {
		s.challenged++
	}
}

func page(w http.ResponseWriter, status int, id, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>%s</title><p id=%q>%s</p>", text, id, text)
}

func (s *site) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).Login("alice", false); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page(w, http.StatusOK, "welcome", "logged in")
	})
	mux.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).Logout(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page(w, http.StatusOK, "bye", "logged out")
	})
	// A page only the session's own browser may see.
	mux.HandleFunc("GET /private", func(w http.ResponseWriter, r *http.Request) {
		sess := session.FromContext(r.Context())
		switch {
		case sess.BindingRefused():
			page(w, http.StatusUnauthorized, "refused", "this session is bound to another device; please log in")
		case sess.UserID() == "":
			page(w, http.StatusUnauthorized, "anonymous", "please log in")
		default:
			page(w, http.StatusOK, "secret", "secret for "+sess.UserID())
		}
	})
	inner := s.m.Middleware(mux)
	// Record the DBSC request headers as they arrive, before the Manager
	// reads them.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Values(dbsc.HeaderSessionID); len(v) > 0 || r.Header.Get(dbsc.HeaderResponse) != "" {
			s.mu.Lock()
			s.sessionIDHeaders = append(s.sessionIDHeaders, v...)
			if p := r.Header.Get(dbsc.HeaderResponse); p != "" {
				s.proofHeaders = append(s.proofHeaders, p)
			}
			s.mu.Unlock()
		}
		inner.ServeHTTP(w, r)
	})
}
