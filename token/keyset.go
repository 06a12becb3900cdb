package token

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// JWKSMaxAge is how long clients may cache the document served by
// KeySet.JWKSHandler (its Cache-Control max-age). When rotating keys, wait
// at least this long between Add and SetCurrent so that every verifier
// reading the JWKS knows the new key before the first token it signs.
const JWKSMaxAge = 5 * time.Minute

var errUnknownKeyID = errors.New("token: no key with that ID in the set")

// KeySet holds the keys an Issuer signs with and a Verifier checks
// against: one current key that signs new tokens, and older keys kept only
// to verify tokens they signed before a rotation. It is safe for concurrent
// use, so keys can rotate while requests are being verified. The zero
// value is an empty set.
//
// A rotation has three steps, each safe on its own:
//
//  1. Add the new key. It verifies tokens and appears in the JWKS, but
//     signs nothing yet. Wait JWKSMaxAge so remote verifiers learn it.
//  2. SetCurrent(new ID). New tokens are signed with the new key; tokens
//     signed by the old key stay valid.
//  3. Once the longest-lived token the old key signed has expired (the
//     Issuer's TTL plus the Verifier's leeway), Retire the old key. Tokens
//     it signed are rejected from then on, and it leaves the JWKS.
type KeySet struct {
	mu      sync.RWMutex
	current *Key
	keys    map[string]*Key
	order   []string // key IDs in the order they were added
}

// NewKeySet returns a set holding current as its signing key.
func NewKeySet(current *Key) *KeySet {
	s := &KeySet{}
	if current != nil {
		s.Add(current)
		s.current = current
	}
	return s
}

// Add puts k in the set for verification and, unless it is an HS256 key,
// publishes it in the JWKS. It does not make k the signing key. Adding a
// key that is already in the set changes nothing.
func (s *KeySet) Add(k *Key) error {
	if k == nil {
		return errors.New("token: KeySet.Add of a nil key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.id]; ok {
		// The ID is a thumbprint of the key, so the key is the same one.
		return nil
	}
	if s.keys == nil {
		s.keys = make(map[string]*Key)
	}
	s.keys[k.id] = k
	s.order = append(s.order, k.id)
	return nil
}

// SetCurrent makes the key with the given ID, which must have been added,
// the one that signs new tokens.
func (s *KeySet) SetCurrent(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return fmt.Errorf("%w: SetCurrent(%q)", errUnknownKeyID, id)
	}
	s.current = k
	return nil
}

// Retire removes the key with the given ID: tokens it signed no longer
// verify, and it leaves the JWKS. The current key cannot be retired; make
// another key current first. Retiring an unknown ID does nothing.
func (s *KeySet) Retire(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && s.current.id == id {
		return errors.New("token: cannot retire the current signing key; SetCurrent another key first")
	}
	if _, ok := s.keys[id]; !ok {
		return nil
	}
	delete(s.keys, id)
	s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
	return nil
}

// Current returns the signing key, or nil if none has been set.
func (s *KeySet) Current() *Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.current
}

// IDs returns the IDs of every key in the set, in the order they were
// added.
func (s *KeySet) IDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.order)
}

// verificationKey implements KeySource.
func (s *KeySet) verificationKey(_ context.Context, id string) (verificationKey, error) {
	s.mu.RLock()
	k, ok := s.keys[id]
	s.mu.RUnlock()
	if !ok {
		return verificationKey{}, fmt.Errorf("%w: unknown key ID", ErrInvalid)
	}
	return verificationKey{alg: k.alg, key: k.public}, nil
}

// JWKS returns the public keys of the set as a JWK Set document (RFC 7517),
// current key first. HS256 secrets are never included; a set with no
// public keys yields a document with an empty "keys" array.
func (s *KeySet) JWKS() ([]byte, error) {
	s.mu.RLock()
	var jwks jose.JSONWebKeySet
	jwks.Keys = make([]jose.JSONWebKey, 0, len(s.order))
	add := func(k *Key) {
		if k.isPublic() {
			jwks.Keys = append(jwks.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.id, Algorithm: string(k.alg), Use: "sig"})
		}
	}
	if s.current != nil {
		add(s.current)
	}
	for _, id := range s.order {
		if k := s.keys[id]; k != s.current {
			add(k)
		}
	}
	s.mu.RUnlock()
	b, err := json.Marshal(jwks)
	if err != nil {
		return nil, fmt.Errorf("token: encode JWKS: %w", err)
	}
	return b, nil
}

// JWKSHandler serves the set's public keys as a JWK Set, conventionally at
// /.well-known/jwks.json. It answers GET and HEAD, with Cache-Control
// allowing JWKSMaxAge of caching and an ETag for revalidation. A set with
// only HS256 keys has nothing to publish: the handler answers 404.
func (s *KeySet) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		body, err := s.JWKS()
		if err != nil {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		if bytes.Equal(body, []byte(`{"keys":[]}`)) {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(body)
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(JWKSMaxAge/time.Second)))
		h.Set("ETag", `"`+base64.RawURLEncoding.EncodeToString(sum[:16])+`"`)
		// ServeContent answers If-None-Match with 304 and HEAD without a
		// body.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}
