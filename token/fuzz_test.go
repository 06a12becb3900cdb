package token

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzKey is fixed so that the token fuzzKeyToken signs, and the seed
// corpus built from it, are the same on every run (Ed25519 signatures are
// deterministic).
var fuzzKey = ed25519.NewKeyFromSeed([]byte("httpstate token fuzz key seed 32"))

// fuzzToken is a valid access token for the fuzz verifier until 2100.
func fuzzToken(t testing.TB) (string, *Bearer) {
	k := newTestKey(t, fuzzKey)
	claims := map[string]any{"iss": testIssuer, "sub": "user-1", "aud": testAudience, "exp": 4102444800, "iat": 1700000000, "scope": "a"}
	tok := k.sign(t, k.header(), claims)
	return tok, &Bearer{Verifier: newVerifier(NewKeySet(k.Key), EdDSA), Realm: "fuzz"}
}

// FuzzBearer drives the whole bearer-token path, from the Authorization
// header and the query string to verified claims. No input may panic, every
// answer must be one RFC 6750 allows, and only the one genuine token may
// get through: any other spelling of it (padding, case, trailing bits,
// whitespace) must fail.
func FuzzBearer(f *testing.F) {
	valid, b := fuzzToken(f)
	parts := strings.Split(valid, ".")
	f.Add("Bearer "+valid, "")
	f.Add("bearer    "+valid, "")
	f.Add("Bearer "+valid, "access_token="+valid)
	f.Add("Bearer "+valid+"=", "")
	f.Add("Bearer "+parts[0]+"."+parts[1]+".", "")
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.", "")
	f.Add("Basic dXNlcjpwYXNz", "")
	f.Add("Bearer", "")
	f.Add("", "access_token=x")
	f.Add("Bearer "+strings.Repeat(".", 9000), "")
	check := func(t testing.TB, auth, query string) int {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = query
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		var got *Claims
		h := b.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClaimsFrom(r.Context()) }))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch rec.Code {
		case 200:
			scheme, tok, _ := strings.Cut(auth, " ")
			if !strings.EqualFold(scheme, "bearer") || strings.TrimLeft(tok, " ") != valid || got == nil || got.Subject != "user-1" {
				t.Fatalf("admitted Authorization %q with claims %+v", auth, got)
			}
		case 400, 401:
			if got != nil || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), `Bearer realm="fuzz"`) {
				t.Fatalf("status %d with WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
		return rec.Code
	}
	if code := check(f, "Bearer "+valid, ""); code != 200 {
		f.Fatalf("the genuine token got %d; the fuzz target would test nothing", code)
	}
	f.Fuzz(func(t *testing.T, auth, query string) { check(t, auth, query) })
}

// FuzzParseJWKS: a JWKS comes from the network. Whatever parses must be a
// usable public key of the algorithm it is bound to.
func FuzzParseJWKS(f *testing.F) {
	ks := NewKeySet(newTestKey(f, fuzzKey).Key)
	ks.Add(rsaKey(f, 0).Key)
	ks.Add(ecKey(f).Key)
	body, err := ks.JWKS()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := parseJWKS(body)
		if err != nil {
			return
		}
		for id, k := range keys {
			ok := false
			switch pub := k.key.(type) {
			case ed25519.PublicKey:
				ok = k.alg == EdDSA && len(pub) == ed25519.PublicKeySize
			case *rsa.PublicKey:
				ok = k.alg == RS256 && pub.N.BitLen() >= MinRSAKeyBits && pub.E >= 3
			default:
				ok = k.alg == ES256
			}
			if !ok || id == "" {
				t.Fatalf("key %q: %s bound to %T", id, k.alg, k.key)
			}
		}
	})
}

// FuzzClaims: the claims decoder either rejects its input or yields claims
// that encode again.
func FuzzClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"i","sub":"s","aud":["a","b"],"exp":1.5,"nbf":1,"iat":1,"jti":"j","x":{"y":[1,2]}}`))
	f.Add([]byte(`{"aud":"a","exp":9007199254740993}`))
	f.Add([]byte(`{"exp":1e400}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Claims
		if err := json.Unmarshal(b, &c); err != nil {
			return
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("decoded %s but cannot encode it: %v", b, err)
		}
	})
}
