package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/httpstate/httpstate/observe"
)

// Errors that callers branch on. Every error that means "this access token
// must not be accepted" wraps ErrInvalid; other errors (a key server that
// cannot be reached, a signer that failed) mean the question could not be
// answered.
var (
	// ErrInvalid reports an access token that must be rejected: malformed,
	// badly signed, signed by an unknown or retired key, with the wrong
	// claims, or expired.
	ErrInvalid = errors.New("token: invalid")

	// ErrExpired reports an access token whose "exp" has passed. It wraps
	// ErrInvalid; a client that gets it should use its refresh token.
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalid)
)

// Defaults for zero VerifierOptions fields.
const (
	// DefaultLeeway is the clock skew tolerated when
	// VerifierOptions.Leeway is zero.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest VerifierOptions.Leeway allowed: enough for
	// any sane clock skew, small enough that "exp" still means something.
	MaxLeeway = 5 * time.Minute
	// DefaultMaxSize is the largest token, in bytes, a Verifier reads when
	// VerifierOptions.MaxSize is zero. Tokens from an Issuer are well under
	// 1 KiB unless they carry large custom claims.
	DefaultMaxSize = 8 << 10
)

// KeySource is where a Verifier finds the key named by a token's "kid"
// header: a *KeySet (keys held by this process) or a *RemoteKeySet (keys
// the issuer publishes as a JWKS). Each key is bound to one algorithm, and
// a token whose "alg" header names another is rejected, whatever the
// Verifier's allowlist says.
type KeySource interface {
	verificationKey(ctx context.Context, id string) (verificationKey, error)
}

// verificationKey is a key that checks signatures of exactly one
// algorithm: a public key, or an HS256 secret.
type verificationKey struct {
	alg Algorithm
	key any
}

// Reasons a Verify event gives for a rejected token: the first check that
// failed. They are the token section's vocabulary in package observe.
const (
	reasonMalformed   = "malformed"     // not a compact JWS within MaxSize, or unreadable header or signature encoding
	reasonHeader      = "header"        // a header parameter that is not allowed, or one given twice
	reasonType        = "type"          // "typ" is not at+jwt
	reasonAlgorithm   = "algorithm"     // "alg" not allowed, or not the key's own
	reasonUnknownKey  = "unknown_key"   // no "kid", or no key with that ID
	reasonSignature   = "signature"     // the signature does not verify
	reasonClaims      = "claims"        // the claims are not a valid JWT claims set, or lack exp
	reasonExpired     = "expired"       // exp has passed
	reasonNotYetValid = "not_yet_valid" // nbf or iat in the future
	reasonIssuer      = "issuer"        // wrong iss
	reasonAudience    = "audience"      // aud does not name this API
)

// VerifierOptions configures a Verifier.
type VerifierOptions struct {
	// Algorithms is the allowlist of "alg" values. Required: there is no
	// default, so that accepting RS256 or HS256 is always a decision.
	Algorithms []Algorithm

	// Issuer is the required "iss" claim. Required.
	Issuer string

	// Audience is this API's identifier, which the "aud" claim must
	// contain. Required.
	Audience string

	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero means
	// DefaultLeeway, a negative value means none, and more than MaxLeeway
	// is a configuration error.
	Leeway time.Duration

	// MaxSize is the longest token, in bytes, that is parsed at all. Zero
	// means DefaultMaxSize; it must not be negative.
	MaxSize int

	// Observer, if not nil, receives an observe.Verify event for every
	// Verify: its outcome, the reason for a rejection, and its duration.
	// Events never hold the token, its subject or any key. Nil reports
	// nothing and costs nothing.
	Observer observe.Observer
}

// Verifier checks access tokens. It accepts a token only if all of these
// hold, and checks the cheap ones first:
//
//   - it is at most MaxSize bytes, in JWS compact serialization (three
//     canonical base64url segments; JSON serialization is rejected);
//   - its header has only the parameters alg, kid and typ (plus the
//     informational x5t and x5t#S256), each once: jwk, jku, x5u, x5c, crit
//     and b64 are rejected, so the token can never choose its own key;
//   - "typ" is "at+jwt" (RFC 9068), so an ID token or other JWT signed by
//     the same key cannot pass as an access token;
//   - "alg" is in Algorithms and is the algorithm of the key named by
//     "kid", which must be in the verifier's KeySource;
//   - the signature verifies;
//   - "exp" is present and not past, "nbf" and "iat" (if present) are not in
//     the future, each within Leeway;
//   - "iss" equals Issuer and "aud" contains Audience.
//
// Make one with NewVerifier; it is safe for concurrent use.
type Verifier struct {
	keys       KeySource
	algorithms []Algorithm
	issuer     string
	audience   string
	leeway     time.Duration
	maxSize    int
	observer   observe.Observer

	now func() time.Time // for tests; nil means time.Now
}

