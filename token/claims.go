package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Claims is the payload of an access token: the registered claims of RFC
// 7519 as typed fields, and every other claim in Extra.
type Claims struct {
	Issuer    string    // "iss": who issued the token
	Subject   string    // "sub": whom it is about, usually a user ID
	Audience  []string  // "aud": who may accept it
	Expiry    time.Time // "exp": not accepted at or after this instant
	NotBefore time.Time // "nbf": not accepted before this instant; zero if absent
	IssuedAt  time.Time // "iat": when it was issued; zero if absent
	ID        string    // "jti": a unique ID, for logging and deny lists

	// Extra holds the other claims. Values decoded from a token keep their
	// JSON shape: strings, bool, nil, json.Number (so large integer IDs stay
	// exact), []any and map[string]any. The "scope" claim, a space-separated
	// list (RFC 9068), is read by Scopes and Bearer.Require.
	Extra map[string]any
}

// registered are the claim names held in Claims' typed fields; Extra may
// not use them.
var registered = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

func isRegistered(name string) bool { return slices.Contains(registered[:], name) }

// Scopes returns the space-separated entries of the "scope" claim, or nil
// if there is none or it is not a string.
func (c *Claims) Scopes() []string {
	s, _ := c.Extra["scope"].(string)
	return strings.Fields(s)
}

// HasScope reports whether the "scope" claim lists scope.
func (c *Claims) HasScope(scope string) bool {
	s, _ := c.Extra["scope"].(string)
	for f := range strings.FieldsSeq(s) {
		if f == scope {
			return true
		}
	}
	return false
}

// MarshalJSON encodes c as a JWT claims set: zero fields are omitted, times
// are whole seconds since the Unix epoch, and a single audience is a plain
// string. It fails if Extra uses a registered claim name.
func (c Claims) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(c.Extra)+len(registered))
	for k, v := range c.Extra {
		if isRegistered(k) {
			return nil, fmt.Errorf("token: claim %q belongs in the typed Claims field, not Extra", k)
		}
		m[k] = v
	}
	putString := func(name, v string) {
		if v != "" {
			m[name] = v
		}
	}
	putTime := func(name string, t time.Time) {
		if !t.IsZero() {
			m[name] = t.Unix()
		}
	}
	putString("iss", c.Issuer)
	putString("sub", c.Subject)
	putString("jti", c.ID)
	putTime("exp", c.Expiry)
	putTime("nbf", c.NotBefore)
	putTime("iat", c.IssuedAt)
	switch len(c.Audience) {
	case 0:
	case 1:
		m["aud"] = c.Audience[0]
	default:
		m["aud"] = c.Audience
	}
	return json.Marshal(m)
}

var errClaims = errors.New("malformed claims")

// UnmarshalJSON decodes a JWT claims set. Registered claims of the wrong
// type (a numeric "sub", a string "exp", a negative or non-finite date)
// are errors rather than silently ignored.
func (c *Claims) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return fmt.Errorf("%w: %w", errClaims, err)
	}
	if m == nil {
		return fmt.Errorf("%w: not a JSON object", errClaims)
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the claims object", errClaims)
	}
	var out Claims
	var err error
	str := func(name string) string {
		v, ok := m[name]
		if !ok {
			return ""
		}
		delete(m, name)
		s, isStr := v.(string)
		if !isStr && err == nil {
			err = fmt.Errorf("%w: %q is not a string", errClaims, name)
		}
		return s
	}
	date := func(name string) time.Time {
		v, ok := m[name]
		if !ok {
			return time.Time{}
		}
		delete(m, name)
		n, isNum := v.(json.Number)
		t, ok := numericDate(n)
		if (!isNum || !ok) && err == nil {
			err = fmt.Errorf("%w: %q is not a valid NumericDate", errClaims, name)
		}
		return t
	}
	out.Issuer = str("iss")
	out.Subject = str("sub")
	out.ID = str("jti")
	out.Expiry = date("exp")
	out.NotBefore = date("nbf")
	out.IssuedAt = date("iat")
	if v, ok := m["aud"]; ok {
		delete(m, "aud")
		switch a := v.(type) {
		case string:
			out.Audience = []string{a}
		case []any:
			out.Audience = make([]string, 0, len(a))
			for _, e := range a {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("%w: \"aud\" holds a non-string", errClaims)
				}
				out.Audience = append(out.Audience, s)
			}
		default:
			return fmt.Errorf("%w: \"aud\" is neither a string nor an array", errClaims)
		}
	}
	if err != nil {
		return err
	}
	if len(m) > 0 {
		out.Extra = m
	}
	*c = out
	return nil
}

// maxNumericDate bounds accepted dates to what float64 and time.Time both
// represent exactly (about the year 285 million; anything near it is an
// attack or a bug, and it avoids overflow in arithmetic on the result).
const maxNumericDate = 1 << 53

// numericDate parses a JSON number of seconds since the epoch, which RFC
// 7519 allows to have a fractional part.
func numericDate(n json.Number) (time.Time, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i < 0 || i > maxNumericDate {
			return time.Time{}, false
		}
		return time.Unix(i, 0), true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}
