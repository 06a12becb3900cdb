package memory_test

import (
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/memory"
)

func TestConformance(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) session.Store {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestSweeperRemovesExpiredRecords(t *testing.T) {
	s := memory.New(memory.WithSweepInterval(10 * time.Millisecond))
	defer s.Close()
	exp := time.Now().Add(50 * time.Millisecond)
	for range 10 {
		if err := s.Save(t.Context(), session.Record{ID: storetest.NewID(), Expiry: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 10 {
		t.Fatalf("Len = %d; want 10", s.Len())
	}
	// Poll: the sweeper runs on its own clock and there is no event to wait for.
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sweeper left %d expired records after 5s", s.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseIsIdempotentAndConcurrent(t *testing.T) {
	s := memory.New(memory.WithSweepInterval(time.Millisecond))
	done := make(chan struct{})
	for range 4 {
		go func() { s.Close(); done <- struct{}{} }()
	}
	for range 4 {
		<-done
	}
	// Still readable after Close.
	if err := s.Save(t.Context(), session.Record{ID: "x", Expiry: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
}
