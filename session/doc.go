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
//	s.Logout()                // deletes the session, expires the cookie
//
// # What the Manager guarantees
//
//   - No lost updates. Records carry a version and stores save with
//     compare-and-swap. When two requests on one session race, the loser
//     reloads and replays its own changes: keys it did not touch keep the
//     winner's values, and Update functions run again on the fresh value.
//     A session that was logged out or revoked is never brought back by a
//     slower request.
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
//     Options.ErrorHandler), never a silent logout.
//   - Timeouts are enforced on the server: 30 minutes idle and 12 hours
//     absolute by default (OWASP ASVS level 2), with a longer pair for
//     "remember me".
//   - A user's sessions can be listed (Manager.Devices) and revoked one by
//     one (Manager.Revoke) or all at once (Manager.RevokeAll).
//
// Values are encoded with a Codec (JSON by default) and decoded into the
// type the caller names, so no type registration is needed.
//
// # Writing a store
//
// A Store is five methods whose doc comments are the contract; the
// storetest package checks an implementation against it.
package session
