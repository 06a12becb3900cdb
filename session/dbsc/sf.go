package dbsc

import (
	"fmt"
	"strconv"
	"strings"
)

// This file holds the small part of Structured Field Values (RFC 9651)
// that DBSC uses: lists whose members are items or inner lists, with
// parameters, and the bare item types string, token, integer and boolean.
// Decimals and byte sequences never appear in DBSC headers; a field that
// holds one is refused as malformed rather than half-parsed.

// sfItem is a bare item: exactly one of its fields is meaningful, as kind
// says.
type sfItem struct {
	kind sfKind
	str  string // string and token
	num  int64
	b    bool
}

type sfKind uint8

const (
	sfString sfKind = iota + 1
	sfToken
	sfInteger
	sfBoolean
)

// sfParam is one parameter, in the order it appeared. A key given twice
// keeps its last value, as RFC 9651 section 4.2.3.2 says.
type sfParam struct {
	key string
	val sfItem
}

type sfParams []sfParam

func (ps sfParams) get(key string) (sfItem, bool) {
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].key == key {
			return ps[i].val, true
		}
	}
	return sfItem{}, false
}

// sfMember is a list member: an item, or an inner list when inner is set.
type sfMember struct {
	isInner bool
	item    sfItem
	inner   []sfItem // the inner list's items; their parameters are dropped
	params  sfParams
}

// maxFieldSize bounds every header this package parses: DBSC values are
// a few hundred bytes, an RSA proof a little over a kilobyte.
const maxFieldSize = 16 << 10

type sfParser struct {
	s   string
	pos int
}

func (p *sfParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: structured field at byte %d: %s", ErrMalformed, p.pos, fmt.Sprintf(format, args...))
}

func (p *sfParser) skipSP() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

func (p *sfParser) skipOWS() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// parseSFList parses a List field (RFC 9651 section 4.2.1). Several field
// lines of one header are joined with ", " by the caller, as section 4.2
// requires.
func parseSFList(s string) ([]sfMember, error) {
	if len(s) > maxFieldSize {
		return nil, fmt.Errorf("%w: field of %d bytes", ErrMalformed, len(s))
	}
	p := &sfParser{s: s}
	p.skipSP()
	var out []sfMember
	for p.pos < len(p.s) {
		m, err := p.member()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		p.skipOWS()
		if p.pos == len(p.s) {
			return out, nil
		}
		if p.s[p.pos] != ',' {
			return nil, p.errorf("expected ',' between members")
		}
		p.pos++
		p.skipOWS()
		if p.pos == len(p.s) {
			return nil, p.errorf("trailing ','")
		}
	}
	return out, nil
}

// parseSFItem parses an Item field (RFC 9651 section 4.2.3).
func parseSFItem(s string) (sfItem, sfParams, error) {
	if len(s) > maxFieldSize {
		return sfItem{}, nil, fmt.Errorf("%w: field of %d bytes", ErrMalformed, len(s))
	}
	p := &sfParser{s: s}
	p.skipSP()
	it, err := p.bareItem()
	if err != nil {
		return sfItem{}, nil, err
	}
	params, err := p.params()
	if err != nil {
		return sfItem{}, nil, err
	}
	p.skipSP()
	if p.pos != len(p.s) {
		return sfItem{}, nil, p.errorf("trailing characters")
	}
	return it, params, nil
}

func (p *sfParser) member() (sfMember, error) {
	if p.pos < len(p.s) && p.s[p.pos] == '(' {
		p.pos++
		var inner []sfItem
		for {
			p.skipSP()
			if p.pos == len(p.s) {
				return sfMember{}, p.errorf("unterminated inner list")
			}
			if p.s[p.pos] == ')' {
				p.pos++
				break
			}
			it, err := p.bareItem()
			if err != nil {
				return sfMember{}, err
			}
			if _, err := p.params(); err != nil {
				return sfMember{}, err
			}
			inner = append(inner, it)
			if p.pos < len(p.s) && p.s[p.pos] != ' ' && p.s[p.pos] != ')' {
				return sfMember{}, p.errorf("expected ' ' or ')' in inner list")
			}
		}
		params, err := p.params()
		if err != nil {
			return sfMember{}, err
		}
		return sfMember{isInner: true, inner: inner, params: params}, nil
	}
	it, err := p.bareItem()
	if err != nil {
		return sfMember{}, err
	}
	params, err := p.params()
	if err != nil {
		return sfMember{}, err
	}
	return sfMember{item: it, params: params}, nil
}

