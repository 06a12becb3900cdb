package dbsc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Instructions are the JSON session instructions (section 8.6) that the
// registration endpoint returns, and the refresh endpoint may return to
// change the session. Marshal them with encoding/json.
type Instructions struct {
	// SessionIdentifier names the session within its site; the browser
	// sends it back in Sec-Secure-Session-Id. Required unless Terminate.
	SessionIdentifier string `json:"session_identifier,omitempty"`
	// RefreshURL is where the browser refreshes, absolute or relative to
	// the endpoint that answered; empty means that endpoint.
	RefreshURL string `json:"refresh_url,omitempty"`
	// Terminate, when true, is sent as "continue": false: the browser
	// deletes the session and its key. Nothing else is then required.
	Terminate bool `json:"-"`
	// Scope says which requests need the bound cookies.
	Scope Scope `json:"scope"`
	// Credentials are the bound cookies. Required unless Terminate.
	Credentials []Credential `json:"credentials"`
	// AllowedRefreshInitiators lists host patterns ("example.com",
	// "*.example.com") of other sites whose requests may trigger a
	// refresh.
	AllowedRefreshInitiators []string `json:"allowed_refresh_initiators,omitempty"`
}

// Scope is the "scope" member of the instructions.
type Scope struct {
	// Origin is the origin the session covers; empty means the origin of
	// the endpoint that answered.
	Origin string `json:"origin,omitempty"`
	// IncludeSite widens the scope from the origin to its whole site; it
	// needs the origin's host to be the site itself, or a
	// /.well-known/device-bound-sessions entry listing the origin.
	IncludeSite bool `json:"include_site"`
	// Rules refine the scope, the last matching rule winning.
	Rules []ScopeRule `json:"scope_specification,omitempty"`
}

// ScopeRule includes or excludes requests by host pattern and path.
type ScopeRule struct {
	Type   string `json:"type"` // "include" or "exclude"
	Domain string `json:"domain,omitempty"`
	Path   string `json:"path,omitempty"`
}

// Credential is one bound cookie.
type Credential struct {
	Type string `json:"type"` // always "cookie"
	Name string `json:"name"`
	// Attributes are the cookie's attributes as in Set-Cookie (Domain,
	// Path, Secure, HttpOnly, SameSite); the browser refreshes when a
	// request that would carry such a cookie lacks it.
	Attributes string `json:"attributes,omitempty"`
}

// CookieCredential describes c as a bound-cookie credential: its name and
// the attributes that decide which requests carry it. Max-Age and Expires
// play no part, as the specification says; Partitioned cookies cannot be
// bound and are refused with ErrMalformed.
func CookieCredential(c *http.Cookie) (Credential, error) {
	if c.Name == "" {
		return Credential{}, fmt.Errorf("%w: cookie has no name", ErrMalformed)
	}
	if c.Partitioned {
		return Credential{}, fmt.Errorf("%w: a bound cookie cannot be Partitioned", ErrMalformed)
	}
	var attrs []string
	if c.Domain != "" {
		attrs = append(attrs, "Domain="+c.Domain)
	}
	path := c.Path
	if path == "" {
		path = "/"
	}
	attrs = append(attrs, "Path="+path)
	if c.Secure {
		attrs = append(attrs, "Secure")
	}
	if c.HttpOnly {
		attrs = append(attrs, "HttpOnly")
	}
	switch c.SameSite {
	case http.SameSiteLaxMode:
		attrs = append(attrs, "SameSite=Lax")
	case http.SameSiteStrictMode:
		attrs = append(attrs, "SameSite=Strict")
	case http.SameSiteNoneMode:
		attrs = append(attrs, "SameSite=None")
	}
	return Credential{Type: "cookie", Name: c.Name, Attributes: strings.Join(attrs, "; ")}, nil
}

// Validate checks what the specification requires of instructions a
// browser will accept: an identifier and at least one cookie credential
// with a name and without Partitioned, rule types "include" or
// "exclude". Terminating instructions need nothing.
func (in Instructions) Validate() error {
	if in.Terminate {
		return nil
	}
	if in.SessionIdentifier == "" {
		return fmt.Errorf("%w: instructions need a session_identifier", ErrMalformed)
	}
	if len(in.Credentials) == 0 {
		return fmt.Errorf("%w: instructions need credentials", ErrMalformed)
	}
	for _, c := range in.Credentials {
		if c.Type != "cookie" || c.Name == "" {
			return fmt.Errorf("%w: a credential must be a named cookie", ErrMalformed)
		}
		for _, a := range strings.Split(c.Attributes, ";") {
			if strings.EqualFold(strings.TrimSpace(a), "Partitioned") {
				return fmt.Errorf("%w: credential %q is Partitioned", ErrMalformed, c.Name)
			}
		}
	}
	for _, r := range in.Scope.Rules {
		if r.Type != "include" && r.Type != "exclude" {
			return fmt.Errorf("%w: scope rule type %q", ErrMalformed, r.Type)
		}
	}
	return nil
}

// MarshalJSON writes the instructions; terminating ones are exactly
// {"continue":false}.
func (in Instructions) MarshalJSON() ([]byte, error) {
	if in.Terminate {
		return []byte(`{"continue":false}`), nil
	}
	type plain Instructions
	if in.Credentials == nil {
		in.Credentials = []Credential{}
	}
	return json.Marshal(plain(in))
}

// ParseInstructions reads session instructions as a browser does: a JSON
// object, "continue": false meaning Terminate, and otherwise the members
// Validate requires. The test client uses it.
func ParseInstructions(data []byte) (Instructions, error) {
	if len(data) > maxFieldSize {
		return Instructions{}, fmt.Errorf("%w: instructions of %d bytes", ErrMalformed, len(data))
	}
	members, err := objectMembers(data)
	if err != nil {
		return Instructions{}, fmt.Errorf("%w: instructions: %v", ErrMalformed, err)
	}
	if raw, ok := members["continue"]; ok {
		var cont bool
		if err := json.Unmarshal(raw, &cont); err != nil {
			return Instructions{}, fmt.Errorf("%w: continue is not a boolean", ErrMalformed)
		}
		if !cont {
			return Instructions{Terminate: true}, nil
		}
	}
	type plain Instructions
	var in plain
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&in); err != nil {
		return Instructions{}, fmt.Errorf("%w: instructions: %v", ErrMalformed, err)
	}
	if _, ok := members["scope"]; !ok {
		return Instructions{}, fmt.Errorf("%w: instructions need a scope", ErrMalformed)
	}
	out := Instructions(in)
	if err := out.Validate(); err != nil {
		return Instructions{}, err
	}
	return out, nil
}
