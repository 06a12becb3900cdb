package session_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
)

func TestRecordLimits(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name string
		rec  session.Record
		ok   bool
	}{
		{"a session ID", session.Record{ID: "mjKdK1pX0DnGQ1sL7vH2cWq8nT4bZ5yR3eA6uJ9kF0o", UserID: "alice", Expiry: now.Add(time.Hour)}, true},
		{"every allowed ID byte", session.Record{ID: "AZaz09-_.~", Expiry: now.Add(time.Hour)}, true},
		{"an ID of MaxIDLen bytes", session.Record{ID: strings.Repeat("a", session.MaxIDLen), Expiry: now.Add(time.Hour)}, true},
		{"a user ID of MaxUserIDLen bytes", session.Record{ID: "a", UserID: strings.Repeat("é", session.MaxUserIDLen/2) + "x", Expiry: now.Add(time.Hour)}, true},
		{"a user ID with emoji and quotes", session.Record{ID: "a", UserID: `😀 O'Brien "q"`, Expiry: now.Add(time.Hour)}, true},
		{"an empty ID", session.Record{Expiry: now.Add(time.Hour)}, false},
		{"an ID one byte too long", session.Record{ID: strings.Repeat("a", session.MaxIDLen+1), Expiry: now.Add(time.Hour)}, false},
		{"an ID with a plus", session.Record{ID: "a+b", Expiry: now.Add(time.Hour)}, false},
		{"a user ID one byte too long", session.Record{ID: "a", UserID: strings.Repeat("u", session.MaxUserIDLen+1), Expiry: now.Add(time.Hour)}, false},
		{"a user ID with a tab", session.Record{ID: "a", UserID: "a\tb", Expiry: now.Add(time.Hour)}, false},
		{"a user ID with DEL", session.Record{ID: "a", UserID: "a\x7f", Expiry: now.Add(time.Hour)}, false},
		{"a user ID with U+0080", session.Record{ID: "a", UserID: "a\u0080", Expiry: now.Add(time.Hour)}, false},
		{"a user ID with a lone continuation byte", session.Record{ID: "a", UserID: "a\x80", Expiry: now.Add(time.Hour)}, false},
		{"a user ID with a surrogate half", session.Record{ID: "a", UserID: "\xed\xa0\x80", Expiry: now.Add(time.Hour)}, false},
		{"no Expiry", session.Record{ID: "a"}, false},
		{"an Expiry of now", session.Record{ID: "a", Expiry: now}, false},
	} {
		err := session.CheckRecord(c.rec, now)
		if (err == nil) != c.ok || err != nil && !errors.Is(err, session.ErrInvalid) {
			t.Errorf("CheckRecord with %s = %v; want ok %t (else ErrInvalid)", c.name, err, c.ok)
		}
		if session.ValidID(c.rec.ID) && session.ValidUserID(c.rec.UserID) && c.rec.Expiry.After(now) != c.ok {
			t.Errorf("%s: ValidID and ValidUserID disagree with CheckRecord", c.name)
		}
	}
	if !session.ValidUserID("") {
		t.Error("the empty user ID (anonymous) must be valid")
	}
}

func TestInterimResponsesDoNotCommitTheSession(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		// The session can still change: the real header is still to come.
		if err := session.FromContext(r.Context()).Login("wes", false); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s := newSite(t, newSpy(t), session.Options{}, mux)
	b := s.browser()
	b.post("/hints")
	if b.resp.StatusCode != 200 || b.cookie() == "" {
		t.Fatalf("after a 103: status %d, cookie %q; want 200 and a session cookie", b.resp.StatusCode, b.cookie())
	}
	if s.m.MaxSize() != session.DefaultMaxSize {
		t.Fatalf("MaxSize = %d; want the default", s.m.MaxSize())
	}
}
