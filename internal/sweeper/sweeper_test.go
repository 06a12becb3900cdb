package sweeper

import (
	"context"
	"testing"
	"time"
)

func TestRunsRepeatedlyAndStopWaitsForRunningCall(t *testing.T) {
	calls := make(chan struct{}, 100)
	s := Start(time.Millisecond, func(ctx context.Context) { calls <- struct{}{} })
	for range 3 {
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatal("sweep function was not called within 5s")
		}
	}
	s.Stop()
	s.Stop()
	n := len(calls)
	// After Stop has returned no call may start; give a would-be call the
	// chance to run by yielding a few intervals.
	time.Sleep(20 * time.Millisecond)
	if len(calls) != n {
		t.Fatal("sweep function ran after Stop returned")
	}
}

func TestStopCancelsARunningSweep(t *testing.T) {
	started := make(chan struct{})
	s := Start(time.Millisecond, func(ctx context.Context) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done()
	})
	<-started
	s.Stop() // would hang if the context were not canceled
}

func TestZeroIntervalNeverRuns(t *testing.T) {
	s := Start(0, func(context.Context) { t.Error("called") })
	s.Stop()
}
