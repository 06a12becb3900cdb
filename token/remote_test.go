package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/internal/testclock"
	"github.com/httpstate/httpstate/observe"
)

// jwksServer serves a KeySet's JWKS and counts the requests.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int32
	arrived chan struct{} // receives a value as each request arrives, if non-nil
	gate    chan struct{} // each request waits for it to close, if non-nil
	body    atomic.Pointer[string]
	status  atomic.Int32
}

func newJWKSServer(t *testing.T, ks *KeySet, tls bool) *jwksServer {
	s := &jwksServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.arrived != nil {
			s.arrived <- struct{}{}
		}
		if s.gate != nil {
			<-s.gate
		}
		if code := s.status.Load(); code != 0 {
			w.WriteHeader(int(code))
			return
		}
		if b := s.body.Load(); b != nil {
			w.Write([]byte(*b))
			return
		}
		ks.JWKSHandler().ServeHTTP(w, r)
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

type fakeClock = testclock.Clock

// remoteSetup is an issuer with its own KeySet, and a verifier that only
// knows the issuer's JWKS URL.
type remoteSetup struct {
	issuerKeys *KeySet
	issuer     *Issuer
	server     *jwksServer
	remote     *RemoteKeySet
	clock      *fakeClock
	verifier   *Verifier
}

func newRemoteSetup(t *testing.T) *remoteSetup {
	return newRemoteSetupWith(t, RemoteKeySetOptions{})
}

func newRemoteSetupWith(t *testing.T, opts RemoteKeySetOptions) *remoteSetup {
	ks := NewKeySet(edKey(t).Key)
	srv := newJWKSServer(t, ks, false)
	clock := testclock.New(time.Now())
	remote, err := NewRemoteKeySet(srv.URL+"/.well-known/jwks.json", opts)
	if err != nil {
		t.Fatal(err)
	}
	remote.now = clock.Now
	return &remoteSetup{
		issuerKeys: ks, issuer: newIssuer(ks), server: srv, remote: remote, clock: clock,
		verifier: newVerifier(remote, EdDSA, ES256),
	}
}

func (s *remoteSetup) issue(t *testing.T) string {
	t.Helper()
	tok, err := s.issuer.Issue(t.Context(), "user-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// waitForRefresh waits for a fetch that a verification started in the
// background.
func (s *remoteSetup) waitForRefresh() {
	s.remote.mu.Lock()
	f := s.remote.inflight
	s.remote.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

func TestRemoteKeySetVerifiesAndCaches(t *testing.T) {
	s := newRemoteSetup(t)
	tok := s.issue(t)
	for range 10 {
		c, err := s.verifier.Verify(t.Context(), tok)
		if err != nil || c.Subject != "user-1" {
			t.Fatalf("Verify = %+v, %v", c, err)
		}
	}
	if n := s.server.fetches.Load(); n != 1 {
		t.Errorf("%d fetches for 10 verifications; want 1", n)
	}
}

// unknownKidToken is a well-formed token signed by a key nobody published,
// under a fresh random key ID.
func unknownKidToken(t *testing.T, attacker testKey) string {
	return attacker.sign(t, with(attacker.header(), "kid", b64(randomBytes(16))), validClaims())
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRemoteKeySetFloodOfUnknownKidsFetchesOncePerInterval(t *testing.T) {
	s := newRemoteSetup(t)
	if _, err := s.verifier.Verify(t.Context(), s.issue(t)); err != nil {
		t.Fatal(err)
	}
	attacker := edKey(t)
	flood := func() {
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				if _, err := s.verifier.Verify(t.Context(), unknownKidToken(t, attacker)); !errors.Is(err, ErrInvalid) {
					t.Errorf("unknown kid: %v; want ErrInvalid", err)
				}
			})
		}
		wg.Wait()
	}
	flood()
	if n := s.server.fetches.Load(); n != 1 {
		t.Fatalf("200 unknown kids within the interval caused %d fetches; want 1 (the first)", n)
	}
	s.clock.Advance(DefaultMinRefreshInterval)
	flood()
	if n := s.server.fetches.Load(); n != 2 {
		t.Fatalf("200 unknown kids after the interval caused %d fetches in all; want 2", n)
	}
}

func TestRemoteKeySetConcurrentVerifiersShareOneFetch(t *testing.T) {
	s := newRemoteSetup(t)
	s.server.arrived = make(chan struct{}, 100)
	s.server.gate = make(chan struct{})
	tok := s.issue(t)
	var started, done sync.WaitGroup
	var ok atomic.Int32
	for range 50 {
		started.Add(1)
		done.Go(func() {
			started.Done()
			if _, err := s.verifier.Verify(t.Context(), tok); err != nil {
				t.Error(err)
				return
			}
			ok.Add(1)
		})
	}
	<-s.server.arrived
	started.Wait()
	close(s.server.gate)
	done.Wait()
	if n := s.server.fetches.Load(); n != 1 || ok.Load() != 50 {
		t.Errorf("%d fetches, %d verified; want 1 fetch and 50 verified", n, ok.Load())
	}
}

func TestRemoteKeySetLearnsARotatedKeyAfterTheInterval(t *testing.T) {
	s := newRemoteSetup(t)
	if _, err := s.verifier.Verify(t.Context(), s.issue(t)); err != nil {
		t.Fatal(err)
	}
	next := ecKey(t)
	s.issuerKeys.Add(next.Key)
	s.issuerKeys.SetCurrent(next.ID())
	tok := s.issue(t)
	if _, err := s.verifier.Verify(t.Context(), tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("new key within the interval: %v; want ErrInvalid (no fetch yet)", err)
	}
	s.clock.Advance(DefaultMinRefreshInterval)
	if _, err := s.verifier.Verify(t.Context(), tok); err != nil {
		t.Errorf("new key after the interval: %v", err)
	}
	if n := s.server.fetches.Load(); n != 2 {
		t.Errorf("%d fetches; want 2", n)
	}
}

func TestRemoteKeySetDropsRetiredKeysAfterCacheAge(t *testing.T) {
	s := newRemoteSetup(t)
	old := s.issue(t)
	if _, err := s.verifier.Verify(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	oldID := s.issuerKeys.Current().ID()
	next := edKey(t)
	s.issuerKeys.Add(next.Key)
	s.issuerKeys.SetCurrent(next.ID())
	s.issuerKeys.Retire(oldID)

	s.clock.Advance(DefaultJWKSCacheAge)
	// The cached key is stale: it is used once more while a fresh JWKS is
	// fetched in the background.
	if _, err := s.verifier.Verify(t.Context(), old); err != nil {
		t.Errorf("stale key while refreshing: %v", err)
	}
	s.waitForRefresh()
	if n := s.server.fetches.Load(); n != 2 {
		t.Errorf("%d fetches; want 2", n)
	}
	if _, err := s.verifier.Verify(t.Context(), old); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of a retired key after the refresh: %v; want ErrInvalid", err)
	}
}

func TestRemoteKeySetFetchFailuresAreNotInvalidTokens(t *testing.T) {
	for name, c := range map[string]struct {
		opts   RemoteKeySetOptions
		setup  func(s *remoteSetup)
		reason string // of the observe.JWKSFetch event
	}{
		"server error": {setup: func(s *remoteSetup) { s.server.status.Store(http.StatusInternalServerError) }, reason: "status"},
		"not found":    {setup: func(s *remoteSetup) { s.server.status.Store(http.StatusNotFound) }, reason: "status"},
		"not JSON":     {setup: func(s *remoteSetup) { b := "<html>"; s.server.body.Store(&b) }, reason: "invalid"},
		"no usable keys": {setup: func(s *remoteSetup) {
			b := `{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0"}]}`
			s.server.body.Store(&b)
		}, reason: "invalid"},
		"too large": {opts: RemoteKeySetOptions{MaxSize: 1000}, setup: func(s *remoteSetup) {
			b := `{"keys":[],"pad":"` + strings.Repeat("x", 2000) + `"}`
			s.server.body.Store(&b)
		}, reason: "too_large"},
		"server down": {setup: func(s *remoteSetup) { s.server.Close() }, reason: "unreachable"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			c.opts.Observer = rec
			s := newRemoteSetupWith(t, c.opts)
			c.setup(s)
			tok := s.issue(t)
			_, err := s.verifier.Verify(t.Context(), tok)
			if err == nil || errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v; want an error that is not ErrInvalid", err)
			}
			rec.wantOne(t, observe.Event{Kind: observe.JWKSFetch, Outcome: observe.Error, Reason: c.reason})
			// Within the interval the failure is reported again without
			// another request.
			before := s.server.fetches.Load()
			if _, err2 := s.verifier.Verify(t.Context(), tok); err2 == nil || errors.Is(err2, ErrInvalid) {
				t.Errorf("second Verify = %v", err2)
			}
			if n := s.server.fetches.Load(); n != before {
				t.Errorf("a failed fetch was retried within the interval")
			}
			if events := rec.take(); len(events) != 0 {
				t.Errorf("events without a fetch: %+v", events)
			}
		})
	}
}

