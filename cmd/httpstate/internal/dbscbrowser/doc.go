// Package dbscbrowser proves session/dbsc in a real browser: its tests
// run Debian's Chromium with Device Bound Session Credentials on a
// software key against a test server built with the package, and watch
// registration and refresh through the DevTools protocol. It lives in the
// command's module because chromedp must stay out of the library's
// dependencies.
//
// What Chromium 156 needs, found by trying (see the test's comments):
//
//   - the features DeviceBoundSessions and
//     EnableBoundSessionCredentialsSoftwareKeysForManualTesting (the
//     chrome://flags entries enable-standard-device-bound-session-credentials
//     and enable-bound-session-credentials-software-keys-for-manual-testing
//     set the same features); without either, nothing happens;
//   - HTTPS with a certificate the browser trusts. Over http://localhost,
//     or HTTPS with --ignore-certificate-errors, the registration header
//     is received and silently ignored. The tests trust their own CA
//     through an NSS database in a temporary HOME ($HOME/.pki/nssdb,
//     made with certutil from libnss3-tools);
//   - nothing else: headless mode works, localhost and 127.0.0.1 both work,
//     and no origin-trial token or RequireOriginTrialTokens parameter is
//     needed.
package dbscbrowser
