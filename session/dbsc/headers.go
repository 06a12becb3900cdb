package dbsc

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Header field names, as the specification spells them.
const (
	// HeaderRegistration is the response header that offers a browser a
	// new device-bound session (a List of inner lists of algorithms).
	HeaderRegistration = "Secure-Session-Registration"
	// HeaderChallenge is the response header that gives a browser the
	// challenge to sign next for one of its sessions (a List of strings
	// with an "id" parameter).
	HeaderChallenge = "Secure-Session-Challenge"
	// HeaderResponse is the request header that carries a proof: the JWT
	// a browser signed with the session's key.
	HeaderResponse = "Secure-Session-Response"
	// HeaderSessionID is the request header that names the session a
	// refresh request is for.
	HeaderSessionID = "Sec-Secure-Session-Id"
	// HeaderSkipped is the request header by which a browser says it sent
	// a request without a session's bound cookie on purpose.
	HeaderSkipped = "Secure-Session-Skipped"
)

// Errors callers branch on. Every error this package returns wraps one of
// them; its message says what exactly was wrong.
var (
	// ErrMalformed: a header, proof, key or instruction that does not
	// parse, or lacks what the specification requires.
	ErrMalformed = errors.New("dbsc: malformed")
	// ErrAlgorithm: a proof signed with an algorithm that was not offered
	// or that does not match the session's key.
	ErrAlgorithm = errors.New("dbsc: algorithm not allowed")
	// ErrKey: a public key this package refuses to trust (an RSA modulus
	// under 2048 bits, an exponent other than 65537, a point off P-256).
	ErrKey = errors.New("dbsc: unacceptable key")
	// ErrSignature: a proof whose signature does not verify.
	ErrSignature = errors.New("dbsc: bad signature")
	// ErrChallenge: a challenge this server did not issue for this
	// session, or that was altered.
	ErrChallenge = errors.New("dbsc: unknown challenge")
	// ErrExpired: a challenge older than its lifetime.
	ErrExpired = errors.New("dbsc: challenge expired")
	// ErrReplayed: a challenge issued no later than one already answered
	// for the session.
	ErrReplayed = errors.New("dbsc: challenge already answered")
	// ErrAuthorization: a registration proof whose authorization claim
	// differs from the one the server offered.
	ErrAuthorization = errors.New("dbsc: authorization mismatch")
)

// Registration is one offer of a device-bound session, sent in a
// Secure-Session-Registration response header.
type Registration struct {
	// Algorithms the server accepts for the session key, in order of
	// preference. Empty means ES256 then RS256.
	Algorithms []Algorithm
	// Path of the registration endpoint, relative to the response's URL
	// or absolute; it must be same-site with the page. Required.
	Path string
	// Challenge the browser must sign in its registration proof (the
	// proof's "jti" claim). Chrome registers without one, but then a
	// proof is only as fresh as the browser says; servers should always
	// send one from a Challenger.
	Challenge string
	// Authorization, when not empty, is copied by the browser into the
	// proof's "authorization" claim and into an Authorization request
	// header, to tie the registration to a preceding login.
	Authorization string
}

