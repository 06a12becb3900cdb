package sweeper

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
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

func TestCheckBatch(t *testing.T) {
	for n, ok := range map[int]bool{-1: false, 0: false, 1: true, DefaultBatch: true, MaxBatch: true, MaxBatch + 1: false} {
		if err := CheckBatch(n); (err == nil) != ok {
			t.Errorf("CheckBatch(%d) = %v; want ok=%v", n, err, ok)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func debugLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestBatchesRepeatUntilAShortBatchAndReportTheTotal(t *testing.T) {
	left := 23
	var limits []int
	var logs syncBuffer
	sweep := Batches("test", 5, debugLogger(&logs), func(ctx context.Context, limit int) (int, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("a batch runs without a deadline")
		}
		limits = append(limits, limit)
		n := min(limit, left)
		left -= n
		return n, nil
	})
	sweep(t.Context())
	if left != 0 || len(limits) != 5 {
		t.Fatalf("23 expired records in batches of 5: %d left after %d batches; want 0 after 5", left, len(limits))
	}
	for _, l := range limits {
		if l != 5 {
			t.Fatalf("a batch was asked for %d records; want 5", l)
		}
	}
	if out := logs.String(); !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "store=test") || !strings.Contains(out, "removed=23") {
		t.Fatalf("the sweep logged %q; want a DEBUG line with store=test removed=23", out)
	}
}

func TestBatchesReportFailuresButNotThoseOfStop(t *testing.T) {
	var logs syncBuffer
	failing := Batches("test", 5, debugLogger(&logs), func(context.Context, int) (int, error) {
		return 2, errors.New("disk on fire")
	})
	failing(t.Context())
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "disk on fire") || !strings.Contains(out, "removed=2") {
		t.Fatalf("a failed sweep logged %q; want a WARN line with the error and the count", out)
	}

	var quiet syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	stopped := Batches("test", 5, debugLogger(&quiet), func(ctx context.Context, limit int) (int, error) {
		cancel() // as Stop does mid-batch
		return 0, ctx.Err()
	})
	stopped(ctx)
	if out := quiet.String(); out != "" {
		t.Fatalf("a sweep canceled by Stop logged %q; want nothing", out)
	}
}
