package storeurl_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
	"github.com/httpstate/httpstate/internal/testenv"
)

// TestOpenRedisSentinel opens a store through a Sentinel URL against a
// primary and a sentinel the test starts as child processes.
func TestOpenRedisSentinel(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	testenv.Require(t, "redis-server binary", err)
	primary := startRedis(t, bin)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "sentinel monitor sessions 127.0.0.1 %d 1\n", primary), 0o600); err != nil {
		t.Fatal(err)
	}
	sentinel := startRedis(t, bin, conf, "--sentinel")

	u := fmt.Sprintf("redis://127.0.0.1:%d?master_set=sessions&prefix=storeurl-sentinel-test:", sentinel)
	if loc, err := storeurl.Parse(u); err != nil || loc.Kind != storeurl.Redis {
		t.Fatalf("Parse(%q) = %+v, %v", u, loc, err)
	}
	// The sentinel needs a moment to learn about the primary; Open waits
	// for the first successful round trip within its context.
	var lastErr error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		store, closer, err := storeurl.Open(t.Context(), u)
		if err != nil {
			lastErr = err
			continue
		}
		defer closer.Close()
		roundTrip(t, store)
		return
	}
	t.Fatalf("opening %s: %v", u, lastErr)
}

// startRedis runs redis-server (or, with --sentinel, a sentinel) on a
// free loopback port until the test ends, and returns the port.
func startRedis(t *testing.T, bin string, args ...string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	base := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir()}
	if len(args) > 0 && args[0] != "--sentinel" {
		base = append([]string{args[0]}, base...) // a config file comes first
		args = args[1:]
	}
	cmd := exec.Command(bin, append(base, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server %v did not start", args)
		}
	}
}
