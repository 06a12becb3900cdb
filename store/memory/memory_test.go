package memory_test

import (
	"strings"
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

// saveExpiring saves n records that expire at exp.
func saveExpiring(t *testing.T, s *memory.Store, n int, exp time.Time) {
	t.Helper()
	for range n {
		if err := s.Save(t.Context(), session.Record{ID: storetest.NewID(), UserID: "u", Expiry: exp}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSweeperRemovesExpiredRecordsInBatches(t *testing.T) {
	// Batches of 3 for up to 10 records per shard: every shard that holds
	// more than 3 needs several holds of its lock.
	s := memory.New(memory.WithSweepInterval(10*time.Millisecond), memory.WithSweepBatch(3))
	defer s.Close()
	saveExpiring(t, s, 200, time.Now().Add(50*time.Millisecond))
	saveExpiring(t, s, 5, time.Now().Add(time.Hour))
	if s.Len() != 205 {
		t.Fatalf("Len = %d; want 205", s.Len())
	}
	// Poll: the sweeper runs on its own clock and there is no event to wait for.
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper left %d of 200 expired records after 5s", s.Len()-5)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if list, err := s.ListByUser(t.Context(), "u"); err != nil || len(list) != 5 {
		t.Fatalf("ListByUser after the sweep = %d records, %v; want the 5 live ones", len(list), err)
	}
}

func TestDeleteExpiredHonoursItsLimit(t *testing.T) {
	s := memory.New(memory.WithSweepInterval(0))
	defer s.Close()
	saveExpiring(t, s, 30, time.Now().Add(20*time.Millisecond))
	time.Sleep(30 * time.Millisecond) // no event marks an expiry
	if n, err := s.DeleteExpired(t.Context(), 12); err != nil || n != 12 {
		t.Fatalf("DeleteExpired(12) of 30 expired = %d, %v; want 12", n, err)
	}
	if n, err := s.DeleteExpired(t.Context(), 0); err != nil || n != 18 {
		t.Fatalf("DeleteExpired(0) of the 18 left = %d, %v; want 18", n, err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len = %d after deleting everything expired", s.Len())
	}
}

func TestSweepBatchOutOfRangePanics(t *testing.T) {
	for _, n := range []int{0, -1, 10_001} {
		func() {
			defer func() {
				p := recover()
				if msg, _ := p.(string); !strings.Contains(msg, "sweep batch") {
					t.Errorf("New(WithSweepBatch(%d)) panicked with %v; want a message about the sweep batch", n, p)
				}
			}()
			memory.New(memory.WithSweepBatch(n)).Close()
		}()
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
