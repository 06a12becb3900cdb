package useragent_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/useragent"
)

func TestDescribe(t *testing.T) {
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
		// Found by FuzzDescribeAgent: dropping the invalid bytes used to leave
		// a lone no-break space as the label.
		"\xd0\u00a0\xa0":                    "Unknown browser",
		"\u202eBot\u200b/1\tx":              "Bot/1",
		"Chrome/" + strings.Repeat("9", 50): "Chrome 999999",
	}
	for in, want := range tests {
		if got := useragent.Describe(in); got != want {
			t.Errorf("Describe(%q) = %q; want %q", in, got, want)
		}
	}
}

// FuzzDescribeAgent checks that any User-Agent, which the client chooses,
// yields a short, valid, printable label.
func FuzzDescribeAgent(f *testing.F) {
	for _, s := range []string{"", "curl/8", "Chrome/", "Edg/999999999999999999999", "Version/ Mac OS X", "\xff\xfe", "\xd0\u00a0\xa0", "\u202eevil", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := useragent.Describe(ua)
		unprintable := func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }
		if strings.TrimSpace(got) == "" || utf8.RuneCountInString(got) > 80 || !utf8.ValidString(got) || strings.ContainsFunc(got, unprintable) {
			t.Fatalf("Describe(%q) = %q", ua, got)
		}
	})
}

func ExampleDescribe() {
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	fmt.Println(useragent.Describe(ua))
	// Output: Chrome 156 on Linux
}
