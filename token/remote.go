package token

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/httpstate/httpstate/observe"
)

// Defaults for zero RemoteKeySetOptions fields.
const (
	// DefaultMinRefreshInterval is the least time between two fetches of a
	// remote JWKS.
	DefaultMinRefreshInterval = time.Minute
	// DefaultJWKSCacheAge is how long fetched keys are used before the
	// JWKS is fetched again, so that retired keys stop verifying.
	DefaultJWKSCacheAge = 10 * time.Minute
	// DefaultMaxJWKSSize is the largest JWKS response read, in bytes.
	DefaultMaxJWKSSize = 256 << 10
)

// MaxJWKSRedirects is how many redirects one JWKS fetch follows, each to
// the origin of the configured URL.
const MaxJWKSRedirects = 3

// fetchTimeout bounds one JWKS fetch. The fetch is shared by every
// verification waiting for it, so it is not cut short when the request
// that started it goes away; each waiter still stops at its own deadline.
const fetchTimeout = 10 * time.Second

// maxRSAKeyBits bounds the RSA keys accepted from a remote JWKS: verifying
// with a huge modulus costs a lot of CPU.
const maxRSAKeyBits = 8192

// Reasons a JWKSFetch event gives for a failed fetch; the token section's
// vocabulary in package observe.
const (
	reasonUnreachable = "unreachable" // no HTTP response: DNS, connection, TLS, timeout
	reasonRedirect    = "redirect"    // a redirect away from the URL's origin, or too many
	reasonStatus      = "status"      // a response other than 200
	reasonTooLarge    = "too_large"   // a body over MaxSize
	reasonInvalid     = "invalid"     // not a JWK Set, or no usable signing key in it
)

// errRedirect reports a redirect a RemoteKeySet refused to follow.
var errRedirect = errors.New("token: JWKS redirect refused")

// RemoteKeySetOptions configures a RemoteKeySet.
type RemoteKeySetOptions struct {
	// Client makes the requests. Nil means http.DefaultClient; every fetch
	// is also bounded by a 10-second timeout. The RemoteKeySet works on a
	// copy whose redirect policy keeps fetches on the URL's origin (see
	// RemoteKeySet); the Client's own CheckRedirect, if any, is consulted
	// after that policy allows a redirect.
	Client *http.Client

	// MinRefreshInterval is the least time between two fetches. Zero means
	// DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration

	// CacheAge is how long fetched keys are trusted before they are
	// fetched again. Zero means DefaultJWKSCacheAge.
	CacheAge time.Duration

	// MaxSize is the largest response body read, in bytes. Zero means
	// DefaultMaxJWKSSize.
	MaxSize int64

	// Observer, if not nil, receives an observe.JWKSFetch event for each
	// fetch, with its outcome, the reason for a failure and its duration.
	// Nil reports nothing and costs nothing.
	Observer observe.Observer
}

// RemoteKeySet is a KeySource that verifies tokens with the public keys an
// issuer publishes as a JWK Set (RFC 7517), as served by
// KeySet.JWKSHandler or any OpenID provider's jwks_uri.
//
// Keys are fetched on first use and cached. A token whose key ID is not in
// the cache triggers a fetch, but at most one per MinRefreshInterval: a
// flood of tokens with made-up key IDs costs the issuer one request per
// interval, and concurrent verifications share one fetch. Cached keys older
// than CacheAge are still used while a fresh copy is fetched in the
// background; if the issuer cannot be reached, the last keys stay in use.
//
// Keys are only ever read from the URL's origin. The URL must be https
// (plain http only on a loopback host, for development and tests), and a
// fetch follows a redirect only to the same scheme, host and port, at most
// MaxJWKSRedirects times: a redirect to plain HTTP, to another host or to
// another port fails the fetch, so keys can never come from a place an
// attacker on the network, or on another host of a shared domain, could
// answer for.
//
// Only signing keys of the supported algorithms (EdDSA, ES256 and RS256 of
// at least 2048 bits) with a key ID are used. Symmetric keys and keys with
// private parameters are ignored: a key from the network can never become
// an HMAC secret.
//
// Make one with NewRemoteKeySet; it is safe for concurrent use.
type RemoteKeySet struct {
	url        string
	origin     string // scheme://host:port of url
	client     *http.Client
	minRefresh time.Duration
	cacheAge   time.Duration
	maxSize    int64
	observer   observe.Observer

	now func() time.Time // for tests; nil means time.Now

	mu        sync.Mutex
	keys      map[string]verificationKey
	fetched   time.Time  // last successful fetch
	attempted time.Time  // start of the last fetch, successful or not
	lastErr   error      // result of the last fetch
	inflight  *fetchCall // the fetch in progress, if any
}

