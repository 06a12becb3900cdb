// Package netfault gives store tests the network failures they check
// their deadlines against: an address where nothing listens, a server that
// accepts connections and never answers, and a proxy that stops
// forwarding mid-life, as a network partition does. Everything it starts
// stops when the test ends.
package netfault

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// ClosedPort returns a loopback address on which nothing listens: a
// connection attempt is refused at once.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// SilentServer returns the address of a server that accepts connections,
// reads whatever it is sent and never answers, like a server that is
// stuck or behind a firewall that drops its replies.
func SilentServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// Proxy forwards TCP connections to a server until Stall, after which it
// swallows everything in both directions, like a dead network path.
type Proxy struct {
	ln      net.Listener
	stalled chan struct{}
	once    sync.Once
}

// StartProxy returns a Proxy to target, forwarding.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, stalled: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			wg.Go(func() { p.pipe(server, client) })
			wg.Go(func() { p.pipe(client, server) })
		}
	})
	return p
}

// Addr is the address to connect to instead of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stall stops all forwarding, for good.
func (p *Proxy) Stall() { p.once.Do(func() { close(p.stalled) }) }

func (p *Proxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-p.stalled:
			continue // dropped on the floor
		default:
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// ReturnsIn fails the test if call has not returned after a generous
// bound (10 seconds): a hang, not a slow machine. It returns call's error.
func ReturnsIn(t testing.TB, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hung past its deadline", what)
		return nil
	}
}
