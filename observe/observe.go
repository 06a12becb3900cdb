// Package observe is how httpstate reports what it does, for metrics,
// traces and audit logs, without depending on any telemetry library.
//
// Give an Observer to session.Options, token.VerifierOptions,
// token.RemoteKeySetOptions, refresh.Options or a cookie codec, and it
// sees an Event for each thing worth counting or timing: every store call
// with its outcome and duration, compare-and-swap conflicts, lapsed
// sessions by reason, logins, logouts, renewals, revocations, device
// binding registrations, refreshes and refusals by reason, token
// verification failures by reason, refresh-token reuse, JWKS fetches and
// cookie decodes. The nested module observe/otel turns events into
// OpenTelemetry spans and metrics.
//
// # What an Event never holds
//
// No session token, session ID or handle, refresh token, access token,
// cookie value, session value or user ID appears in an Event: an observer
// may send what it gets to a metrics backend where high-cardinality or
// secret labels do harm. The fields are small closed vocabularies (Kind,
// Op, Outcome, Reason), the name of a session key (Key, chosen by the
// application's code, never by a client), counts and durations. Err
// carries the underlying error of an Outcome of Error for logs; it never
// contains a token, but a store's error message may name its server.
//
// # Cost
//
// Packages check for a nil Observer before doing any work for one, so an
// application without an Observer pays nothing. Observe is called on the
// goroutine doing the work, often on the request path: it must be fast
// and must not block, and it must be safe for concurrent use.
package observe

import (
	"context"
	"time"
)

// Observer receives events. Observe must be safe for concurrent use, must
// not block, and must not retain ctx.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// Func adapts a function to Observer.
type Func func(ctx context.Context, e Event)

// Observe calls f(ctx, e).
func (f Func) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Event is one thing that happened. Which fields are set depends on Kind;
// see the Kind constants.
type Event struct {
	Kind    Kind
	Op      string  // the operation within Kind, such as "load" for StoreCall
	Outcome Outcome // how it ended
	Reason  string  // why, for outcomes that have several causes

	// Start and Duration time the operation, for kinds that time one
	// (StoreCall, Save, Revoke, Verify, JWKSFetch, Refresh); both are zero
	// otherwise.
	Start    time.Time
	Duration time.Duration

	// Attempts counts compare-and-swap attempts (Save), or the number of
	// sessions or token families a revocation ended (Revoke).
	Attempts int

	// Key is the session key of a ReadConflict: a name chosen by the
	// application's code, never a value.
	Key string

	// Err is the error behind an Outcome of Error, for logs.
	Err error
}

// Kind says what an Event reports.
type Kind string

// Events of package session.
const (
	// StoreCall is one call to a session.Store. Op is "load", "save",
	// "delete", "list" or "delete_expired"; Outcome is OK, NotFound,
	// Conflict or Error. Timed.
	StoreCall Kind = "session.store_call"

	// Save is the whole save of one request's session, with its
	// compare-and-swap retries. Attempts counts store saves tried;
	// Outcome is OK, Lost (another request ended the session first),
	// Rejected (strict read-modify-write conflict or size limit) or
	// Error. Timed.
	Save Kind = "session.save"

	// Lapsed is a request that presented a session token naming no live
	// session. Reason is "malformed" (not a token this library issues),
	// "unknown" (forged, or deleted long ago), "expired" (idle or
	// absolute timeout), "revoked" (logged out, revoked, or renewed
	// away), "stale" (unreadable record).
	Lapsed Kind = "session.lapsed"

	// Login, Logout and Renew report the calls of the same names, when
	// their change is saved.
	Login  Kind = "session.login"
	Logout Kind = "session.logout"
	Renew  Kind = "session.renew"

	// Revoke is Manager.Revoke (Op "one") or Manager.RevokeAll (Op
	// "all"); Attempts is how many sessions it ended. Outcome is OK,
	// NotFound (Revoke of a handle the user has no live session under) or
	// Error. Timed.
	Revoke Kind = "session.revoke"

	// EndedConcurrently is a request whose session was logged out,
	// revoked or renewed by another request while it ran; its changes
	// were dropped.
	EndedConcurrently Kind = "session.ended_concurrently"

	// ReadConflict is a read-modify-write conflict: the request Put or
	// Deleted a key it had read, and a concurrent request changed that
	// key in between. Key names it. Outcome is OK when the request's
	// value was saved anyway (the default) and Rejected when the request
	// failed (Options.StrictReads).
	ReadConflict Kind = "session.read_conflict"

	// DeviceBindingRegister is a request to the registration endpoint of
	// session.DeviceBinding: a browser asking to bind its session to a
	// key. Outcome is OK (the key is stored with the session and the
	// first bound cookie set); Rejected, with Reason "no_session" (no
	// live logged-in session), "already_bound", "too_large" (the key
	// would take the session past MaxSize) or one of the proof reasons
	// below; or Error (the store failed), with Err set. Timed.
	DeviceBindingRegister Kind = "session.device_binding_register"

	// DeviceBindingRefresh is a request to the refresh endpoint of
	// session.DeviceBinding. Op is "challenge" when the request carried
	// no proof and was answered with a challenge to sign (Outcome OK), or
	// "proof" when it carried one. A proof's Outcome is OK (verified: a
	// new bound cookie was set); Rejected, with Reason one of the proof
	// reasons below (answered with a new challenge), "ended" (the
	// session cookie names no live session) or "unbound" (the session has
	// no binding, or another one), both answered with
	// {"continue":false}; or Error, with Err set. A request without a
	// Sec-Secure-Session-Id header is Rejected with Reason "malformed"
	// and Op "". Timed.
	//
	// The proof reasons, shared with DeviceBindingRegister, are
	// "malformed", "algorithm", "key", "signature", "challenge" (not a
	// challenge this server issued for this session), "expired" (a
	// challenge past its lifetime), "replayed" (a challenge already
	// answered, or older than one answered) and "authorization".
	DeviceBindingRefresh Kind = "session.device_binding_refresh"

	// DeviceBindingCheck is a request of a device-bound session that
	// lacks a valid bound cookie. Reason is "missing" (no bound cookie),
	// "expired" (past its lifetime) or "invalid" (forged, or issued for
	// another session or an earlier token). Op is the mode: "enforce",
	// with Outcome Rejected (a missing cookie is served as an anonymous
	// session; an expired or invalid one is redirected to the same URL
	// so that the browser refreshes first), or "report", with Outcome OK
	// (served as usual).
	DeviceBindingCheck Kind = "session.device_binding_check"
)

