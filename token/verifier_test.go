package token

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/httpstate/httpstate/observe"
)

func TestIssuedTokensVerifyWithEveryAlgorithm(t *testing.T) {
	for _, k := range []testKey{edKey(t), ecKey(t), rsaKey(t, 0), hsKey(t)} {
		t.Run(string(k.alg), func(t *testing.T) {
			ks := NewKeySet(k.Key)
			tok, err := newIssuer(ks).Issue(t.Context(), "user-7", map[string]any{"scope": "orders:read", "tenant": 42})
			if err != nil {
				t.Fatal(err)
			}
			c, err := newVerifier(ks, k.alg).Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "user-7" || c.Issuer != testIssuer || len(c.Audience) != 1 || c.Audience[0] != testAudience {
				t.Errorf("claims = %+v", c)
			}
			if c.Extra["tenant"] != json.Number("42") || !c.HasScope("orders:read") || c.HasScope("orders") {
				t.Errorf("custom claims = %#v", c.Extra)
			}
			if c.ID == "" || c.IssuedAt.IsZero() || c.NotBefore.IsZero() || c.Expiry.Sub(c.IssuedAt) != DefaultTTL {
				t.Errorf("jti/iat/nbf/exp = %q %v %v %v", c.ID, c.IssuedAt, c.NotBefore, c.Expiry)
			}
			hdr, _, err := parseHeader(tok)
			if err != nil || hdr.kid != k.ID() || hdr.typ != "at+jwt" || hdr.alg != string(k.alg) {
				t.Errorf("header = %+v, %v", hdr, err)
			}
		})
	}
}

func TestIssueRejectsRegisteredClaimsInExtra(t *testing.T) {
	is := newIssuer(NewKeySet(edKey(t).Key))
	for _, name := range registered {
		if _, err := is.Issue(t.Context(), "u", map[string]any{name: "x"}); err == nil {
			t.Errorf("Issue with extra[%q] succeeded", name)
		}
	}
}

