// Command loadtest measures the session middleware over real HTTP on the
// loopback interface: the same endpoint served bare and behind each
// library's middleware, hit by many keep-alive connections. It prints one
// line per endpoint and round in the format of "go test -bench", with
// requests per second, the server's CPU time per request and latency
// percentiles, so the benchtable command reads it like every other
// result.
//
// Each server runs in a child process of its own (this program, started
// again with -serve), so the load generator's work and garbage never share
// a Go runtime with the server it measures. Every endpoint's server is
// started once per request kind and stays up; the load then moves from one
// to the next in short slices, round after round, each round visiting the
// endpoints in the opposite order to the one before. A slow drift in what
// else the machine runs then weighs on every endpoint alike, and each
// endpoint's rate is reported as a share of the bare endpoint's rate in
// the same round.
//
// The server's CPU time per request comes from the child's own
// getrusage, read at the start and end of each slice: unlike the rate, it
// does not fall when the machine's other tenants take the CPU away, so it
// is the steadier measure of what the middleware costs.
//
// The load generator speaks HTTP/1.1 over raw TCP connections, one
// request in flight per connection, and does little more than write a
// fixed request and read the response, so that as much CPU as possible is
// left to the server.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gorilla/sessions"
	"github.com/httpstate/httpstate/bench"
	"github.com/httpstate/httpstate/store/memory"
)

func main() {
	var (
		serve    = flag.String("serve", "", "internal: serve the named contestant, print its address and session cookies, and answer CPU-time queries on standard input")
		duration = flag.Duration("duration", 500*time.Millisecond, "how long each slice of load on one endpoint is measured")
		warmup   = flag.Duration("warmup", 100*time.Millisecond, "load at the start of each slice that is not counted")
		conns    = flag.Int("conns", 64, "concurrent keep-alive connections per endpoint, each with a session of its own")
		rounds   = flag.Int("rounds", 25, "slices of load on each endpoint, interleaved so that drifts in machine load hit every endpoint alike")
		names    = flag.String("contestants", "bare,httpstate,scs,gorilla-cookie", "comma-separated endpoints to measure; the first is the one the others are compared with")
		ops      = flag.String("ops", "read", "comma-separated request kinds: read (GET reads one int) and write (POST puts one int)")
		profile  = flag.String("cpuprofile", "", "write each server's CPU profile to this file, suffixed with the endpoint and request kind")
		pin      = flag.String("server-cpus", "", "run the servers on these CPUs (a taskset list such as 1), so that they never share a CPU with the load generator, which should then be pinned to the others")
	)
	flag.Parse()
	log.SetFlags(0)
	if *serve != "" {
		if err := runServer(*serve, *conns, *profile); err != nil {
			log.Fatal(err)
		}
		return
	}
	fmt.Printf("goos: %s\ngoarch: %s\npkg: github.com/httpstate/httpstate/bench/cmd/loadtest\n", runtime.GOOS, runtime.GOARCH)
	for _, op := range strings.Split(*ops, ",") {
		method := http.MethodGet
		if op == "write" {
			method = http.MethodPost
		} else if op != "read" {
			log.Fatalf("unknown op %q", op)
		}
		if err := runOp(op, method, strings.Split(*names, ","), *conns, *rounds, *warmup, *duration, *profile, *pin); err != nil {
			log.Fatalf("%s: %v", op, err)
		}
	}
}

// runOp starts every endpoint's server, measures rounds slices of each,
// and prints a line per slice.
func runOp(op, method string, names []string, conns, rounds int, warmup, duration time.Duration, profile, pin string) error {
	eps := make([]*endpoint, 0, len(names))
	defer func() {
		for _, e := range eps {
			e.close()
		}
	}()
	for _, name := range names {
		prof := ""
		if profile != "" {
			prof = fmt.Sprintf("%s.%s.%s", profile, name, op)
		}
		e, err := start(name, method, conns, prof, pin)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		eps = append(eps, e)
	}
	order := slices.Clone(eps)
	for round := range rounds {
		// Every round visits the endpoints in the opposite order to the
		// one before, so none always follows the same neighbour.
		res := make(map[*endpoint]*result, len(eps))
		for _, e := range order {
			r, err := e.slice(warmup, duration)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", e.name, round+1, err)
			}
			res[e] = r
		}
		slices.Reverse(order)
		base := res[eps[0]]
		for _, e := range eps {
			report(op, e.name, res[e], base)
		}
	}
	return nil
}

