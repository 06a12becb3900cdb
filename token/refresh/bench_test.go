package refresh

import (
	"testing"

	"github.com/httpstate/httpstate/store/memory"
	"github.com/httpstate/httpstate/token"
)

func BenchmarkRefresh(b *testing.B) {
	store := memory.New()
	defer store.Close()
	key, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		b.Fatal(err)
	}
	is, err := token.NewIssuer(token.NewKeySet(key), token.IssuerOptions{Issuer: testIssuer, Audience: []string{testAudience}})
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(store, is, Options{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := r.Issue(b.Context(), "user-1", map[string]any{"scope": "a"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if p, err = r.Refresh(b.Context(), p.RefreshToken); err != nil {
			b.Fatal(err)
		}
	}
}
