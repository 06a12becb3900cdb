package cookie

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Value is a cookie that holds one Go value of type T, encoded as JSON and
// then sealed or signed by Codec. Declare one per cookie, typically as a
// package-level variable or a field of the application's server struct,
// so that Set, Get and Delete always agree on the name, attributes and
// codec.
//
// A Value is safe for concurrent use if its Codec is, as *Sealer and
// *Signer are.
type Value[T any] struct {
	// Name is the cookie's name. Prefer the "__Host-" prefix with the
	// default attributes: it stops subdomains and plain-HTTP pages from
	// planting a cookie of the same name.
	Name string

	// Codec seals (*Sealer) or signs (*Signer) the encoded value.
	Codec Codec

	// Attributes are the cookie's attributes; the zero value is secure.
	Attributes Attributes

	// MaxAge is how long a value lasts from the moment Set issues it. It
	// is enforced twice: by the browser through the cookie's Max-Age, and
	// by the server through the expiry inside the value. It must be
	// positive.
	MaxAge time.Duration

	// BrowserSession sends the cookie without Max-Age or Expires, so the
	// browser forgets it when it closes. The value still expires MaxAge
	// after Set, for browsers that restore sessions on restart.
	BrowserSession bool
}

// Set encodes v and adds its Set-Cookie header to w. It must be called
// before the response's headers are written. It returns an error wrapping
// ErrTooLarge if the cookie would not fit in MaxSize bytes, or ErrInvalid
// for an invalid name, attributes or MaxAge, a nil Codec, or a v that
// encoding/json cannot encode (wrapping its error too). On error it adds
// no header.
func (c *Value[T]) Set(w http.ResponseWriter, v T) error {
	if c.Codec == nil {
		return errorf(ErrInvalid, c.Name, "Value has no Codec")
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %q: encode: %w", ErrInvalid, c.Name, err)
	}
	value, err := c.Codec.Encode(c.Name, data, c.MaxAge)
	if err != nil {
		return err
	}
	maxAge := c.MaxAge
	if c.BrowserSession {
		maxAge = 0
	}
	ck, err := c.Attributes.Cookie(c.Name, value, maxAge)
	if err != nil {
		return err
	}
	w.Header().Add("Set-Cookie", ck.String())
	return nil
}

// Get returns the value of the request's cookie named c.Name. stale
// reports that it was encoded with an old key: call Set with it to
// re-issue it under the current key (which also starts a new MaxAge).
//
// A request may carry several cookies of one name (set for different
// paths or by a sibling subdomain); Get returns the first that decodes.
// When none does, it returns the zero T and an error: one wrapping
// http.ErrNoCookie if there is no such cookie, otherwise the first
// cookie's error, wrapping ErrInvalid (tampered, malformed, or not JSON
// for a T), ErrExpired or ErrUnknownKey. Treat every error as "no value".
func (c *Value[T]) Get(r *http.Request) (v T, stale bool, err error) {
	if c.Codec == nil {
		return v, false, errorf(ErrInvalid, c.Name, "Value has no Codec")
	}
	var first error
	for _, ck := range r.CookiesNamed(c.Name) {
		data, st, err := c.Codec.Decode(c.Name, ck.Value)
		if err == nil {
			var out T
			if err = json.Unmarshal(data, &out); err == nil {
				return out, st, nil
			}
			err = fmt.Errorf("%w: %q: decode: %w", ErrInvalid, c.Name, err)
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = errorf(http.ErrNoCookie, c.Name, "not in request")
	}
	return v, false, first
}

// Delete adds to w the Set-Cookie header that removes the cookie from the
// browser. It returns an error only for an invalid name or attributes.
func (c *Value[T]) Delete(w http.ResponseWriter) error {
	ck, err := c.Attributes.Expire(c.Name)
	if err != nil {
		return err
	}
	w.Header().Add("Set-Cookie", ck.String())
	return nil
}
