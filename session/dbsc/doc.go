// Package dbsc implements the server side of Device Bound Session
// Credentials: the headers, proofs, challenges and session instructions
// by which a browser binds a session to a private key it keeps in secure
// hardware, and proves possession of that key to get each short-lived
// bound cookie. A copied cookie then stops working on another device as
// soon as its bound cookie expires. The package holds the protocol
// pieces only; it stores nothing and knows nothing of the session
// Manager.
//
// # Version followed
//
// The W3C WebAppSec editor's draft "Device Bound Session Credentials"
// (https://w3c.github.io/webappsec-dbsc/), repository w3c/webappsec-dbsc
// at commit d34681127abcef5fad67a1fd99cd0849f7b9b4b0 of 2026-02-17
// ("Update jwk field requirements for none keys"), checked against
// Chromium 156.0.8078.108, which implements it.
//
// # The protocol
//
// After a login, a response offers registration:
//
//	Secure-Session-Registration: (ES256 RS256);path="/dbsc/register";challenge="<challenge>"
//
// an RFC 9651 List of inner lists of algorithm tokens, with the
// parameters path (required), challenge and authorization (optional
// strings). Registration.HeaderValue builds it. The browser makes a key
// pair and POSTs to the path, with the login's cookies and
//
//	Secure-Session-Response: <proof>
//
// The proof is a JWS (section 8.7) with the header
// {"alg":"ES256","typ":"dbsc+jwt","jwk":{...public key...}} and the
// payload {"jti":"<challenge>"} plus "authorization" when the offer had
// one. Challenger.Registration verifies it; the server stores the key
// (PublicKey.MarshalJWK) with the session and answers with session
// instructions (Instructions, section 8.6) and the first bound cookie:
//
//	{"session_identifier":"...","refresh_url":"/dbsc/refresh",
//	 "scope":{"include_site":false},
//	 "credentials":[{"type":"cookie","name":"__Host-bound",
//	                 "attributes":"Path=/; Secure; HttpOnly; SameSite=Lax"}]}
//
// When a request in scope lacks the bound cookie, the browser holds it
// and POSTs to refresh_url with Sec-Secure-Session-Id: <identifier>
// (SessionID reads it). The server answers 403 with
//
//	Secure-Session-Challenge: "<challenge>";id="<identifier>"
//
// (ChallengeHeaderValue); the browser POSTs again with a proof whose
// header is {"alg":"ES256","typ":"dbsc+jwt"} (no jwk) and whose payload
// is {"jti":"<challenge>"}. Challenger.Refresh verifies it against the
// stored key; the server sets a new bound cookie and answers 200, with
// instructions when they change (Instructions.Terminate ends the
// session). Any response may carry Secure-Session-Challenge to let the
// browser sign ahead. A browser that skips a refresh on purpose says so
// in Secure-Session-Skipped.
//
// # What Chromium 156 actually sends
//
// Chrome sends Sec-Secure-Session-Id and Secure-Session-Response without
// the quotes of the sf-string the specification defines (the values then
// parse as sf-tokens); SessionID and ResponseProof accept both. Its
// proofs carry exactly the members above, with raw r||s ES256 signatures.
// It registers only over HTTPS with a certificate it trusts: plain
// http://localhost and --ignore-certificate-errors both leave the header
// unprocessed.
//
// # Security properties
//
//   - Only ES256 (P-256) and RS256 (2048 to 8192 bits, exponent 65537)
//     verify; "none", other algorithms, a proof whose algorithm differs
//     from the session key's, and a refresh proof carrying a jwk are
//     refused.
//   - Parsers refuse rather than guess: duplicate JSON member names,
//     non-canonical base64url, trailing data and oversized input are
//     ErrMalformed.
//   - Challenges are stateless (see Challenger): bound to one session by
//     HMAC, valid for a TTL, and single-use through the issue time the
//     caller stores after each accepted proof.
package dbsc