func (p *sfParser) params() (sfParams, error) {
	var out sfParams
	for p.pos < len(p.s) && p.s[p.pos] == ';' {
		p.pos++
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		val := sfItem{kind: sfBoolean, b: true}
		if p.pos < len(p.s) && p.s[p.pos] == '=' {
			p.pos++
			if val, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		out = append(out, sfParam{key: key, val: val})
	}
	return out, nil
}

func (p *sfParser) key() (string, error) {
	start := p.pos
	if p.pos == len(p.s) || !(isLCAlpha(p.s[p.pos]) || p.s[p.pos] == '*') {
		return "", p.errorf("expected a key")
	}
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if !(isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.pos++
	}
	return p.s[start:p.pos], nil
}

func (p *sfParser) bareItem() (sfItem, error) {
	if p.pos == len(p.s) {
		return sfItem{}, p.errorf("expected an item")
	}
	c := p.s[p.pos]
	switch {
	case c == '"':
		return p.str()
	case c == '-' || isDigit(c):
		return p.integer()
	case c == '?':
		if p.pos+1 < len(p.s) && (p.s[p.pos+1] == '0' || p.s[p.pos+1] == '1') {
			p.pos += 2
			return sfItem{kind: sfBoolean, b: p.s[p.pos-1] == '1'}, nil
		}
		return sfItem{}, p.errorf("bad boolean")
	case isAlpha(c) || c == '*':
		start := p.pos
		p.pos++
		for p.pos < len(p.s) && (isTChar(p.s[p.pos]) || p.s[p.pos] == ':' || p.s[p.pos] == '/') {
			p.pos++
		}
		return sfItem{kind: sfToken, str: p.s[start:p.pos]}, nil
	}
	return sfItem{}, p.errorf("unsupported item starting with %q", c)
}

func (p *sfParser) str() (sfItem, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == '\\':
			if p.pos == len(p.s) || (p.s[p.pos] != '"' && p.s[p.pos] != '\\') {
				return sfItem{}, p.errorf("bad escape in string")
			}
			b.WriteByte(p.s[p.pos])
			p.pos++
		case c == '"':
			return sfItem{kind: sfString, str: b.String()}, nil
		case c < 0x20 || c > 0x7e:
			return sfItem{}, p.errorf("character %#x in string", c)
		default:
			b.WriteByte(c)
		}
	}
	return sfItem{}, p.errorf("unterminated string")
}

func (p *sfParser) integer() (sfItem, error) {
	start := p.pos
	if p.s[p.pos] == '-' {
		p.pos++
	}
	digits := p.pos
	for p.pos < len(p.s) && isDigit(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == digits || p.pos-digits > 15 {
		return sfItem{}, p.errorf("bad integer")
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		return sfItem{}, p.errorf("decimals are not used by DBSC")
	}
	n, err := strconv.ParseInt(p.s[start:p.pos], 10, 64)
	if err != nil {
		return sfItem{}, p.errorf("bad integer")
	}
	return sfItem{kind: sfInteger, num: n}, nil
}

// sfQuote serializes s as an sf-string. It fails on characters an
// sf-string cannot carry (controls and non-ASCII).
func sfQuote(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("%w: character %#x cannot appear in a structured string", ErrMalformed, c)
		}
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String(), nil
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

// isTChar reports whether c is a token character (RFC 9110 section 5.6.2).
func isTChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
