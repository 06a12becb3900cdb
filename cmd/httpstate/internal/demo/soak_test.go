package demo_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
	"github.com/httpstate/httpstate/store/redis"
)

// soakClients browse the shop at once for soakDuration: a minute in CI,
// where the figure is reported, and a few seconds elsewhere so that
// `go test ./...` stays quick (HTTPSTATE_SOAK=1m asks for the full run).
const soakClients = 200

func soakDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("HTTPSTATE_SOAK")); err == nil {
		return d
	}
	if testenv.InCI() {
		return time.Minute
	}
	return 5 * time.Second
}

func TestSoakOnMemory(t *testing.T) {
	sessions, tokens := memory.New(), memory.New()
	defer tokens.Close()
	soak(t, sessions, func() { sessions.Close() })
}

func TestSoakOnRedis(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prefix := "httpstate-soak-" + rand.Text()[:10] + ":"
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{testenv.RedisAddr}, DisableCache: true})
	if err == nil {
		err = client.Do(ctx, client.B().Ping().Build()).Error()
	}
	testenv.Require(t, "redis", err)
	store, err := redis.New(client, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	soak(t, store, func() {
		store.Close()
		// Remove what the clients left: empty sessions after logout.
		keys, _ := client.Do(context.Background(), client.B().Keys().Pattern(prefix+"*").Build()).AsStrSlice()
		for _, k := range keys {
			client.Do(context.Background(), client.B().Del().Key(k).Build())
		}
		client.Close()
	})
}

// soak runs soakClients concurrent browsers against the shop on store for
// soakDuration. Each adds to its cart, reads pages and the cart; one in
// ten is logged in. Every response must be a success, every cart must end
// with exactly as many items as its browser added, and once the clients
// have logged out and gone, goroutines and heap must return to their
// baseline.
func soak(t *testing.T, store session.Store, closeStore func()) {
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	tokens := memory.New()
	// Request logs would pile up in the test's log buffer and count as
	// heap growth; the soak measures the shop, so they are discarded.
	sh := newShopOn(t, store, tokens, func(c *demo.Config) { c.Logger = slog.New(slog.DiscardHandler) })
	srv := httptest.NewUnstartedServer(sh.app.Handler())
	srv.StartTLS()
	transport := srv.Client().Transport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = soakClients

	var requests, failures atomic.Int64
	check := func(i int, p page, what string) bool {
		requests.Add(1)
		if p.status != http.StatusOK {
			failures.Add(1)
			t.Errorf("client %d: %s: status %d", i, what, p.status)
			return false
		}
		return true
	}
	browsers := make([]*browser, soakClients)
	for i := range browsers {
		browsers[i] = &browser{t: t, base: srv.URL, c: &http.Client{Transport: transport, Jar: newJar()}}
	}
	// The logged-in clients log in before the load starts. A login's
	// argon2id is tens of milliseconds of CPU (ten times that under the race
	// detector), and the Go scheduler shares the CPU fairly between
	// goroutines: among two hundred busy clients a login would take
	// seconds, which is the scheduler at work, not the sessions.
	var logins sync.WaitGroup
	for i := 0; i < soakClients; i += 10 {
		logins.Go(func() {
			user := []string{"alice", "bob"}[i/10%2]
			password := map[string]string{"alice": "correct horse", "bob": "battery staple"}[user]
			check(i, browsers[i].post("/login", url.Values{"username": {user}, "password": {password}}), "login")
		})
	}
	logins.Wait()
	if failures.Load() > 0 {
		t.FailNow()
	}

	skus := demo.SKUs()
	duration := soakDuration()
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Go(func() {
			added := map[string]int{}
			for n := 0; time.Now().Before(deadline); n++ {
				switch n % 4 {
				case 0, 2:
					// Round the catalogue, so that carts have several lines.
					sku := skus[n/2%len(skus)]
					if check(i, b.post("/cart/add", url.Values{"sku": {sku}, "return": {"/cart"}}), "add to cart") {
						added[sku]++
					}
				case 1:
					check(i, b.get("/"), "home page")
				case 3:
					check(i, b.get("/cart"), "cart page")
				}
				if failures.Load() > 10 {
					return
				}
			}
			want := 0
			for _, n := range added {
				want += min(n, demo.MaxQty) // a line holds at most MaxQty
			}
			p := b.get("/cart")
			if got := cartCount(p); got != strconv.Itoa(want) && !(want == 0 && got == "") {
				t.Errorf("client %d added %d items (%v); the cart shows %q: updates were lost", i, want, added, got)
			}
			check(i, b.post("/logout", nil), "logout")
		})
	}
	wg.Wait()
	t.Logf("%d clients, %v: %d requests, %d failures (%.0f requests/s)",
		soakClients, duration, requests.Load(), failures.Load(), float64(requests.Load())/duration.Seconds())

	srv.Close()
	sh.srv.Close() // the shop's own test server, unused here
	transport.CloseIdleConnections()
	closeStore()
	tokens.Close()
	deadline = time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		goroutines := runtime.NumGoroutine()
		// Caches that size themselves to the load (sync.Pools, TLS session
		// caches, the race detector's shadow memory) may keep a few MiB.
		heapOK := after.HeapAlloc <= before.HeapAlloc+8<<20
		if goroutines <= baseGoroutines && heapOK {
			t.Logf("afterwards: %d goroutines (baseline %d), heap %d KiB (baseline %d KiB)",
				goroutines, baseGoroutines, after.HeapAlloc>>10, before.HeapAlloc>>10)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("30s after the soak: %d goroutines (baseline %d), heap %d KiB (baseline %d KiB)\n%s",
				goroutines, baseGoroutines, after.HeapAlloc>>10, before.HeapAlloc>>10, strings.TrimSpace(string(buf[:n])))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