// NewVerifier returns a Verifier that finds keys in keys, a *KeySet or a
// *RemoteKeySet. It checks the options once, here: an error means the
// configuration could never accept a token, or would accept too much.
func NewVerifier(keys KeySource, opts VerifierOptions) (*Verifier, error) {
	switch {
	case keys == nil:
		return nil, errors.New("token: NewVerifier needs a KeySource")
	case len(opts.Algorithms) == 0:
		return nil, errors.New("token: VerifierOptions.Algorithms is required: there is no default")
	case opts.Issuer == "":
		return nil, errors.New("token: VerifierOptions.Issuer is required")
	case opts.Audience == "":
		return nil, errors.New("token: VerifierOptions.Audience is required")
	case opts.Leeway > MaxLeeway:
		return nil, fmt.Errorf("token: VerifierOptions.Leeway %v is more than MaxLeeway", opts.Leeway)
	case opts.MaxSize < 0:
		return nil, fmt.Errorf("token: VerifierOptions.MaxSize %d is negative", opts.MaxSize)
	}
	for _, a := range opts.Algorithms {
		switch a {
		case EdDSA, ES256, RS256, HS256:
		default:
			return nil, fmt.Errorf("token: VerifierOptions.Algorithms lists unsupported algorithm %q", a)
		}
	}
	v := &Verifier{
		keys: keys, algorithms: slices.Clone(opts.Algorithms), issuer: opts.Issuer, audience: opts.Audience,
		leeway: opts.Leeway, maxSize: opts.MaxSize, observer: opts.Observer,
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.maxSize == 0 {
		v.maxSize = DefaultMaxSize
	}
	return v, nil
}

// Verify checks tok and returns its claims. Errors that mean the token must
// be rejected wrap ErrInvalid (and ErrExpired for an expired token); any
// other error means the token could not be checked, for example because a
// RemoteKeySet could not fetch the issuer's keys. ctx bounds such a fetch.
func (v *Verifier) Verify(ctx context.Context, tok string) (*Claims, error) {
	if v == nil || v.keys == nil {
		return nil, errors.New("token: Verifier not made by NewVerifier")
	}
	if v.observer == nil {
		c, _, err := v.verify(ctx, tok)
		return c, err
	}
	start := time.Now()
	c, reason, err := v.verify(ctx, tok)
	e := observe.Event{Kind: observe.Verify, Outcome: observe.OK, Start: start, Duration: time.Since(start)}
	switch {
	case errors.Is(err, ErrInvalid):
		e.Outcome, e.Reason = observe.Rejected, reason
	case err != nil:
		e.Outcome, e.Err = observe.Error, err
	}
	v.observer.Observe(ctx, e)
	return c, err
}

// verify does the work of Verify and also returns the reason for a
// rejection.
func (v *Verifier) verify(ctx context.Context, tok string) (*Claims, string, error) {
	if len(tok) > v.maxSize {
		return nil, reasonMalformed, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, v.maxSize)
	}
	hdr, reason, err := parseHeader(tok)
	if err != nil {
		return nil, reason, err
	}
	if !strings.EqualFold(hdr.typ, accessTokenType) && !strings.EqualFold(hdr.typ, "application/"+accessTokenType) {
		return nil, reasonType, fmt.Errorf("%w: typ %q is not %q", ErrInvalid, hdr.typ, accessTokenType)
	}
	alg := Algorithm(hdr.alg)
	if !slices.Contains(v.algorithms, alg) {
		return nil, reasonAlgorithm, fmt.Errorf("%w: algorithm %q is not allowed", ErrInvalid, hdr.alg)
	}
	if hdr.kid == "" {
		return nil, reasonUnknownKey, fmt.Errorf("%w: no key ID", ErrInvalid)
	}
	key, err := v.keys.verificationKey(ctx, hdr.kid)
	if err != nil {
		return nil, reasonUnknownKey, err
	}
	if key.alg != alg {
		// The defence against algorithm confusion: an RSA public key is
		// never used as an HMAC secret, whatever the header says.
		return nil, reasonAlgorithm, fmt.Errorf("%w: key is for %s, token says %s", ErrInvalid, key.alg, alg)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return nil, reasonMalformed, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// go-jose read the same header; make sure it saw what we saw.
	if len(jws.Signatures) != 1 || jws.Signatures[0].Header.Algorithm != hdr.alg || jws.Signatures[0].Header.KeyID != hdr.kid {
		return nil, reasonHeader, fmt.Errorf("%w: ambiguous header", ErrInvalid)
	}
	payload, err := jws.Verify(key.key)
	if err != nil {
		return nil, reasonSignature, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	var c Claims
	if err := c.UnmarshalJSON(payload); err != nil {
		return nil, reasonClaims, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if reason, err := v.validate(&c); err != nil {
		return nil, reason, err
	}
	return &c, "", nil
}

func (v *Verifier) validate(c *Claims) (string, error) {
	now := time.Now()
	if v.now != nil {
		now = v.now()
	}
	skew := v.leeway
	switch {
	case c.Expiry.IsZero():
		return reasonClaims, fmt.Errorf("%w: no exp claim", ErrInvalid)
	case !now.Before(c.Expiry.Add(skew)):
		return reasonExpired, fmt.Errorf("%w at %s", ErrExpired, c.Expiry.UTC().Format(time.RFC3339))
	case !c.NotBefore.IsZero() && now.Add(skew).Before(c.NotBefore):
		return reasonNotYetValid, fmt.Errorf("%w: not valid before %s", ErrInvalid, c.NotBefore.UTC().Format(time.RFC3339))
	case !c.IssuedAt.IsZero() && now.Add(skew).Before(c.IssuedAt):
		return reasonNotYetValid, fmt.Errorf("%w: issued in the future", ErrInvalid)
	case c.Issuer != v.issuer:
		return reasonIssuer, fmt.Errorf("%w: wrong issuer", ErrInvalid)
	case !slices.Contains(c.Audience, v.audience):
		return reasonAudience, fmt.Errorf("%w: wrong audience", ErrInvalid)
	}
	return "", nil
}

type header struct{ alg, kid, typ string }

// parseHeader checks that tok is three canonical base64url segments and
// decodes the protected header, which may hold each allowed parameter at
// most once. It runs before go-jose sees the token, so that nothing it
// rejects reaches a general-purpose parser.
func parseHeader(tok string) (header, string, error) {
	h, rest, ok1 := strings.Cut(tok, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return header{}, reasonMalformed, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
	}
	for _, seg := range [...]string{h, p, s} {
		if !canonicalBase64URL(seg) {
			return header{}, reasonMalformed, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(h)
	if err != nil {
		return header{}, reasonMalformed, fmt.Errorf("%w: header: %w", ErrInvalid, err)
	}
	return decodeHeader(raw)
}

// canonicalBase64URL reports whether s is non-empty unpadded base64url whose
// unused trailing bits are zero, so that each token has one spelling.
func canonicalBase64URL(s string) bool {
	if len(s) == 0 || len(s)%4 == 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b64Value(s[i]) < 0 {
			return false
		}
	}
	last := b64Value(s[len(s)-1])
	switch len(s) % 4 {
	case 2:
		return last&0x0f == 0
	case 3:
		return last&0x03 == 0
	}
	return true
}

func b64Value(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// decodeHeader reads a protected header. JSON that is not an object of
// strings is "malformed"; a parameter that is not allowed, or one given
// twice, is "header".
func decodeHeader(raw []byte) (header, string, error) {
	malformed := func(why string) (header, string, error) {
		return header{}, reasonMalformed, fmt.Errorf("%w: header %s", ErrInvalid, why)
	}
	bad := func(why string) (header, string, error) {
		return header{}, reasonHeader, fmt.Errorf("%w: header %s", ErrInvalid, why)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return malformed("is not a JSON object")
	}
	var h header
	var seen [5]bool
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return malformed("is not valid JSON")
		}
		name, _ := t.(string)
		var dst *string
		var ignored string
		var i int
		switch name {
		case "alg":
			i, dst = 0, &h.alg
		case "kid":
			i, dst = 1, &h.kid
		case "typ":
			i, dst = 2, &h.typ
		case "x5t":
			i, dst = 3, &ignored
		case "x5t#S256":
			i, dst = 4, &ignored
		default:
			// jwk, jku, x5u and x5c would let the token name its own
			// key; crit and b64 change how it is verified. None has a
			// place in an access token.
			return bad(fmt.Sprintf("parameter %.32q is not allowed", name))
		}
		if seen[i] {
			return bad(fmt.Sprintf("repeats %q", name))
		}
		seen[i] = true
		if err := d.Decode(dst); err != nil {
			return malformed(fmt.Sprintf("parameter %q is not a string", name))
		}
	}
	if t, err := d.Token(); err != nil || t != json.Delim('}') {
		return malformed("is not valid JSON")
	}
	if _, err := d.Token(); err != io.EOF {
		return malformed("has data after the object")
	}
	return h, "", nil
}
