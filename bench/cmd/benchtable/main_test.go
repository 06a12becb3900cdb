package main

import (
	"math"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: AMD EPYC
BenchmarkMemoryStore/read/bare-2        	 6690934	       100.0 ns/op	     344 B/op	       2 allocs/op
BenchmarkMemoryStore/read/bare-2        	 6690934	       300.0 ns/op	     344 B/op	       2 allocs/op
BenchmarkMemoryStore/read/bare-2        	 6690934	       200.0 ns/op	     344 B/op	       2 allocs/op
BenchmarkRedis/scs/read/c=64-2   	   82692	     50000 ns/op	    2485 B/op	      25 allocs/op
BenchmarkSessionCaching/httpstate-memory/zipf-100k-2 	 1000000	 2319 ns/op	 431188 ops/s	 0.5240 p50-µs	 399.4 p99-µs	 0.005 retries/op
BenchmarkLoopback/read/bare-2	182032	27470.2 ns/op	36403 req/s	1368.1 p50-µs	3063.8 p90-µs	8454.1 p99-µs	61473.2 max-µs	0 errors
--- FAIL: BenchmarkSomething
PASS
`

func TestParseTakesTheMedianOfRuns(t *testing.T) {
	r := results{}
	if err := r.parse(strings.NewReader(sample)); err != nil {
		t.Fatal(err)
	}
	if got := r.get("BenchmarkMemoryStore/read/bare", "ns/op"); got != 200 {
		t.Errorf("median ns/op = %v, want 200", got)
	}
	if got := r.runs("BenchmarkMemoryStore/read/bare"); got != 3 {
		t.Errorf("runs = %d, want 3", got)
	}
}

func TestParseStripsOnlyTheProcsSuffix(t *testing.T) {
	r := results{}
	if err := r.parse(strings.NewReader(sample)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"BenchmarkRedis/scs/read/c=64", "BenchmarkSessionCaching/httpstate-memory/zipf-100k", "BenchmarkLoopback/read/bare"} {
		if r.runs(name) != 1 {
			t.Errorf("no results under %q; have %v", name, keys(r))
		}
	}
	if got := r.rate("BenchmarkRedis/scs/read/c=64"); got != 20000 {
		t.Errorf("rate = %v, want 20000 per second", got)
	}
	if got := r.get("BenchmarkSessionCaching/httpstate-memory/zipf-100k", "p99-µs"); got != 399.4 {
		t.Errorf("custom metric p99-µs = %v, want 399.4", got)
	}
}

func TestMissingMetricIsNaNAndPrintsAsDash(t *testing.T) {
	r := results{}
	got := r.get("BenchmarkNothing", "ns/op")
	if !math.IsNaN(got) {
		t.Fatalf("missing metric = %v, want NaN", got)
	}
	if s := num(got); s != "–" {
		t.Errorf("num(NaN) = %q, want a dash", s)
	}
	if s := ratio(1, got); s != "–" {
		t.Errorf("ratio(1, NaN) = %q, want a dash", s)
	}
}

func TestTargetVerdicts(t *testing.T) {
	for _, tc := range []struct {
		got   float64
		op    string
		bound float64
		want  string
	}{
		{0.1, "≤", 0.2, "**met**"},
		{0.3, "≤", 0.2, "**missed**"},
		{2.5, "≥", 2, "**met**"},
		{1.5, "≥", 2, "**missed**"},
		{math.NaN(), "≥", 2, "not measured"},
	} {
		var b strings.Builder
		target(&b, "x", tc.got, tc.op, tc.bound)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("target(%v %s %v) = %q, want it to say %s", tc.got, tc.op, tc.bound, b.String(), tc.want)
		}
	}
}

func TestQuantileInterpolatesBetweenRuns(t *testing.T) {
	r := results{"B": {"x": {4, 1, 3, 2, 5}}}
	for _, tc := range []struct{ q, want float64 }{{0, 1}, {0.25, 2}, {0.5, 3}, {0.75, 4}, {1, 5}, {0.125, 1.5}} {
		if got := r.quantile("B", "x", tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := r.spread("B", "x"); got != "2.00–4.00" {
		t.Errorf("spread = %q, want 2.00–4.00", got)
	}
	if got := r.spread("B", "missing"); got != "–" {
		t.Errorf("spread of a missing metric = %q, want a dash", got)
	}
}

const hotSample = `BenchmarkHotSession/redis/httpstate/write/c=32-2  20192  65835 ns/op  22421 cpu-ns/op  0 lost-%  0 lost-updates  15190 req/s  3770 B/op  24 allocs/op
BenchmarkHotSession/redis/httpstate/write/c=32-2  20192  65835 ns/op  22421 cpu-ns/op  0 lost-%  2 lost-updates  15000 req/s  3770 B/op  24 allocs/op
BenchmarkHotSession/redis/scs/write/c=32-2  16561  113971 ns/op  64532 cpu-ns/op  93.27 lost-%  15448 lost-updates  7500 req/s  12221 B/op  253 allocs/op
BenchmarkHotSession/redis/scs/write/c=32-2  16561  113971 ns/op  64532 cpu-ns/op  90 lost-%  100 lost-updates  7500 req/s  12221 B/op  253 allocs/op
`

func TestHotSessionLostUpdatesAreSummedAndJudged(t *testing.T) {
	r := results{}
	if err := r.parse(strings.NewReader(hotSample)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	hot(&b, r)
	if !strings.Contains(b.String(), "| redis | all increments | 32 | 15095 | 7500 | 2.01 | 2.00 | 15548 | 91.6 | 2 |") {
		t.Errorf("hot table lacks the redis row with summed lost updates:\n%s", b.String())
	}
	b.Reset()
	targets(&b, r)
	if !strings.Contains(b.String(), "hot session, redis, 32 callers, increments: httpstate ÷ scs requests/s: 2.01 (target ≥ 1.00) — **met**") {
		t.Errorf("targets lack the met throughput ratio:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "httpstate's lost updates: 2.00 (target ≤ 0.00) — **missed**") {
		t.Errorf("targets do not report httpstate's lost updates as missed:\n%s", b.String())
	}
}

func keys(r results) []string {
	var out []string
	for k := range r {
		out = append(out, k)
	}
	return out
}
