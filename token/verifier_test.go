package token

import (
	"context"
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
)

func TestIssuedTokensVerifyWithEveryAlgorithm(t *testing.T) {
	for _, k := range []testKey{edKey(t), ecKey(t), rsaKey(t, 0), hsKey(t)} {
		t.Run(string(k.alg), func(t *testing.T) {
			ks := NewKeySet(k.Key)
			tok, err := newIssuer(ks).Issue("user-7", map[string]any{"scope": "orders:read", "tenant": 42})
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
			hdr, err := parseHeader(tok)
			if err != nil || hdr.kid != k.ID() || hdr.typ != "at+jwt" || hdr.alg != string(k.alg) {
				t.Errorf("header = %+v, %v", hdr, err)
			}
		})
	}
}

func TestIssueRejectsRegisteredClaimsInExtra(t *testing.T) {
	is := newIssuer(NewKeySet(edKey(t).Key))
	for _, name := range registered {
		if _, err := is.Issue("u", map[string]any{name: "x"}); err == nil {
			t.Errorf("Issue with extra[%q] succeeded", name)
		}
	}
}

func TestIssueNeedsConfiguration(t *testing.T) {
	k := edKey(t).Key
	for name, is := range map[string]*Issuer{
		"no keys":        {Issuer: testIssuer, Audience: []string{testAudience}},
		"no issuer":      {Keys: NewKeySet(k), Audience: []string{testAudience}},
		"no audience":    {Keys: NewKeySet(k), Issuer: testIssuer},
		"no current key": {Keys: &KeySet{}, Issuer: testIssuer, Audience: []string{testAudience}},
	} {
		if _, err := is.Issue("u", nil); err == nil {
			t.Errorf("%s: Issue succeeded", name)
		}
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
		name     string
		why      string // what the error must say, proving which check caught it
		token    string
		verifier *Verifier // nil means EdDSA only
		expired  bool
	}{
		{name: "alg none", why: `not a compact JWS`, token: b64([]byte(`{"alg":"none","kid":"`+ed.ID()+`","typ":"at+jwt"}`)) + "." + parts[1] + "."},
		{name: "alg none with a dummy signature", why: `algorithm "none" is not allowed`, token: b64([]byte(`{"alg":"none","kid":"`+ed.ID()+`","typ":"at+jwt"}`)) + "." + parts[1] + ".AAAA"},
		{name: "alg NONE in capitals", why: `algorithm "NONE" is not allowed`, token: b64([]byte(`{"alg":"NONE","kid":"`+ed.ID()+`","typ":"at+jwt"}`)) + "." + parts[1] + ".AAAA"},
		{
			name:     "RS256 switched to HS256 with the public key as the secret",
			why:      `algorithm "HS256" is not allowed`,
			token:    signRaw(t, HS256, rsaPEM, mustJSON(t, with(rs.header(), "alg", "HS256")), mustJSON(t, claims)),
			verifier: newVerifier(ks, RS256),
		},
		{
			name:     "RS256 switched to HS256 even when HS256 is allowed",
			why:      `key is for RS256, token says HS256`,
			token:    signRaw(t, HS256, rsaPEM, mustJSON(t, with(rs.header(), "alg", "HS256")), mustJSON(t, claims)),
			verifier: newVerifier(ks, RS256, HS256),
		},
		{name: "alg that is not the key's own", why: `key is for EdDSA, token says HS256`, token: signRaw(t, HS256, []byte(strings.Repeat("k", 32)), mustJSON(t, with(ed.header(), "alg", "HS256")), mustJSON(t, claims)), verifier: newVerifier(ks, EdDSA, HS256)},
		{name: "RS256 when only EdDSA is allowed", why: `algorithm "RS256" is not allowed`, token: rs.sign(t, rs.header(), claims)},
		{name: "missing exp", why: `no exp claim`, token: withClaims("exp", nil)},
		{name: "expired", why: `expired at`, token: withClaims("exp", now-120), expired: true},
		{name: "expired with no leeway", why: `expired at`, token: withClaims("exp", now-1), verifier: &Verifier{Keys: ks, Algorithms: []Algorithm{EdDSA}, Issuer: testIssuer, Audience: testAudience, Leeway: -1}, expired: true},
		{name: "exp as a string", why: `"exp" is not a valid NumericDate`, token: withClaims("exp", "4102444800")},
		{name: "exp negative", why: `"exp" is not a valid NumericDate`, token: withClaims("exp", -1)},
		{name: "nbf in the future", why: `not valid before`, token: withClaims("nbf", now+120)},
		{name: "iat in the future", why: `issued in the future`, token: withClaims("iat", now+120)},
		{name: "wrong iss", why: `wrong issuer`, token: withClaims("iss", "https://evil.test")},
		{name: "missing iss", why: `wrong issuer`, token: withClaims("iss", nil)},
		{name: "wrong aud", why: `wrong audience`, token: withClaims("aud", "https://other-api.test")},
		{name: "wrong aud in an array", why: `wrong audience`, token: withClaims("aud", []string{"https://other-api.test", "x"})},
		{name: "missing aud", why: `wrong audience`, token: withClaims("aud", nil)},
		{name: "typ JWT", why: `typ "JWT" is not`, token: withHeader("typ", "JWT")},
		{name: "typ of an ID token", why: `typ "id+jwt" is not`, token: withHeader("typ", "id+jwt")},
		{name: "missing typ", why: `typ "" is not`, token: withHeader("typ", nil)},
		{name: "unknown kid", why: `unknown key ID`, token: withHeader("kid", "no-such-key")},
		{name: "missing kid", why: `no key ID`, token: withHeader("kid", nil)},
		{name: "injected kid path traversal", why: `unknown key ID`, token: withHeader("kid", "../../../../dev/null")},
		{name: "injected kid SQL", why: `unknown key ID`, token: withHeader("kid", "x' UNION SELECT 'secret' --")},
		{name: "kid naming another key of the set", why: `bad signature`, token: withHeader("kid", ed2.ID())},
		{name: "kid naming the HS256 key", why: `algorithm "HS256" is not allowed`, token: signRaw(t, HS256, hs.priv, mustJSON(t, with(hs.header(), "kid", hs.ID())), mustJSON(t, claims))},
		{name: "attacker jwk header", why: `parameter "jwk" is not allowed`, token: attacker.sign(t, with(attacker.header(), "jwk", attackerJWK), claims)},
		{name: "attacker jwk header with a trusted kid", why: `parameter "jwk" is not allowed`, token: attacker.sign(t, with(ed.header(), "jwk", attackerJWK), claims)},
		{name: "jku header", why: `parameter "jku" is not allowed`, token: withHeader("jku", "https://evil.test/jwks.json")},
		{name: "x5u header", why: `parameter "x5u" is not allowed`, token: withHeader("x5u", "https://evil.test/cert.pem")},
		{name: "x5c header", why: `parameter "x5c" is not allowed`, token: withHeader("x5c", []string{"MIIB"})},
		{name: "crit header", why: `parameter "crit" is not allowed`, token: withHeader("crit", []string{"exp"})},
		{name: "b64 false header", why: `parameter "b64" is not allowed`, token: withHeader("b64", false)},
		{name: "duplicate alg header", why: `repeats "alg"`, token: rawHeader(`{"alg":"EdDSA","alg":"none","kid":"` + ed.ID() + `","typ":"at+jwt"}`)},
		{name: "header in capitals", why: `parameter "ALG" is not allowed`, token: rawHeader(`{"ALG":"EdDSA","kid":"` + ed.ID() + `","typ":"at+jwt"}`)},
		{name: "tampered payload", why: `bad signature`, token: parts[0] + "." + b64(mustJSON(t, with(claims, "sub", "admin"))) + "." + parts[2]},
		{name: "tampered signature", why: `bad signature`, token: parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{name: "signature from a retired key", why: `unknown key ID`, token: oldToken},
		{name: "signature from an untrusted key", why: `bad signature`, token: attacker.sign(t, ed.header(), claims)},
		{name: "one megabyte of dots", why: `longer than 8192 bytes`, token: strings.Repeat(".", 1<<20)},
		{name: "one megabyte of dots under a large MaxSize", why: `not a compact JWS`, token: strings.Repeat(".", 1<<20), verifier: &Verifier{Keys: ks, Algorithms: []Algorithm{EdDSA}, Issuer: testIssuer, Audience: testAudience, MaxSize: 2 << 20}},
		{name: "longer than MaxSize", why: `longer than 8192 bytes`, token: withClaims("pad", strings.Repeat("x", DefaultMaxSize))},
		{name: "JSON serialization", why: `not a compact JWS`, token: `{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`},
		{name: "flattened JSON serialization", why: `not a compact JWS`, token: `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`},
		{name: "non-canonical base64", why: `not a compact JWS`, token: valid[:len(valid)-1] + string(valid[len(valid)-1]+1)},
		{name: "padded base64", why: `not a compact JWS`, token: valid + "=="},
		{name: "whitespace inside", why: `not a compact JWS`, token: parts[0] + ".\n" + parts[1] + "." + parts[2]},
		{name: "two segments", why: `not a compact JWS`, token: parts[0] + "." + parts[1]},
		{name: "four segments", why: `not a compact JWS`, token: valid + "." + parts[2]},
		{name: "empty", why: `not a compact JWS`, token: ""},
		{name: "claims not an object", why: `malformed claims`, token: signRaw(t, EdDSA, ed.priv, mustJSON(t, ed.header()), []byte(`["exp"]`))},
		{name: "claims followed by data", why: `data after the claims object`, token: signRaw(t, EdDSA, ed.priv, mustJSON(t, ed.header()), append(mustJSON(t, claims), []byte(`{}`)...))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := c.verifier
			if v == nil {
				v = newVerifier(ks, EdDSA)
			}
			got, err := v.Verify(t.Context(), c.token)
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

func TestVerifierNeedsConfiguration(t *testing.T) {
	ks := NewKeySet(edKey(t).Key)
	tok, err := newIssuer(ks).Issue("u", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*Verifier{
		"no algorithms":     {Keys: ks, Issuer: testIssuer, Audience: testAudience},
		"alg none allowed":  {Keys: ks, Algorithms: []Algorithm{EdDSA, "none"}, Issuer: testIssuer, Audience: testAudience},
		"no keys":           {Algorithms: []Algorithm{EdDSA}, Issuer: testIssuer, Audience: testAudience},
		"no issuer":         {Keys: ks, Algorithms: []Algorithm{EdDSA}, Audience: testAudience},
		"no audience":       {Keys: ks, Algorithms: []Algorithm{EdDSA}, Issuer: testIssuer},
		"leeway of an hour": {Keys: ks, Algorithms: []Algorithm{EdDSA}, Issuer: testIssuer, Audience: testAudience, Leeway: time.Hour},
	} {
		_, err := v.Verify(context.Background(), tok)
		if err == nil || errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify error = %v; want a configuration error, not ErrInvalid", name, err)
		}
	}
}

func TestVerifierClock(t *testing.T) {
	ks := NewKeySet(edKey(t).Key)
	is := newIssuer(ks)
	tok, err := is.Issue("u", nil)
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
