package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	h := hashPassword("correct horse")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not in the PHC format with the documented parameters", h)
	}
	if h == hashPassword("correct horse") {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false} {
		ok, err := checkPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("checkPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=18$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=1,t=0,p=1$AA$AA", "$argon2id$v=19$m=1,t=1,p=1$!!$AA", "$argon2id$v=19$m=1,t=1,p=1$AA$"} {
		if ok, err := checkPassword(bad, "x"); ok || err == nil {
			t.Errorf("checkPassword accepted the malformed hash %q", bad)
		}
	}
}

func TestThrottleWindow(t *testing.T) {
	ctx := t.Context()
	now := time.Unix(1_700_000_000, 0)
	th := newThrottle(func() time.Time { return now })
	const stranger, owner = "203.0.113.7", "198.51.100.1"
	for i := range maxAccountFailures {
		att, lim, _ := th.begin(ctx, "Alice", stranger)
		if att == nil {
			t.Fatalf("attempt %d refused by limit %d before the limit", i+1, lim)
		}
		att.failed()
	}
	if att, lim, wait := th.begin(ctx, "ALICE", stranger); att != nil || lim != accountLimit || wait != throttleWindow {
		t.Fatalf("attempt 6: %v, limit %d, wait %v; want the account limit for %v (names are case-insensitive)", att, lim, wait, throttleWindow)
	}
	// The owner, from another network, is not locked out.
	att, _, _ := th.begin(ctx, "alice", owner)
	if att == nil {
		t.Fatal("a stranger's failures locked the owner out")
	}
	att.succeeded()
	// A refused attempt does not extend the window.
	now = now.Add(throttleWindow - time.Second)
	th.begin(ctx, "alice", stranger)
	now = now.Add(time.Second)
	att, _, _ = th.begin(ctx, "alice", stranger)
	if att == nil {
		t.Fatal("still throttled after the window")
	}
	att.failed()
	// An unchecked attempt counts for nothing.
	for range maxNetworkFailures + 3 {
		att, _, _ := th.begin(ctx, "bob", owner)
		if att == nil {
			t.Fatal("unchecked attempts were counted")
		}
		att.unchecked()
	}
	if w := th.networks[owner]; w.failures != 0 || w.inflight != 0 {
		t.Fatalf("the owner's network counts %d failures and %d in flight; want 0", w.failures, w.inflight)
	}
}

