package cookie

import (
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestZeroAttributesAreTheSecureDefault(t *testing.T) {
	c, err := Attributes{}.Cookie("__Host-id", "v", 0)
	if err != nil {
		t.Fatal(err)
	}
	const want = "__Host-id=v; Path=/; HttpOnly; Secure; SameSite=Lax"
	if got := c.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAttributesWrittenAsConfigured(t *testing.T) {
	tests := []struct {
		name  string
		attrs Attributes
		want  string
	}{
		{"default mode SameSite means Lax", Attributes{SameSite: http.SameSiteDefaultMode}, "n=v; Path=/; HttpOnly; Secure; SameSite=Lax"},
		{"strict", Attributes{SameSite: http.SameSiteStrictMode}, "n=v; Path=/; HttpOnly; Secure; SameSite=Strict"},
		{"none with secure", Attributes{SameSite: http.SameSiteNoneMode}, "n=v; Path=/; HttpOnly; Secure; SameSite=None"},
		{"insecure for development", Attributes{Insecure: true}, "n=v; Path=/; HttpOnly; SameSite=Lax"},
		{"script readable", Attributes{ScriptReadable: true}, "n=v; Path=/; Secure; SameSite=Lax"},
		{"partitioned", Attributes{Partitioned: true}, "n=v; Path=/; HttpOnly; Secure; SameSite=Lax; Partitioned"},
		{"domain and path", Attributes{Domain: "example.com", Path: "/app"}, "n=v; Path=/app; Domain=example.com; HttpOnly; Secure; SameSite=Lax"},
		{"ipv4 domain", Attributes{Domain: "127.0.0.1"}, "n=v; Path=/; Domain=127.0.0.1; HttpOnly; Secure; SameSite=Lax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.attrs.Cookie("n", "v", 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.String(); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPersistentCookieHasMaxAgeAndExpires(t *testing.T) {
	tests := []struct {
		maxAge time.Duration
		want   int
	}{
		{time.Hour, 3600},
		{1500 * time.Millisecond, 2}, // rounded up, never shorter than asked
		{time.Nanosecond, 1},
		{1000 * 24 * time.Hour, 400 * 24 * 3600}, // browsers cap at 400 days
		{1<<63 - 1, 400 * 24 * 3600},
	}
	for _, tt := range tests {
		before := time.Now()
		c, err := Attributes{}.Cookie("n", "v", tt.maxAge)
		after := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if c.MaxAge != tt.want {
			t.Errorf("maxAge %v: Max-Age %d, want %d", tt.maxAge, c.MaxAge, tt.want)
		}
		lo := before.Add(time.Duration(tt.want) * time.Second).Add(-time.Second)
		hi := after.Add(time.Duration(tt.want) * time.Second).Add(time.Second)
		if c.Expires.Before(lo) || c.Expires.After(hi) {
			t.Errorf("maxAge %v: Expires %v, want between %v and %v", tt.maxAge, c.Expires, lo, hi)
		}
		if s := c.String(); !strings.Contains(s, "; Expires=") || !strings.Contains(s, "; Max-Age=") {
			t.Errorf("maxAge %v: %s lacks Expires or Max-Age", tt.maxAge, s)
		}
	}
}

func TestCookieRules(t *testing.T) {
	tests := []struct {
		name   string
		cookie string
		value  string
		attrs  Attributes
		maxAge time.Duration
		want   error // nil: accepted
	}{
		{"a __Host- cookie with the defaults is accepted", "__Host-id", "v", Attributes{}, 0, nil},
		{"a __Host- cookie without Secure is refused", "__Host-id", "v", Attributes{Insecure: true}, 0, ErrInvalid},
		{"a __Host- cookie with a Domain is refused", "__Host-id", "v", Attributes{Domain: "example.com"}, 0, ErrInvalid},
		{"a __Host- cookie with another Path is refused", "__Host-id", "v", Attributes{Path: "/app"}, 0, ErrInvalid},
		{"a __Host- cookie with Path=/ spelled out is accepted", "__Host-id", "v", Attributes{Path: "/"}, 0, nil},
		{"the __Host- prefix is matched case-insensitively", "__HOST-id", "v", Attributes{Domain: "example.com"}, 0, ErrInvalid},
		{"a lower-case __host- prefix is matched too", "__host-id", "v", Attributes{Insecure: true}, 0, ErrInvalid},
		{"a __Secure- cookie without Secure is refused", "__Secure-id", "v", Attributes{Insecure: true}, 0, ErrInvalid},
		{"a __secure- cookie without Secure is refused", "__secure-id", "v", Attributes{Insecure: true}, 0, ErrInvalid},
		{"a __Secure- cookie may have a Domain and Path", "__Secure-id", "v", Attributes{Domain: "example.com", Path: "/app"}, 0, nil},
		{"a __Http- cookie readable by scripts is refused", "__Http-id", "v", Attributes{ScriptReadable: true}, 0, ErrInvalid},
		{"a __Http- cookie without Secure is refused", "__Http-id", "v", Attributes{Insecure: true}, 0, ErrInvalid},
		{"a __Host-Http- cookie readable by scripts is refused", "__Host-Http-id", "v", Attributes{ScriptReadable: true}, 0, ErrInvalid},
		{"a __Host-Http- cookie with a Domain is refused", "__Host-Http-id", "v", Attributes{Domain: "example.com"}, 0, ErrInvalid},
		{"a __Host-Http- cookie with the defaults is accepted", "__Host-Http-id", "v", Attributes{}, 0, nil},
		{"an unprefixed insecure cookie is accepted", "id", "v", Attributes{Insecure: true}, 0, nil},
		{"SameSite=None without Secure is refused", "id", "v", Attributes{SameSite: http.SameSiteNoneMode, Insecure: true}, 0, ErrInvalid},
		{"Partitioned without Secure is refused", "id", "v", Attributes{Partitioned: true, Insecure: true}, 0, ErrInvalid},
		{"an unknown SameSite value is refused", "id", "v", Attributes{SameSite: 99}, 0, ErrInvalid},
		{"a negative max age is refused", "id", "v", Attributes{}, -time.Second, ErrInvalid},
		{"an empty name is refused", "", "v", Attributes{}, 0, ErrInvalid},
		{"a name with a space is refused", "a b", "v", Attributes{}, 0, ErrInvalid},
		{"a name with = is refused", "a=b", "v", Attributes{}, 0, ErrInvalid},
		{"a name with ; is refused", "a;b", "v", Attributes{}, 0, ErrInvalid},
		{"a name with a control byte is refused", "a\x00", "v", Attributes{}, 0, ErrInvalid},
		{"a name with non-ASCII is refused", "café", "v", Attributes{}, 0, ErrInvalid},
		{"an empty value is accepted", "id", "", Attributes{}, 0, nil},
		{"a value with = and base64url is accepted", "id", "aZ09-_.=~!", Attributes{}, 0, nil},
		{"a value with a space is refused", "id", "a b", Attributes{}, 0, ErrInvalid},
		{"a value with a comma is refused", "id", "a,b", Attributes{}, 0, ErrInvalid},
		{"a value with a quote is refused", "id", `a"b`, Attributes{}, 0, ErrInvalid},
		{"a value with a semicolon is refused", "id", "a;b", Attributes{}, 0, ErrInvalid},
		{"a value with a backslash is refused", "id", `a\b`, Attributes{}, 0, ErrInvalid},
		{"a value with a control byte is refused", "id", "a\nb", Attributes{}, 0, ErrInvalid},
		{"a value with DEL is refused", "id", "a\x7fb", Attributes{}, 0, ErrInvalid},
		{"a value with non-ASCII is refused", "id", "café", Attributes{}, 0, ErrInvalid},
		{"a relative Path is refused", "id", "v", Attributes{Path: "app"}, 0, ErrInvalid},
		{"a Path with ; is refused", "id", "v", Attributes{Path: "/a;b"}, 0, ErrInvalid},
		{"a Path with a control byte is refused", "id", "v", Attributes{Path: "/a\rb"}, 0, ErrInvalid},
		{"a Path over 1024 bytes is refused", "id", "v", Attributes{Path: "/" + strings.Repeat("a", 1024)}, 0, ErrInvalid},
		{"a Path of 1024 bytes is accepted", "id", "v", Attributes{Path: "/" + strings.Repeat("a", 1023)}, 0, nil},
		{"a Domain with a space is refused", "id", "v", Attributes{Domain: "exa mple.com"}, 0, ErrInvalid},
		{"a Domain with an empty label is refused", "id", "v", Attributes{Domain: "a..com"}, 0, ErrInvalid},
		{"a Domain label starting with - is refused", "id", "v", Attributes{Domain: "-a.com"}, 0, ErrInvalid},
		{"a Domain ending with - is refused", "id", "v", Attributes{Domain: "a.com-"}, 0, ErrInvalid},
		{"an IPv6 Domain is refused", "id", "v", Attributes{Domain: "::1"}, 0, ErrInvalid},
		{"a Domain that is only a dot is refused", "id", "v", Attributes{Domain: "."}, 0, ErrInvalid},
		{"a Domain with a 64-byte label is refused", "id", "v", Attributes{Domain: strings.Repeat("a", 64) + ".com"}, 0, ErrInvalid},
		{"a Domain with a leading dot is accepted", "id", "v", Attributes{Domain: ".example.com"}, 0, nil},
		{"a Domain of digits and letters is accepted", "id", "v", Attributes{Domain: "a1.example-2.com"}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.attrs.Cookie(tt.cookie, tt.value, tt.maxAge)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				checkLossless(t, c)
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if c != nil {
				t.Fatal("a cookie was returned with the error")
			}
		})
	}
}

// checkLossless asserts that net/http writes c exactly as it was built
// (nothing dropped, nothing sanitised) and that setCookieLen predicts its
// length.
func checkLossless(t *testing.T, c *http.Cookie) {
	t.Helper()
	s := c.String()
	if n := setCookieLen(c); n != len(s) {
		t.Fatalf("setCookieLen %d, len(String()) %d for %s", n, len(s), s)
	}
	p, err := http.ParseSetCookie(s)
	if err != nil {
		t.Fatalf("ParseSetCookie(%q): %v", s, err)
	}
	if p.Name != c.Name || p.Value != c.Value || p.Path != c.Path ||
		p.Domain != strings.TrimPrefix(c.Domain, ".") ||
		p.Secure != c.Secure || p.HttpOnly != c.HttpOnly || p.SameSite != c.SameSite ||
		p.Partitioned != c.Partitioned || (p.MaxAge > 0) != (c.MaxAge > 0) || (p.MaxAge < 0) != (c.MaxAge < 0) {
		t.Fatalf("%q parsed back as %+v, built as %+v", s, p, c)
	}
}

func TestSizeLimitIsExact(t *testing.T) {
	for _, attrs := range []Attributes{{}, {Domain: "example.com", Path: "/app", SameSite: http.SameSiteStrictMode, Partitioned: true}} {
		for _, maxAge := range []time.Duration{0, 30 * 24 * time.Hour} {
			base, err := attrs.Cookie("name", "", maxAge)
			if err != nil {
				t.Fatal(err)
			}
			room := MaxSize - len(base.String())
			c, err := attrs.Cookie("name", strings.Repeat("v", room), maxAge)
			if err != nil {
				t.Fatalf("%+v maxAge %v: a cookie of exactly %d bytes: %v", attrs, maxAge, MaxSize, err)
			}
			if n := len(c.String()); n != MaxSize {
				t.Fatalf("built %d bytes, want %d", n, MaxSize)
			}
			_, err = attrs.Cookie("name", strings.Repeat("v", room+1), maxAge)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%+v maxAge %v: one byte over: error %v, want ErrTooLarge", attrs, maxAge, err)
			}
			if _, err := attrs.Expire(strings.Repeat("n", MaxSize)); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Expire of a huge name: error %v, want ErrTooLarge", err)
			}
		}
	}
}

func TestExpireMatchesTheCookieItDeletes(t *testing.T) {
	for _, attrs := range []Attributes{
		{},
		{Domain: "example.com", Path: "/app", ScriptReadable: true},
		{Partitioned: true, SameSite: http.SameSiteNoneMode},
		{Insecure: true},
	} {
		name := "__Secure-n"
		if attrs.Insecure {
			name = "n"
		}
		set, err := attrs.Cookie(name, "v", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		del, err := attrs.Expire(name)
		if err != nil {
			t.Fatal(err)
		}
		if del.Value != "" || del.MaxAge >= 0 || !del.Expires.Before(time.Unix(2, 0)) {
			t.Errorf("%+v: Expire gave value %q, MaxAge %d, Expires %v", attrs, del.Value, del.MaxAge, del.Expires)
		}
		if del.Name != set.Name || del.Path != set.Path || del.Domain != set.Domain || del.Secure != set.Secure ||
			del.Partitioned != set.Partitioned || del.SameSite != set.SameSite || del.HttpOnly != set.HttpOnly {
			t.Errorf("%+v: deletion %s does not match %s", attrs, del, set)
		}
		s := del.String()
		if !strings.Contains(s, "; Max-Age=0") || !strings.Contains(s, "; Expires=Thu, 01 Jan 1970 00:00:01 GMT") {
			t.Errorf("%+v: deletion header %s", attrs, s)
		}
		checkLossless(t, del)
	}
	if _, err := (Attributes{Path: "/app"}).Expire("__Host-n"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Expire of a __Host- cookie with a Path: error %v, want ErrInvalid", err)
	}
}

func TestValidateCookiesBuiltElsewhere(t *testing.T) {
	tests := []struct {
		name   string
		cookie *http.Cookie
		want   error
	}{
		{"nil is refused", nil, ErrInvalid},
		{"a bare cookie is accepted", &http.Cookie{Name: "n", Value: "v"}, nil},
		{"a quoted value is accepted", &http.Cookie{Name: "n", Value: "v", Quoted: true}, nil},
		{"a __Host- cookie without Path is refused", &http.Cookie{Name: "__Host-n", Value: "v", Secure: true}, ErrInvalid},
		{"a __Host- cookie with Path=/ is accepted", &http.Cookie{Name: "__Host-n", Value: "v", Secure: true, Path: "/"}, nil},
		{"an Expires before 1601 is refused", &http.Cookie{Name: "n", Value: "v", Expires: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrInvalid},
		{"an Expires after 9999 is refused", &http.Cookie{Name: "n", Value: "v", Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrInvalid},
		{"SameSite=None without Secure is refused", &http.Cookie{Name: "n", Value: "v", SameSite: http.SameSiteNoneMode}, ErrInvalid},
		{"an oversized value is refused", &http.Cookie{Name: "n", Value: strings.Repeat("v", MaxSize)}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.cookie)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				checkLossless(t, tt.cookie)
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCookieAllocatesOnlyTheCookie(t *testing.T) {
	var a Attributes
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := a.Cookie("__Host-session", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", time.Hour); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("Cookie made %v allocations, want 1", allocs)
	}
}

// TestBrowserKeepsAndDeletesCookies runs the cookies through net/http's
// client and a real cookie jar, as a browser would receive them.
func TestBrowserKeepsAndDeletesCookies(t *testing.T) {
	attrs := Attributes{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c *http.Cookie
		var err error
		switch r.URL.Path {
		case "/set-session":
			c, err = attrs.Cookie("__Host-a", "session-only", 0)
		case "/set-persistent":
			c, err = attrs.Cookie("__Host-b", "persistent", time.Hour)
		case "/expire":
			c, err = attrs.Expire("__Host-a")
			if err == nil {
				http.SetCookie(w, c)
			}
			c, err = attrs.Expire("__Host-b")
		}
		if err != nil {
			t.Error(err)
			return
		}
		http.SetCookie(w, c)
	}))
	defer srv.Close()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	client.Jar = jar
	u, _ := url.Parse(srv.URL)
	get := func(path string) {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get("/set-session")
	get("/set-persistent")
	got := map[string]string{}
	for _, c := range jar.Cookies(u) {
		got[c.Name] = c.Value
	}
	if got["__Host-a"] != "session-only" || got["__Host-b"] != "persistent" {
		t.Fatalf("jar holds %v", got)
	}
	get("/expire")
	if cs := jar.Cookies(u); len(cs) != 0 {
		t.Fatalf("after Expire the jar still holds %v", cs)
	}
}