func TestRemoteKeySetReportsASuccessfulFetch(t *testing.T) {
	rec := &recorder{}
	s := newRemoteSetupWith(t, RemoteKeySetOptions{Observer: rec})
	tok := s.issue(t)
	if _, err := s.verifier.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	rec.wantOne(t, observe.Event{Kind: observe.JWKSFetch, Outcome: observe.OK}, s.issuerKeys.Current().ID())
}

func TestNewRemoteKeySetRefusesURLsThatAreNotHTTPS(t *testing.T) {
	for _, u := range []string{
		"http://example.com/jwks.json",
		"http://10.0.0.1/jwks.json",
		"ftp://example.com/jwks.json",
		"file:///etc/jwks.json",
		"//example.com/jwks.json",
		"https:///jwks.json",
		"https://example.com/%zz",
	} {
		if r, err := NewRemoteKeySet(u, RemoteKeySetOptions{}); err == nil || r != nil {
			t.Errorf("NewRemoteKeySet(%q) = %v, %v; want an error", u, r, err)
		}
	}
	for _, u := range []string{"https://example.com/jwks.json", "http://127.0.0.1:8080/jwks", "http://[::1]/jwks", "http://localhost/jwks"} {
		if _, err := NewRemoteKeySet(u, RemoteKeySetOptions{}); err != nil {
			t.Errorf("NewRemoteKeySet(%q): %v", u, err)
		}
	}
	if _, err := NewRemoteKeySet("https://example.com/jwks.json", RemoteKeySetOptions{CacheAge: -1}); err == nil {
		t.Error("a negative CacheAge was accepted")
	}
	var zero RemoteKeySet
	if _, err := newVerifier(&zero, EdDSA).Verify(t.Context(), "a.b.c"); err == nil {
		t.Error("a zero RemoteKeySet answered")
	}
}

