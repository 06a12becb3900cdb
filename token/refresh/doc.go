// Package refresh issues rotating refresh tokens, in token families kept
// in a session.Store, and exchanges them for new access tokens signed by a
// token.Issuer.
//
// A Refresher starts a family at sign-in (Issue) and exchanges a refresh
// token for a new pair (Refresh). Families lists a user's families and
// revokes them, one, all, or by token at sign-out; it needs only the
// store, so an operator's command can revoke without any signing key.
//
// # Token families
//
// A sign-in starts a token family: one record in the store whose ID is a
// random family ID (a non-secret handle, like a session's) and whose
// UserID is the subject, so Store.ListByUser lists a user's families. The
// refresh token is "<family ID>.<secret>", the secret being 256 bits from
// crypto/rand in base64url; the record keeps only the secret's SHA-256,
// so reading the store does not yield usable tokens. The record also
// holds the hashes of the last 16 secrets that stopped working, the
// custom claims to put in every access token of the family, and the
// family's absolute end.
//
// # Rotation, reuse and the grace window
//
// Each exchange of the family's current secret is a rotation: a
// compare-and-swap save replaces it with a new one, and the exchanged
// secret stops working. Presenting a secret that stopped working means two
// parties hold copies of it, and the server cannot tell which is the
// thief, so Refresh deletes the whole family (every device holding a
// token of it must sign in again) and returns ErrReused. A wrong secret
// under a real family ID is merely ErrInvalid: knowing a family ID, which
// is not secret, must not let anyone log a user out.
//
// One exception makes Refresh safe to retry. When a client's refresh
// fails ambiguously (its response was lost, or the store failed after
// writing), the client cannot know whether its token was exchanged. So
// for Options.Grace after a rotation (DefaultGrace, 30 seconds), the
// secret that rotation exchanged, and only that one, may be presented
// again: the grace exchange returns a fresh pair of the same family, and
// its new secret supersedes the one the rotation issued, which stops
// working. The family still has exactly one current secret. Precisely:
//
//   - only the secret exchanged by the family's latest rotation is
//     eligible: a secret older than that, or one a grace exchange
//     superseded, is reuse at any time;
//   - the window runs from the rotation and grace exchanges do not extend
//     it, so retries cannot keep an old secret alive;
//   - after the window, presenting that secret is reuse, as without the
//     rule;
//   - the family's lifetime and idle timeout apply as to any exchange.
//
// The grace rule delays detection but does not lose it. A thief who
// presents a copy of the latest exchanged secret within the window gets a
// pair, but the pair it supersedes belongs to the legitimate client, whose
// next refresh presents a superseded secret: that is reuse, and revokes
// the family with the thief's tokens in it. Without the rule the thief's
// attempt would have revoked the family at once. Set Options.Grace negative for the strict
// rule, under which a retry after a lost response revokes the family.
//
// Refresh also resolves what it can itself: when the store reports an
// error after a save (the Store contract allows the save to have been
// written, for example when the reply was lost), it reads the family back
// and returns its pair if the save was written, or tries again if not.
//
// # Concurrent exchanges
//
// Two exchanges of the same current token that overlap both return a
// pair, as long as they come within the grace window: one rotates the
// family, and the other, losing the compare-and-swap, finds its token to
// be the one the latest rotation exchanged and makes a grace exchange. Only the pair saved last stays current: the
// refresh token of the other pair was superseded, and presenting it later
// revokes the family. The same holds for any number of overlapping
// exchanges, except that one that keeps losing the compare-and-swap
// returns an error that is not ErrInvalid (retrying it is a grace
// exchange). So a client must still run one refresh at a time, and when
// it retries, keep the pair the retry returned. With the strict rule, the
// loser of two overlapping exchanges gets ErrReused and the family is
// revoked.
//
// # Store
//
// Give a Refresher its own Store (another table, key prefix or
// database), not the one holding browser sessions: a token family is not a
// browser session, and sharing a store would make families show up in
// session.Manager.Devices and be ended by Manager.RevokeAll.
package refresh