// NewRemoteKeySet returns a RemoteKeySet that reads the JWK Set at
// jwksURL, which must be an absolute https URL (or http on a loopback
// host). It fetches nothing yet.
func NewRemoteKeySet(jwksURL string, opts RemoteKeySetOptions) (*RemoteKeySet, error) {
	u, err := url.Parse(jwksURL)
	if err != nil {
		return nil, fmt.Errorf("token: RemoteKeySet URL: %w", err)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("token: RemoteKeySet URL must be https (or http on a loopback host), got scheme %q host %q", u.Scheme, u.Host)
	}
	if u.Host == "" {
		return nil, errors.New("token: RemoteKeySet URL has no host")
	}
	switch {
	case opts.MinRefreshInterval < 0, opts.CacheAge < 0, opts.MaxSize < 0:
		return nil, errors.New("token: RemoteKeySetOptions: MinRefreshInterval, CacheAge and MaxSize must not be negative")
	}
	r := &RemoteKeySet{
		url: jwksURL, origin: origin(u),
		minRefresh: cmp.Or(opts.MinRefreshInterval, DefaultMinRefreshInterval),
		cacheAge:   cmp.Or(opts.CacheAge, DefaultJWKSCacheAge),
		maxSize:    cmp.Or(opts.MaxSize, DefaultMaxJWKSSize),
		observer:   opts.Observer,
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > MaxJWKSRedirects {
			return fmt.Errorf("%w: more than %d redirects", errRedirect, MaxJWKSRedirects)
		}
		if origin(req.URL) != r.origin {
			return fmt.Errorf("%w: it leads away from %s", errRedirect, r.origin)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	r.client = &c
	return r, nil
}

// origin returns u's scheme, host and port, in lower case and with the
// scheme's default port spelled out, so that two spellings of one origin
// compare equal.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

type fetchCall struct {
	done chan struct{}
	err  error // set before done is closed
}

func (r *RemoteKeySet) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// verificationKey implements KeySource.
func (r *RemoteKeySet) verificationKey(ctx context.Context, id string) (verificationKey, error) {
	if r == nil || r.client == nil {
		return verificationKey{}, errors.New("token: RemoteKeySet not made by NewRemoteKeySet")
	}
	r.mu.Lock()
	now := r.clock()
	k, known := r.keys[id]
	if known && now.Sub(r.fetched) < r.cacheAge {
		r.mu.Unlock()
		return k, nil
	}
	f := r.inflight
	if f == nil {
		if !r.attempted.IsZero() && now.Sub(r.attempted) < r.minRefresh {
			// Asking again so soon would not make an unknown key appear,
			// and made-up key IDs must not turn into fetches.
			lastErr := r.lastErr
			r.mu.Unlock()
			switch {
			case known:
				return k, nil
			case lastErr != nil:
				return verificationKey{}, fmt.Errorf("token: JWKS unavailable: %w", lastErr)
			}
			return verificationKey{}, fmt.Errorf("%w: unknown key ID", ErrInvalid)
		}
		f = &fetchCall{done: make(chan struct{})}
		r.inflight = f
		r.attempted = now
		go r.refresh(context.WithoutCancel(ctx), f)
	}
	r.mu.Unlock()
	if known {
		// Stale but still ours: use it while the refresh runs.
		return k, nil
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return verificationKey{}, fmt.Errorf("token: waiting for JWKS: %w", context.Cause(ctx))
	}
	r.mu.Lock()
	k, known = r.keys[id]
	r.mu.Unlock()
	switch {
	case known:
		return k, nil
	case f.err != nil:
		return verificationKey{}, fmt.Errorf("token: JWKS unavailable: %w", f.err)
	}
	return verificationKey{}, fmt.Errorf("%w: unknown key ID", ErrInvalid)
}

func (r *RemoteKeySet) refresh(ctx context.Context, f *fetchCall) {
	var start time.Time
	if r.observer != nil {
		start = time.Now()
	}
	fetchCtx, cancel := context.WithTimeout(ctx, fetchTimeout)
	keys, reason, err := r.fetch(fetchCtx)
	cancel()
	r.mu.Lock()
	if err == nil {
		r.keys = keys
		r.fetched = r.clock()
	}
	r.lastErr = err
	r.inflight = nil
	f.err = err
	r.mu.Unlock()
	if r.observer != nil {
		e := observe.Event{Kind: observe.JWKSFetch, Outcome: observe.OK, Start: start, Duration: time.Since(start)}
		if err != nil {
			e.Outcome, e.Reason, e.Err = observe.Error, reason, err
		}
		r.observer.Observe(ctx, e)
	}
	close(f.done)
}

// fetch reads and parses the JWKS; on failure it also returns the reason.
func (r *RemoteKeySet) fetch(ctx context.Context) (map[string]verificationKey, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, reasonUnreachable, fmt.Errorf("token: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if errors.Is(err, errRedirect) {
		return nil, reasonRedirect, fmt.Errorf("token: fetch JWKS: %w", err)
	}
	if err != nil {
		return nil, reasonUnreachable, fmt.Errorf("token: fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, reasonStatus, fmt.Errorf("token: fetch JWKS: status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.maxSize+1))
	if err != nil {
		return nil, reasonUnreachable, fmt.Errorf("token: read JWKS: %w", err)
	}
	if int64(len(body)) > r.maxSize {
		return nil, reasonTooLarge, fmt.Errorf("token: JWKS larger than %d bytes", r.maxSize)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, reasonInvalid, err
	}
	return keys, "", nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseJWKS decodes a JWK Set from the network, keeping the usable
// signing keys by key ID. Keys it does not understand are skipped, as RFC
// 7517 section 5 asks; a set with none it can use is an error, so that the
// keys cached before stay in use.
func parseJWKS(body []byte) (map[string]verificationKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("token: decode JWKS: %w", err)
	}
	keys := make(map[string]verificationKey, len(doc.Keys))
	for _, raw := range doc.Keys {
		id, k, err := parseJWK(raw)
		if err != nil {
			continue
		}
		if _, dup := keys[id]; dup {
			// Two keys under one ID: neither can be trusted to be the
			// one a token means.
			keys[id] = verificationKey{}
			continue
		}
		keys[id] = k
	}
	for id, k := range keys {
		if k.key == nil {
			delete(keys, id)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("token: JWKS has no usable signing key (EdDSA, ES256 or RS256 with a kid)")
	}
	return keys, nil
}

// jwk is the part of RFC 7517/7518/8037 a public signing key needs.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`

	// Private parameters: their presence marks a key that should never
	// have been published.
	D  json.RawMessage `json:"d"`
	K  json.RawMessage `json:"k"`
	P  json.RawMessage `json:"p"`
	Q  json.RawMessage `json:"q"`
	DP json.RawMessage `json:"dp"`
	DQ json.RawMessage `json:"dq"`
	QI json.RawMessage `json:"qi"`
}

var errUnusableKey = errors.New("token: unusable JWK")

func parseJWK(raw []byte) (string, verificationKey, error) {
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return "", verificationKey{}, err
	}
	if j.Kid == "" || (j.Use != "" && j.Use != "sig") ||
		j.D != nil || j.K != nil || j.P != nil || j.Q != nil || j.DP != nil || j.DQ != nil || j.QI != nil {
		return "", verificationKey{}, errUnusableKey
	}
	b64 := base64.RawURLEncoding.DecodeString
	var k verificationKey
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		x, err := b64(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return "", k, errUnusableKey
		}
		k = verificationKey{alg: EdDSA, key: ed25519.PublicKey(x)}
	case j.Kty == "EC" && j.Crv == "P-256":
		x, err1 := b64(j.X)
		y, err2 := b64(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return "", k, errUnusableKey
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return "", k, errUnusableKey
		}
		k = verificationKey{alg: ES256, key: pub}
	case j.Kty == "RSA":
		n, err1 := b64(j.N)
		e, err2 := b64(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return "", k, errUnusableKey
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if bits := pub.N.BitLen(); bits < MinRSAKeyBits || bits > maxRSAKeyBits || pub.E < 3 || pub.E%2 == 0 {
			return "", k, errUnusableKey
		}
		k = verificationKey{alg: RS256, key: pub}
	default:
		return "", k, errUnusableKey
	}
	if j.Alg != "" && Algorithm(j.Alg) != k.alg {
		return "", k, errUnusableKey
	}
	return j.Kid, k, nil
}
