package main

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/bench"
)

func TestReadResponseParsesNetHTTPResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=b")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusTeapot)
		}
		w.Write([]byte("hello"))
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, tc := range []struct {
		method string
		status int
	}{{"GET", 200}, {"POST", 418}, {"GET", 200}} {
		if _, err := conn.Write([]byte(tc.method + " / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		status, n, err := readResponse(r)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, n)
		if _, err := r.Read(body); err != nil {
			t.Fatal(err)
		}
		if status != tc.status || string(body) != "hello" {
			t.Errorf("%s: status %d, body %q; want %d hello", tc.method, status, body, tc.status)
		}
	}
}

func TestReadResponseRejectsGarbage(t *testing.T) {
	for _, in := range []string{
		"SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/1.1 abc OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
	} {
		if _, _, err := readResponse(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("readResponse(%q) succeeded, want an error", in)
		}
	}
}

func TestDriveCountsWrongBodiesAsErrors(t *testing.T) {
	var served atomic.Int64
	var stop, counting atomic.Bool
	counting.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) >= 10 {
			stop.Store(true)
		}
		w.Write([]byte("nope"))
	}))
	defer srv.Close()
	c, err := dial(srv.Listener.Addr().String(), http.MethodGet, "session=x")
	if err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	var h bench.Histogram
	var errs uint64
	if err := c.drive("42", &stop, &counting, &h, &errs); err != nil {
		t.Fatal(err)
	}
	if h.Count() == 0 || errs != h.Count() {
		t.Errorf("%d requests recorded, %d errors; want every request counted as an error", h.Count(), errs)
	}
}

// TestMain lets the test binary serve as the server child, as the
// loadtest binary does when started with -serve.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSliceMeasuresTheServerProcess starts real server children, as a run
// does, and checks that a slice of load gets correct responses and
// the server's CPU time, for a read and a write through the middleware.
func TestSliceMeasuresTheServerProcess(t *testing.T) {
	for _, tc := range []struct{ name, method string }{{"bare", http.MethodGet}, {"httpstate", http.MethodGet}, {"httpstate", http.MethodPost}} {
		e, err := start(tc.name, tc.method, 4, "", "")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			r, err := e.slice(10*time.Millisecond, 500*time.Millisecond)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, tc.method, err)
			}
			if r.errors != 0 || r.serverCPU <= 0 {
				t.Errorf("%s %s: %d of %d responses wrong, server CPU %v; want none wrong and some CPU", tc.name, tc.method, r.errors, r.requests, r.serverCPU)
			}
		}
		e.close()
	}
}
