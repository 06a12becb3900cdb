package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"
)

// DefaultTTL is the lifetime of an access token when IssuerOptions.TTL is
// zero. Access tokens cannot be revoked before they expire, so they should
// live minutes, not hours; clients get new ones with a refresh token.
const DefaultTTL = 10 * time.Minute

// IssuerOptions configures an Issuer.
type IssuerOptions struct {
	// Issuer is the "iss" claim, conventionally the HTTPS URL of the
	// service that issues tokens. Required: verifiers reject tokens from
	// any other issuer.
	Issuer string

	// Audience is the "aud" claim: the identifiers of the APIs the token
	// is meant for. Required, with no empty entry: a verifier accepts a
	// token only if its own audience is listed, so a token for one API
	// cannot be spent at another.
	Audience []string

	// TTL is how long a token is valid after it is issued. Zero means
	// DefaultTTL; it must not be negative.
	TTL time.Duration
}

// Issuer signs access tokens: JWTs with the "typ" header "at+jwt" (RFC
// 9068), the key ID of the signing key in the "kid" header, and the
// registered claims iss, sub, aud, exp, nbf, iat and jti. Make one with
// NewIssuer; it is safe for concurrent use, and the KeySet it signs with
// may rotate at any time.
type Issuer struct {
	keys     *KeySet
	issuer   string
	audience []string
	ttl      time.Duration

	now func() time.Time // for tests; nil means time.Now
}

// NewIssuer returns an Issuer that signs with the current key of keys at
// the moment of each Issue. It checks the options once, here: an error
// means the configuration can never issue a token.
func NewIssuer(keys *KeySet, opts IssuerOptions) (*Issuer, error) {
	switch {
	case keys == nil:
		return nil, errors.New("token: NewIssuer needs a KeySet")
	case opts.Issuer == "":
		return nil, errors.New("token: IssuerOptions.Issuer is required")
	case len(opts.Audience) == 0 || slices.Contains(opts.Audience, ""):
		return nil, errors.New("token: IssuerOptions.Audience needs at least one non-empty entry")
	case opts.TTL < 0:
		return nil, fmt.Errorf("token: IssuerOptions.TTL %v is negative", opts.TTL)
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	return &Issuer{keys: keys, issuer: opts.Issuer, audience: slices.Clone(opts.Audience), ttl: ttl}, nil
}

// TTL returns how long the tokens the Issuer signs are valid: the
// "expires_in" of an OAuth 2.0 token response.
func (i *Issuer) TTL() time.Duration { return i.ttl }

func (i *Issuer) clock() time.Time {
	if i.now != nil {
		return i.now()
	}
	return time.Now()
}

// Issue signs an access token for subject (usually a user ID) carrying the
// custom claims in extra, which may not use the registered claim names
// (iss, sub, aud, exp, nbf, iat, jti). Put granted scopes in extra["scope"]
// as a space-separated string.
//
// ctx bounds the signature: a key made by NewKey from a Signer that may
// block (a KMS or an HSM) is abandoned when ctx is done, and Issue returns
// an error wrapping context.Cause(ctx).
func (i *Issuer) Issue(ctx context.Context, subject string, extra map[string]any) (string, error) {
	if i == nil || i.keys == nil {
		return "", errors.New("token: Issuer not made by NewIssuer")
	}
	key := i.keys.Current()
	if key == nil {
		return "", errors.New("token: the key set has no current key")
	}
	now := i.clock().Truncate(time.Second)
	var jti [16]byte
	rand.Read(jti[:])
	c := Claims{
		Issuer:    i.issuer,
		Subject:   subject,
		Audience:  i.audience,
		IssuedAt:  now,
		NotBefore: now,
		Expiry:    now.Add(i.ttl),
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		Extra:     extra,
	}
	payload, err := c.MarshalJSON()
	if err != nil {
		return "", err
	}
	return key.signCompact(ctx, payload)
}