func TestNewIssuerChecksItsOptionsOnce(t *testing.T) {
	ks := NewKeySet(edKey(t).Key)
	for name, c := range map[string]struct {
		keys *KeySet
		opts IssuerOptions
	}{
		"no keys":             {nil, IssuerOptions{Issuer: testIssuer, Audience: []string{testAudience}}},
		"no issuer":           {ks, IssuerOptions{Audience: []string{testAudience}}},
		"no audience":         {ks, IssuerOptions{Issuer: testIssuer}},
		"an empty audience":   {ks, IssuerOptions{Issuer: testIssuer, Audience: []string{testAudience, ""}}},
		"a negative lifetime": {ks, IssuerOptions{Issuer: testIssuer, Audience: []string{testAudience}, TTL: -time.Second}},
	} {
		if is, err := NewIssuer(c.keys, c.opts); err == nil || is != nil {
			t.Errorf("%s: NewIssuer = %v, %v; want an error", name, is, err)
		}
	}
	// The key set may lose its current key only by being empty from the
	// start; Issue reports it.
	is, err := NewIssuer(&KeySet{}, IssuerOptions{Issuer: testIssuer, Audience: []string{testAudience}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := is.Issue(t.Context(), "u", nil); err == nil {
		t.Error("Issue with no current key succeeded")
	}
	var zero Issuer
	if _, err := zero.Issue(t.Context(), "u", nil); err == nil {
		t.Error("the zero Issuer issued a token")
	}
	// The options are copied: changing the caller's slice later changes
	// nothing.
	aud := []string{testAudience}
	is, err = NewIssuer(ks, IssuerOptions{Issuer: testIssuer, Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	aud[0] = "https://elsewhere.test"
	tok, err := is.Issue(t.Context(), "u", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newVerifier(ks, EdDSA).Verify(t.Context(), tok); err != nil {
		t.Errorf("after the caller changed its Audience slice: %v", err)
	}
}

// TestVerifyRejects is the catalogue of attacks on JWT verification. Each
// case differs from a token the Verifier accepts (see
// TestVerifyAcceptsTheBaselineToken) in one way, and must be rejected with
// ErrInvalid.
func TestVerifyRejects(t *testing.T) {
	ed, ed2, retired := edKey(t), edKey(t), edKey(t)
	rs := rsaKey(t, 0)
	hs := hsKey(t)
	attacker := edKey(t)

	ks := NewKeySet(ed.Key)
	for _, k := range []*Key{ed2.Key, retired.Key, rs.Key, hs.Key} {
		ks.Add(k)
	}
	oldToken := retired.sign(t, retired.header(), validClaims())
	if err := ks.Retire(retired.ID()); err != nil {
		t.Fatal(err)
	}

	claims := validClaims()
	now := time.Now().Unix()
	valid := ed.sign(t, ed.header(), claims)
	parts := strings.Split(valid, ".")

	rsaPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(&rs.priv.(*rsa.PrivateKey).PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	attackerJWK := jose.JSONWebKey{Key: attacker.priv.(ed25519.PrivateKey).Public(), KeyID: attacker.ID()}

	withHeader := func(kv ...any) string { return ed.sign(t, with(ed.header(), kv...), claims) }
	withClaims := func(kv ...any) string { return ed.sign(t, ed.header(), with(claims, kv...)) }
	rawHeader := func(h string) string { return signRaw(t, EdDSA, ed.priv, []byte(h), mustJSON(t, claims)) }

	cases := []struct {
		name    string
		why     string // what the error must say, proving which check caught it
		token   string
		reason  string           // the Reason of the observe.Verify event
		opts    *VerifierOptions // nil means EdDSA only
		expired bool
	}{
		{name: "alg none", why: `not a compact JWS`, reason: "malformed", token: b64([]byte(`{"alg":"none","kid":"`+ed.ID()+`","typ":"at+jwt"}`)) + "." + parts[1] + "."},
		{name: "alg none with a dummy signature", why: `algorithm "none" is not allowed`, reason: "algorithm", token: b64([]byte(`{"alg":"none","kid":"`+ed.ID()+`","typ":"at+jwt"}`)) + "." + parts[1] + ".AAAA"},
		{name: "alg NONE in capitals", why: `algorithm "NONE" is not allowed`, reason: "algorithm", token: b64([]byte(`{"alg":"NONE","kid":"`+ed.ID()+`","typ":"at+jwt"}`)) + "." + parts[1] + ".AAAA"},
		{
			name:   "RS256 switched to HS256 with the public key as the secret",
			why:    `algorithm "HS256" is not allowed`,
			reason: "algorithm",
			token:  signRaw(t, HS256, rsaPEM, mustJSON(t, with(rs.header(), "alg", "HS256")), mustJSON(t, claims)),
			opts:   &VerifierOptions{Algorithms: []Algorithm{RS256}},
		},
		{
			name:   "RS256 switched to HS256 even when HS256 is allowed",
			why:    `key is for RS256, token says HS256`,
			reason: "algorithm",
			token:  signRaw(t, HS256, rsaPEM, mustJSON(t, with(rs.header(), "alg", "HS256")), mustJSON(t, claims)),
			opts:   &VerifierOptions{Algorithms: []Algorithm{RS256, HS256}},
		},
		{name: "alg that is not the key's own", why: `key is for EdDSA, token says HS256`, reason: "algorithm", token: signRaw(t, HS256, []byte(strings.Repeat("k", 32)), mustJSON(t, with(ed.header(), "alg", "HS256")), mustJSON(t, claims)), opts: &VerifierOptions{Algorithms: []Algorithm{EdDSA, HS256}}},
		{name: "RS256 when only EdDSA is allowed", why: `algorithm "RS256" is not allowed`, reason: "algorithm", token: rs.sign(t, rs.header(), claims)},
		{name: "missing exp", why: `no exp claim`, reason: "claims", token: withClaims("exp", nil)},
		{name: "expired", why: `expired at`, reason: "expired", token: withClaims("exp", now-120), expired: true},
		{name: "expired with no leeway", why: `expired at`, reason: "expired", token: withClaims("exp", now-1), opts: &VerifierOptions{Algorithms: []Algorithm{EdDSA}, Leeway: -1}, expired: true},
		{name: "exp as a string", why: `"exp" is not a valid NumericDate`, reason: "claims", token: withClaims("exp", "4102444800")},
		{name: "exp negative", why: `"exp" is not a valid NumericDate`, reason: "claims", token: withClaims("exp", -1)},
		{name: "nbf in the future", why: `not valid before`, reason: "not_yet_valid", token: withClaims("nbf", now+120)},
		{name: "iat in the future", why: `issued in the future`, reason: "not_yet_valid", token: withClaims("iat", now+120)},
		{name: "wrong iss", why: `wrong issuer`, reason: "issuer", token: withClaims("iss", "https://evil.test")},
		{name: "missing iss", why: `wrong issuer`, reason: "issuer", token: withClaims("iss", nil)},
		{name: "wrong aud", why: `wrong audience`, reason: "audience", token: withClaims("aud", "https://other-api.test")},
		{name: "wrong aud in an array", why: `wrong audience`, reason: "audience", token: withClaims("aud", []string{"https://other-api.test", "x"})},
		{name: "missing aud", why: `wrong audience`, reason: "audience", token: withClaims("aud", nil)},
		{name: "typ JWT", why: `typ "JWT" is not`, reason: "type", token: withHeader("typ", "JWT")},
		{name: "typ of an ID token", why: `typ "id+jwt" is not`, reason: "type", token: withHeader("typ", "id+jwt")},
		{name: "missing typ", why: `typ "" is not`, reason: "type", token: withHeader("typ", nil)},
		{name: "unknown kid", why: `unknown key ID`, reason: "unknown_key", token: withHeader("kid", "no-such-key")},
		{name: "missing kid", why: `no key ID`, reason: "unknown_key", token: withHeader("kid", nil)},
		{name: "injected kid path traversal", why: `unknown key ID`, reason: "unknown_key", token: withHeader("kid", "../../../../dev/null")},
		{name: "injected kid SQL", why: `unknown key ID`, reason: "unknown_key", token: withHeader("kid", "x' UNION SELECT 'secret' --")},
		{name: "kid naming another key of the set", why: `bad signature`, reason: "signature", token: withHeader("kid", ed2.ID())},
		{name: "kid naming the HS256 key", why: `algorithm "HS256" is not allowed`, reason: "algorithm", token: signRaw(t, HS256, hs.priv, mustJSON(t, with(hs.header(), "kid", hs.ID())), mustJSON(t, claims))},
		{name: "attacker jwk header", why: `parameter "jwk" is not allowed`, reason: "header", token: attacker.sign(t, with(attacker.header(), "jwk", attackerJWK), claims)},
		{name: "attacker jwk header with a trusted kid", why: `parameter "jwk" is not allowed`, reason: "header", token: attacker.sign(t, with(ed.header(), "jwk", attackerJWK), claims)},
		{name: "jku header", why: `parameter "jku" is not allowed`, reason: "header", token: withHeader("jku", "https://evil.test/jwks.json")},
		{name: "x5u header", why: `parameter "x5u" is not allowed`, reason: "header", token: withHeader("x5u", "https://evil.test/cert.pem")},
		{name: "x5c header", why: `parameter "x5c" is not allowed`, reason: "header", token: withHeader("x5c", []string{"MIIB"})},
		{name: "crit header", why: `parameter "crit" is not allowed`, reason: "header", token: withHeader("crit", []string{"exp"})},
		{name: "b64 false header", why: `parameter "b64" is not allowed`, reason: "header", token: withHeader("b64", false)},
		{name: "duplicate alg header", why: `repeats "alg"`, reason: "header", token: rawHeader(`{"alg":"EdDSA","alg":"none","kid":"` + ed.ID() + `","typ":"at+jwt"}`)},
		{name: "header in capitals", why: `parameter "ALG" is not allowed`, reason: "header", token: rawHeader(`{"ALG":"EdDSA","kid":"` + ed.ID() + `","typ":"at+jwt"}`)},
		{name: "tampered payload", why: `bad signature`, reason: "signature", token: parts[0] + "." + b64(mustJSON(t, with(claims, "sub", "admin"))) + "." + parts[2]},
		{name: "tampered signature", why: `bad signature`, reason: "signature", token: parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{name: "signature from a retired key", why: `unknown key ID`, reason: "unknown_key", token: oldToken},
		{name: "signature from an untrusted key", why: `bad signature`, reason: "signature", token: attacker.sign(t, ed.header(), claims)},
		{name: "one megabyte of dots", why: `longer than 8192 bytes`, reason: "malformed", token: strings.Repeat(".", 1<<20)},
		{name: "one megabyte of dots under a large MaxSize", why: `not a compact JWS`, reason: "malformed", token: strings.Repeat(".", 1<<20), opts: &VerifierOptions{Algorithms: []Algorithm{EdDSA}, MaxSize: 2 << 20}},
		{name: "longer than MaxSize", why: `longer than 8192 bytes`, reason: "malformed", token: withClaims("pad", strings.Repeat("x", DefaultMaxSize))},
		{name: "JSON serialization", why: `not a compact JWS`, reason: "malformed", token: `{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`},
		{name: "flattened JSON serialization", why: `not a compact JWS`, reason: "malformed", token: `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`},
		{name: "non-canonical base64", why: `not a compact JWS`, reason: "malformed", token: valid[:len(valid)-1] + string(valid[len(valid)-1]+1)},
		{name: "padded base64", why: `not a compact JWS`, reason: "malformed", token: valid + "=="},
		{name: "whitespace inside", why: `not a compact JWS`, reason: "malformed", token: parts[0] + ".\n" + parts[1] + "." + parts[2]},
		{name: "two segments", why: `not a compact JWS`, reason: "malformed", token: parts[0] + "." + parts[1]},
		{name: "four segments", why: `not a compact JWS`, reason: "malformed", token: valid + "." + parts[2]},
		{name: "empty", why: `not a compact JWS`, reason: "malformed", token: ""},
		{name: "claims not an object", why: `malformed claims`, reason: "claims", token: signRaw(t, EdDSA, ed.priv, mustJSON(t, ed.header()), []byte(`["exp"]`))},
		{name: "claims followed by data", why: `data after the claims object`, reason: "claims", token: signRaw(t, EdDSA, ed.priv, mustJSON(t, ed.header()), append(mustJSON(t, claims), []byte(`{}`)...))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := VerifierOptions{Algorithms: []Algorithm{EdDSA}}
			if c.opts != nil {
				opts = *c.opts
			}
			rec := &recorder{}
			opts.Observer = rec
			got, err := mustVerifier(ks, opts).Verify(t.Context(), c.token)
			if !errors.Is(err, ErrInvalid) || got != nil {
				t.Fatalf("Verify = %+v, %v; want ErrInvalid", got, err)
			}
			if !strings.Contains(err.Error(), c.why) {
				t.Errorf("error %q does not say %q", err, c.why)
			}
			if errors.Is(err, ErrExpired) != c.expired {
				t.Errorf("errors.Is(%v, ErrExpired) = %v, want %v", err, !c.expired, c.expired)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error message is %d bytes; it must not echo the token", len(err.Error()))
			}
			rec.wantOne(t, observe.Event{Kind: observe.Verify, Outcome: observe.Rejected, Reason: c.reason}, c.token)
		})
	}
}

// TestVerifyAcceptsTheBaselineToken proves that the hand-signed tokens of
// TestVerifyRejects fail for the reason each case names: the same helpers
// without the change produce a token the Verifier accepts.
func TestVerifyAcceptsTheBaselineToken(t *testing.T) {
	ed, rs := edKey(t), rsaKey(t, 0)
	ks := NewKeySet(ed.Key)
	ks.Add(rs.Key)
	for _, c := range []struct {
		name string
		tok  string
		v    *Verifier
	}{
		{"EdDSA", ed.sign(t, ed.header(), validClaims()), newVerifier(ks, EdDSA)},
		{"RS256", rs.sign(t, rs.header(), validClaims()), newVerifier(ks, RS256)},
		{"typ in capitals", ed.sign(t, with(ed.header(), "typ", "AT+JWT"), validClaims()), newVerifier(ks, EdDSA)},
		{"typ application/at+jwt", ed.sign(t, with(ed.header(), "typ", "application/at+jwt"), validClaims()), newVerifier(ks, EdDSA)},
		{"x5t header", ed.sign(t, with(ed.header(), "x5t", "abc"), validClaims()), newVerifier(ks, EdDSA)},
		{"aud array", ed.sign(t, ed.header(), with(validClaims(), "aud", []string{"other", testAudience})), newVerifier(ks, EdDSA)},
		{"no nbf or iat", ed.sign(t, ed.header(), with(validClaims(), "nbf", nil, "iat", nil)), newVerifier(ks, EdDSA)},
		{"fractional exp", ed.sign(t, ed.header(), with(validClaims(), "exp", float64(time.Now().Unix())+300.5)), newVerifier(ks, EdDSA)},
		{"expired within the leeway", ed.sign(t, ed.header(), with(validClaims(), "exp", time.Now().Unix()-5)), newVerifier(ks, EdDSA)},
		{"nbf within the leeway", ed.sign(t, ed.header(), with(validClaims(), "nbf", time.Now().Unix()+5)), newVerifier(ks, EdDSA)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.v.Verify(t.Context(), c.tok)
			if err != nil || got.Subject != "user-1" {
				t.Fatalf("Verify = %+v, %v", got, err)
			}
		})
	}
}

func TestNewVerifierChecksItsOptionsOnce(t *testing.T) {
	ks := NewKeySet(edKey(t).Key)
	for name, c := range map[string]struct {
		keys KeySource
		opts VerifierOptions
	}{
		"no algorithms":     {ks, VerifierOptions{Issuer: testIssuer, Audience: testAudience}},
		"alg none allowed":  {ks, VerifierOptions{Algorithms: []Algorithm{EdDSA, "none"}, Issuer: testIssuer, Audience: testAudience}},
		"no keys":           {nil, VerifierOptions{Algorithms: []Algorithm{EdDSA}, Issuer: testIssuer, Audience: testAudience}},
		"no issuer":         {ks, VerifierOptions{Algorithms: []Algorithm{EdDSA}, Audience: testAudience}},
		"no audience":       {ks, VerifierOptions{Algorithms: []Algorithm{EdDSA}, Issuer: testIssuer}},
		"leeway of an hour": {ks, VerifierOptions{Algorithms: []Algorithm{EdDSA}, Issuer: testIssuer, Audience: testAudience, Leeway: time.Hour}},
		"negative MaxSize":  {ks, VerifierOptions{Algorithms: []Algorithm{EdDSA}, Issuer: testIssuer, Audience: testAudience, MaxSize: -1}},
	} {
		if v, err := NewVerifier(c.keys, c.opts); err == nil || v != nil {
			t.Errorf("%s: NewVerifier = %v, %v; want an error", name, v, err)
		}
	}
	tok, err := newIssuer(ks).Issue(t.Context(), "u", nil)
	if err != nil {
		t.Fatal(err)
	}
	var zero Verifier
	if _, err := zero.Verify(t.Context(), tok); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("zero Verifier: %v; want a configuration error, not ErrInvalid", err)
	}
	// The allowlist is copied: a caller that changes its slice later
	// cannot widen it.
	algs := []Algorithm{ES256}
	v, err := NewVerifier(ks, VerifierOptions{Algorithms: algs, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	algs[0] = EdDSA
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("an EdDSA token after the caller changed its slice: %v; want ErrInvalid", err)
	}
}

func TestVerifierClock(t *testing.T) {
	ks := NewKeySet(edKey(t).Key)
	is := newIssuer(ks)
	tok, err := is.Issue(t.Context(), "u", nil)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(ks, EdDSA)
	v.now = func() time.Time { return time.Now().Add(DefaultTTL + DefaultLeeway + time.Second) }
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrExpired) {
		t.Errorf("after TTL+leeway: %v; want ErrExpired", err)
	}
	v.now = func() time.Time { return time.Now().Add(DefaultTTL + DefaultLeeway - 5*time.Second) }
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Errorf("within the leeway after exp: %v", err)
	}
}

func TestClaimsJSONRoundTrip(t *testing.T) {
	in := Claims{
		Issuer: "i", Subject: "s", Audience: []string{"a", "b"}, ID: "j",
		Expiry: time.Unix(2000, 0), NotBefore: time.Unix(1000, 0), IssuedAt: time.Unix(1000, 0),
		Extra: map[string]any{"n": json.Number("9007199254740993"), "scope": "x y"},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Claims
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Issuer != "i" || out.Subject != "s" || strings.Join(out.Audience, ",") != "a,b" || out.ID != "j" ||
		!out.Expiry.Equal(in.Expiry) || !out.NotBefore.Equal(in.NotBefore) || !out.IssuedAt.Equal(in.IssuedAt) ||
		out.Extra["n"] != json.Number("9007199254740993") || strings.Join(out.Scopes(), ",") != "x,y" {
		t.Fatalf("round trip: %s -> %+v", b, out)
	}
	for _, bad := range []string{`{"sub":1}`, `{"aud":[1]}`, `{"aud":{}}`, `{"exp":"1"}`, `{"nbf":1e300}`, `{"iat":-5}`, `null`, `[]`, `{} {}`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}