// redirectSetup is an issuer whose JWKS lives at /keys of an HTTPS server
// that also answers /redirect as the test says, and an attacker's HTTPS and
// plain HTTP servers publishing the attacker's key. A token the attacker
// signs verifies only if keys are read from one of the attacker's servers.
type redirectSetup struct {
	issuer, attacker   testKey
	srv                *httptest.Server
	redirect           atomic.Pointer[string] // where /redirect points
	keysServed         atomic.Int32
	evilTLS, evilPlain *jwksServer
	rec                *recorder
}

func newRedirectSetup(t *testing.T) *redirectSetup {
	s := &redirectSetup{issuer: edKey(t), attacker: edKey(t), rec: &recorder{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		s.keysServed.Add(1)
		NewKeySet(s.issuer.Key).JWKSHandler().ServeHTTP(w, r)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, *s.redirect.Load(), http.StatusFound)
	})
	mux.HandleFunc("/loop/{n}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop/"+r.PathValue("n")+"x", http.StatusFound)
	})
	s.srv = httptest.NewTLSServer(mux)
	t.Cleanup(s.srv.Close)
	evil := NewKeySet(s.attacker.Key)
	s.evilTLS = newJWKSServer(t, evil, true)
	s.evilPlain = newJWKSServer(t, evil, false)
	return s
}