// report prints one slice's line. The shares of the base endpoint compare
// the slice with the base endpoint's slice of the same round: by rate, and
// by server CPU time per request (the base's time over this one's, so
// that both read as "this endpoint's throughput as a share of the base's").
func report(op, name string, r, base *result) {
	rate := float64(r.requests) / r.elapsed.Seconds()
	bareRate := float64(base.requests) / base.elapsed.Seconds()
	cpu := us(r.serverCPU) / float64(r.requests)
	bareCPU := us(base.serverCPU) / float64(base.requests)
	fmt.Printf("BenchmarkLoopback/%s/%s-%d\t%d\t%.1f ns/op\t%.0f req/s\t%.1f %%-of-bare\t%.2f server-cpu-µs/op\t%.1f %%-of-bare-by-cpu\t%.1f p50-µs\t%.1f p90-µs\t%.1f p99-µs\t%.1f max-µs\t%d errors\n",
		op, name, runtime.GOMAXPROCS(0), r.requests, float64(r.elapsed.Nanoseconds())/float64(r.requests), rate,
		100*rate/bareRate, cpu, 100*bareCPU/cpu,
		us(r.hist.Quantile(0.5)), us(r.hist.Quantile(0.9)), us(r.hist.Quantile(0.99)), us(r.hist.Max()), r.errors)
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// contestant returns the named endpoint with an in-process store, as
// BenchmarkMemoryStore builds it.
func contestant(name string) (bench.Contestant, error) {
	switch name {
	case "bare":
		return bench.Bare(), nil
	case "httpstate":
		return bench.Httpstate(name, memory.New())
	case "scs":
		sm := scs.New()
		sm.Store = memstore.New()
		return bench.SCS(name, sm), nil
	case "gorilla-cookie":
		return bench.Gorilla(name, sessions.NewCookieStore(bytes.Repeat([]byte{'h'}, 32), bytes.Repeat([]byte{'b'}, 32))), nil
	}
	return bench.Contestant{}, fmt.Errorf("unknown contestant %q", name)
}

// runServer is the child process: it creates n sessions, prints the
// listening address and then one cookie per line, and an empty line. It
// then serves, and answers each line on its standard input with a line
// holding the CPU time, in nanoseconds, that the process has used so far,
// until its standard input closes. With a profile path it records a CPU
// profile of the serving.
func runServer(name string, n int, profile string) error {
	c, err := contestant(name)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, ln.Addr())
	for range n {
		cookie := "session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		if name != "bare" {
			if cookie, err = bench.SessionCookie(c.Handler); err != nil {
				return err
			}
		}
		fmt.Fprintln(out, cookie)
	}
	fmt.Fprintln(out)
	if err := out.Flush(); err != nil {
		return err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	srv := &http.Server{Handler: c.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		// The parent asks for the CPU time with a line, and closes
		// standard input (or dies) when the server should stop.
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				log.Printf("getrusage: %v", err)
				break
			}
			fmt.Fprintln(out, ru.Utime.Nano()+ru.Stime.Nano())
			if err := out.Flush(); err != nil {
				break
			}
		}
		srv.Close()
	}()
	signal.Ignore(os.Interrupt) // the parent decides when the server stops
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type result struct {
	requests  uint64
	errors    uint64
	elapsed   time.Duration
	serverCPU time.Duration
	hist      bench.Histogram
}

// An endpoint is one contestant's server process and the load
// generator's connections to it.
type endpoint struct {
	name   string
	method string
	want   string // the body of every correct response
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner

	addr    string
	cookies []string  // one per connection, each naming a session of its own
	conns   []*client // open from the first slice on
}

// start starts the named server and connects to it.
func start(name, method string, conns int, profile, cpus string) (*endpoint, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{self, "-serve", name, "-conns", strconv.Itoa(conns), "-cpuprofile", profile}
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	e := &endpoint{name: name, method: method, want: "42", cmd: exec.Command(args[0], args[1:]...)}
	switch {
	case method == http.MethodPost:
		e.want = "ok"
	case name == "bare":
		e.want = "0"
	}
	e.cmd.Stderr = os.Stderr
	if e.stdin, err = e.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := e.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	e.out = bufio.NewScanner(stdout)
	var lines []string
	for e.out.Scan() && e.out.Text() != "" {
		lines = append(lines, e.out.Text())
	}
	if len(lines) != conns+1 {
		e.close()
		return nil, fmt.Errorf("server printed %d lines, want an address and %d cookies: %v", len(lines), conns, e.out.Err())
	}
	e.addr, e.cookies = lines[0], lines[1:]
	return e, nil
}

