//go:build unix

package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeShutsDownGracefullyOnSIGTERM sends the process a real SIGTERM
// while serve runs, as an init system would, and expects a clean exit.
func TestServeShutsDownGracefullyOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	out := newLineWriter()
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"serve", "--addr", "127.0.0.1:0", "--store", "memory:", "--secret-file", filepath.Join(dir, "key")}, out, &errOut)
		out.w.Close()
	}()
	var base string
	for base == "" {
		select {
		case line, ok := <-out.lines:
			if !ok {
				t.Fatalf("serve exited early: %d\n%s", <-done, errOut.String())
			}
			if _, u, found := strings.Cut(line, "Open:"); found {
				base = strings.TrimSpace(u)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not print its URL within 30s")
		}
	}
	go func() {
		for range out.lines {
		}
	}()
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz before the signal: %v %v", err, resp)
	}
	// run has registered for SIGTERM (it printed its URL after doing so),
	// so the signal goes to it and not to the test binary's default handler.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK || !strings.Contains(errOut.String(), "shutting down") || !strings.Contains(errOut.String(), "stopped") {
			t.Fatalf("after SIGTERM: exit %d\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of SIGTERM")
	}
}