// HeaderValue serializes r as the value of a Secure-Session-Registration
// header, for example
//
//	(ES256 RS256);path="/dbsc/register";challenge="..."
//
// It fails with ErrMalformed when Path is empty, an algorithm is unknown,
// or a value holds a character a structured string cannot carry.
func (r Registration) HeaderValue() (string, error) {
	if r.Path == "" {
		return "", fmt.Errorf("%w: registration needs a path", ErrMalformed)
	}
	algs := r.Algorithms
	if len(algs) == 0 {
		algs = []Algorithm{ES256, RS256}
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, a := range algs {
		if !a.valid() {
			return "", fmt.Errorf("%w: algorithm %q", ErrMalformed, string(a))
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(a))
	}
	b.WriteByte(')')
	for _, p := range []struct{ key, val string }{
		{"path", r.Path}, {"challenge", r.Challenge}, {"authorization", r.Authorization},
	} {
		if p.val == "" {
			continue
		}
		q, err := sfQuote(p.val)
		if err != nil {
			return "", err
		}
		b.WriteString(";" + p.key + "=" + q)
	}
	return b.String(), nil
}

// ChallengeHeaderValue serializes one Secure-Session-Challenge member,
// "challenge";id="sessionID". A server sends it with a 403 from the
// refresh endpoint to ask for a proof, or on any response to let the
// browser sign ahead of the next refresh.
func ChallengeHeaderValue(challenge, sessionID string) (string, error) {
	if challenge == "" || sessionID == "" {
		return "", fmt.Errorf("%w: a challenge header needs a challenge and a session identifier", ErrMalformed)
	}
	c, err := sfQuote(challenge)
	if err != nil {
		return "", err
	}
	id, err := sfQuote(sessionID)
	if err != nil {
		return "", err
	}
	return c + ";id=" + id, nil
}

// fieldValue joins the lines of a header as RFC 9651 section 4.2 says.
func fieldValue(h http.Header, name string) (string, bool) {
	v := h.Values(name)
	if len(v) == 0 {
		return "", false
	}
	return strings.Join(v, ", "), true
}

// stringOrToken reads a header the specification defines as an
// sf-string. Chrome 156 sends Sec-Secure-Session-Id and
// Secure-Session-Response without quotes, which parses as an sf-token;
// both forms are accepted, parameters are ignored as the specification
// says, and anything else is ErrMalformed.
func stringOrToken(h http.Header, name string) (string, error) {
	v, ok := fieldValue(h, name)
	if !ok {
		return "", fmt.Errorf("%w: no %s header", ErrMalformed, name)
	}
	it, _, err := parseSFItem(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if (it.kind != sfString && it.kind != sfToken) || it.str == "" {
		return "", fmt.Errorf("%w: %s is not a string", ErrMalformed, name)
	}
	return it.str, nil
}

// SessionID returns the session identifier of a refresh request, from its
// Sec-Secure-Session-Id header. The value is untrusted: look it up, never
// act on it before a proof verifies.
func SessionID(h http.Header) (string, error) {
	return stringOrToken(h, HeaderSessionID)
}

// ResponseProof returns the proof JWT of a registration or refresh
// request, from its Secure-Session-Response header, without checking it.
func ResponseProof(h http.Header) (string, error) {
	return stringOrToken(h, HeaderResponse)
}

// ParseRegistrations reads the Secure-Session-Registration headers of a
// response as a browser does (section 7.9 of the specification): members
// that are not inner lists, that lack a string path, or whose challenge
// or authorization is not a string are skipped; algorithms this package
// does not know are dropped. It fails only when the field does not parse.
// The test client uses it; servers never need it.
func ParseRegistrations(h http.Header) ([]Registration, error) {
	v, ok := fieldValue(h, HeaderRegistration)
	if !ok {
		return nil, nil
	}
	members, err := parseSFList(v)
	if err != nil {
		return nil, err
	}
	var out []Registration
	for _, m := range members {
		if !m.isInner {
			continue
		}
		path, ok := m.params.get("path")
		if !ok || path.kind != sfString {
			continue
		}
		r := Registration{Path: path.str}
		skip := false
		for _, k := range []string{"challenge", "authorization"} {
			it, ok := m.params.get(k)
			if !ok {
				continue
			}
			if it.kind != sfString {
				skip = true
				break
			}
			if k == "challenge" {
				r.Challenge = it.str
			} else {
				r.Authorization = it.str
			}
		}
		if skip {
			continue
		}
		for _, a := range m.inner {
			if a.kind == sfToken && Algorithm(a.str).valid() {
				r.Algorithms = append(r.Algorithms, Algorithm(a.str))
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// Challenge is one member of a Secure-Session-Challenge header.
type Challenge struct {
	Value     string
	SessionID string
}

// ParseChallenges reads the Secure-Session-Challenge headers of a
// response as a browser does (section 7.6): members that are not strings
// or lack a string "id" parameter are skipped. The test client uses it.
func ParseChallenges(h http.Header) ([]Challenge, error) {
	v, ok := fieldValue(h, HeaderChallenge)
	if !ok {
		return nil, nil
	}
	members, err := parseSFList(v)
	if err != nil {
		return nil, err
	}
	var out []Challenge
	for _, m := range members {
		if m.isInner || m.item.kind != sfString {
			continue
		}
		id, ok := m.params.get("id")
		if !ok || id.kind != sfString {
			continue
		}
		out = append(out, Challenge{Value: m.item.str, SessionID: id.str})
	}
	return out, nil
}
