package bench

import (
	"testing"
	"time"
)

func TestHistogramQuantilesAreWithinOneBucket(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := time.Duration(q*100000) * time.Microsecond
		got := h.Quantile(q)
		if diff := (got - want).Seconds() / want.Seconds(); diff > 0.016 || diff < -0.016 {
			t.Errorf("Quantile(%v) = %v, want %v within 1.6%%", q, got, want)
		}
	}
	if got := h.Max(); got != 100*time.Millisecond {
		t.Errorf("Max() = %v, want 100ms", got)
	}
	if got := h.Quantile(1); got != 100*time.Millisecond {
		t.Errorf("Quantile(1) = %v, want the maximum, 100ms", got)
	}
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{3, 3, 7, 100} {
		h.Record(d)
	}
	if got := h.Quantile(0.5); got != 3 {
		t.Errorf("median = %v, want 3ns", got)
	}
	if got := h.Quantile(0.75); got != 7 {
		t.Errorf("p75 = %v, want 7ns", got)
	}
}

func TestHistogramMergeAddsCounts(t *testing.T) {
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(time.Second)
	b.Record(time.Second)
	a.Merge(&b)
	if a.Count() != 3 || a.Max() != time.Second {
		t.Fatalf("after Merge: count %d, max %v; want 3, 1s", a.Count(), a.Max())
	}
	if got := a.Quantile(0.5); got < 990*time.Millisecond || got > time.Second {
		t.Errorf("median = %v, want about 1s", got)
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if got := h.Quantile(0.99); got != 0 {
		t.Errorf("empty Quantile = %v, want 0", got)
	}
}
