// Package useragent turns a User-Agent header into a short description a
// person recognises, such as "Firefox 128 on Linux": the demo shop's
// device list and the command's session list show the same words.
package useragent

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	// Real major versions are short; the cap keeps a made-up one from
	// stretching the label.
	reVersion = regexp.MustCompile(`^\d{1,6}`)
	browsers  = []struct{ token, name string }{
		// Order matters: Edge and Opera also claim to be Chrome, and
		// Chrome claims to be Safari.
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"HeadlessChrome/", "Headless Chrome"},
		{"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Firefox/", "Firefox"},
		{"Version/", "Safari"}, {"curl/", "curl"}, {"Go-http-client/", "Go HTTP client"},
	}
	systems = []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	}
)

// Describe turns a User-Agent header into "Firefox 128 on Linux". It only
// has to help a person recognise their own devices, so a short list of
// well-known names is enough. The result is never empty, at most about 60
// runes long, valid UTF-8 and free of control and format characters,
// whatever the client sent: it is safe to print on a page or a terminal.
func Describe(ua string) string {
	name := ""
	for _, b := range browsers {
		if i := strings.Index(ua, b.token); i >= 0 {
			name = b.name
			if v := reVersion.FindString(ua[i+len(b.token):]); v != "" && b.name != "Safari" {
				name += " " + v
			}
			break
		}
	}
	if name == "" {
		// Something else: show the product token it sent, cleaned up, since
		// the client chose every byte of it.
		// Unprintable runes go first, so that what is left is split on
		// every kind of space: removing a byte must not leave a label that
		// is only a no-break space, and format characters such as bidi
		// overrides must not reorder the page around the label.
		cleaned := strings.Map(func(r rune) rune {
			if r == utf8.RuneError || !unicode.IsPrint(r) && !unicode.IsSpace(r) {
				return -1
			}
			return r
		}, ua)
		name = "Unknown browser"
		if fields := strings.Fields(cleaned); len(fields) > 0 {
			name = truncateRunes(fields[0], 40)
		}
	}
	for _, s := range systems {
		if strings.Contains(ua, s.token) {
			return name + " on " + s.name
		}
	}
	return name
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