// verify fetches the JWKS at path of the issuer's server through a
// RemoteKeySet using client (the server's own if nil), and verifies a
// token signed by key.
func (s *redirectSetup) verify(t *testing.T, path string, client *http.Client, key testKey) error {
	t.Helper()
	if client == nil {
		client = s.srv.Client()
	}
	remote, err := NewRemoteKeySet(s.srv.URL+path, RemoteKeySetOptions{Client: client, Observer: s.rec})
	if err != nil {
		t.Fatal(err)
	}
	_, err = newVerifier(remote, EdDSA).Verify(t.Context(), key.sign(t, key.header(), validClaims()))
	return err
}

// wantRefused checks that a fetch through /redirect to target failed as a
// refused redirect, without a request to either attacker server.
func (s *redirectSetup) wantRefused(t *testing.T, target string) {
	t.Helper()
	s.redirect.Store(&target)
	err := s.verify(t, "/redirect", nil, s.attacker)
	if err == nil || errors.Is(err, ErrInvalid) || !errors.Is(err, errRedirect) {
		t.Fatalf("redirect to %s: %v; want the fetch to fail as a refused redirect", target, err)
	}
	if n := s.evilTLS.fetches.Load() + s.evilPlain.fetches.Load(); n != 0 {
		t.Errorf("the attacker's servers got %d requests", n)
	}
	s.rec.wantOne(t, observe.Event{Kind: observe.JWKSFetch, Outcome: observe.Error, Reason: "redirect"})
}

// The bug this guards against: an https JWKS URL that redirected to plain
// HTTP let anyone on the network serve the keys.
func TestRemoteKeySetRefusesARedirectToPlainHTTP(t *testing.T) {
	s := newRedirectSetup(t)
	s.wantRefused(t, s.evilPlain.URL+"/jwks.json")
	// The same path on the issuer's own host and port, but over http.
	s.wantRefused(t, strings.Replace(s.srv.URL, "https://", "http://", 1)+"/keys")
}

func TestRemoteKeySetRefusesARedirectToAnotherHostOrPort(t *testing.T) {
	s := newRedirectSetup(t)
	s.wantRefused(t, s.evilTLS.URL+"/jwks.json")                                      // another port
	s.wantRefused(t, strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1)+"/keys") // another host name
	if n := s.keysServed.Load(); n != 0 {
		t.Errorf("/keys served %d times through a refused redirect", n)
	}
}

func TestRemoteKeySetFollowsARedirectWithinItsOrigin(t *testing.T) {
	s := newRedirectSetup(t)
	for _, target := range []string{"/keys", s.srv.URL + "/keys"} {
		s.redirect.Store(&target)
		if err := s.verify(t, "/redirect", nil, s.issuer); err != nil {
			t.Fatalf("redirect to %s: %v", target, err)
		}
		s.rec.wantOne(t, observe.Event{Kind: observe.JWKSFetch, Outcome: observe.OK})
	}
	if n := s.keysServed.Load(); n != 2 {
		t.Errorf("/keys served %d times; want 2", n)
	}
	// The caller's CheckRedirect still has its say, after the origin rule.
	client := s.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("no redirects here") }
	if err := s.verify(t, "/redirect", client, s.issuer); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("the caller's CheckRedirect was ignored: %v", err)
	}
	s.rec.take()
	// A caller's permissive CheckRedirect does not widen the rule, and
	// the caller's client is not changed.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return nil }
	target := s.evilTLS.URL + "/jwks.json"
	s.redirect.Store(&target)
	if err := s.verify(t, "/redirect", client, s.attacker); !errors.Is(err, errRedirect) {
		t.Errorf("a permissive CheckRedirect let a redirect leave the origin: %v", err)
	}
	if client.CheckRedirect(nil, nil) != nil {
		t.Error("the caller's client was changed")
	}
}

