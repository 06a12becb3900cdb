package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// A session token is 32 bytes (256 bits) from crypto/rand, sent to the
// client as 43 characters of unpadded base64url. The store only ever sees
// idFromToken(token), the base64url SHA-256 of the raw bytes.
const (
	tokenBytes = 32
	tokenLen   = 43 // base64.RawURLEncoding.EncodedLen(tokenBytes)
	idLen      = 43 // base64.RawURLEncoding.EncodedLen(sha256.Size)
)

func newToken() string {
	var b [tokenBytes]byte
	rand.Read(b[:]) // never returns an error; crashes the program if randomness is unavailable
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// idFromToken returns the store ID for a well-formed token, or "" for
// anything else: wrong length, characters outside base64url, or non-zero
// trailing bits (so each token has exactly one spelling).
func idFromToken(tok string) string {
	if len(tok) != tokenLen {
		return ""
	}
	var raw [tokenBytes]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(tok))
	if err != nil || n != tokenBytes {
		return ""
	}
	sum := sha256.Sum256(raw[:])
	// Encoding into an array on the stack leaves one allocation, the
	// string, where EncodeToString makes two.
	var id [idLen]byte
	base64.RawURLEncoding.Encode(id[:], sum[:])
	return string(id[:])
}

// cookieValues calls fn with the value of every cookie named name in the
// request's Cookie headers, in order, until fn returns true. Unlike
// r.Cookies it allocates nothing, which matters on every request of every
// page.
func cookieValues(h http.Header, name string, fn func(string) bool) {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				v := strings.TrimRight(part[len(name)+1:], " \t")
				if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				if fn(v) {
					return
				}
			}
		}
	}
}

// shortID is a log-safe identifier for a session: a prefix of the store ID,
// which is itself a hash of the token. It names a session in logs without
// letting a reader of the logs act as it.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
