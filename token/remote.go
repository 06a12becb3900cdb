package token

import (
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
	"sync"
	"time"
)

// Defaults for zero RemoteKeySet fields.
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

// fetchTimeout bounds one JWKS fetch. The fetch is shared by every
// verification waiting for it, so it is not cut short when the request
// that started it goes away; each waiter still stops at its own deadline.
const fetchTimeout = 10 * time.Second

// maxRSAKeyBits bounds the RSA keys accepted from a remote JWKS: verifying
// with a huge modulus costs a lot of CPU.
const maxRSAKeyBits = 8192

// RemoteKeySet is a KeySource that verifies tokens with the public keys an
// issuer publishes as a JWK Set (RFC 7517) at URL, as served by
// KeySet.JWKSHandler or any OpenID provider's jwks_uri.
//
// Keys are fetched on first use and cached. A token whose key ID is not in
// the cache triggers a fetch, but at most one per MinRefreshInterval: a
// flood of tokens with made-up key IDs costs the issuer one request per
// interval, and concurrent verifications share one fetch. Cached keys older
// than CacheAge are still used while a fresh copy is fetched in the
// background; if the issuer cannot be reached, the last keys stay in use.
//
// Only signing keys of the supported algorithms (EdDSA, ES256 and RS256 of
// at least 2048 bits) with a key ID are used. Symmetric keys and keys with
// private parameters are ignored: a key from the network can never become
// an HMAC secret.
//
// A RemoteKeySet is configured by its fields, which must not change once
// it is in use, and is safe for concurrent use. It must not be copied after
// first use.
type RemoteKeySet struct {
	// URL is the JWKS address. It must be https, except on a loopback
	// host (for development and tests). Required.
	URL string

	// Client makes the requests. Nil means http.DefaultClient; every fetch
	// is also bounded by a 10-second timeout.
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

	now func() time.Time // for tests; nil means time.Now

	mu        sync.Mutex
	keys      map[string]verificationKey
	fetched   time.Time  // last successful fetch
	attempted time.Time  // start of the last fetch, successful or not
	lastErr   error      // result of the last fetch
	inflight  *fetchCall // the fetch in progress, if any
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

func orDefault[T int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// verificationKey implements KeySource.
func (r *RemoteKeySet) verificationKey(ctx context.Context, id string) (verificationKey, error) {
	r.mu.Lock()
	now := r.clock()
	k, known := r.keys[id]
	if known && now.Sub(r.fetched) < orDefault(r.CacheAge, DefaultJWKSCacheAge) {
		r.mu.Unlock()
		return k, nil
	}
	f := r.inflight
	if f == nil {
		if !r.attempted.IsZero() && now.Sub(r.attempted) < orDefault(r.MinRefreshInterval, DefaultMinRefreshInterval) {
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
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	keys, err := r.fetch(ctx)
	r.mu.Lock()
	if err == nil {
		r.keys = keys
		r.fetched = r.clock()
	}
	r.lastErr = err
	r.inflight = nil
	f.err = err
	r.mu.Unlock()
	close(f.done)
}

func (r *RemoteKeySet) fetch(ctx context.Context) (map[string]verificationKey, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, fmt.Errorf("token: RemoteKeySet.URL: %w", err)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("token: RemoteKeySet.URL must be https (or http on a loopback host), got scheme %q host %q", u.Scheme, u.Host)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("token: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token: fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("token: fetch JWKS: status %s", resp.Status)
	}
	limit := orDefault(r.MaxSize, DefaultMaxJWKSSize)
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("token: read JWKS: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("token: JWKS larger than %d bytes", limit)
	}
	return parseJWKS(body)
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
