package redis_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/redis"
)

// The shared clients live as long as the test binary, like a web app's.
var (
	sharedStandalone = sync.OnceValues(func() (rueidis.Client, error) {
		return rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{testenv.RedisAddr}})
	})
	sharedCluster = sync.OnceValues(func() (rueidis.Client, error) {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: testenv.RedisCluster})
		if err != nil {
			return nil, err
		}
		if m := c.Mode(); m != rueidis.ClientModeCluster {
			c.Close()
			return nil, fmt.Errorf("%v is a %s server, not a cluster", testenv.RedisCluster, m)
		}
		return c, nil
	})
)

func standalone(t testing.TB) rueidis.Client {
	t.Helper()
	c, err := sharedStandalone()
	testenv.Require(t, "redis", err)
	return c
}

func cluster(t testing.TB) rueidis.Client {
	t.Helper()
	c, err := sharedCluster()
	testenv.Require(t, "redis cluster", err)
	return c
}

// newPrefix returns a key prefix no other test or run uses, and deletes
// every key under it when the test ends.
func newPrefix(t testing.TB, client rueidis.Client) string {
	t.Helper()
	prefix := "httpstate-test:" + storetest.NewID()[:16] + ":"
	t.Cleanup(func() {
		if err := deleteKeys(client, prefix); err != nil {
			t.Errorf("deleting the test's keys: %v", err)
		}
	})
	return prefix
}

// deleteKeys deletes the keys under prefix on every node of client. The
// prefix is letters, digits, '-', '_' and ':', none special in a MATCH
// pattern.
func deleteKeys(client rueidis.Client, prefix string) error {
	// Generous: the conformance suite leaves thousands of keys per case,
	// and CI runs it under the race detector on two cores.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, node := range client.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				return err
			}
			for _, k := range e.Elements {
				// Through the client, which routes each key to its
				// primary; the node may be a replica.
				if err := client.Do(ctx, client.B().Del().Key(k).Build()).Error(); err != nil {
					return err
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// newStore returns a store on client under a fresh key prefix.
func newStore(t testing.TB, client rueidis.Client, opts ...redis.Option) *redis.Store {
	t.Helper()
	opts = append([]redis.Option{redis.WithKeyPrefix(newPrefix(t, client))}, opts...)
	s, err := redis.New(client, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func live() time.Time { return time.Now().Add(time.Hour) }

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// server is a redis-server child process of the test.
type server struct {
	addr string
	cmd  *exec.Cmd
}

// startServer runs redis-server on a free loopback port with no
// persistence, with extra arguments appended, and returns once its log
// says ready (the line containing ready). It skips outside CI when
// redis-server is not installed, and kills the server when the test ends.
func startServer(t testing.TB, ready string, args ...string) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	testenv.Require(t, "redis-server binary", err)
	port := freePort(t)
	dir := t.TempDir()
	base := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
	// A config file, if any, must come first.
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		base = append([]string{args[0]}, base...)
		args = args[1:]
	}
	cmd := exec.Command(bin, append(base, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	found := make(chan struct{})
	var log strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if !signalled && strings.Contains(sc.Text(), ready) {
				close(found)
				signalled = true
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-found:
	case <-time.After(15 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("redis-server did not log %q within 15s:\n%s", ready, log.String())
	}
	return &server{addr: "127.0.0.1:" + port, cmd: cmd}
}

// startSentinel runs a Sentinel monitoring the primary at primary under
// the name master, and returns its address once it monitors it.
func startSentinel(t testing.TB, master, primary string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(primary)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	text := fmt.Sprintf("sentinel monitor %s %s %s 1\n", master, host, port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, "+monitor master "+master, conf, "--sentinel").addr
}

// openOn opens a store with its own client on addr.
func openOn(t testing.TB, addr string, opts ...redis.Option) *redis.Store {
	t.Helper()
	s, err := redis.Open(ctx(t), rueidis.ClientOption{InitAddress: []string{addr}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantOutage checks that err reports a failure to answer: neither nil nor
// one of the contract's sentinel errors.
func wantOutage(t *testing.T, op string, err error) {
	t.Helper()
	if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrConflict) {
		t.Errorf("%s = %v; want an error that is neither ErrNotFound nor ErrConflict", op, err)
	}
}
