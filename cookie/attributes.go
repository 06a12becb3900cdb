package cookie

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// MaxSize is the largest Set-Cookie header value, name, value and
// attributes together, that this package produces. Browsers are only
// required to keep cookies up to this size and silently drop larger ones,
// so anything bigger is refused with ErrTooLarge rather than sent.
const MaxSize = 4096

// maxAttributeValue is the longest Path or Domain a browser honours;
// RFC 6265bis tells user agents to ignore longer attribute values, which
// would silently widen a cookie's scope.
const maxAttributeValue = 1024

// maxLifetime is the longest lifetime browsers keep a cookie for (RFC
// 6265bis caps Max-Age and Expires at 400 days). Longer lifetimes are
// clamped to it, which changes nothing a conforming browser does and keeps
// Max-Age within an int on 32-bit platforms.
const maxLifetime = 400 * 24 * time.Hour

// Attributes are the attributes of a cookie other than its name and value.
// The zero value is the secure default: Path=/, Secure, HttpOnly,
// SameSite=Lax, no Domain.
//
// Attributes is a small value type meant to be built once, stored in a
// configuration struct and copied freely.
type Attributes struct {
	// Domain makes the cookie visible to subdomains of Domain as well as
	// to Domain itself. Leave it empty for a host-only cookie, which is
	// what the "__Host-" name prefix requires.
	Domain string

	// Path restricts the cookie to URLs under Path. "" means "/". It must
	// begin with "/".
	Path string

	// SameSite controls cross-site sending. 0 (or http.SameSiteDefaultMode)
	// means Lax; http.SameSiteNoneMode requires Secure.
	SameSite http.SameSite

	// Insecure omits the Secure attribute: only for development over plain
	// HTTP, where browsers would refuse a Secure cookie. Prefixed names,
	// SameSite=None and Partitioned all need Secure.
	Insecure bool

	// ScriptReadable omits HttpOnly: for values that page scripts must
	// read, such as a signed preferences cookie. Never set it on a cookie
	// that authenticates anyone.
	ScriptReadable bool

	// Partitioned keys the cookie to the top-level site it was set under
	// (CHIPS), for embedded third-party content. It requires Secure.
	Partitioned bool
}

