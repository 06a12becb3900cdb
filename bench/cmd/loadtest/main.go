// Command loadtest measures the session middleware over real HTTP on the
// loopback interface: the same endpoint served bare and behind each
// library's middleware, hit by many keep-alive connections for a fixed
// time. It prints one line per endpoint in the format of "go test -bench",
// with requests per second and latency percentiles, so the benchtable
// command reads it like every other result.
//
// Each server runs in a child process of its own (this program, started
// again with -serve), so the load generator's work and garbage never share
// a Go runtime with the server it measures. The load generator speaks
// HTTP/1.1 over raw TCP connections, one request in flight per
// connection, and does little more than write a fixed request and read
// the response, so that as much CPU as possible is left to the server.
package main

import (
	"bufio"
	"bytes"
	"context"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gorilla/sessions"
	"github.com/httpstate/httpstate/bench"
	"github.com/httpstate/httpstate/store/memory"
)

func main() {
	var (
		serve    = flag.String("serve", "", "internal: serve the named contestant and print its address and session cookies")
		duration = flag.Duration("duration", 5*time.Second, "how long each measurement lasts")
		warmup   = flag.Duration("warmup", time.Second, "load before each measurement that is not counted")
		conns    = flag.Int("conns", 64, "concurrent keep-alive connections, each with a session of its own")
		rounds   = flag.Int("rounds", 3, "measurements of each endpoint, interleaved so that drifts in machine load hit every endpoint alike")
		names    = flag.String("contestants", "bare,httpstate,scs,gorilla-cookie", "comma-separated endpoints to measure")
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
		for round := range *rounds {
			// Each round measures every endpoint once, bare first, and
			// reports each one's rate as a share of the bare rate of the
			// same round: a slow drift in what else the machine runs
			// then moves both sides of the ratio alike.
			var bare, bareCPU float64
			for _, name := range strings.Split(*names, ",") {
				prof := ""
				if *profile != "" {
					prof = fmt.Sprintf("%s.%s.%s.%d", *profile, name, op, round+1)
				}
				res, err := measure(name, method, *conns, *warmup, *duration, prof, *pin)
				if err != nil {
					log.Fatalf("%s %s round %d: %v", name, op, round+1, err)
				}
				rate := float64(res.requests) / res.elapsed.Seconds()
				cpu := us(res.serverCPU) / float64(res.requests)
				if name == "bare" {
					bare, bareCPU = rate, cpu
				}
				extra := ""
				if bare > 0 {
					extra += fmt.Sprintf("\t%.1f %%-of-bare", 100*rate/bare)
				}
				if res.serverCPU > 0 {
					extra += fmt.Sprintf("\t%.2f server-cpu-µs/op", cpu)
					if bareCPU > 0 {
						extra += fmt.Sprintf("\t%.1f %%-of-bare-by-cpu", 100*bareCPU/cpu)
					}
				}
				fmt.Printf("BenchmarkLoopback/%s/%s-%d\t%d\t%.1f ns/op\t%.0f req/s%s\t%.1f p50-µs\t%.1f p90-µs\t%.1f p99-µs\t%.1f max-µs\t%d errors\n",
					op, name, runtime.GOMAXPROCS(0), res.requests, float64(res.elapsed.Nanoseconds())/float64(res.requests), rate, extra,
					us(res.hist.Quantile(0.5)), us(res.hist.Quantile(0.9)), us(res.hist.Quantile(0.99)), us(res.hist.Max()), res.errors)
			}
		}
	}
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
// listening address and then one cookie per line, an empty line, and
// serves until its standard input closes. With a profile path it records
// a CPU profile of the serving.
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
		io.Copy(io.Discard, os.Stdin) // the parent closes stdin, or dies
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
	serverCPU time.Duration // 0 where /proc is not available
	hist      bench.Histogram
}

// cpuTime returns the user and system CPU time a process has used so far,
// from /proc (Linux), in clock ticks of 10ms: fine enough over a
// measurement of seconds. The server's CPU time per request is a far
// steadier measure of its cost than its throughput on a machine shared
// with other work.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; the fields
	// counted from 3 start after it. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on every Linux architecture Go supports
	return time.Duration(utime+stime) * tick, nil
}

// measure starts the named server, loads it for warmup plus duration and
// returns what happened during duration.
func measure(name, method string, conns int, warmup, duration time.Duration, profile, cpus string) (*result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{self, "-serve", name, "-conns", strconv.Itoa(conns), "-cpuprofile", profile}
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	var lines []string
	for sc.Scan() && sc.Text() != "" {
		lines = append(lines, sc.Text())
	}
	if len(lines) != conns+1 {
		return nil, fmt.Errorf("server %s printed %d lines, want an address and %d cookies: %v", name, len(lines), conns, sc.Err())
	}
	addr, cookies := lines[0], lines[1:]

	want := "42"
	switch {
	case method == http.MethodPost:
		want = "ok"
	case name == "bare":
		want = "0"
	}
	var (
		counting atomic.Bool
		stop     atomic.Bool
		mu       sync.Mutex
		res      = &result{}
		wg       sync.WaitGroup
		failed   = make(chan error, conns)
	)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := new(bench.Histogram)
			var errs uint64
			err := drive(addr, method, cookies[i], want, &stop, &counting, h, &errs)
			if err != nil {
				failed <- err
			}
			mu.Lock()
			res.hist.Merge(h)
			res.errors += errs
			mu.Unlock()
		}()
	}
	time.Sleep(warmup)
	cpu0, cpuErr := cpuTime(cmd.Process.Pid)
	counting.Store(true)
	start := time.Now()
	time.Sleep(duration)
	counting.Store(false)
	res.elapsed = time.Since(start)
	cpu1, err := cpuTime(cmd.Process.Pid)
	if cpuErr == nil && err == nil {
		res.serverCPU = cpu1 - cpu0
	}
	stop.Store(true)
	wg.Wait()
	close(failed)
	if err := <-failed; err != nil {
		return nil, err
	}
	res.requests = res.hist.Count()
	if res.requests == 0 {
		return nil, errors.New("no request completed")
	}
	return res, nil
}

// drive sends requests on one keep-alive connection until stop, recording
// the latency of those completed while counting is set. A response other
// than 200 with the expected body counts as an error; a broken connection
// ends the run.
func drive(addr, method, cookie, want string, stop, counting *atomic.Bool, h *bench.Histogram, errs *uint64) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := []byte(method + " / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: " + bench.UserAgent +
		"\r\nAccept: text/html\r\nCookie: " + cookie + "\r\nContent-Length: 0\r\n\r\n")
	r := bufio.NewReaderSize(conn, 4096)
	body := make([]byte, 0, 64)
	for !stop.Load() {
		start := time.Now()
		if _, err := conn.Write(req); err != nil {
			return err
		}
		status, n, err := readResponse(r)
		if err != nil {
			return err
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		if counting.Load() {
			h.Record(time.Since(start))
			if status != http.StatusOK || string(body) != want {
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