func TestOriginComparesSpellingsOfOneOrigin(t *testing.T) {
	same := [][2]string{
		{"https://example.com/a", "https://EXAMPLE.com:443/b"},
		{"HTTPS://example.com/a", "https://example.com/a?x"},
		{"http://127.0.0.1/a", "http://127.0.0.1:80/b"},
		{"https://[::1]:8443/a", "https://[::1]:8443/b"},
	}
	other := [][2]string{
		{"https://example.com/a", "http://example.com/a"},
		{"https://example.com/a", "https://example.com:8443/a"},
		{"https://example.com/a", "https://www.example.com/a"},
		{"https://example.com/a", "https://example.com.evil.test/a"},
		{"https://example.com/a", "https://example.com@evil.test/a"},
	}
	for _, c := range append(same, other...) {
		a, err1 := url.Parse(c[0])
		b, err2 := url.Parse(c[1])
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		want := len(same) > 0 && slices.Contains(same, c)
		if got := origin(a) == origin(b); got != want {
			t.Errorf("same origin %s and %s: %v, want %v", c[0], c[1], got, want)
		}
	}
}

func TestRemoteKeySetStopsARedirectLoop(t *testing.T) {
	s := newRedirectSetup(t)
	var requests atomic.Int32
	client := s.srv.Client()
	client.Transport = &countingTransport{base: client.Transport, n: &requests}
	err := s.verify(t, "/loop/x", client, s.issuer)
	if !errors.Is(err, errRedirect) || errors.Is(err, ErrInvalid) {
		t.Fatalf("redirect loop: %v; want a refused redirect", err)
	}
	if n := requests.Load(); n != MaxJWKSRedirects+1 {
		t.Errorf("%d requests; want %d (the first and %d redirects)", n, MaxJWKSRedirects+1, MaxJWKSRedirects)
	}
	s.rec.wantOne(t, observe.Event{Kind: observe.JWKSFetch, Outcome: observe.Error, Reason: "redirect"})
}

func TestRemoteKeySetKeepsKeysWhenTheIssuerIsDown(t *testing.T) {
	s := newRemoteSetup(t)
	tok := s.issue(t)
	if _, err := s.verifier.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	s.server.status.Store(http.StatusServiceUnavailable)
	s.clock.Advance(DefaultJWKSCacheAge)
	for range 2 {
		if _, err := s.verifier.Verify(t.Context(), tok); err != nil {
			t.Fatalf("with the issuer down: %v", err)
		}
		s.waitForRefresh()
	}
	if n := s.server.fetches.Load(); n != 2 {
		t.Errorf("%d fetches; want 2", n)
	}
}

func TestRemoteKeySetWaiterHonoursItsContext(t *testing.T) {
	s := newRemoteSetup(t)
	s.server.arrived = make(chan struct{}, 1)
	s.server.gate = make(chan struct{})
	tok := s.issue(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := s.verifier.Verify(ctx, tok)
		errc <- err
	}()
	<-s.server.arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalid) {
		t.Errorf("canceled waiter: %v; want context.Canceled", err)
	}
	// The shared fetch was not canceled with the request that started it.
	close(s.server.gate)
	s.waitForRefresh()
	if _, err := s.verifier.Verify(t.Context(), tok); err != nil {
		t.Errorf("after the fetch completed: %v", err)
	}
	if n := s.server.fetches.Load(); n != 1 {
		t.Errorf("%d fetches; want 1", n)
	}
}

type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

