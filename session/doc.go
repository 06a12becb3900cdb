// Package session keeps server-side sessions for net/http applications.
//
// The browser holds only an opaque token: 256 bits from crypto/rand in a
// cookie that is HttpOnly, Secure, SameSite=Lax and named with the
// __Host- prefix. The session's data stays on the server in a Store, under
// the SHA-256 of the token, so a leaked store dump cannot be replayed as
// cookies.
//
//	store := memory.New() // or sqlite, postgres, mysql, redis, memcached
//	sessions, err := session.New(store, session.Options{})
//	...
//	http.ListenAndServe(addr, sessions.Middleware(mux))
//
// Inside a handler, FromContext returns the request's Session:
//
//	s := session.FromContext(r.Context())
//	s.Put("theme", "dark")
//	cart, err := session.Get[Cart](s, "cart")
//	n, err := session.Update(s, "visits", func(n int) int { return n + 1 })
//	s.Login(userID, remember) // renews the token, records the user
//	s.Logout()                // ends the session, expires the cookie
//
// # What the Manager guarantees
//
//   - No lost updates. Records carry a version and stores save with
//     compare-and-swap. When two requests on one session race, the loser
//     reloads and replays its own changes: keys it did not touch keep the
//     winner's values, and Update functions run again on the fresh value.
//     Requests of one session in one process do not race through the
//     store at all: their saves are batched into one compare-and-swap. A
//     request that Puts a key it had read, computed from a value another
//     request changed meanwhile, is logged, or refused with
//     Options.StrictReads. A session that was logged out or revoked is
//     never brought back by a slower request.
//   - Revocation no race outruns. Revoke ends a device's session even if
//     it renewed its token meanwhile; RevokeAll ends every session of a
//     user, including logins and renewals in flight from credentials
//     checked before it returned (see Manager.RevokeAll for how).
//   - Writes only when needed. A request that only reads the session
//     writes nothing and sends no Set-Cookie; the idle deadline is extended
//     at most once per Options.TouchInterval.
//   - Streaming works. The response is never buffered: the session is
//     saved just before the first byte (WriteHeader, Write, Flush,
//     ReadFrom), and http.ResponseController still reaches the underlying
//     writer. Changes made after the response started are saved when the
//     handler returns; RenewID, Login and Logout then return
//     ErrResponseStarted, because the cookie can no longer change.
//   - Bad input is an anonymous session, never an error page. A token that
//     is malformed, oversized, forged, expired or revoked yields a fresh
//     session, and Session.Lapsed reports it.
//   - A store outage is an error response (503 by default, see
//     Options.ErrorHandler), never a silent logout, and a store that
//     fails after it wrote is checked by reloading, so the write is
//     neither lost nor counted twice.
//   - A session's size is bounded (Options.MaxSize): the call that would
//     cross it gets ErrTooLarge and the session is left as it was.
//   - Timeouts are enforced on the server: 30 minutes idle and 12 hours
//     absolute by default (OWASP ASVS level 2), with a longer pair for
//     "remember me".
//   - A user's sessions can be listed (Manager.Devices) and revoked one by
//     one (Manager.Revoke) or all at once (Manager.RevokeAll). Logging in
//     as another user on the same browser starts from clean data.
//   - Optionally, sessions are bound to the device (see "Device-bound
//     sessions" below), at no cost to a session that is not bound.
//
// Values are encoded with a Codec (JSON by default) and decoded into the
// type the caller names, so no type registration is needed.
//
// # Several Managers on one request
//
// A user session and an administrator session can live side by side, each
// with its own cookie, timeouts and store: wrap the handler with both
// Middlewares and pick a session with Manager.FromContext.
// FromContext returns the innermost one.
//
// # Observing
//
// Options.Observer receives an event for every store call, save, lapsed
// token, login, logout, renewal, revocation, conflict and device-binding
// registration, refresh and refusal, with no token, ID or user in any of
// them; see package observe.
//
// # Device-bound sessions
//
// A session cookie is a bearer credential: malware that reads it from
// the browser's cookie store can replay it from anywhere. With
// Options.DeviceBinding, browsers that implement Device Bound Session
// Credentials (Chrome; see package session/dbsc for the protocol and the
// specification version followed) bind each logged-in session to a
// private key they keep on the device, and a copied cookie stops working
// within minutes:
//
//	sessions, err := session.New(store, session.Options{
//		DeviceBinding: session.DeviceBinding{
//			Mode:    session.BindingEnforce,
//			Secrets: [][]byte{secret}, // 32+ random bytes
//		},
//	})
//
// The response to a Login offers registration; the browser answers at
// DeviceBinding.RegisterPath with a proof signed by its new key, and the
// Manager stores the public key with the session, in the session's
// record and so in any Store. From then on every request of the session
// must carry a bound cookie (10 minutes by default) that the browser
// renews at DeviceBinding.RefreshPath by signing a challenge. The
// Middleware serves both paths; the application writes no handler.
//
// Under BindingEnforce, the handler sees a bound session's request
// without a valid bound cookie as an anonymous session:
// Session.UserID is "", Session.IsNew is true, Session.Lapsed is false
// and Session.BindingRefused is true. The stored session is not ended
// and the session cookie is not expired, because the device that owns
// the session still needs both. A request whose bound cookie is present
// but expired or invalid does not reach the handler at all: the
// Middleware answers 307 Temporary Redirect to the same URL and deletes
// the bound cookie, which makes Chrome refresh before it follows and
// sends anything else back without a bound cookie, to be served as
// anonymous. Browsers without DBSC never register, and their sessions
// work as before; BindingReportOnly checks everything but only reports
// (observe.DeviceBindingCheck) what Enforce would refuse.
//
// The binding lives and dies with the session: Logout, Revoke and
// RevokeAll end it, and the browser's next refresh is told
// {"continue":false}; RenewID and a repeated Login keep it and reissue
// the bound cookie for the new token, whose old bound cookie is then
// worthless; Login as another user drops it. Each challenge can be
// answered once: the answer is recorded by the same compare-and-swap
// save that accepts it, so of two concurrent refreshes with one
// challenge exactly one wins. Manager.Devices and Session.Info show
// which sessions are bound, to which key, and how often they refreshed.
//
// What binding cannot do is stated in SECURITY.md: it does not stop
// malware that acts through the user's own browser while the session is
// in use, cross-site scripting, or theft before the browser registered,
// and it protects only browsers that implement DBSC.
//
// # Writing a store
//
// A Store is five methods whose doc comments are the contract; the
// storetest package checks an implementation against it, races and
// failures included.
package session