// Cookie returns a validated cookie named name with the given value and
// these attributes, ready for http.SetCookie or Header.Add("Set-Cookie",
// c.String()).
//
// maxAge 0 makes a browser-session cookie, which the browser forgets when
// it closes; maxAge > 0 a persistent one, with Max-Age (rounded up to whole
// seconds and capped at the 400 days browsers allow) and an Expires date
// for browsers that predate Max-Age. A negative maxAge is an error: use
// Expire to delete a cookie.
//
// Cookie returns an error wrapping ErrInvalid if the name, value or
// attributes break any rule of Validate, and one wrapping ErrTooLarge if the
// Set-Cookie header would exceed MaxSize bytes. It never truncates or
// rewrites what it is given.
func (a Attributes) Cookie(name, value string, maxAge time.Duration) (*http.Cookie, error) {
	if maxAge < 0 {
		return nil, errorf(ErrInvalid, name, "negative max age (use Expire to delete a cookie)")
	}
	c := a.build(name, value)
	if maxAge > 0 {
		maxAge = min(maxAge, maxLifetime)
		secs := (maxAge + time.Second - 1) / time.Second
		c.MaxAge = int(secs)
		c.Expires = time.Now().Add(secs * time.Second).UTC()
	}
	if err := Validate(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Expire returns the cookie that, sent in a Set-Cookie header, deletes the
// cookie named name: an empty value, Max-Age=0 and an Expires date in the
// past. It carries the same Path, Domain, Secure and Partitioned
// attributes as Cookie would, because a browser only replaces a cookie
// whose name, Domain and Path match, and refuses to touch Secure, prefixed
// or partitioned cookies from a Set-Cookie that lacks those attributes.
// It returns the same errors as Cookie.
func (a Attributes) Expire(name string) (*http.Cookie, error) {
	c := a.build(name, "")
	c.MaxAge = -1
	c.Expires = time.Unix(1, 0).UTC()
	if err := Validate(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (a Attributes) build(name, value string) *http.Cookie {
	path := a.Path
	if path == "" {
		path = "/"
	}
	sameSite := a.SameSite
	if sameSite == 0 || sameSite == http.SameSiteDefaultMode {
		sameSite = http.SameSiteLaxMode
	}
	return &http.Cookie{
		Name:        name,
		Value:       value,
		Path:        path,
		Domain:      a.Domain,
		Secure:      !a.Insecure,
		HttpOnly:    !a.ScriptReadable,
		SameSite:    sameSite,
		Partitioned: a.Partitioned,
	}
}

// Validate reports whether browsers would store c exactly as written, for
// cookies built without Attributes.Cookie. It returns an error wrapping
// ErrInvalid when:
//
//   - the name is not an HTTP token, or the value holds a byte outside
//     RFC 6265's cookie-octet (space, comma, quote, semicolon, backslash,
//     control and non-ASCII bytes);
//   - the name starts with "__Secure-" and the cookie is not Secure;
//   - the name starts with "__Host-" and the cookie is not Secure, has a
//     Domain, or has a Path other than "/";
//   - the name starts with "__Http-" or "__Host-Http-" and the cookie is
//     not both Secure and HttpOnly (plus the "__Host-" rules for the
//     latter);
//   - SameSite is None, or Partitioned is set, without Secure;
//   - SameSite is not one of net/http's constants;
//   - Path does not begin with "/" or holds a space, control byte,
//     semicolon, quote or backslash,
//     Domain is not a host name or IPv4 address, either is longer than the
//     1024 bytes browsers honour, or Expires is outside the years 1601 to
//     9999.
//
// Prefixes are matched case-insensitively, as browsers do. Validate
// returns an error wrapping ErrTooLarge if c.String() would be longer than
// MaxSize. Net/http silently drops an invalid Domain or invalid value bytes
// when it writes a cookie; Validate exists so that never happens unnoticed.
func Validate(c *http.Cookie) error {
	if c == nil {
		return fmt.Errorf("%w: nil cookie", ErrInvalid)
	}
	name := c.Name
	if !isToken(name) {
		return errorf(ErrInvalid, name, "name is not an HTTP token")
	}
	for i := 0; i < len(c.Value); i++ {
		if !isCookieOctet(c.Value[i]) {
			return errorf(ErrInvalid, name, "byte %q not allowed in a cookie value", c.Value[i])
		}
	}
	if c.Path != "" {
		if c.Path[0] != '/' {
			return errorf(ErrInvalid, name, "Path %q does not begin with /", c.Path)
		}
		if len(c.Path) > maxAttributeValue {
			return errorf(ErrInvalid, name, "Path longer than %d bytes", maxAttributeValue)
		}
		for i := 0; i < len(c.Path); i++ {
			// Browsers strip spaces around attribute values and URLs
			// never hold a raw space, quote or backslash, so a Path with
			// one would be altered or never match: refuse it.
			if b := c.Path[i]; b <= 0x20 || b >= 0x7f || b == ';' || b == '"' || b == '\\' {
				return errorf(ErrInvalid, name, "byte %q not allowed in Path", b)
			}
		}
	}
	if c.Domain != "" && !validDomain(c.Domain) {
		return errorf(ErrInvalid, name, "Domain %q is not a host name or IPv4 address", c.Domain)
	}
	if !c.Expires.IsZero() {
		if y := c.Expires.UTC().Year(); y < 1601 || y > 9999 {
			return errorf(ErrInvalid, name, "Expires year %d outside 1601-9999", y)
		}
	}
	switch c.SameSite {
	case 0, http.SameSiteDefaultMode, http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if !c.Secure {
			return errorf(ErrInvalid, name, "SameSite=None requires Secure")
		}
	default:
		return errorf(ErrInvalid, name, "unknown SameSite value %d", c.SameSite)
	}
	if c.Partitioned && !c.Secure {
		return errorf(ErrInvalid, name, "Partitioned requires Secure")
	}
	if err := checkPrefix(c); err != nil {
		return err
	}
	if n := setCookieLen(c); n > MaxSize {
		return errorf(ErrTooLarge, name, "Set-Cookie would be %d bytes, over the %d browsers keep", n, MaxSize)
	}
	return nil
}

// checkPrefix enforces the cookie name prefixes of RFC 6265bis, which
// browsers check case-insensitively.
func checkPrefix(c *http.Cookie) error {
	name := c.Name
	host := hasPrefixFold(name, "__Host-")
	httpOnly := hasPrefixFold(name, "__Http-") || hasPrefixFold(name, "__Host-Http-")
	if !host && !httpOnly && !hasPrefixFold(name, "__Secure-") {
		return nil
	}
	if !c.Secure {
		return errorf(ErrInvalid, name, "a prefixed name requires Secure")
	}
	if host && c.Domain != "" {
		return errorf(ErrInvalid, name, "the __Host- prefix forbids a Domain")
	}
	if host && c.Path != "/" {
		return errorf(ErrInvalid, name, "the __Host- prefix requires Path=/")
	}
	if httpOnly && !c.HttpOnly {
		return errorf(ErrInvalid, name, "the __Http- prefix requires HttpOnly")
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// setCookieLen is len(c.String()) for a cookie that passes the other checks
// of Validate, computed without building the string.
func setCookieLen(c *http.Cookie) int {
	n := len(c.Name) + 1 + len(c.Value)
	if c.Quoted {
		n += 2
	}
	if c.Path != "" {
		n += len("; Path=") + len(c.Path)
	}
	if c.Domain != "" {
		n += len("; Domain=") + len(strings.TrimPrefix(c.Domain, "."))
	}
	if !c.Expires.IsZero() {
		n += len("; Expires=") + len(http.TimeFormat)
	}
	switch {
	case c.MaxAge > 0:
		n += len("; Max-Age=") + decimalLen(c.MaxAge)
	case c.MaxAge < 0:
		n += len("; Max-Age=0")
	}
	if c.HttpOnly {
		n += len("; HttpOnly")
	}
	if c.Secure {
		n += len("; Secure")
	}
	switch c.SameSite {
	case http.SameSiteNoneMode:
		n += len("; SameSite=None")
	case http.SameSiteLaxMode:
		n += len("; SameSite=Lax")
	case http.SameSiteStrictMode:
		n += len("; SameSite=Strict")
	}
	if c.Partitioned {
		n += len("; Partitioned")
	}
	return n
}

func decimalLen(v int) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// isToken reports whether s is a non-empty RFC 9110 token, the grammar of
// a cookie name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// isCookieOctet reports whether b may appear unquoted in a cookie value
// (RFC 6265 section 4.1.1).
func isCookieOctet(b byte) bool {
	return 0x21 <= b && b < 0x7f && b != '"' && b != ',' && b != ';' && b != '\\'
}

// validDomain accepts exactly the Domain values net/http writes rather
// than silently drops: a host name (optionally with a leading dot) or an
// IPv4 address.
func validDomain(d string) bool {
	if len(d) > 255 {
		return false
	}
	if a, err := netip.ParseAddr(d); err == nil {
		return a.Is4()
	}
	d = strings.TrimPrefix(d, ".")
	if d == "" {
		return false
	}
	letter := false
	last := byte('.')
	part := 0
	for i := 0; i < len(d); i++ {
		b := d[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z':
			letter = true
			part++
		case '0' <= b && b <= '9':
			part++
		case b == '-':
			if last == '.' {
				return false
			}
			part++
		case b == '.':
			if last == '.' || last == '-' || part > 63 {
				return false
			}
			part = 0
		default:
			return false
		}
		last = b
	}
	return letter && last != '-' && part <= 63
}
