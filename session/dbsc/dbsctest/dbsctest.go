// Package dbsctest plays the browser's side of Device Bound Session
// Credentials for tests: it makes session keys, signs proofs as Chromium
// does, and drives registration and refresh against a server over HTTP.
// It holds its private keys in memory, so it proves nothing about a
// device; it exists to test servers.
package dbsctest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/httpstate/httpstate/session/dbsc"
)

// Key is a session key pair.
type Key struct {
	Signer crypto.Signer
	Public *dbsc.PublicKey
}

// NewKey makes a key for alg: P-256 for ES256, 2048-bit RSA for RS256.
func NewKey(alg dbsc.Algorithm) (*Key, error) {
	var signer crypto.Signer
	var err error
	switch alg {
	case dbsc.ES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case dbsc.RS256:
		signer, err = rsa.GenerateKey(rand.Reader, dbsc.MinRSABits)
	default:
		return nil, fmt.Errorf("dbsctest: algorithm %q", string(alg))
	}
	if err != nil {
		return nil, err
	}
	pub, err := dbsc.NewPublicKey(signer.Public())
	if err != nil {
		return nil, err
	}
	return &Key{Signer: signer, Public: pub}, nil
}

// RegistrationProof signs a registration proof: the public key in the
// header, the challenge and authorization (when not empty) as claims.
func (k *Key) RegistrationProof(challenge, authorization string) (string, error) {
	return dbsc.SignProof(k.Signer, k.Public, true, challenge, authorization)
}

// RefreshProof signs a refresh proof for challenge.
func (k *Key) RefreshProof(challenge string) (string, error) {
	return dbsc.SignProof(k.Signer, k.Public, false, challenge, "")
}

// Browser registers and refreshes one device-bound session through
// Client, whose cookie jar holds the session's cookies. Set Client (with
// a Jar) and Alg before use; the zero Alg means ES256.
type Browser struct {
	Client *http.Client
	Alg    dbsc.Algorithm

	// After Register: the key, the instructions and where to refresh.
	Key          *Key
	Instructions dbsc.Instructions
	RefreshURL   *url.URL
	// Challenge is the last challenge the server sent for the session,
	// signed at the next refresh.
	Challenge string
}

// ErrNoOffer is returned by Register for a response without a usable
// Secure-Session-Registration header.
var ErrNoOffer = errors.New("dbsctest: no registration offered")

// Register answers the registration offer in resp, as Chromium does: a
// new key, a POST to the offer's path with the proof, and the session
// instructions from the answer. It fails when the server does not answer
// 200 with valid instructions.
func (b *Browser) Register(ctx context.Context, resp *http.Response) error {
	offers, err := dbsc.ParseRegistrations(resp.Header)
	if err != nil {
		return err
	}
	alg := b.Alg
	if alg == "" {
		alg = dbsc.ES256
	}
	for _, o := range offers {
		for _, a := range o.Algorithms {
			if a != alg {
				continue
			}
			endpoint, err := resp.Request.URL.Parse(o.Path)
			if err != nil {
				return err
			}
			key, err := NewKey(alg)
			if err != nil {
				return err
			}
			proof, err := key.RegistrationProof(o.Challenge, o.Authorization)
			if err != nil {
				return err
			}
			hdr := http.Header{dbsc.HeaderResponse: {proof}}
			if o.Authorization != "" {
				hdr.Set("Authorization", o.Authorization)
			}
			answer, body, err := b.post(ctx, endpoint, hdr)
			if err != nil {
				return err
			}
			if answer.StatusCode != http.StatusOK {
				return fmt.Errorf("dbsctest: registration answered %s: %s", answer.Status, body)
			}
			in, err := dbsc.ParseInstructions(body)
			if err != nil {
				return err
			}
			if in.Terminate {
				return errors.New("dbsctest: registration answered continue:false")
			}
			b.Key, b.Instructions = key, in
			if b.RefreshURL, err = endpoint.Parse(in.RefreshURL); err != nil {
				return err
			}
			b.takeChallenge(answer.Header)
			return nil
		}
	}
	return ErrNoOffer
}

// Refresh runs one refresh: a POST naming the session, signed with the
// last challenge if there is one; on 403 a second POST signing the
// challenge the server sent. It returns the final response's status; the
// jar keeps the new bound cookie. A 200 with instructions replaces them.
func (b *Browser) Refresh(ctx context.Context) (int, error) {
	if b.Key == nil {
		return 0, errors.New("dbsctest: no session to refresh")
	}
	for attempt := 0; attempt < 2; attempt++ {
		hdr := http.Header{dbsc.HeaderSessionID: {b.Instructions.SessionIdentifier}}
		if b.Challenge != "" {
			proof, err := b.Key.RefreshProof(b.Challenge)
			if err != nil {
				return 0, err
			}
			hdr.Set(dbsc.HeaderResponse, proof)
		}
		resp, body, err := b.post(ctx, b.RefreshURL, hdr)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode == http.StatusForbidden && b.takeChallenge(resp.Header) {
			continue
		}
		if resp.StatusCode == http.StatusOK && len(bytes.TrimSpace(body)) > 0 {
			in, err := dbsc.ParseInstructions(body)
			if err != nil {
				return resp.StatusCode, err
			}
			b.Instructions = in
		}
		b.takeChallenge(resp.Header)
		return resp.StatusCode, nil
	}
	return http.StatusForbidden, errors.New("dbsctest: server challenged twice")
}

// takeChallenge keeps the server's newest challenge for the session and
// reports whether there was one.
func (b *Browser) takeChallenge(h http.Header) bool {
	cs, err := dbsc.ParseChallenges(h)
	if err != nil {
		return false
	}
	found := false
	for _, c := range cs {
		if c.SessionID == b.Instructions.SessionIdentifier || b.Instructions.SessionIdentifier == "" {
			b.Challenge, found = c.Value, true
		}
	}
	return found
}

func (b *Browser) post(ctx context.Context, u *url.URL, hdr http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}
