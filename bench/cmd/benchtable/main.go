// Command benchtable reads the output of the bench module's benchmarks
// and of cmd/loadtest, and prints the Markdown tables of BENCHMARKS.md:
// one per scenario, with the median of each metric over the repeated runs
// (-count, or the load test's rounds), ratio columns against each rival
// computed from those same runs, and whether each target is met.
//
//	go run ./cmd/benchtable results/*.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	log.SetFlags(0)
	r := results{}
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			log.Fatal(err)
		}
		if err := r.parse(f); err != nil {
			log.Fatalf("%s: %v", path, err)
		}
		f.Close()
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	report(w, r)
}

// results maps a benchmark name, without its -GOMAXPROCS suffix, to each
// unit's values over the runs.
type results map[string]map[string][]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

func (r results) parse(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		if r[name] == nil {
			r[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return fmt.Errorf("%q: %v", sc.Text(), err)
			}
			r[name][f[i+1]] = append(r[name][f[i+1]], v)
		}
	}
	return sc.Err()
}

// get returns the median of a metric, or NaN if it was not measured.
func (r results) get(name, unit string) float64 {
	vs := slices.Clone(r[name][unit])
	if len(vs) == 0 {
		return math.NaN()
	}
	slices.Sort(vs)
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[len(vs)/2]
}

// quantile returns the q-quantile of a metric over the runs, linearly
// interpolated between the two nearest runs, or NaN if it was not
// measured.
func (r results) quantile(name, unit string, q float64) float64 {
	vs := slices.Clone(r[name][unit])
	if len(vs) == 0 {
		return math.NaN()
	}
	slices.Sort(vs)
	pos := q * float64(len(vs)-1)
	i := int(pos)
	if i+1 >= len(vs) {
		return vs[len(vs)-1]
	}
	return vs[i] + (pos-float64(i))*(vs[i+1]-vs[i])
}

// spread prints a metric's interquartile range over the runs.
func (r results) spread(name, unit string) string {
	lo, hi := r.quantile(name, unit, 0.25), r.quantile(name, unit, 0.75)
	if math.IsNaN(lo) {
		return "–"
	}
	return num(lo) + "–" + num(hi)
}

// runs returns how many runs a benchmark has.
func (r results) runs(name string) int { return len(r[name]["ns/op"]) }

// rate turns ns/op into operations per second.
func (r results) rate(name string) float64 { return 1e9 / r.get(name, "ns/op") }

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// target prints whether a ratio meets its bound.
func target(w io.Writer, what string, got float64, op string, bound float64) {
	verdict := "**met**"
	switch {
	case math.IsNaN(got):
		verdict = "not measured"
	case op == "≤" && got > bound, op == "≥" && got < bound:
		verdict = "**missed**"
	}
	fmt.Fprintf(w, "- %s: %s (target %s %s) — %s\n", what, num2(got), op, num2(bound), verdict)
}

