package bench

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
)

// Keys for the gorilla stores: a 32-byte HMAC key and a 32-byte AES key,
// the configuration gorilla recommends for encrypted cookies.
var (
	gorillaHashKey  = bytes.Repeat([]byte{'h'}, 32)
	gorillaBlockKey = bytes.Repeat([]byte{'b'}, 32)
)

// recorder is a ResponseWriter that keeps only what the benchmarks check
// (status and body), so that the floor the bare handler sets stays low and
// the middleware's own cost is what the figures show. It is reused across
// iterations of one caller.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func newRecorder() *recorder { return &recorder{h: make(http.Header)} }

func (w *recorder) Header() http.Header { return w.h }

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *recorder) reset() {
	clear(w.h)
	w.code = 0
	w.body.Reset()
}

// template is a request shared read-only by every iteration: each one
// serves a shallow copy, because gorilla's registry rewrites the request
// it is given and the middlewares never modify headers.
type template struct{ r *http.Request }

func newTemplate(method, cookie string) template {
	return template{NewRequest(method, cookie)}
}

func (t template) request() *http.Request {
	r := *t.r
	return &r
}

// bareCookie is what the bare handler receives: a cookie of the size of
// httpstate's, so every contestant gets a request of the same shape.
const bareCookie = "session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// wantBody is what the common handler answers: the int for a read, "ok"
// for a write. The bare handler reads 0.
func wantBody(name, method string) string {
	switch {
	case method == http.MethodPost:
		return "ok"
	case name == "bare":
		return "0"
	}
	return "42"
}

// serve runs one caller's requests through c until b.Loop ends and checks
// every response. Besides the time it reports the process's CPU time per
// request ("cpu-ns/op"), which time spent waiting for a CPU while other
// programs run does not inflate.
func serve(b *testing.B, c Contestant, method, cookie string) {
	t := newTemplate(method, cookie)
	w := newRecorder()
	want := wantBody(c.Name, method)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		w.reset()
		c.Handler.ServeHTTP(w, t.request())
		if w.code != http.StatusOK || w.body.String() != want {
			b.Fatalf("%s: status %d, body %q; want 200 %q", c.Name, w.code, w.body.String(), want)
		}
	}
}

// A harness is how a benchmark builds each request and receives its
// response.
type harness int

const (
	// minimal serves a shallow copy of one prepared request into the
	// minimal recorder, so that the floor is low and the middleware's own
	// cost is what the figures show.
	minimal harness = iota
	// httptest builds each request with httptest.NewRequest and serves it
	// into a new httptest.ResponseRecorder, as most users' own benchmarks
	// of a handler do.
	httptestHarness
)

// serveParallel runs the requests from b's RunParallel callers
// (parallelism times GOMAXPROCS of them: 64 on two CPUs with
// SetParallelism(32)); caller i of the run uses cookies[i %
// len(cookies)], so every caller has a session of its own, as every user
// of a site does.
func serveParallel(b *testing.B, c Contestant, method string, parallelism int, cookies []string, h harness) {
	want := wantBody(c.Name, method)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	defer reportCPU(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cookie := cookies[int(next.Add(1)-1)%len(cookies)]
		if h == httptestHarness {
			for pb.Next() {
				r := NewRequest(method, cookie)
				w := httptest.NewRecorder()
				c.Handler.ServeHTTP(w, r)
				if w.Code != http.StatusOK || w.Body.String() != want {
					b.Errorf("%s: status %d, body %q; want 200 %q", c.Name, w.Code, w.Body.String(), want)
					return
				}
			}
			return
		}
		t := newTemplate(method, cookie)
		w := newRecorder()
		for pb.Next() {
			w.reset()
			c.Handler.ServeHTTP(w, t.request())
			if w.code != http.StatusOK || w.body.String() != want {
				b.Errorf("%s: status %d, body %q; want 200 %q", c.Name, w.code, w.body.String(), want)
				return
			}
		}
	})
}

// cookiesFor makes n sessions with c and returns their cookies; for the
// bare handler it returns n copies of bareCookie.
func cookiesFor(b *testing.B, c Contestant, n int) []string {
	b.Helper()
	out := make([]string, n)
	for i := range out {
		if c.Name == "bare" {
			out[i] = bareCookie
			continue
		}
		ck, err := SessionCookie(c.Handler)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = ck
	}
	return out
}

func maxProcs() int { return runtime.GOMAXPROCS(0) }
