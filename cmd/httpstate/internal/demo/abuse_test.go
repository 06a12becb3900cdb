package demo_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/session"
)

// clientHeader carries the client's address in these tests, as a trusted
// proxy's header would, so that one test can play many networks.
const clientHeader = "X-Test-Client"

func withClientHeader(c *demo.Config) {
	c.Session = session.Options{ClientIP: func(r *http.Request) string {
		if ip := r.Header.Get(clientHeader); ip != "" {
			return ip
		}
		host, _, _ := strings.Cut(r.RemoteAddr, ":")
		return host
	}}
}

// loginFrom sends a login, by the form or the API, from the client
// address ip, and returns the status and Retry-After.
func loginFrom(t *testing.T, s *shop, api bool, ip, user, password string) (int, string) {
	t.Helper()
	var req *http.Request
	if api {
		req, _ = http.NewRequest("POST", s.srv.URL+"/api/token", strings.NewReader(tokenRequest(user, password)))
		req.Header.Set("Content-Type", "application/json")
	} else {
		form := url.Values{"username": {user}, "password": {password}}
		req, _ = http.NewRequest("POST", s.srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set(clientHeader, ip)
	resp, err := s.srv.Client().Transport.RoundTrip(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestConcurrentWrongPasswordsAreCountedBeforeTheHash sends 40 wrong
// passwords for one account at once, by the form and by the API. The
// limit is 5: exactly 5 are checked, the other 35 are refused, however
// they interleave.
func TestConcurrentWrongPasswordsAreCountedBeforeTheHash(t *testing.T) {
	for _, api := range []bool{false, true} {
		t.Run(map[bool]string{false: "form", true: "api"}[api], func(t *testing.T) {
			s := newShop(t, withClientHeader)
			wrong := http.StatusUnprocessableEntity
			if api {
				wrong = http.StatusBadRequest
			}
			const n = 40
			start := make(chan struct{})
			var mu sync.Mutex
			counts := map[int]int{}
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					<-start
					status, retry := loginFrom(t, s, api, "203.0.113.9", "alice", "wrong horse")
					if status == http.StatusTooManyRequests && retry == "" {
						t.Error("a 429 without Retry-After")
					}
					mu.Lock()
					counts[status]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			if counts[wrong] != demo.MaxAccountFailures || counts[http.StatusTooManyRequests] != n-demo.MaxAccountFailures {
				t.Fatalf("statuses of %d concurrent wrong passwords: %v; want %d checked (%d) and the rest refused (429)",
					n, counts, demo.MaxAccountFailures, wrong)
			}
			if status, _ := loginFrom(t, s, api, "203.0.113.9", "alice", "correct horse"); status != http.StatusTooManyRequests {
				t.Fatalf("the right password from the throttled network got %d; want 429", status)
			}
		})
	}
}

// TestAStrangerCannotLockTheOwnerOut fails alice's password from a
// stranger's network past the limit, then logs alice in from her own; and
// sprays one password over many accounts from a third network until it
// is refused for every account.
func TestAStrangerCannotLockTheOwnerOut(t *testing.T) {
	for _, api := range []bool{false, true} {
		t.Run(map[bool]string{false: "form", true: "api"}[api], func(t *testing.T) {
			s := newShop(t, withClientHeader)
			const stranger, owner, sprayer = "198.51.100.66", "2001:db8:aaaa:1::5", "192.0.2.200"
			for range demo.MaxAccountFailures + 3 {
				loginFrom(t, s, api, stranger, "alice", "guess")
			}
			if status, _ := loginFrom(t, s, api, stranger, "alice", "correct horse"); status != http.StatusTooManyRequests {
				t.Fatalf("the stranger's network is not throttled: %d", status)
			}
			if status, _ := loginFrom(t, s, api, owner, "alice", "correct horse"); status != http.StatusOK && status != http.StatusSeeOther {
				t.Fatalf("the owner, from her own network, got %d after a stranger's failures", status)
			}
			// Spraying: one guess per account, many accounts.
			for i := range demo.MaxNetworkFailures {
				if status, _ := loginFrom(t, s, api, sprayer, fmt.Sprintf("user%d", i), "Summer2026!"); status == http.StatusTooManyRequests {
					t.Fatalf("spraying attempt %d refused before the network limit", i+1)
				}
			}
			status, retry := loginFrom(t, s, api, sprayer, "bob", "battery staple")
			if status != http.StatusTooManyRequests || retry == "" {
				t.Fatalf("after %d failures from one network on as many accounts, a login got %d (Retry-After %q); want 429",
					demo.MaxNetworkFailures, status, retry)
			}
			if status, _ := loginFrom(t, s, api, owner, "bob", "battery staple"); status != http.StatusOK && status != http.StatusSeeOther {
				t.Fatalf("bob, from another network, got %d", status)
			}
		})
	}
}

// TestAThousandConcurrentLoginsStayWithinMemory sends 1,000 logins at
// once, each from its own network for its own unknown account, so that no
// throttle applies and each would run argon2id with 19 MiB. The
// computations are bounded: the heap stays under 256 MiB, and every
// attempt that found no room got a prompt 503 with Retry-After.
func TestAThousandConcurrentLoginsStayWithinMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 logins do not run with -short")
	}
	s := newShop(t, withClientHeader)
	h := s.app.Handler()
	runtime.GC()

	// The heap is sampled while the logins run; a sample can only miss a
	// peak, never invent one.
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peakHeap uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peakHeap = max(peakHeap, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	const n = 1000
	start := make(chan struct{})
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			form := url.Values{"username": {fmt.Sprintf("nobody%d", i)}, "password": {"not it"}}
			req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(clientHeader, fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
			<-start
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
				t.Error("a 503 without Retry-After")
			}
			mu.Lock()
			counts[rec.Code]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	close(stop)
	<-sampled

	t.Logf("statuses %v, at most %d hashes at once, heap peak %d MiB", counts, s.app.PeakHashes(), peakHeap>>20)
	if counts[http.StatusUnprocessableEntity]+counts[http.StatusServiceUnavailable] != n {
		t.Fatalf("statuses %v; want only 422 (checked) and 503 (no room)", counts)
	}
	if counts[http.StatusServiceUnavailable] == 0 {
		t.Fatal("no attempt found the gate full, so the test did not load it")
	}
	if p := s.app.PeakHashes(); p > demo.MaxConcurrentHashes {
		t.Fatalf("%d argon2id computations ran at once; the bound is %d", p, demo.MaxConcurrentHashes)
	}
	if peakHeap >= 256<<20 {
		t.Fatalf("the heap reached %d MiB; want under 256 MiB", peakHeap>>20)
	}
}
