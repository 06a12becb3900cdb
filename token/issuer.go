package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// DefaultTTL is the lifetime of an access token when Issuer.TTL is zero.
// Access tokens cannot be revoked before they expire, so they should live
// minutes, not hours; clients get new ones with a refresh token.
const DefaultTTL = 10 * time.Minute

// Issuer signs access tokens: JWTs with the "typ" header "at+jwt" (RFC
// 9068), the key ID of the signing key in the "kid" header, and the
// registered claims iss, sub, aud, exp, nbf, iat and jti.
//
// An Issuer is configured by its fields and must not be changed while in
// use; the KeySet it points to may rotate at any time.
type Issuer struct {
	// Keys provides the signing key: its current key at the moment of each
	// Issue. Required.
	Keys *KeySet

	// Issuer is the "iss" claim, conventionally the HTTPS URL of the
	// service that issues tokens. Required: verifiers reject tokens from
	// any other issuer.
	Issuer string

	// Audience is the "aud" claim: the identifiers of the APIs the token
	// is meant for. Required: a verifier accepts a token only if its own
	// audience is listed, so a token for one API cannot be spent at another.
	Audience []string

	// TTL is how long a token is valid after it is issued. Zero means
	// DefaultTTL.
	TTL time.Duration

	now func() time.Time // for tests; nil means time.Now
}

func (i *Issuer) clock() time.Time {
	if i.now != nil {
		return i.now()
	}
	return time.Now()
}

func (i *Issuer) ttl() time.Duration {
	if i.TTL > 0 {
		return i.TTL
	}
	return DefaultTTL
}

// Issue signs an access token for subject (usually a user ID) carrying the
// custom claims in extra, which may not use the registered claim names
// (iss, sub, aud, exp, nbf, iat, jti). Put granted scopes in extra["scope"]
// as a space-separated string.
func (i *Issuer) Issue(subject string, extra map[string]any) (string, error) {
	tok, _, err := i.issue(subject, extra)
	return tok, err
}

func (i *Issuer) issue(subject string, extra map[string]any) (string, Claims, error) {
	if i.Keys == nil || i.Issuer == "" || len(i.Audience) == 0 {
		return "", Claims{}, errors.New("token: Issuer needs Keys, Issuer and Audience")
	}
	key := i.Keys.Current()
	if key == nil {
		return "", Claims{}, errors.New("token: the key set has no current key")
	}
	now := i.clock().Truncate(time.Second)
	var jti [16]byte
	rand.Read(jti[:])
	c := Claims{
		Issuer:    i.Issuer,
		Subject:   subject,
		Audience:  i.Audience,
		IssuedAt:  now,
		NotBefore: now,
		Expiry:    now.Add(i.ttl()),
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		Extra:     extra,
	}
	payload, err := c.MarshalJSON()
	if err != nil {
		return "", Claims{}, err
	}
	jws, err := key.signer.Sign(payload)
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: sign: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: serialize: %w", err)
	}
	return tok, c, nil
}
