package demo

import (
	"io/fs"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
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
	now := time.Unix(1_700_000_000, 0)
	th := newThrottle(func() time.Time { return now })
	for range maxFailures - 1 {
		th.fail("Alice")
	}
	if th.wait("alice") != 0 {
		t.Fatal("throttled before the limit")
	}
	th.fail("alice")
	if w := th.wait("ALICE"); w != throttleWindow {
		t.Fatalf("wait = %v; want %v (names are case-insensitive)", w, throttleWindow)
	}
	now = now.Add(throttleWindow)
	if th.wait("alice") != 0 {
		t.Fatal("still throttled after the window")
	}
	th.fail("bob")
	th.succeed("bob")
	if len(th.entries) != 1 {
		t.Fatal("a success did not forget the failures")
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

func TestDescribeAgent(t *testing.T) {
	tests := map[string]string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36":                         "Chrome 126 on Linux",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0": "Edge 126 on Windows",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0":                                           "Firefox 127 on macOS",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148":    "Safari on iOS",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36":         "Chrome 126 on Android",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36":                 "Headless Chrome 156 on Linux",
		"curl/8.5.0":               "curl 8",
		"Go-http-client/1.1":       "Go HTTP client 1",
		"":                         "Unknown browser",
		"SomeBot/2.0 (+https://x)": "SomeBot/2.0",
		// Found by FuzzDescribeAgent: dropping the invalid bytes used to
		// leave a lone no-break space as the label.
		"\xd0\u00a0\xa0":                    "Unknown browser",
		"\u202eBot\u200b/1\tx":              "Bot/1",
		"Chrome/" + strings.Repeat("9", 50): "Chrome 999999",
	}
	for in, want := range tests {
		if got := describeAgent(in); got != want {
			t.Errorf("describeAgent(%q) = %q; want %q", in, got, want)
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

// FuzzDescribeAgent checks that any User-Agent, which the client chooses,
// yields a short, valid label.
func FuzzDescribeAgent(f *testing.F) {
	for _, s := range []string{"", "curl/8", "Chrome/", "Edg/999999999999999999999", "Version/ Mac OS X", "\xff\xfe", "\xd0\u00a0\xa0", "\u202eevil", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := describeAgent(ua)
		unprintable := func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }
		if strings.TrimSpace(got) == "" || utf8.RuneCountInString(got) > 80 || !utf8.ValidString(got) || strings.ContainsFunc(got, unprintable) {
			t.Fatalf("describeAgent(%q) = %q", ua, got)
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
		"Your session has expired or was ended from another device.", "Please log in to see this page.",
		"That session had already ended.", "The device was logged out.", "Other sessions logged out: %d.",
		"The API client was revoked.", "Preferences saved.", "The current password is wrong.",
		"The two new passwords do not match.", "The new password must be at least 12 characters long.",
		"The new password must be at most 128 characters long.", "Password changed. Other sessions logged out: %d.",
		"Page not found", "This page does not exist.", "Request refused",
		"This form was sent from another site, so it was refused. Nothing was changed.",
		"Service unavailable", "Session storage did not answer. Please try again in a moment.",
		"Something went wrong", "Please try again.", "just now", "%d min ago", "%d h ago", "%d days ago",
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
