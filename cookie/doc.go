// Package cookie keeps small pieces of state in the browser safely: a
// theme, a language, a dismissed banner, a "remember me" hint. It builds
// cookies with secure attributes, seals values so users can neither read
// nor change them, signs values that page scripts may read but nobody may
// change, rotates keys without logging anyone out, and refuses cookies
// browsers would silently drop.
//
// # Attributes
//
// Attributes builds every cookie this module sends, the session cookie
// included. Its zero value is Path=/, Secure, HttpOnly, SameSite=Lax and
// no Domain. Attributes.Cookie and Validate refuse, with ErrInvalid,
// combinations that browsers would reject or quietly alter: a "__Host-"
// name without Secure, with a Domain or with a Path other than "/"; a
// "__Secure-" name without Secure; SameSite=None or Partitioned without
// Secure; invalid names and values. They refuse with ErrTooLarge a
// Set-Cookie header (name, value and attributes) over MaxSize bytes.
// Attributes.Expire builds the header that deletes a cookie.
//
// # Sealed and signed values
//
// A Sealer encrypts with AES-256-GCM where the CPU has AES instructions
// (every amd64 server CPU of the last decade, most arm64 ones), and with
// XChaCha20-Poly1305 elsewhere, where Go's AES would be slow and use
// lookup tables; it opens values of either kind everywhere. A Signer
// authenticates with HMAC-SHA256 and leaves the payload readable. Both
// implement Codec, and both:
//
//   - derive their keys once, at construction, with HKDF-SHA256 from one
//     or more master secrets of at least 32 random bytes (MinSecretSize);
//   - bind each value to its cookie's name, so a value copied into a
//     cookie of another name does not decode (ErrInvalid);
//   - carry an expiry inside the authenticated value, so a value replayed
//     after its lifetime is refused (ErrExpired) whatever the browser kept;
//   - name the key that made each value with a 4-byte key ID derived from
//     the secret through HKDF, which reveals nothing about it.
//
// AES-GCM's nonces are 96 random bits, and two values sealed under one key
// with the same nonce would expose both plaintexts and allow forgeries.
// So a Sealer seals each day's values (UTC) under a key of that day,
// expanded from the secret with HKDF: a key seals only one day's values.
// At 10,000 values a second, all day, the chance that two of a day share
// a nonce is below 2^-37, and NIST's limit of 2^32 values per key (SP
// 800-38D, a chance of 2^-33) would take 50,000 a second. A value names
// its day in the clear (it reveals when the value was made, which its
// holder knows anyway); a Sealer derives a day's key the first time it
// meets the day and keeps the keys of up to 1024 days whose values proved
// authentic, so a forged day costs one derivation, a few microseconds,
// and no memory.
//
// A Sealer or Signer reports each Decode to its Observer field, if set,
// as an observe.CookieDecode event; a nil Observer costs nothing.
//
// Value[T] ties a name, a Codec, Attributes and a lifetime together and
// stores a Go value as JSON: it is the one call most applications need.
//
// # Wire format
//
// Values are unpadded base64url (RFC 4648 section 5), so they need no
// quoting in a cookie. Integers are big-endian; expiry is the Unix time in
// seconds after which the value is refused. A sealed value decodes to one
// of two formats, told apart by their first byte. Version 2, written
// where the CPU has AES instructions:
//
//	version (1 byte, 2) | key ID (4) | day (4) | nonce (12) | ciphertext | tag (16)
//
// where day is the Unix time divided by 86,400 when the value was sealed,
// the AES-256-GCM key is HKDF-Expand(SHA-256, the secret's key, label |
// day), the ciphertext encrypts expiry (8) | payload, and the associated
// data is version | key ID | day | cookie name. It is 60 characters plus
// 4/3 of the payload. Version 1, written elsewhere and by releases before
// version 2 existed:
//
//	version (1 byte, 1) | key ID (4) | nonce (24) | ciphertext | tag (16)
//
// with XChaCha20-Poly1305, the ciphertext encrypting expiry (8) | payload
// and the associated data version | key ID | cookie name: 71 characters
// plus 4/3 of the payload. Decode opens both, with the same keys and
// rules, so values sealed before an upgrade keep working until their own
// expiry, and a fleet mixing servers with and without AES instructions
// reads every value; neither format is reported stale for its format
// alone. The reverse does not hold: a release from before version 2
// cannot open version 2 values. While a fleet is being upgraded, and
// after a rollback, servers still on such a release treat values sealed
// by upgraded ones as invalid, that is as absent, until they are set
// again; values they seal themselves open everywhere.
//
// A signed value is two base64url parts joined by a dot:
//
//	base64url(payload) "." base64url(version (1 byte, 1) | key ID (4) | expiry (8) | tag (32))
//
// where the tag is HMAC-SHA256 over version | key ID | expiry | length of
// the cookie name (4) | cookie name | payload. A page script reads the
// payload by base64url-decoding the text before the dot; only the server
// can check the tag.
//
// The decoders accept exactly one text per value: any other byte string,
// including re-encodings with different unused bits or inserted line
// breaks, is refused.
//
// # Errors
//
// Decoding never panics. Anything but an authentic, unexpired value
// produced for the same cookie name is an error wrapping ErrInvalid
// (malformed, tampered, another name, or not JSON for the requested type),
// ErrExpired, or ErrUnknownKey (a key that is not configured, typically one
// removed by rotation). Treat each as "no value"; the sentinel only says
// what to log.
//
// # Key rotation
//
// Each constructor takes its secrets newest first: the first seals or
// signs, all of them open or verify, and Decode reports stale for a value
// made with any but the first, so the caller can re-issue it. To replace
// key A with key B across several servers without breaking any cookie:
//
//  1. Deploy NewSealer(A, B) everywhere. Servers still seal with A, but
//     all of them can now open values sealed with B.
//  2. Deploy NewSealer(B, A). New values are sealed with B; values sealed
//     with A still open, reported stale, and are re-issued under B as
//     their users return. A server not yet upgraded opens B's values
//     thanks to step 1.
//  3. Once the longest lifetime of any value sealed with A has passed,
//     deploy NewSealer(B). Values still sealed with A now fail with
//     ErrUnknownKey.
//
// Signers rotate the same way.
package cookie