// TestThrottleWaitsForAttemptsInFlight checks that an attempt beyond the
// limit waits for those in flight instead of being checked too: refused
// if they fail, let through if one succeeds.
func TestThrottleWaitsForAttemptsInFlight(t *testing.T) {
	ctx := t.Context()
	th := newThrottle(time.Now)
	const net = "192.0.2.1"
	var inFlight []*attempt
	for range maxAccountFailures {
		att, _, _ := th.begin(ctx, "alice", net)
		inFlight = append(inFlight, att)
	}
	type result struct {
		att *attempt
		lim limit
	}
	waiting := func() chan result {
		out := make(chan result, 1)
		go func() {
			att, lim, _ := th.begin(ctx, "alice", net)
			out <- result{att, lim}
		}()
		// Wait until it waits: a state the throttle shows, not a duration.
		for {
			th.mu.Lock()
			n := th.accounts[accountKey{"alice", net}].waiters
			th.mu.Unlock()
			if n == 1 {
				return out
			}
			runtime.Gosched()
		}
	}
	next := waiting()
	inFlight[0].succeeded()
	r := <-next
	if r.att == nil {
		t.Fatalf("after a success, the waiting attempt was refused (limit %d)", r.lim)
	}
	next = waiting()
	r.att.failed()
	for _, att := range inFlight[1:] {
		att.failed()
	}
	if r := <-next; r.att != nil || r.lim != accountLimit {
		t.Fatalf("after %d failures, the waiting attempt got %v, limit %d; want the account limit", maxAccountFailures, r.att, r.lim)
	}
	// A waiter whose request ends stops waiting.
	th2 := newThrottle(time.Now)
	for range maxAccountFailures {
		th2.begin(ctx, "bob", net)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if att, lim, _ := th2.begin(cctx, "bob", net); att != nil || lim != canceled {
		t.Fatalf("a canceled waiter got %v, limit %d", att, lim)
	}
}

func TestThrottleLimitsSprayingFromOneNetwork(t *testing.T) {
	ctx := t.Context()
	now := time.Unix(1_700_000_000, 0)
	th := newThrottle(func() time.Time { return now })
	for i := range maxNetworkFailures {
		att, _, _ := th.begin(ctx, fmt.Sprintf("user%d", i), clientNetwork("2001:db8:1:2::99"))
		if att == nil {
			t.Fatalf("attempt %d on a new account refused", i+1)
		}
		att.failed()
	}
	// Another address of the same /64 is the same network.
	if att, lim, _ := th.begin(ctx, "someone-new", clientNetwork("2001:db8:1:2:ffff::1")); att != nil || lim != networkLimit {
		t.Fatalf("attempt %d from the network: %v, limit %d; want the network limit", maxNetworkFailures+1, att, lim)
	}
	if att, _, _ := th.begin(ctx, "someone-new", clientNetwork("2001:db8:1:3::1")); att == nil {
		t.Fatal("another /64 was refused")
	}
}

func TestClientNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":             "203.0.113.7",
		"::ffff:203.0.113.7":      "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"fe80::1%eth0":            "fe80::/64",
		"not an address":          "not an address",
		"2001:db8:1:2:ffff::abcd": "2001:db8:1:2::/64",
	} {
		if got := clientNetwork(in); got != want {
			t.Errorf("clientNetwork(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestApproximateIP(t *testing.T) {
	tests := map[string]string{
		"203.0.113.77":          "203.0.113.0/24",
		"::ffff:198.51.100.9":   "198.51.100.0/24",
		"2001:db8:1234:5678::1": "2001:db8:1234::/48",
		"127.0.0.1":             "127.0.0.1",
		"::1":                   "::1",
		"":                      "—",
		"not an address":        "—",
	}
	for in, want := range tests {
		if got := approximateIP(in); got != want {
			t.Errorf("approximateIP(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	tests := map[string]string{
		"/cart": "/cart", "/devices?x=1": "/devices?x=1", "": "/", "cart": "/",
		"//evil.example": "/", "/\\evil.example": "/", "https://evil.example": "/", "/a\r\nSet-Cookie: x": "/",
	}
	for in, want := range tests {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q; want %q", in, got, want)
		}
	}
}

// FuzzLocalPath checks that no "next" or "return" value, however odd, can
// send a browser to another site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/cart", "//evil.example", "/\\evil", "https://x", "/%2F%2Fevil", "/\t/evil", "/.//evil"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://shop.example/devices")
	f.Fuzz(func(t *testing.T, in string) {
		out := localPath(in)
		if out != "/" && out != in {
			t.Fatalf("localPath(%q) = %q: neither the input nor /", in, out)
		}
		u, err := url.Parse(out)
		if err != nil {
			// net/http would refuse to redirect there; nothing to check.
			return
		}
		if got := base.ResolveReference(u); got.Host != "shop.example" || got.Scheme != "https" {
			t.Fatalf("localPath(%q) = %q leads to %s", in, out, got)
		}
	})
}

func TestFormatPrice(t *testing.T) {
	if got := formatPrice("en", 250); got != "€2.50" {
		t.Errorf("en: %q", got)
	}
	if got := formatPrice("fr", 1205); got != "12,05\u00a0€" {
		t.Errorf("fr: %q", got)
	}
}

// TestTranslationsAreComplete checks that every message the templates and
// handlers show has a French and a German translation.
func TestTranslationsAreComplete(t *testing.T) {
	used := map[string]bool{}
	reT := regexp.MustCompile(`\.T "([^"]*)"`)
	err := fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templateFS.ReadFile(p)
		for _, m := range reT.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Messages handlers pass to translate, translatef and errorPage.
	for _, m := range []string{
		"Shop", "Your cart", "Log in", "Your devices", "Change your password", "Preferences",
		"Added %s to your cart.", "Your cart was updated.", "That product does not exist.",
		"Please log in to place your order.", "Thank you! Your order of %d cookies (%s) is on its way. (Not really: this is a demo.)",
		"Welcome back, %s.", "You have been logged out.", "Wrong username or password.",
		"Too many failed attempts for this account. Try again in %d minutes.",
		"Too many failed logins from your network. Try again in %d minutes.",
		"The server is busy checking other logins. Please try again in a moment.",
		"Your session has ended: it timed out, was logged out, or is not known to this server.", "Please log in to see this page.",
		"That session had already ended.", "The device was logged out.", "Other sessions logged out: %d.",
		"The API client was revoked.", "Preferences saved.", "The current password is wrong.",
		"The two new passwords do not match.", "The new password must be at least 12 characters long.",
		"The new password must be at most 128 characters long.", "Password changed. Other sessions logged out: %d.",
		"Page not found", "This page does not exist.", "Request refused",
		"This form was sent from another site, so it was refused. Nothing was changed.",
		"Service unavailable", "Session storage did not answer. Please try again in a moment.",
		"Something went wrong", "Please try again.", "just now", "%d min ago", "%d h ago", "%d days ago",
		// The "under the hood" page.
		"Under the hood",
		"Bound cookie",
		"only this browser can renew it",
		"Not valid for this session (expired, or made for another one): the browser gets a new one by proving it still holds the session's key.",
		"Proof that this browser held the session's private key a moment ago. The browser renews it every %d minutes by signing a challenge with that key, which never leaves the device; the server accepts the session cookie only together with it.",
		"Short-lived, renewed by the browser: valid until",
		"Device binding is off on this server (httpstate serve --device-binding=enforce turns it on).",
		"This request carried the cookie of a session bound to another device, without that device's bound cookie: the server served it as a new anonymous visitor and left the session alone.",
		"Your browser made a key pair for this session when you logged in and sent the server the public key. Every %d minutes it signs a challenge with the private key, which never leaves this device, for a new bound cookie. A copy of your cookies on another computer stops working when its bound cookie expires.",
		"The server received this request over plain HTTP. Browsers bind sessions only over HTTPS with a certificate they trust, so unless a TLS proxy in front of the shop served this page over HTTPS, sessions here stay unbound and work on the session cookie alone.",
		"Only logged-in sessions are bound: log in with Chrome to see it happen.",
		"Your browser did not bind this session: only Chrome does. Other browsers keep working on the session cookie alone.",
		"Not this shop's",
		"This shop does not set this cookie. Browsers share a host's cookies across all its ports, so another site on this host may have set it; its value is not shown.",
		"No: HttpOnly keeps it from page scripts.",
		"Yes: page scripts can read it (app.js reads the theme).",
		"Opaque session token",
		"its value is never shown",
		"Not a token this shop could have issued: the server ignores it.",
		"43 random characters (256 bits) that mean nothing by themselves. The server never stores them, only their SHA-256, which is the key of the session record on the server.",
		"43 random characters (256 bits) that name no live session on this server: it ended, or another server issued it.",
		"Persistent (remember me), moved forward as you use the site, until about",
		"Session cookie: the browser deletes it when it closes.",
		"Persistent: a year after the preferences were last saved.",
		"Unreadable",
		"It does not open with this server's keys (changed, expired, or from another server), so the server ignores it.",
		"Sealed",
		"only the server can read this",
		"Encrypted and authenticated with a key only the server has: the browser holds it but can neither read nor change it. Shown here as the server decrypts it.",
		"Persistent, a year after the preferences were last saved: until",
		"Signed",
		"readable by anyone, changeable by no one",
		"In clear text with a signature: anyone can read it, page scripts included, but a changed value fails the server's check.",
		"The token you pasted",
		"That is far longer than any access token; nothing was decoded.",
		"Not an access token: a JWT is three base64url parts separated by dots, the first two JSON objects.",
		"Valid: this API accepts it until %s, whatever happens to the sign-in that got it.",
		"Expired at %s: the API refuses it, whatever its signature.",
		"This API would refuse it: its signature, issuer or audience does not check out. Anyone can still read what it says.",
		"The last access token this server issued to you",
		"Valid until %s, even if you revoke the API client meanwhile.",
		"Expired at %s.",
	} {
		used[m] = true
	}
	for _, lang := range []string{"fr", "de"} {
		for m := range used {
			if _, ok := catalog[lang][m]; !ok {
				t.Errorf("%s: no translation of %q", lang, m)
			}
		}
		for m, tr := range catalog[lang] {
			if strings.Count(m, "%") != strings.Count(tr, "%") {
				t.Errorf("%s: %q and its translation %q have different format verbs", lang, m, tr)
			}
		}
	}
	fr, de := keys(catalog["fr"]), keys(catalog["de"])
	if !slices.Equal(fr, de) {
		t.Error("the French and German catalogues translate different messages")
	}
	for _, p := range catalogue {
		for _, l := range languages {
			if p.Name[l.Code] == "" || p.Desc[l.Code] == "" {
				t.Errorf("product %s has no %s name or description", p.SKU, l.Code)
			}
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestChallengeParam(t *testing.T) {
	const c = `Bearer realm="httpstate demo", error="invalid_token", error_description="Expired, \"really\"", scope=profile`
	for name, want := range map[string]string{
		"realm": "httpstate demo", "error": "invalid_token", "error_description": `Expired, "really"`, "scope": "profile", "nope": "",
	} {
		if got := challengeParam(c, name); got != want {
			t.Errorf("challengeParam(%q) = %q; want %q", name, got, want)
		}
	}
	if got := challengeParam(`Basic realm="x"`, "realm"); got != "" {
		t.Errorf("a Basic challenge gave %q", got)
	}
}

// FuzzChallengeParam checks that any header value, which a handler may
// have built from anything, parses without panicking or looping.
func FuzzChallengeParam(f *testing.F) {
	for _, s := range []string{`Bearer realm="a", error="b"`, `Bearer error="`, `Bearer =,=,"\`, `Bearer a=b`, "Bearer"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		if v := challengeParam(c, "error"); len(v) > len(c) {
			t.Fatalf("challengeParam(%q) = %q, longer than the header", c, v)
		}
	})
}

// FuzzDecodeToken checks that anything pasted in the "under the hood"
// page's box decodes to JSON objects or is refused, without panicking.
func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{"a.b.c", "e30.e30.", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJib2IiLCJleHAiOjF9.sig", "e30=.e30=.x", "bnVsbA.bnVsbA.x", "e30.e30e30.x", "..", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		d, err := decodeToken(tok)
		if err != nil {
			return
		}
		var header, claims map[string]any
		if json.Unmarshal(d.Header, &header) != nil || json.Unmarshal(d.Claims, &claims) != nil {
			t.Fatalf("decodeToken(%q) accepted a part that is not a JSON object", tok)
		}
		if !d.Expiry.IsZero() && d.Expiry.Year() > 40000 {
			t.Fatalf("decodeToken(%q): an expiry of %v", tok, d.Expiry)
		}
	})
}