func num2(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func report(w io.Writer, r results) {
	memoryStore(w, r)
	network(w, r, "Redis", "BenchmarkRedis", []string{"httpstate", "httpstate-cached", "scs"}, "scs")
	network(w, r, "PostgreSQL", "BenchmarkPostgres", []string{"httpstate", "scs"}, "scs")
	hot(w, r)
	cookies(w, r)
	caching(w, r)
	footprint(w, r)
	loopback(w, r)
	targets(w, r)
}

func memoryStore(w io.Writer, r results) {
	fmt.Fprintln(w, "### Memory store: one request at a time")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| request | contestant | ns/op | overhead ns | CPU ns/op | overhead CPU ns | B/op | allocs/op | overhead allocs | httpstate ÷ this, overhead ns | httpstate ÷ this, overhead CPU ns | runs |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, op := range []string{"read", "write"} {
		name := func(c string) string { return "BenchmarkMemoryStore/" + op + "/" + c }
		bare := name("bare")
		hsOver := memoryOverhead(r, op, "httpstate", "ns/op")
		hsCPU := memoryOverhead(r, op, "httpstate", "cpu-ns/op")
		for _, c := range []string{"bare", "httpstate", "scs", "gorilla-cookie", "gorilla-fs"} {
			n := name(c)
			if r.runs(n) == 0 {
				continue
			}
			rt, rc := "", ""
			if c != "bare" && c != "httpstate" {
				rt = ratio(hsOver, memoryOverhead(r, op, c, "ns/op"))
				rc = ratio(hsCPU, memoryOverhead(r, op, c, "cpu-ns/op"))
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", op, c,
				num(r.get(n, "ns/op")), num(r.get(n, "ns/op")-r.get(bare, "ns/op")),
				num(r.get(n, "cpu-ns/op")), num(r.get(n, "cpu-ns/op")-r.get(bare, "cpu-ns/op")),
				num(r.get(n, "B/op")), num(r.get(n, "allocs/op")), num(r.get(n, "allocs/op")-r.get(bare, "allocs/op")), rt, rc, r.runs(n))
		}
	}
	fmt.Fprintln(w)
}

// memoryOverhead is a contestant's median of unit minus the bare
// handler's, in the memory-store benchmark.
func memoryOverhead(r results, op, c, unit string) float64 {
	return r.get("BenchmarkMemoryStore/"+op+"/"+c, unit) - r.get("BenchmarkMemoryStore/"+op+"/bare", unit)
}

// networkRuns are the rows of a networked store's table: the harness
// and the callers of each.
var networkRuns = []struct{ harness, suffix, callers string }{
	{"minimal", "", "1"},
	{"minimal", "", "64"},
	{"httptest", "/httptest", "32"},
}

func network(w io.Writer, r results, title, bench string, libs []string, rival string) {
	fmt.Fprintf(w, "### %s: requests per second\n\n", title)
	fmt.Fprint(w, "| request | harness | callers | bare |")
	for _, l := range libs {
		fmt.Fprintf(w, " %s |", l)
	}
	for _, l := range libs {
		if l != rival {
			fmt.Fprintf(w, " %s ÷ %s |", l, rival)
		}
	}
	fmt.Fprintf(w, " allocs/op (%s) |\n", strings.Join(libs, " · "))
	fmt.Fprint(w, "|---|---|--:|--:|")
	for range libs {
		fmt.Fprint(w, "--:|")
	}
	for _, l := range libs {
		if l != rival {
			fmt.Fprint(w, "--:|")
		}
	}
	fmt.Fprintln(w, "--:|")
	for _, op := range []string{"read", "write"} {
		for _, run := range networkRuns {
			name := func(l string) string { return bench + "/" + l + "/" + op + run.suffix + "/c=" + run.callers }
			if r.runs(name(rival)) == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |", op, run.harness, run.callers, num(r.rate(name("bare"))))
			for _, l := range libs {
				fmt.Fprintf(w, " %s |", num(r.rate(name(l))))
			}
			for _, l := range libs {
				if l != rival {
					fmt.Fprintf(w, " %s |", ratio(r.rate(name(l)), r.rate(name(rival))))
				}
			}
			var allocs []string
			for _, l := range libs {
				allocs = append(allocs, num(r.get(name(l), "allocs/op")))
			}
			fmt.Fprintf(w, " %s |\n", strings.Join(allocs, " · "))
		}
	}
	fmt.Fprintln(w)
}

// hotStores and hotRuns are the rows of the hot-session table.
var (
	hotStores = []string{"memory", "redis", "postgres"}
	hotRuns   = []struct{ mix, callers string }{{"write", "32"}, {"write", "64"}, {"mixed", "32"}, {"mixed", "64"}}
)

// hotName is the hot-session benchmark of a store, library and run.
func hotName(store, lib, mix, callers string) string {
	return "BenchmarkHotSession/" + store + "/" + lib + "/" + mix + "/c=" + callers
}

func hot(w io.Writer, r results) {
	fmt.Fprintln(w, "### Hot session: many concurrent requests on one session")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| store | requests | callers | httpstate req/s | scs req/s | httpstate ÷ scs | httpstate lost updates | scs lost updates | scs lost, % of acknowledged | runs |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, st := range hotStores {
		for _, run := range hotRuns {
			hs, sc := hotName(st, "httpstate", run.mix, run.callers), hotName(st, "scs", run.mix, run.callers)
			if r.runs(hs) == 0 && r.runs(sc) == 0 {
				continue
			}
			requests := "all increments"
			if run.mix == "mixed" {
				requests = "80% reads, 20% increments"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", st, requests, run.callers,
				num(r.get(hs, "req/s")), num(r.get(sc, "req/s")), ratio(r.get(hs, "req/s"), r.get(sc, "req/s")),
				num(r.sum(hs, "lost-updates")), num(r.sum(sc, "lost-updates")), num(r.get(sc, "lost-%")), r.runs(hs))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Requests per second are medians over the runs; lost updates are summed over them, and the share lost is the median of the runs' shares.")
	fmt.Fprintln(w)
}

// sum returns the sum of a metric over the runs, or NaN if it was not
// measured.
func (r results) sum(name, unit string) float64 {
	vs := r[name][unit]
	if len(vs) == 0 {
		return math.NaN()
	}
	var t float64
	for _, v := range vs {
		t += v
	}
	return t
}

func cookies(w io.Writer, r results) {
	fmt.Fprintln(w, "### Client-side cookies: encode + decode of a 200-byte value")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| mode | httpstate ns/op | securecookie ns/op | httpstate ÷ securecookie | httpstate CPU ns/op | securecookie CPU ns/op | httpstate ÷ securecookie, CPU | httpstate allocs/op | securecookie allocs/op | runs |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, mode := range []string{"encrypted", "signed"} {
		hs, sc := "BenchmarkCookie/"+mode+"/httpstate", "BenchmarkCookie/"+mode+"/securecookie"
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", mode,
			num(r.get(hs, "ns/op")), num(r.get(sc, "ns/op")), ratio(r.get(hs, "ns/op"), r.get(sc, "ns/op")),
			num(r.get(hs, "cpu-ns/op")), num(r.get(sc, "cpu-ns/op")), ratio(r.get(hs, "cpu-ns/op"), r.get(sc, "cpu-ns/op")),
			num(r.get(hs, "allocs/op")), num(r.get(sc, "allocs/op")), r.runs(hs))
	}
	fmt.Fprintln(w)
}

// cachingRows lists the stores of the session-caching table, each with the
// scs store it is compared with, if any.
var cachingRows = []struct{ store, rival string }{
	{"httpstate-memory", "scs-memstore"},
	{"scs-memstore", ""},
	{"httpstate-redis", "scs-redisstore"},
	{"httpstate-redis-cached", "scs-redisstore"},
	{"scs-redisstore", ""},
	{"httpstate-postgres", "scs-postgresstore"},
	{"scs-postgresstore", ""},
	{"httpstate-mysql", ""},
	{"httpstate-sqlite", ""},
	{"httpstate-memcached", ""},
}

func caching(w io.Writer, r results) {
	fmt.Fprintln(w, "### Session-caching workload: 80% reads, 20% read-modify-writes, 64 callers")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| keys | store | sessions | ops/s | p50 µs | p99 µs | client CPU µs/op | CAS retries/op | lost updates | lost, % of acknowledged writes | ops/s ÷ scs | runs |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, keys := range []string{"zipf", "uniform"} {
		for _, row := range cachingRows {
			name, sessions := cachingName(r, row.store, keys)
			if name == "" {
				continue
			}
			rt := ""
			if row.rival != "" {
				if rn, _ := cachingName(r, row.rival, keys); rn != "" {
					rt = ratio(r.get(name, "ops/s"), r.get(rn, "ops/s"))
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", keys, row.store, sessions, num(r.get(name, "ops/s")),
				num(r.get(name, "p50-µs")), num(r.get(name, "p99-µs")), num(r.get(name, "cpu-ns/op")/1e3), num(r.get(name, "retries/op")),
				num(r.get(name, "lost-updates")), num(r.get(name, "lost-%")), rt, r.runs(name))
		}
	}
	fmt.Fprintln(w)
}

// cachingName finds the benchmark of a store and key distribution, whose
// last element names the population ("zipf-100k").
func cachingName(r results, store, keys string) (name, sessions string) {
	prefix := "BenchmarkSessionCaching/" + store + "/" + keys + "-"
	for n := range r {
		if s, ok := strings.CutPrefix(n, prefix); ok {
			return n, s
		}
	}
	return "", ""
}

func footprint(w io.Writer, r results) {
	fmt.Fprintln(w, "### Memory store with a million sessions")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| library | heap per session, B | of which the encoded record, B | httpstate ÷ this |")
	fmt.Fprintln(w, "|---|--:|--:|--:|")
	hs := r.get("BenchmarkFootprint/httpstate", "B/session")
	for _, l := range []string{"httpstate", "scs"} {
		n := "BenchmarkFootprint/" + l
		rt := ""
		if l != "httpstate" {
			rt = ratio(hs, r.get(n, "B/session"))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", l, num(r.get(n, "B/session")), num(r.get(n, "record-B")), rt)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| library | expiry sweeper | requests/s | p50 µs | p99 µs | p99 httpstate ÷ this |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|")
	for _, lib := range []string{"httpstate", "scs"} {
		for _, sweep := range []string{"off", "1s"} {
			n, ok := sweeperName(r, lib, sweep)
			if !ok {
				continue
			}
			rt := ""
			if hs, ok := sweeperName(r, "httpstate", sweep); ok && lib != "httpstate" {
				rt = ratio(r.get(hs, "p99-µs"), r.get(n, "p99-µs"))
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", lib, sweep, num(r.rate(n)), num(r.get(n, "p50-µs")), num(r.get(n, "p99-µs")), rt)
		}
	}
	fmt.Fprintln(w)
}

// sweeperName finds the sweeper benchmark of a library and sweep
// interval, whose last element names the population ("sessions=1000k").
func sweeperName(r results, lib, sweep string) (string, bool) {
	prefix := "BenchmarkSweeper/" + lib + "/sweeper=" + sweep + "/"
	for n := range r {
		if strings.HasPrefix(n, prefix) {
			return n, true
		}
	}
	return "", false
}

func loopback(w io.Writer, r results) {
	fmt.Fprintln(w, "### Loopback HTTP load test: 64 keep-alive connections")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| request | endpoint | requests/s | % of bare | % of bare, IQR | server CPU µs/request | % of bare by CPU | % of bare by CPU, IQR | p50 µs | p99 µs | httpstate ÷ this, requests/s | httpstate ÷ this, by CPU | rounds |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, op := range []string{"read", "write"} {
		hs := "BenchmarkLoopback/" + op + "/httpstate"
		for _, c := range []string{"bare", "httpstate", "scs", "gorilla-cookie"} {
			n := "BenchmarkLoopback/" + op + "/" + c
			if r.runs(n) == 0 {
				continue
			}
			rt, rc := "", ""
			if c != "bare" && c != "httpstate" {
				rt = ratio(r.get(hs, "%-of-bare"), r.get(n, "%-of-bare"))
				rc = ratio(r.get(hs, "%-of-bare-by-cpu"), r.get(n, "%-of-bare-by-cpu"))
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", op, c, num(r.get(n, "req/s")),
				num(r.get(n, "%-of-bare")), r.spread(n, "%-of-bare"), num(r.get(n, "server-cpu-µs/op")),
				num(r.get(n, "%-of-bare-by-cpu")), r.spread(n, "%-of-bare-by-cpu"),
				num(r.get(n, "p50-µs")), num(r.get(n, "p99-µs")), rt, rc, r.runs(n))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each figure is the median over the rounds, and IQR the range of the middle half of them. \"% of bare\" compares each round's requests per second with the bare endpoint's in the same round; \"by CPU\" compares the server's CPU time per request the same way (the bare endpoint's over this one's), which time taken by the machine's other tenants does not move.")
	fmt.Fprintln(w)
}

func targets(w io.Writer, r results) {
	fmt.Fprintln(w, "### Targets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Hot sessions (one session, many concurrent requests):")
	fmt.Fprintln(w)
	lost := math.NaN()
	for _, st := range hotStores {
		for _, run := range hotRuns {
			hs, sc := hotName(st, "httpstate", run.mix, run.callers), hotName(st, "scs", run.mix, run.callers)
			what := "increments"
			if run.mix == "mixed" {
				what = "80/20 reads/increments"
			}
			target(w, fmt.Sprintf("hot session, %s, %s callers, %s: httpstate ÷ scs requests/s", st, run.callers, what), r.get(hs, "req/s")/r.get(sc, "req/s"), "≥", 1)
			if l := r.sum(hs, "lost-updates"); math.IsNaN(lost) {
				lost = l // NaN until a run is measured
			} else if !math.IsNaN(l) {
				lost += l
			}
		}
	}
	target(w, "hot session, every store and run: httpstate's lost updates", lost, "≤", 0)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Real HTTP (loopback) and allocations:")
	fmt.Fprintln(w)
	for _, t := range []struct {
		op    string
		bound float64
	}{{"read", 0.95}, {"write", 0.90}} {
		n := "BenchmarkLoopback/" + t.op + "/httpstate"
		target(w, "loopback HTTP, "+t.op+": httpstate ÷ bare requests/s (median of rounds)", r.get(n, "%-of-bare")/100, "≥", t.bound)
		target(w, "loopback HTTP, "+t.op+": bare ÷ httpstate server CPU per request (median of rounds)", r.get(n, "%-of-bare-by-cpu")/100, "≥", t.bound)
	}
	target(w, "memory store, read: httpstate's allocations beyond the bare handler's", memoryOverhead(r, "read", "httpstate", "allocs/op"), "≤", 3)
	target(w, "memory store, write: httpstate's allocations beyond the bare handler's", memoryOverhead(r, "write", "httpstate", "allocs/op"), "≤", 5)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Redis, 64 callers in the minimal harness and 32 in the httptest harness:")
	fmt.Fprintln(w)
	rr := func(l, op, run string) float64 { return r.rate("BenchmarkRedis/" + l + "/" + op + run) }
	for _, h := range []struct{ name, run string }{{"minimal harness, 64 callers", "/c=64"}, {"httptest harness, 32 callers", "/httptest/c=32"}} {
		for _, op := range []string{"read", "write"} {
			target(w, "Redis, "+h.name+", "+op+": httpstate ÷ scs requests/s", rr("httpstate", op, h.run)/rr("scs", op, h.run), "≥", 2)
		}
	}
	target(w, "Redis, minimal harness, 64 callers, read, client-side cache: httpstate ÷ scs requests/s", rr("httpstate-cached", "read", "/c=64")/rr("scs", "read", "/c=64"), "≥", 5)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Session-caching workload (80% reads, 20% read-modify-writes, 64 callers):")
	fmt.Fprintln(w)
	for _, t := range []struct{ store, rival, keys string }{
		{"httpstate-postgres", "scs-postgresstore", "zipf"},
		{"httpstate-postgres", "scs-postgresstore", "uniform"},
		{"httpstate-redis-cached", "scs-redisstore", "zipf"},
		{"httpstate-redis-cached", "scs-redisstore", "uniform"},
	} {
		hs, _ := cachingName(r, t.store, t.keys)
		sc, _ := cachingName(r, t.rival, t.keys)
		target(w, fmt.Sprintf("session caching, %s keys: %s ÷ %s ops/s", t.keys, t.store, t.rival), r.get(hs, "ops/s")/r.get(sc, "ops/s"), "≥", 1)
	}
	lost = math.NaN()
	for _, row := range cachingRows {
		for _, keys := range []string{"zipf", "uniform"} {
			n, _ := cachingName(r, row.store, keys)
			if !strings.HasPrefix(row.store, "httpstate-") || n == "" {
				continue
			}
			if math.IsNaN(lost) {
				lost = 0
			}
			lost += r.sum(n, "lost-updates")
		}
	}
	target(w, "session caching, every httpstate store: lost updates", lost, "≤", 0)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Memory store (one request at a time):")
	fmt.Fprintln(w)
	for _, op := range []string{"read", "write"} {
		target(w, "memory store, "+op+": httpstate's overhead ÷ scs's", memoryOverhead(r, op, "httpstate", "ns/op")/memoryOverhead(r, op, "scs", "ns/op"), "≤", 0.05)
		target(w, "memory store, "+op+": httpstate's overhead ÷ scs's, in CPU time", memoryOverhead(r, op, "httpstate", "cpu-ns/op")/memoryOverhead(r, op, "scs", "cpu-ns/op"), "≤", 0.05)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Client-side cookies:")
	fmt.Fprintln(w)
	cookie := func(mode string) float64 {
		return r.get("BenchmarkCookie/"+mode+"/httpstate", "ns/op") / r.get("BenchmarkCookie/"+mode+"/securecookie", "ns/op")
	}
	target(w, "cookies, encrypted: httpstate's seal+open time ÷ securecookie's encode+decode", cookie("encrypted"), "≤", 0.2)
	target(w, "cookies, signed: httpstate's sign+verify time ÷ securecookie's encode+decode", cookie("signed"), "≤", 0.2)
	fmt.Fprintln(w)
}
