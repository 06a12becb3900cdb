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
	cookies(w, r)
	caching(w, r)
	footprint(w, r)
	loopback(w, r)
	targets(w, r)
}

func memoryStore(w io.Writer, r results) {
	fmt.Fprintln(w, "### Memory store: one request at a time")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| request | contestant | ns/op | overhead ns | B/op | allocs/op | overhead allocs | httpstate ÷ this, overhead ns | httpstate ÷ this, overhead allocs | runs |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, op := range []string{"read", "write"} {
		name := func(c string) string { return "BenchmarkMemoryStore/" + op + "/" + c }
		bareNs, bareAllocs := r.get(name("bare"), "ns/op"), r.get(name("bare"), "allocs/op")
		hsOver := r.get(name("httpstate"), "ns/op") - bareNs
		hsAllocs := r.get(name("httpstate"), "allocs/op") - bareAllocs
		for _, c := range []string{"bare", "httpstate", "scs", "gorilla-cookie", "gorilla-fs"} {
			n := name(c)
			if r.runs(n) == 0 {
				continue
			}
			over := r.get(n, "ns/op") - bareNs
			overAllocs := r.get(n, "allocs/op") - bareAllocs
			rt, ra := "", ""
			if c != "bare" && c != "httpstate" {
				rt, ra = ratio(hsOver, over), ratio(hsAllocs, overAllocs)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", op, c,
				num(r.get(n, "ns/op")), num(over), num(r.get(n, "B/op")), num(r.get(n, "allocs/op")), num(overAllocs), rt, ra, r.runs(n))
		}
	}
	fmt.Fprintln(w)
}

func network(w io.Writer, r results, title, bench string, libs []string, rival string) {
	fmt.Fprintf(w, "### %s: requests per second\n\n", title)
	fmt.Fprint(w, "| request | callers | bare |")
	for _, l := range libs {
		fmt.Fprintf(w, " %s |", l)
	}
	for _, l := range libs {
		if l != rival {
			fmt.Fprintf(w, " %s ÷ %s |", l, rival)
		}
	}
	fmt.Fprintf(w, " allocs/op (%s) |\n", strings.Join(libs, " · "))
	fmt.Fprint(w, "|---|--:|--:|")
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
		for _, c := range []string{"1", "64"} {
			name := func(l string) string { return bench + "/" + l + "/" + op + "/c=" + c }
			fmt.Fprintf(w, "| %s | %s | %s |", op, c, num(r.rate(name("bare"))))
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
	fmt.Fprintln(w, "| keys | store | sessions | ops/s | p50 µs | p99 µs | CAS retries/op | ops/s ÷ scs | runs |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|")
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
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", keys, row.store, sessions, num(r.get(name, "ops/s")),
				num(r.get(name, "p50-µs")), num(r.get(name, "p99-µs")), num(r.get(name, "retries/op")), rt, r.runs(name))
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
	fmt.Fprintln(w, "| request | endpoint | requests/s | % of bare | server CPU µs/request | p50 µs | p90 µs | p99 µs | httpstate ÷ this, requests/s | rounds |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, op := range []string{"read", "write"} {
		hs := r.get("BenchmarkLoopback/"+op+"/httpstate", "req/s")
		for _, c := range []string{"bare", "httpstate", "scs", "gorilla-cookie"} {
			n := "BenchmarkLoopback/" + op + "/" + c
			if r.runs(n) == 0 {
				continue
			}
			rt := ""
			if c != "bare" && c != "httpstate" {
				rt = ratio(hs, r.get(n, "req/s"))
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", op, c, num(r.get(n, "req/s")),
				num(r.get(n, "%-of-bare")), num(r.get(n, "server-cpu-µs/op")),
				num(r.get(n, "p50-µs")), num(r.get(n, "p90-µs")), num(r.get(n, "p99-µs")), rt, r.runs(n))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each figure is the median over the rounds; \"% of bare\" is the median of each round's ratio to the bare endpoint measured just before it.")
	fmt.Fprintln(w)
}

func targets(w io.Writer, r results) {
	fmt.Fprintln(w, "### Targets")
	fmt.Fprintln(w)
	over := func(op, c string, unit string) float64 {
		return r.get("BenchmarkMemoryStore/"+op+"/"+c, unit) - r.get("BenchmarkMemoryStore/"+op+"/bare", unit)
	}
	target(w, "memory store, read: httpstate's overhead ÷ scs's", over("read", "httpstate", "ns/op")/over("read", "scs", "ns/op"), "≤", 0.2)
	target(w, "memory store, write: httpstate's overhead ÷ scs's", over("write", "httpstate", "ns/op")/over("write", "scs", "ns/op"), "≤", 1.0/3)
	target(w, "memory store, read: httpstate's allocations ÷ scs's", r.get("BenchmarkMemoryStore/read/httpstate", "allocs/op")/r.get("BenchmarkMemoryStore/read/scs", "allocs/op"), "≤", 0.25)
	target(w, "memory store, write: httpstate's allocations ÷ scs's", r.get("BenchmarkMemoryStore/write/httpstate", "allocs/op")/r.get("BenchmarkMemoryStore/write/scs", "allocs/op"), "≤", 0.25)
	rr := func(l, op string) float64 { return r.rate("BenchmarkRedis/" + l + "/" + op + "/c=64") }
	target(w, "Redis, 64 callers, read: httpstate ÷ scs requests/s", rr("httpstate", "read")/rr("scs", "read"), "≥", 2)
	target(w, "Redis, 64 callers, write: httpstate ÷ scs requests/s", rr("httpstate", "write")/rr("scs", "write"), "≥", 1.5)
	target(w, "Redis, 64 callers, read, client-side cache: httpstate ÷ scs requests/s", rr("httpstate-cached", "read")/rr("scs", "read"), "≥", 5)
	cookie := func(mode string) float64 {
		return r.get("BenchmarkCookie/"+mode+"/httpstate", "ns/op") / r.get("BenchmarkCookie/"+mode+"/securecookie", "ns/op")
	}
	target(w, "cookies, encrypted: httpstate's seal+open time ÷ securecookie's encode+decode", cookie("encrypted"), "≤", 0.2)
	target(w, "cookies, signed: httpstate's sign+verify time ÷ securecookie's encode+decode", cookie("signed"), "≤", 0.2)
	target(w, "loopback HTTP, read: httpstate ÷ bare requests/s (median of rounds)", r.get("BenchmarkLoopback/read/httpstate", "%-of-bare")/100, "≥", 0.85)
	if r.runs("BenchmarkLoopback/write/httpstate") > 0 {
		target(w, "loopback HTTP, write: httpstate ÷ bare requests/s (median of rounds)", r.get("BenchmarkLoopback/write/httpstate", "%-of-bare")/100, "≥", 0.85)
	}
	fmt.Fprintln(w)
}
