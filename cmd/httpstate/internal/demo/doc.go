// Package demo is the demo web shop that "httpstate serve" runs: every
// idea of the httpstate packages working end to end in a browser.
//
//   - Logging in and out, with argon2id password hashes, a "remember me"
//     box that picks a browser-session or a persistent cookie, and the
//     session ID renewed at login and on a password change. Password
//     checks are throttled per account and network and per network, and
//     bounded in number at once (see login.go for the policy).
//   - A cart kept in the session and changed with session.Update, so two
//     tabs adding items at once both count.
//   - Preferences (theme, language, a dismissible banner) in a sealed
//     cookie, plus the theme in a signed cookie page scripts can read.
//   - "Your devices": each live session with its browser and network,
//     whether it is device-bound, revocable one by one or all but the
//     current one.
//   - Flash messages, and a notice when a session has ended.
//   - A JSON API: credentials for an access and refresh token (packages
//     token and token/refresh), refresh, a bearer-protected /api/me, and
//     the JWKS. Every response under /api/, errors included, is JSON.
//   - "Under the hood": the request's cookies, the session record and an
//     access token, side by side, each with why it lives where it does,
//     and the session's device binding: with Config.DeviceBinding on
//     (serve's default), Chrome over HTTPS binds a logged-in session to a
//     key it keeps, and the page shows the key, the bound cookie and its
//     refreshes, or says why the session is not bound (binding off, plain
//     HTTP, not logged in, a browser without DBSC).
//   - CSRF protection by http.CrossOriginProtection on every route, a
//     strict Content-Security-Policy and other security headers, no-store
//     on every page, /healthz and structured logs that never contain a
//     token.
//
// New builds the shop from a Config naming its stores and secret;
// App.Handler is an ordinary http.Handler, so tests run it in-process.
package demo
