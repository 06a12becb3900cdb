package bench

import (
	"net/http"
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"
	"github.com/httpstate/httpstate/store/memory"
)

// memoryNames are the contestants of the memory-store scenario.
var memoryNames = []string{"bare", "httpstate", "scs", "gorilla-cookie", "gorilla-fs"}

// memoryContestant returns the named library with its in-process store,
// freshly made. httpstate's store is closed when b ends; scs's memstore
// cannot be stopped safely (see scsMemstore).
func memoryContestant(b testing.TB, name string) Contestant {
	b.Helper()
	switch name {
	case "httpstate":
		store := memory.New()
		b.Cleanup(func() { store.Close() })
		c, err := Httpstate(name, store)
		if err != nil {
			b.Fatal(err)
		}
		return c
	case "scs":
		sm := scs.New() // its default store: memstore.New()
		return SCS(name, sm)
	case "gorilla-cookie":
		return Gorilla(name, sessions.NewCookieStore(gorillaHashKey, gorillaBlockKey))
	case "gorilla-fs":
		return Gorilla(name, sessions.NewFilesystemStore(b.TempDir(), gorillaHashKey, gorillaBlockKey))
	}
	return Bare()
}

// BenchmarkMemoryStore is one request at a time through each library with
// its in-process store (gorilla: its cookie store, which keeps the data in
// the cookie itself, and its filesystem store). "read" reads one int;
// "write" puts one int. The difference from "bare" is the middleware's
// cost.
func BenchmarkMemoryStore(b *testing.B) {
	for _, op := range []struct{ name, method string }{{"read", http.MethodGet}, {"write", http.MethodPost}} {
		b.Run(op.name, func(b *testing.B) {
			for _, name := range memoryNames {
				b.Run(name, func(b *testing.B) {
					// Each sub-benchmark builds its own store so that one
					// library's data and goroutines never weigh on another's
					// measurement.
					c := memoryContestant(b, name)
					cookie := bareCookie
					if c.Name != "bare" {
						var err error
						if cookie, err = SessionCookie(c.Handler); err != nil {
							b.Fatal(err)
						}
					}
					serve(b, c, op.method, cookie)
				})
			}
		})
	}
}
