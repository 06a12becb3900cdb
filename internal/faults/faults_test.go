package faults

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/cookie"
	"github.com/httpstate/httpstate/session"
)

// storeTimeout is the Manager's bound on each store call during the fault
// scenarios; a request makes at most a few store calls, so no request may
// take longer than maxLatency.
const (
	storeTimeout = 500 * time.Millisecond
	maxLatency   = 5 * time.Second
	workers      = 8
)

// outcome counts what one load worker saw.
type outcome struct {
	ok, unavailable atomic.Int64 // read by the test while workers run
	last            int          // the counter value of the last 200
}

// scenario runs steady load through the session middleware on store, calls
// kill mid-load, keeps the load on during the outage, calls restart, and
// checks every promise of the fault test: only correct answers or the
// clear 503; no panic; no request slower than maxLatency; service resumes
// without restarting the app; no acknowledged update lost; data saved
// before the fault intact (when persists); no goroutine leak once the
// store is closed.
func scenario(t *testing.T, newStore func() (session.Store, func()), kill, restart func(), persists bool) {
	baseline := runtime.NumGoroutine()
	store, closeStore := newStore()

	var panics atomic.Int64
	m, err := session.New(store, session.Options{
		StoreTimeout: storeTimeout,
		Cookie:       cookie.Attributes{Insecure: true},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)), // hundreds of expected 503s
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := session.Update(session.FromContext(r.Context()), "n", func(n int) int { return n + 1 })
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("POST /keep", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put("keep", "intact")
	})
	mux.HandleFunc("GET /keep", func(w http.ResponseWriter, r *http.Request) {
		v, _ := session.Get[string](session.FromContext(r.Context()), "keep")
		fmt.Fprint(w, v)
	})
	recoverer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if p := recover(); p != nil {
					panics.Add(1)
					t.Errorf("panic serving %s: %v", r.URL.Path, p)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(recoverer(m.Middleware(mux)))
	client := &http.Client{Timeout: 2 * maxLatency}

	// post sends one request with the given token and returns status, body
	// and the token the server set (or the one sent).
	post := func(method, path, token string) (int, string, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Cookie", m.CookieName()+"="+token)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if d := time.Since(start); d > maxLatency {
			t.Errorf("%s %s took %v; the bound is %v", method, path, d, maxLatency)
		}
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return 0, "", token
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, c := range resp.Cookies() {
			if c.Name == m.CookieName() && c.MaxAge >= 0 {
				token = c.Value
			}
		}
		return resp.StatusCode, string(body), token
	}

	status, _, keeper := post("POST", "/keep", "")
	if status != 200 || keeper == "" {
		t.Fatalf("setting up the kept session: status %d", status)
	}

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		outcomes [workers]outcome
		tokens   [workers]string
		afterUp  atomic.Int64 // successes after the restart
		restored atomic.Bool
	)
	for i := range workers {
		wg.Go(func() {
			o := &outcomes[i]
			for !stop.Load() {
				status, body, tok := post("POST", "/incr", tokens[i])
				switch status {
				case http.StatusOK:
					n, err := strconv.Atoi(body)
					if err != nil || n <= o.last {
						t.Errorf("worker %d: counter went from %d to %q", i, o.last, body)
					}
					if tokens[i] == "" {
						tokens[i] = tok
					}
					o.ok.Add(1)
					o.last = n
					if restored.Load() {
						afterUp.Add(1)
					}
				case http.StatusServiceUnavailable:
					o.unavailable.Add(1)
				default:
					t.Errorf("worker %d: status %d %q; want 200 or the clear 503", i, status, strings.TrimSpace(body))
					time.Sleep(10 * time.Millisecond) // a failing run should not spin
				}
			}
		})
	}

	sum := func(f func(*outcome) int64) int64 {
		n := int64(0)
		for i := range outcomes {
			n += f(&outcomes[i])
		}
		return n
	}
	okCount := func(o *outcome) int64 { return o.ok.Load() }
	unavailableCount := func(o *outcome) int64 { return o.unavailable.Load() }
	waitFor(t, "load to be served before the fault", func() bool { return sum(okCount) > 100 })
	kill()
	waitFor(t, "503s during the outage", func() bool { return sum(unavailableCount) > workers })
	restart()
	restored.Store(true)
	waitFor(t, "service to resume without restarting the app", func() bool { return afterUp.Load() > 50 })
	stop.Store(true)
	wg.Wait()

	for i := range outcomes {
		if tokens[i] == "" {
			continue // never got a session: every attempt hit the outage
		}
		_, body, _ := post("POST", "/incr", tokens[i])
		n, _ := strconv.Atoi(body)
		ok, failed := int(outcomes[i].ok.Load()), int(outcomes[i].unavailable.Load())
		// Every 200 is an applied increment; a 503 may or may not have
		// been applied (a store can fail after committing), so the counter
		// lies between the acknowledged and the attempted counts.
		if n-1 < ok || n-1 > ok+failed {
			t.Errorf("worker %d: counter %d after %d acknowledged and %d failed increments: an acknowledged update was lost",
				i, n-1, ok, failed)
		}
	}
	if persists {
		if _, body, _ := post("GET", "/keep", keeper); body != "intact" {
			t.Errorf("session saved before the fault came back as %q; want it intact", body)
		}
	}
	t.Logf("%d requests answered correctly, %d with the clear 503, %d panics", sum(okCount), sum(unavailableCount), panics.Load())

	srv.Close()
	client.CloseIdleConnections()
	closeStore()
	waitFor(t, fmt.Sprintf("goroutines to return to the baseline of %d", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline
	})
}

// waitFor polls cond, which observes progress made by other goroutines,
// for up to 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("timed out waiting for %s\n%s", what, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