func TestRemoteKeySetUsesTheCallersClientOverHTTPS(t *testing.T) {
	ks := NewKeySet(edKey(t).Key)
	srv := newJWKSServer(t, ks, true)
	client := srv.Client()
	ct := &countingTransport{base: client.Transport, n: new(atomic.Int32)}
	client.Transport = ct
	remote, err := NewRemoteKeySet(srv.URL, RemoteKeySetOptions{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(remote, EdDSA)
	tok, err := newIssuer(ks).Issue(t.Context(), "u", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if ct.n.Load() != 1 {
		t.Errorf("caller's client made %d requests; want 1", ct.n.Load())
	}
	// The default client does not trust the test server's certificate.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if remote, err = NewRemoteKeySet(srv.URL, RemoteKeySetOptions{}); err != nil {
		t.Fatal(err)
	}
	v = newVerifier(remote, EdDSA)
	if _, err := v.Verify(t.Context(), tok); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("default client against a self-signed server: %v", err)
	}
}

// A JWKS is read from the network: symmetric keys, leaked private keys and
// ambiguous entries must never become verification keys.
func TestRemoteKeySetIgnoresKeysItMustNotTrust(t *testing.T) {
	good, leaked, dup := edKey(t), edKey(t), edKey(t)
	secret := randomBytes(32)
	leakedPriv := leaked.priv.(ed25519.PrivateKey)
	x := func(k testKey) string { return b64(k.priv.(ed25519.PrivateKey).Public().(ed25519.PublicKey)) }
	body := fmt.Sprintf(`{"keys":[
		{"kty":"oct","kid":"shared","k":%q,"alg":"HS256"},
		{"kty":"OKP","crv":"Ed25519","kid":"leaked","x":%q,"d":%q},
		{"kty":"OKP","crv":"Ed25519","kid":"dup","x":%q},
		{"kty":"OKP","crv":"Ed25519","kid":"dup","x":%q},
		{"kty":"OKP","crv":"Ed25519","kid":"enc","x":%q,"use":"enc"},
		{"kty":"OKP","crv":"Ed25519","kid":"mislabelled","x":%q,"alg":"RS256"},
		{"kty":"OKP","crv":"Ed25519","kid":"good","x":%q}
	]}`, b64(secret), x(leaked), b64(leakedPriv.Seed()), x(dup), x(good), x(good), x(good), x(good))

	s := newRemoteSetup(t)
	s.server.body.Store(&body)
	v := newVerifier(s.remote, EdDSA, HS256)
	try := func(k testKey, kid string, alg Algorithm, priv any) error {
		hdr := map[string]any{"alg": string(alg), "kid": kid, "typ": "at+jwt"}
		_, err := v.Verify(t.Context(), signRaw(t, alg, priv, mustJSON(t, hdr), mustJSON(t, validClaims())))
		return err
	}
	if err := try(good, "good", EdDSA, good.priv); err != nil {
		t.Fatalf("the one good key: %v", err)
	}
	for _, c := range []struct {
		kid  string
		alg  Algorithm
		priv any
	}{
		{"shared", HS256, secret},
		{"leaked", EdDSA, leaked.priv},
		{"dup", EdDSA, dup.priv},
		{"dup", EdDSA, good.priv},
		{"enc", EdDSA, good.priv},
		{"mislabelled", EdDSA, good.priv},
	} {
		if err := try(good, c.kid, c.alg, c.priv); !errors.Is(err, ErrInvalid) {
			t.Errorf("kid %q: %v; want ErrInvalid", c.kid, err)
		}
	}
}

func TestParseJWKRejectsWeakAndInvalidKeys(t *testing.T) {
	for name, raw := range map[string]string{
		"RSA of 1024 bits":  `{"kty":"RSA","kid":"a","n":"` + b64(randomBytes(128)) + `","e":"AQAB"}`,
		"RSA with e=1":      `{"kty":"RSA","kid":"a","n":"` + b64(append([]byte{0xff}, randomBytes(255)...)) + `","e":"AQ"}`,
		"RSA with even e":   `{"kty":"RSA","kid":"a","n":"` + b64(append([]byte{0xff}, randomBytes(255)...)) + `","e":"AQAA"}`,
		"RSA with huge e":   `{"kty":"RSA","kid":"a","n":"` + b64(append([]byte{0xff}, randomBytes(255)...)) + `","e":"AQAAAAAB"}`,
		"EC off the curve":  `{"kty":"EC","crv":"P-256","kid":"a","x":"` + b64(make([]byte, 32)) + `","y":"` + b64(make([]byte, 32)) + `"}`,
		"EC on P-384":       `{"kty":"EC","crv":"P-384","kid":"a","x":"` + b64(randomBytes(48)) + `","y":"` + b64(randomBytes(48)) + `"}`,
		"Ed25519 too short": `{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + b64(randomBytes(31)) + `"}`,
		"X25519":            `{"kty":"OKP","crv":"X25519","kid":"a","x":"` + b64(randomBytes(32)) + `"}`,
		"no kid":            `{"kty":"OKP","crv":"Ed25519","x":"` + b64(randomBytes(32)) + `"}`,
		"not an object":     `[]`,
	} {
		if _, k, err := parseJWK([]byte(raw)); err == nil {
			t.Errorf("%s: parsed as %s key", name, k.alg)
		}
	}
}
