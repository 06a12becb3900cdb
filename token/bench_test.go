package token

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func benchKeys(b *testing.B) []testKey {
	return []testKey{edKey(b), ecKey(b), rsaKey(b, 0), hsKey(b)}
}

func BenchmarkIssue(b *testing.B) {
	for _, k := range benchKeys(b) {
		b.Run(string(k.alg), func(b *testing.B) {
			is := newIssuer(NewKeySet(k.Key))
			extra := map[string]any{"scope": "orders:read orders:write"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := is.Issue(b.Context(), "user-1", extra); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, k := range benchKeys(b) {
		b.Run(string(k.alg), func(b *testing.B) {
			ks := NewKeySet(k.Key)
			tok, err := newIssuer(ks).Issue(b.Context(), "user-1", map[string]any{"scope": "orders:read orders:write"})
			if err != nil {
				b.Fatal(err)
			}
			v := newVerifier(ks, k.alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRejectsForgery measures the cost an attacker imposes with
// a well-formed token under a wrong key: a full signature check.
func BenchmarkVerifyRejectsForgery(b *testing.B) {
	ed, attacker := edKey(b), edKey(b)
	ks := NewKeySet(ed.Key)
	tok := attacker.sign(b, ed.header(), validClaims())
	v := newVerifier(ks, EdDSA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), tok); err == nil {
			b.Fatal("forgery accepted")
		}
	}
}

func BenchmarkBearer(b *testing.B) {
	ks := NewKeySet(edKey(b).Key)
	tok, err := newIssuer(ks).Issue(b.Context(), "user-1", nil)
	if err != nil {
		b.Fatal(err)
	}
	h := (&Bearer{Verifier: newVerifier(ks, EdDSA)}).Require()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
	if w.Code != 200 {
		b.Fatalf("status %d", w.Code)
	}
}
