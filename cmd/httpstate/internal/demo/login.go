package demo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Login abuse policy
//
// Every password check (the login form, POST /api/token, the current
// password on the password form) goes through checkCredentials, which
// applies three limits.
//
//   - Per account and client network: 5 failed attempts in 15 minutes,
//     then that network is refused for that account until the 15 minutes
//     are up. A stranger guessing alice's password from their network
//     locks only themselves out: alice, from any other network, is not
//     affected. A network is an IPv4 address or an IPv6 /64, the block a
//     single subscriber usually gets.
//   - Per client network, all accounts together: 20 failed attempts in 15
//     minutes, against password spraying (one common password tried on
//     many accounts), which the first limit does not see.
//   - Per server: at most maxConcurrentHashes argon2id computations at
//     once (19 MiB each), and at most maxQueuedHashes attempts waiting for
//     one. Any further attempt is answered at once with 503 and
//     Retry-After, whatever the account: a flood of logins can slow
//     logins down but never exhaust the server's memory.
//
// An attempt is counted before its password is checked: while attempts
// in flight could still reach a limit by failing, others wait for their
// outcome rather than being checked too (see throttle.begin), so many
// attempts sent at once get no more checks than the same attempts sent one
// by one. A successful login clears its account-and-network count; an
// attempt that was never checked (the server was busy) counts for
// nothing. A refused attempt is not counted, so refused attempts do not
// extend the 15 minutes. The counts live in this process's memory: servers behind a
// load balancer count separately, so a client that reaches several gets
// that many times the limits.
//
// What this does not stop: an attacker with many networks (a botnet)
// gets 5 guesses per account per network per 15 minutes. Against that,
// the remedies are beyond a demo: breached-password checks, second
// factors, or a challenge after failures across networks.
const (
	maxAccountFailures  = 5
	maxNetworkFailures  = 20
	throttleWindow      = 15 * time.Minute
	maxConcurrentHashes = 4
	maxQueuedHashes     = 16
	// busyRetryAfter is what a refused attempt is told to wait: about the
	// time the queue takes to drain.
	busyRetryAfter = 2 * time.Second
)

// errBusy reports that a password was not checked because as many
// checks as the server allows are already running or waiting.
var errBusy = errors.New("demo: too many password checks at once")

// hashGate bounds the argon2id computations running at once, each of
// which holds argonMemory of memory, and the attempts waiting for one.
type hashGate struct {
	slots   chan struct{} // one token per running computation
	waiting chan struct{} // one token per attempt waiting for a slot

	running, peak atomic.Int64 // for tests: how many ran at once
}

func newHashGate(slots, queue int) *hashGate {
	return &hashGate{slots: make(chan struct{}, slots), waiting: make(chan struct{}, queue)}
}

// do runs fn, an argon2id computation, when a slot is free. It returns
// errBusy at once, without running fn, if every slot is taken and the
// queue is full, or ctx's error if ctx ends while it waits.
func (g *hashGate) do(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		select {
		case g.waiting <- struct{}{}:
		default:
			return errBusy
		}
		select {
		case g.slots <- struct{}{}:
			<-g.waiting
		case <-ctx.Done():
			<-g.waiting
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	n := g.running.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	defer g.running.Add(-1)
	fn()
	return nil
}

// throttle counts login attempts per account and network and per
// network, as the policy above describes.
type throttle struct {
	mu       sync.Mutex
	accounts map[accountKey]*window
	networks map[string]*window
	now      func() time.Time
}

type accountKey struct{ username, network string }

// window counts the failed attempts since start, and the attempts whose
// password is being checked. The failures start over when throttleWindow
// has passed since start.
type window struct {
	failures int
	inflight int
	start    time.Time
	waiters  int
	changed  chan struct{} // closed, and replaced, when failures or inflight change
}

func (w *window) signal() {
	close(w.changed)
	w.changed = make(chan struct{})
}

const (
	// sweepAbove is the number of entries past which finished windows are
	// forgotten, so guessing at many names from many networks cannot grow
	// the maps without bound.
	sweepAbove = 10000
	// maxWaiters bounds the attempts waiting on one window for those in
	// flight to finish; more are refused.
	maxWaiters = 64
)

func newThrottle(now func() time.Time) *throttle {
	return &throttle{accounts: map[accountKey]*window{}, networks: map[string]*window{}, now: now}
}

// limit says which limit refused an attempt.
type limit int

const (
	accountLimit limit = iota + 1
	networkLimit
	canceled // the request ended while the attempt waited
)

// attempt is one login attempt, counted while its password is checked.
type attempt struct {
	t       *throttle
	account accountKey
}

// begin counts an attempt to log in as username from network, before the
// password is checked: it returns the attempt, or the limit that refuses
// it and how long the client should wait.
//
// An attempt counts as a failure until it is known not to be one, but is
// not refused for failures that have not happened: while the attempts in
// flight could still reach a limit by failing, begin waits for them (or
// for ctx) instead of refusing. So forty wrong passwords sent at once get
// five checks, like forty sent one by one, and ten right ones sent at
// once all get in.
func (t *throttle) begin(ctx context.Context, username, network string) (*attempt, limit, time.Duration) {
	key := accountKey{strings.ToLower(username), network}
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		now := t.now()
		t.sweep(now)
		acc := windowFor(t.accounts, key, now)
		nw := windowFor(t.networks, network, now)
		switch {
		case acc.failures >= maxAccountFailures:
			return nil, accountLimit, acc.start.Add(throttleWindow).Sub(now)
		case nw.failures >= maxNetworkFailures:
			return nil, networkLimit, nw.start.Add(throttleWindow).Sub(now)
		}
		blocking, lim := acc, accountLimit
		if acc.failures+acc.inflight < maxAccountFailures {
			if nw.failures+nw.inflight < maxNetworkFailures {
				acc.inflight++
				nw.inflight++
				return &attempt{t: t, account: key}, 0, 0
			}
			blocking, lim = nw, networkLimit
		}
		if blocking.waiters >= maxWaiters {
			return nil, lim, busyRetryAfter
		}
		blocking.waiters++
		changed := blocking.changed
		t.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
		}
		t.mu.Lock()
		blocking.waiters--
		if ctx.Err() != nil {
			return nil, canceled, busyRetryAfter
		}
	}
}

