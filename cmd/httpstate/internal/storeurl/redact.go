package storeurl

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// mask replaces every secret Redact and the errors of Parse and Open hide.
const mask = "xxxxx"

// secretParam reports whether a query parameter's name says it carries a
// secret: a password (libpq's password and sslpassword, a driver's pwd or
// passwd), a token, an API or access key, or a credential. The test is on
// the name, not the scheme, so that it also covers parameters a driver
// passes through and schemes added later; masking a parameter that turns
// out to be harmless costs only a less helpful message.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	n = strings.NewReplacer("_", "", "-", "", ".", "").Replace(n)
	for _, s := range []string{"pass", "pwd", "secret", "token", "credential", "apikey", "accesskey", "privatekey", "sessionkey", "auth"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// redactQuery masks the values of secret parameters in a raw query,
// leaving every other byte as it was: re-encoding would change how the
// URL reads, and a part that does not parse is kept rather than dropped.
func redactQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	parts := strings.Split(rawQuery, "&")
	for i, p := range parts {
		k, _, hasValue := strings.Cut(p, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		switch {
		case !hasValue:
		case secretParam(key):
			parts[i] = k + "=" + mask
		default:
			// A parameter that is itself a URL, such as an emulator's
			// endpoint, can carry a password of its own.
			_, v, _ := strings.Cut(p, "=")
			if nested, ok := nestedPassword(v); ok {
				parts[i] = k + "=" + strings.ReplaceAll(v, nested, mask)
			}
		}
	}
	return strings.Join(parts, "&")
}

// nestedPassword returns the password of a URL given as a query value,
// as it is written there (escaped or not).
func nestedPassword(value string) (string, bool) {
	for _, v := range []string{value, unescapeOr(value)} {
		_, rest, ok := strings.Cut(v, "://")
		if !ok {
			continue
		}
		// The last "@" rather than the end of the authority: a password
		// with an unescaped "/" would otherwise hide; masking a path with
		// it is the safe mistake.
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			continue
		}
		if _, pass, ok := strings.Cut(rest[:at], ":"); ok && pass != "" {
			if strings.Contains(value, pass) {
				return pass, true
			}
			if esc := url.QueryEscape(pass); strings.Contains(value, esc) {
				return esc, true
			}
		}
	}
	return "", false
}

func unescapeOr(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// keywordSecret finds "name=value" pairs with a secret name in text that
// is not a URL, such as a libpq keyword string ("host=db password=x")
// given where a URL was expected.
var keywordSecret = regexp.MustCompile(`(?i)([a-z0-9_.-]*(?:pass|pwd|secret|token|credential|api_?key|access_?key|auth)[a-z0-9_.-]*)\s*=\s*((?:'[^']*'?|"[^"]*"?|[^\s'"])*)`)

// Redact returns rawURL with every secret replaced by "xxxxx", for
// messages and logs: the password of the user information, and the value
// of every query parameter whose name says it holds a secret (password,
// sslpassword, a token, an access key...), whatever the scheme.
// Something that does not parse as a URL but holds an "@", such as a
// driver DSN "user:password@tcp(host)/db" given by mistake, is replaced by
// "…" entirely, since its password could be anywhere; "name=value" pairs
// with a secret name are masked in anything else.
func Redact(rawURL string) string {
	scheme, rest, hasScheme := strings.Cut(rawURL, ":")
	hasScheme = hasScheme && validScheme(scheme)
	switch {
	case hasScheme && strings.HasPrefix(rest, "//") && !strings.HasPrefix(rest, "///"):
		if u, err := url.Parse(rawURL); err == nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), mask)
			}
			u.RawQuery = redactQuery(u.RawQuery)
			u.Fragment, u.RawFragment = "", ""
			return u.String()
		}
	case hasScheme && isFileScheme(scheme):
		// A path and no authority, so no user information: only the query
		// can hold a secret.
		path, query, hasQuery := strings.Cut(rawURL, "?")
		if !hasQuery {
			return path
		}
		return path + "?" + redactQuery(query)
	}
	if strings.Contains(rawURL, "@") {
		return "…"
	}
	return keywordSecret.ReplaceAllString(rawURL, "${1}="+mask)
}

// validScheme reports whether s is a URL scheme (RFC 3986 section 3.1),
// so that "host=db password=x" is not taken for one.
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// isFileScheme reports whether scheme names a store in a file or in
// memory, whose URLs have a path and no host.
func isFileScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "memory", "sqlite", "sqlite3":
		return true
	}
	return false
}

// secretsOf returns the secret strings in rawURL: the user information's
// password and the values of secret parameters, each as written and
// unescaped, so that an error from a driver that quotes one of them can be
// scrubbed before anyone prints it.
func secretsOf(rawURL string) []string {
	var out []string
	add := func(raw string) {
		if raw == "" {
			return
		}
		out = append(out, raw)
		if un, err := url.QueryUnescape(raw); err == nil && un != raw && un != "" {
			out = append(out, un)
		}
		if un, err := url.PathUnescape(raw); err == nil && un != raw && un != "" {
			out = append(out, un)
		}
	}
	_, query, _ := strings.Cut(rawURL, "?")
	for p := range strings.SplitSeq(query, "&") {
		k, v, ok := strings.Cut(p, "=")
		if key, err := url.QueryUnescape(k); ok && (secretParam(k) || err == nil && secretParam(key)) {
			add(v)
		} else if nested, ok := nestedPassword(v); ok {
			add(nested)
		}
	}
	// The password of the user information, also from a URL that does
	// not parse: what lies between the first ":" after "//" and the last
	// "@" before the path.
	if _, rest, ok := strings.Cut(rawURL, "//"); ok {
		authority, _, _ := strings.Cut(rest, "/")
		authority, _, _ = strings.Cut(authority, "?")
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			if _, pass, ok := strings.Cut(authority[:at], ":"); ok {
				add(pass)
			}
		}
	}
	for _, m := range keywordSecret.FindAllStringSubmatch(rawURL, -1) {
		add(strings.Trim(m[2], `'"`))
	}
	return out
}

// scrub returns s with every secret replaced by "xxxxx", longest first so
// that a secret containing another is masked whole. Masks already in s are
// left alone, so that scrubbing twice, or a secret made of x's, cannot
// stretch them.
func scrub(s string, secrets []string) string {
	if len(secrets) == 0 {
		return s
	}
	// One Replacer makes a single pass, so a mask it inserts is never
	// matched again by a shorter secret.
	var oldnew []string
	for _, sec := range longestFirst(secrets) {
		oldnew = append(oldnew, sec, mask)
	}
	r := strings.NewReplacer(oldnew...)
	parts := strings.Split(s, mask)
	for i, p := range parts {
		parts[i] = r.Replace(p)
	}
	return strings.Join(parts, mask)
}

func longestFirst(ss []string) []string {
	out := slices.Clone(ss)
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// rewordedError is an error with a message of its own, such as one with
// the URL's secrets masked; errors.Is and errors.As still see the error it
// wraps.
type rewordedError struct {
	msg string
	err error
}

func (e *rewordedError) Error() string { return e.msg }
func (e *rewordedError) Unwrap() error { return e.err }

// scrubError masks the secrets of rawURL in err's message: drivers quote
// connection strings in their errors, and a caller prints what Open
// returns.
func scrubError(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := scrub(msg, secretsOf(rawURL)); clean != msg {
		return &rewordedError{msg: clean, err: err}
	}
	return err
}
