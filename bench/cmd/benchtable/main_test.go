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

func keys(r results) []string {
	var out []string
	for k := range r {
		out = append(out, k)
	}
	return out
}
