package bench

import (
	"math/bits"
	"time"
)

// histBuckets covers 0 to about 2^41 ns (36 minutes): exact below 128 ns,
// then 64 buckets per power of two, an error under 1.6%.
const (
	histSub     = 64
	histBuckets = histSub * 36
)

// Histogram records latencies in logarithmic buckets, so that tens of
// millions of samples cost a fixed 18 KB and percentiles need no sort.
// The zero value is empty and ready to use. It is not safe for concurrent
// use: give each goroutine its own and Merge them at the end.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

func bucket(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // leaves v>>shift in [64, 128)
	i := histSub*shift + int(v>>shift)
	return min(i, histBuckets-1)
}

// bucketValue is the midpoint of bucket i.
func bucketValue(i int) time.Duration {
	if i < 2*histSub {
		return time.Duration(i)
	}
	shift := i/histSub - 1
	mant := uint64(i - histSub*shift)
	return time.Duration(mant<<shift + (1<<shift)/2)
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest sample, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the latency below which a fraction q of the samples
// fall, for q in [0, 1], or 0 if there are no samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketValue(i), h.max)
		}
	}
	return h.max
}
