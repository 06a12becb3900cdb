package session_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// The three benchmarks share one shape, the one the competitors'
// figures in BENCHMARKS.md use: each iteration builds a request carrying
// one session cookie, serves it into an httptest.ResponseRecorder, and
// the difference from BenchmarkBareHandler is the middleware's cost.

func benchHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := session.FromContext(r.Context()); s != nil {
			switch r.Method {
			case http.MethodGet:
				n, _ := session.Get[int](s, "n")
				fmt.Fprint(w, n)
				return
			case http.MethodPost:
				s.Put("n", 42)
			}
		}
		w.Write([]byte("ok"))
	})
}

func benchSession(b *testing.B) (http.Handler, string) {
	store := memory.New()
	b.Cleanup(func() { store.Close() })
	m, err := session.New(store, session.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Middleware(benchHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	c := rec.Result().Cookies()
	if len(c) != 1 {
		b.Fatal("no session cookie")
	}
	return h, c[0].Name + "=" + c[0].Value
}

func serve(b *testing.B, h http.Handler, method, cookie string) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(method, "/", nil)
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func BenchmarkBareHandler(b *testing.B) {
	serve(b, benchHandler(), "GET", "__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
}

func BenchmarkReadOnlyRequest(b *testing.B) {
	h, cookie := benchSession(b)
	serve(b, h, "GET", cookie)
}

func BenchmarkWritingRequest(b *testing.B) {
	h, cookie := benchSession(b)
	serve(b, h, "POST", cookie)
}

// BenchmarkHotSession is many concurrent requests writing one session, as
// a single-page app firing requests in parallel does: 32 callers each
// incrementing a counter in the same session. The counter must end exact.
func BenchmarkHotSession(b *testing.B) {
	store := memory.New()
	b.Cleanup(func() { store.Close() })
	m, err := session.New(store, session.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := session.Update(session.FromContext(r.Context()), "n", func(n int) int { return n + 1 }); err != nil {
			http.Error(w, err.Error(), 500)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	c := rec.Result().Cookies()[0]
	cookie := c.Name + "=" + c.Value
	b.ReportAllocs()
	b.SetParallelism(16) // 32 callers on two CPUs
	var ok atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/", nil)
			req.Header.Set("Cookie", cookie)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Errorf("status %d", rec.Code)
				return
			}
			ok.Add(1)
		}
	})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", cookie)
	sess := (*session.Session)(nil)
	m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sess = session.FromContext(r.Context()) })).ServeHTTP(httptest.NewRecorder(), req)
	if n, _ := session.Get[int](sess, "n"); int64(n) != ok.Load()+1 {
		b.Fatalf("counter %d after %d increments: updates were lost", n, ok.Load()+1)
	}
}