// connect opens the endpoint's connections, if it has none yet. It is
// called at the start of the endpoint's first slice, not when the server
// starts: net/http's ReadHeaderTimeout runs from the moment a connection
// is accepted until its first request arrives, and the endpoints measured
// before this one may take longer than that.
func (e *endpoint) connect() error {
	if e.conns != nil {
		return nil
	}
	for _, cookie := range e.cookies {
		c, err := dial(e.addr, e.method, cookie)
		if err != nil {
			return err
		}
		e.conns = append(e.conns, c)
	}
	return nil
}

// cpu returns the CPU time the server process has used so far.
func (e *endpoint) cpu() (time.Duration, error) {
	if _, err := io.WriteString(e.stdin, "cpu\n"); err != nil {
		return 0, err
	}
	if !e.out.Scan() {
		return 0, fmt.Errorf("server stopped answering: %v", e.out.Err())
	}
	ns, err := strconv.ParseInt(e.out.Text(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("server answered %q to a CPU-time query", e.out.Text())
	}
	return time.Duration(ns), nil
}

// close closes the connections and stops the server.
func (e *endpoint) close() {
	for _, c := range e.conns {
		c.conn.Close()
	}
	e.stdin.Close()
	e.cmd.Wait()
}

// slice loads the endpoint on every connection for warmup plus duration
// and returns what happened during duration. Every connection's request
// in flight completes before it returns, so the next slice starts with
// this server idle.
func (e *endpoint) slice(warmup, duration time.Duration) (*result, error) {
	var (
		counting, stop atomic.Bool
		mu             sync.Mutex
		wg             sync.WaitGroup
		res            = &result{}
		failed         = make(chan error, len(e.cookies))
	)
	if err := e.connect(); err != nil {
		return nil, err
	}
	for _, c := range e.conns {
		wg.Go(func() {
			h := new(bench.Histogram)
			var errs uint64
			if err := c.drive(e.want, &stop, &counting, h, &errs); err != nil {
				failed <- err
			}
			mu.Lock()
			res.hist.Merge(h)
			res.errors += errs
			mu.Unlock()
		})
	}
	time.Sleep(warmup)
	cpu0, err0 := e.cpu()
	counting.Store(true)
	begin := time.Now()
	time.Sleep(duration)
	counting.Store(false)
	res.elapsed = time.Since(begin)
	cpu1, err1 := e.cpu()
	stop.Store(true)
	wg.Wait()
	close(failed)
	if err := errors.Join(<-failed, err0, err1); err != nil {
		return nil, err
	}
	res.serverCPU = cpu1 - cpu0
	res.requests = res.hist.Count()
	if res.requests == 0 {
		return nil, errors.New("no request completed")
	}
	return res, nil
}

// A client is one keep-alive connection and the request it sends.
type client struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
	body []byte
}

func dial(addr, method, cookie string) (*client, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &client{
		conn: conn,
		r:    bufio.NewReaderSize(conn, 4096),
		req: []byte(method + " / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: " + bench.UserAgent +
			"\r\nAccept: text/html\r\nCookie: " + cookie + "\r\nContent-Length: 0\r\n\r\n"),
		body: make([]byte, 0, 64),
	}, nil
}

// drive sends requests on the connection until stop, recording the
// latency of those completed while counting is set. A response other
// than 200 with the body want counts as an error; a broken connection
// ends the run.
func (c *client) drive(want string, stop, counting *atomic.Bool, h *bench.Histogram, errs *uint64) error {
	for !stop.Load() {
		start := time.Now()
		if _, err := c.conn.Write(c.req); err != nil {
			return err
		}
		status, n, err := readResponse(c.r)
		if err != nil {
			return err
		}
		if n > cap(c.body) {
			c.body = make([]byte, n)
		}
		c.body = c.body[:n]
		if _, err := io.ReadFull(c.r, c.body); err != nil {
			return err
		}
		if counting.Load() {
			h.Record(time.Since(start))
			if status != http.StatusOK || string(c.body) != want {
				*errs++
			}
		}
	}
	return nil
}

// readResponse reads a status line and headers and returns the status and
// Content-Length. net/http's server sets Content-Length on these small
// responses, so no chunked decoding is needed.
func readResponse(r *bufio.Reader) (status, length int, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	length = -1
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return 0, 0, err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "Content-Length") {
			length, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return 0, 0, fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	if length < 0 || length > 1<<16 {
		return 0, 0, fmt.Errorf("response without a usable Content-Length (%d)", length)
	}
	return status, length, nil
}
