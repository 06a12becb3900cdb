package token

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/httpstate/httpstate/observe"
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

// wantOne checks that exactly one event arrived since the last call, of
// want's Kind, Outcome and Reason, timed, and holding none of secrets.
func (r *recorder) wantOne(t *testing.T, want observe.Event, secrets ...string) observe.Event {
	t.Helper()
	events := r.take()
	if len(events) != 1 {
		t.Fatalf("%d events; want 1: %+v", len(events), events)
	}
	e := events[0]
	if e.Kind != want.Kind || e.Outcome != want.Outcome || e.Reason != want.Reason || e.Start.IsZero() || e.Duration < 0 {
		t.Errorf("event %+v; want %s %s with reason %q, timed", e, want.Kind, want.Outcome, want.Reason)
	}
	if (e.Outcome == observe.Error) != (e.Err != nil) {
		t.Errorf("outcome %s with Err %v", e.Outcome, e.Err)
	}
	text := fmt.Sprintf("%+v", e)
	for _, s := range secrets {
		for _, part := range strings.Split(s, ".") {
			if len(part) >= 8 && strings.Contains(text, part) {
				t.Errorf("the event holds a token, a subject or key material: %s", text)
			}
		}
	}
	return e
}

func TestVerifyReportsAcceptedTokensAndFailuresToJudge(t *testing.T) {
	k := edKey(t)
	ks := NewKeySet(k.Key)
	rec := &recorder{}
	v := mustVerifier(ks, VerifierOptions{Algorithms: []Algorithm{EdDSA}, Observer: rec})
	tok, err := newIssuer(ks).Issue(t.Context(), "subject-secret-42", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	rec.wantOne(t, observe.Event{Kind: observe.Verify, Outcome: observe.OK}, tok, "subject-secret-42", k.ID())

	// Keys that cannot be fetched: the token could not be judged.
	remote, err := NewRemoteKeySet("http://127.0.0.1:1/jwks", RemoteKeySetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v = mustVerifier(remote, VerifierOptions{Algorithms: []Algorithm{EdDSA}, Observer: rec})
	if _, err := v.Verify(t.Context(), tok); err == nil {
		t.Fatal("verified with no keys")
	}
	rec.wantOne(t, observe.Event{Kind: observe.Verify, Outcome: observe.Error}, tok, "subject-secret-42")
}