// Events of packages token and token/refresh. None holds a token, a
// family ID, a subject or key material.
const (
	// Verify is the verification of an access token by a token.Verifier.
	// Outcome is OK; Rejected, with Reason naming the first check that
	// failed: "malformed" (not a compact JWS within the size limit, or an
	// unreadable header), "header" (a header parameter that is not
	// allowed, or one given twice), "type" (typ is not at+jwt),
	// "algorithm" (alg not allowed, or not the key's own), "unknown_key"
	// (no kid, or no key with that ID), "signature", "claims" (not a
	// valid claims set, or no exp), "expired", "not_yet_valid" (nbf or
	// iat in the future), "issuer" or "audience"; or Error, when the
	// token could not be judged (a RemoteKeySet could not fetch keys),
	// with Err set. Timed.
	Verify Kind = "token.verify"

	// Refresh is an exchange of a refresh token by a refresh.Refresher.
	// Outcome is OK, with Reason "" (a rotation), "grace" (the token the
	// latest rotation exchanged, presented again within the grace window:
	// a retry) or "recovered" (the store's answer to the save was lost,
	// and reading the family back showed it written); Rejected, with
	// Reason "malformed" (not a refresh token), "unknown" (no live family
	// with that ID: never issued, revoked, or ended and removed),
	// "expired" (the family's lifetime or idle timeout is over) or
	// "mismatch" (a live family's ID with a secret it never issued);
	// Reused (a token that had stopped working, outside the grace rule:
	// the family was revoked; Err is set if deleting it failed); or Error
	// (the store failed, or kept conflicting), with Err set. Timed.
	Refresh Kind = "token.refresh"

	// JWKSFetch is one fetch of a remote JSON Web Key Set by a
	// token.RemoteKeySet. Outcome is OK, or Error with Err set and Reason
	// "unreachable" (no HTTP response), "redirect" (a redirect away from
	// the URL's origin, or too many), "status" (not 200), "too_large" or
	// "invalid" (not a JWK Set, or no usable signing key in it). Timed.
	JWKSFetch Kind = "token.jwks_fetch"
)

// Events of package cookie.
const (
	// CookieDecode is the decoding of a sealed or signed cookie value,
	// reported by cookie.Sealer and cookie.Signer (and so by every
	// cookie.Value.Get) to their Observer field. Op is "sealed" or
	// "signed". Outcome is OK, Stale (valid, under a key that is no
	// longer the newest: re-issue it), Expired, or Rejected with Reason
	// "unknown_key" (names a key not configured: retired, or made up),
	// "forged" (fails authentication: tampered with, or made for another
	// cookie name) or "malformed" (not a value of that codec's format).
	// No other field is set: neither the value nor the cookie's name
	// appears. cookie.Codec.Decode takes no context, so ctx is
	// context.Background().
	CookieDecode Kind = "cookie.decode"
)

// Outcome says how an operation ended.
type Outcome string

// Outcomes. Each Kind documents which it uses.
const (
	OK       Outcome = "ok"
	NotFound Outcome = "not_found"
	Conflict Outcome = "conflict"
	Error    Outcome = "error"
	Lost     Outcome = "lost"
	Rejected Outcome = "rejected"
	Reused   Outcome = "reused"
	Stale    Outcome = "stale"
	Expired  Outcome = "expired"
)
