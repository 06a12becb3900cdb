package refresh

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/httpstate/httpstate/observe"
	"github.com/httpstate/httpstate/store/memory"
)

// recorder keeps the events it observes.
type recorder struct {
	mu     sync.Mutex
	events []observe.Event
}

func (r *recorder) Observe(_ context.Context, e observe.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// take returns the events since the last call.
func (r *recorder) take() []observe.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func TestRefreshReportsEveryOutcomeAndReason(t *testing.T) {
	store := memory.New()
	defer store.Close()
	rec := &recorder{}
	flaky := &flakyStore{Store: store}
	s := newSetup(t, flaky, Options{Observer: rec})
	user := newUser()
	p1 := s.issue(t, user)
	var secrets []string // what no event may contain
	keep := func(p Pair) Pair {
		id, secret, _ := strings.Cut(p.RefreshToken, ".")
		secrets = append(secrets, id, secret, p.AccessToken)
		return p
	}
	keep(p1)
	other := keep(s.issue(t, newUser()))
	otherID, _, _ := strings.Cut(other.RefreshToken, ".")

	for _, c := range []struct {
		name    string
		do      func()
		outcome observe.Outcome
		reason  string
	}{
		{"rotation", func() { keep(s.refresh(t, p1)) }, observe.OK, ""},
		{"grace exchange", func() { keep(s.refresh(t, p1)) }, observe.OK, "grace"},
		{"lost answer read back", func() {
			cur := s.issue(t, user)
			flaky.failNextSave(true, false)
			keep(s.refresh(t, keep(cur)))
		}, observe.OK, "recovered"},
		{"malformed", func() { s.wantRefreshErr(t, "not a token", ErrInvalid, false) }, observe.Rejected, "malformed"},
		{"unknown family", func() { s.wantRefreshErr(t, b64(randomBytes(32))+"."+b64(randomBytes(32)), ErrInvalid, false) }, observe.Rejected, "unknown"},
		{"wrong secret", func() { s.wantRefreshErr(t, otherID+"."+b64(randomBytes(32)), ErrInvalid, false) }, observe.Rejected, "mismatch"},
		{"expired", func() {
			// The store's own clock still has the family alive; the
			// Refresher's says its lifetime is over.
			s.clock.Advance(DefaultLifetime)
			s.wantRefreshErr(t, other.RefreshToken, ErrInvalid, false)
			s.clock.Advance(-DefaultLifetime)
		}, observe.Rejected, "expired"},
		{"reuse", func() {
			p := keep(s.issue(t, user))
			keep(s.refresh(t, keep(s.refresh(t, p))))
			rec.take()
			s.wantRefreshErr(t, p.RefreshToken, ErrReused, true)
		}, observe.Reused, ""},
		{"store outage", func() {
			p := keep(s.issue(t, user))
			flaky.failNextSave(false, true)
			if _, err := s.Refresh(t.Context(), p.RefreshToken); err == nil {
				t.Fatal("Refresh succeeded with the store down")
			}
			flaky.heal()
		}, observe.Error, ""},
	} {
		rec.take()
		c.do()
		events := rec.take()
		if len(events) != 1 {
			t.Fatalf("%s: %d events; want 1", c.name, len(events))
		}
		e := events[0]
		if e.Kind != observe.Refresh || e.Outcome != c.outcome || e.Reason != c.reason || e.Start.IsZero() || e.Duration < 0 {
			t.Errorf("%s: event %+v; want outcome %q, reason %q", c.name, e, c.outcome, c.reason)
		}
		if (e.Outcome == observe.Error) != (e.Err != nil) {
			t.Errorf("%s: outcome %s with Err %v", c.name, e.Outcome, e.Err)
		}
		text := fmt.Sprintf("%+v", e)
		for _, secret := range append(secrets, user) {
			if strings.Contains(text, secret) {
				t.Errorf("%s: the event holds a token, family ID or user: %s", c.name, text)
			}
		}
	}
}
