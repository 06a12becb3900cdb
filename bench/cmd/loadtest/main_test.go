package main

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

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
	var h bench.Histogram
	var errs uint64
	if err := drive(srv.Listener.Addr().String(), http.MethodGet, "session=x", "42", &stop, &counting, &h, &errs); err != nil {
		t.Fatal(err)
	}
	if h.Count() == 0 || errs != h.Count() {
		t.Errorf("%d requests recorded, %d errors; want every request counted as an error", h.Count(), errs)
	}
}