// windowFor returns m's window for key, creating it, or starting its
// failures over if its time is up.
func windowFor[K comparable](m map[K]*window, key K, now time.Time) *window {
	w := m[key]
	switch {
	case w == nil:
		w = &window{start: now, changed: make(chan struct{})}
		m[key] = w
	case now.Sub(w.start) >= throttleWindow:
		w.failures, w.start = 0, now
	}
	return w
}

func (t *throttle) sweep(now time.Time) {
	if len(t.accounts)+len(t.networks) <= sweepAbove {
		return
	}
	for k, w := range t.accounts {
		if w.inflight == 0 && w.waiters == 0 && now.Sub(w.start) >= throttleWindow {
			delete(t.accounts, k)
		}
	}
	for k, w := range t.networks {
		if w.inflight == 0 && w.waiters == 0 && now.Sub(w.start) >= throttleWindow {
			delete(t.networks, k)
		}
	}
}

// succeeded records that the attempt's password was right: the
// account's failures from this network are forgotten, and the attempt
// does not count against the network.
func (a *attempt) succeeded() {
	a.end(func(acc, nw *window) {
		acc.failures = 0
		acc.start = a.t.now()
	})
}

// failed records that the attempt's password was wrong.
func (a *attempt) failed() {
	a.end(func(acc, nw *window) {
		acc.failures++
		nw.failures++
	})
}

// unchecked records that the attempt's password was never checked (the
// server was busy), so it counts for nothing.
func (a *attempt) unchecked() { a.end(func(acc, nw *window) {}) }

// end takes the attempt out of flight, applies its outcome and wakes the
// attempts waiting on its windows. The windows may have been swept and
// recreated meanwhile only if nothing was in flight, which this attempt
// was: they are the ones begin counted it in.
func (a *attempt) end(outcome func(acc, nw *window)) {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	acc, nw := t.accounts[a.account], t.networks[a.account.network]
	acc.inflight--
	nw.inflight--
	outcome(acc, nw)
	acc.signal()
	nw.signal()
}

// clientNetwork returns the network a login attempt is counted against:
// the client's IPv4 address, or the /64 of its IPv6 address.
func clientNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.WithZone("").Prefix(64)
	return p.String()
}

// refusal is why checkCredentials did not log anyone in.
type refusal int

const (
	wrongPassword   refusal = iota + 1
	accountThrottle         // too many failures for this account from this network
	networkThrottle         // too many failures from this network
	serverBusy              // too many password checks at once; nothing was checked
)

// checkCredentials checks username's password under the login abuse
// policy. It returns the account, or why not and, for a throttle or a
// busy server, how long the client should wait.
func (a *App) checkCredentials(r *http.Request, username, password string) (*user, refusal, time.Duration) {
	att, lim, wait := a.throttle.begin(r.Context(), username, clientNetwork(a.clientIP(r)))
	switch lim {
	case accountLimit:
		a.log.WarnContext(r.Context(), "login throttled", "user", a.knownUser(username), "limit", "account")
		return nil, accountThrottle, wait
	case networkLimit:
		a.log.WarnContext(r.Context(), "login throttled", "user", a.knownUser(username), "limit", "network")
		return nil, networkThrottle, wait
	case canceled:
		return nil, serverBusy, wait
	}
	u, err := a.users.authenticate(r.Context(), a.hashes, username, password)
	switch {
	case err != nil:
		att.unchecked()
		a.log.WarnContext(r.Context(), "login refused: password checks at capacity", "err", err)
		return nil, serverBusy, busyRetryAfter
	case u == nil:
		att.failed()
		a.log.InfoContext(r.Context(), "login failed", "user", a.knownUser(username))
		return nil, wrongPassword, 0
	}
	att.succeeded()
	return u, 0, 0
}

// clientIP is the client's address as the session Manager records it.
func (a *App) clientIP(r *http.Request) string {
	if f := a.cfg.Session.ClientIP; f != nil {
		return f(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
