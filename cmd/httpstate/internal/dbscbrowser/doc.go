// Package dbscbrowser proves device-bound sessions in a real browser:
// its tests run Debian's Chromium with Device Bound Session Credentials
// on a software key against a site whose session.Manager has
// Options.DeviceBinding enforced, and watch registration, refresh and
// termination through the DevTools protocol. It lives in the command's
// module because chromedp must stay out of the library's dependencies.
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
//
// And how it behaves, which the Manager relies on: a navigation whose
// bound cookie the server judges stale, answered 307 to the same URL
// with the bound cookie deleted, is held until Chromium has refreshed
// (signing the challenge the last response sent ahead, in one request)
// and then followed with the new bound cookie; a profile holding copies
// of the cookies but not the key follows it without one. A termination
// ({"continue":false}) must name the session it ends, or Chromium
// reports InvalidSessionParams instead of ServerRequested.
package dbscbrowser
