// Package token provides what an API that scales across servers without a
// shared session store needs: short-lived signed access tokens (JWTs) that
// carry their own claims, key rotation with a JWKS endpoint, and
// bearer-token middleware. Rotating refresh tokens, which renew access
// tokens and can be revoked, are in package token/refresh.
//
// The pieces, in the order a request meets them:
//
//   - A KeySet holds signing keys (Ed25519 by default; ES256, RS256, and
//     HS256 with a secret of at least 32 bytes). Each key is bound to one
//     algorithm and named by its RFC 7638 thumbprint. NewKey accepts any
//     crypto.Signer, so a private key may stay in a KMS or an HSM. Keys
//     rotate while the set is in use, and KeySet.JWKSHandler publishes the
//     public ones.
//   - An Issuer (NewIssuer) signs access tokens: "typ" at+jwt (RFC 9068),
//     a key ID in every header, and the claims iss, sub, aud, exp, nbf,
//     iat and jti, plus custom claims.
//   - A Verifier (NewVerifier) checks them against a KeySet or, in another
//     service, against a RemoteKeySet (NewRemoteKeySet) that fetches the
//     issuer's JWKS over HTTPS.
//   - Bearer is the middleware that runs the Verifier on the Authorization
//     header and hands the claims to the handler through ClaimsFrom.
//
// Each of Issuer, Verifier and RemoteKeySet is made by a constructor that
// checks its options once and returns an error for a configuration that
// could never work or would accept too much; the value it returns is
// immutable and safe for concurrent use. Calls that may block (Issue, with
// a remote signer; Verify, with a RemoteKeySet) take a context.
//
// # Observability
//
// VerifierOptions.Observer and RemoteKeySetOptions.Observer receive the
// events of package observe's token section: each verification with its
// outcome and, for a rejected token, the first check that failed; each
// JWKS fetch with its outcome and the reason it failed. Events never hold
// a token, a subject or key material. A nil Observer costs nothing.
//
// # Security
//
// Signed tokens are a classic source of breaches when verified naively;
// this package closes the known holes by construction. The Verifier has
// no default algorithm list, so accepting a given algorithm is always a
// decision, and "none" is not an algorithm it knows. A key is found only
// by its key ID in a set the application controls, never from the token
// (headers jwk, jku, x5u and x5c are rejected), and the token's "alg" must
// be the key's own algorithm, so an RSA public key can never be used as an
// HMAC secret. Tokens must be in compact serialization, no longer than
// MaxSize, and their claims must include exp; iss, aud and typ must match.
// A RemoteKeySet reads keys only over HTTPS from its URL's origin: it
// follows a redirect only to the same scheme, host and port. Access
// tokens cannot be revoked, so they live minutes (DefaultTTL); the
// refresh tokens that renew them live in a store, can be revoked, and
// reveal theft by reuse.
//
// # Migrating from browser sessions
//
// An application that signs users in with package session can hand API
// clients tokens from the same login handler: after Session.Login, call
// refresh.Refresher.Issue with the user ID and return the Pair as JSON.
// Keep the Refresher's store separate from the session store (see package
// token/refresh).
package token
