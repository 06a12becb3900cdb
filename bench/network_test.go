package bench

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/httpstate/httpstate/session"
)

// callers is the number of concurrent callers of the "c=64" runs:
// SetParallelism multiplies GOMAXPROCS, so on the two-CPU benchmark machine
// this is 64; on other machines it is the largest multiple of GOMAXPROCS
// not above 64.
const callers = 64

// networkScenario runs each contestant against a store on a server: a
// read-only and a writing request, by one caller and by 64 concurrent
// callers, each with a session of its own, in the minimal harness; and,
// for each count in httptestCallers, by that many callers in the httptest
// harness. build makes the named contestant, and the contestant that
// issues its sessions when that is not the contestant itself; it runs once
// per contestant, so that its store's setup and cleanup are not repeated
// for every run.
func networkScenario(b *testing.B, names []string, httptestCallers []int, build func(b *testing.B, name string) (c, issuer Contestant)) {
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			c, issuer := build(b, name)
			cookies := cookiesFor(b, issuer, callers)
			for _, op := range []struct{ name, method string }{{"read", http.MethodGet}, {"write", http.MethodPost}} {
				b.Run(op.name+"/c=1", func(b *testing.B) { serve(b, c, op.method, cookies[0]) })
				b.Run(op.name+"/c=64", func(b *testing.B) {
					serveParallel(b, c, op.method, max(1, callers/maxProcs()), cookies, minimal)
				})
				for _, n := range httptestCallers {
					b.Run(fmt.Sprintf("%s/httptest/c=%d", op.name, n), func(b *testing.B) {
						serveParallel(b, c, op.method, max(1, n/maxProcs()), cookies[:n], httptestHarness)
					})
				}
			}
		})
	}
}

// scsWith is scs with default settings over store.
func scsWith(name string, store scs.Store) Contestant {
	sm := scs.New()
	sm.Store = store
	return SCS(name, sm)
}

// BenchmarkPostgres compares httpstate's store/postgres (pgx) with scs's
// postgresstore (database/sql over pgx's driver), both with a pool of
// poolSize connections to the same server.
func BenchmarkPostgres(b *testing.B) {
	networkScenario(b, []string{"bare", "httpstate", "scs"}, nil, func(b *testing.B, name string) (Contestant, Contestant) {
		var c Contestant
		switch name {
		case "httpstate":
			c = httpstateWith(b, name, httpstatePostgres(b))
		case "scs":
			c = scsWith(name, scsPostgres(b))
		default:
			c = Bare()
		}
		return c, c
	})
}

// BenchmarkRedis compares httpstate's store/redis (rueidis, one
// pipelined connection) with scs's redisstore (redigo, a pool of up to
// 128 connections), on the same server. "httpstate-cached" adds
// store/redis's client-side cache; its sessions are issued by a second,
// uncached store on the same keys, as another instance of the app (or
// this one, more than the cache TTL ago) would have written them, because
// a store bypasses its cache for the records it wrote itself within the
// TTL. Besides the minimal harness, the contestants also run in the
// httptest harness (httptest.NewRequest and httptest.NewRecorder for
// every request) with 32 callers, as most users' own benchmarks would
// measure them.
func BenchmarkRedis(b *testing.B) {
	networkScenario(b, []string{"bare", "httpstate", "httpstate-cached", "scs"}, []int{32}, func(b *testing.B, name string) (Contestant, Contestant) {
		switch name {
		case "httpstate":
			c := httpstateWith(b, name, httpstateRedis(b, false))
			return c, c
		case "httpstate-cached":
			prefix := uniqueName("bench_httpstate") + ":"
			return httpstateWith(b, name, openRedis(b, prefix, true)), httpstateWith(b, "issuer", openRedis(b, prefix, false))
		case "scs":
			c := scsWith(name, scsRedis(b))
			return c, c
		}
		return Bare(), Bare()
	})
}

// httpstateWith is httpstate with default options over store.
func httpstateWith(b *testing.B, name string, store session.Store) Contestant {
	b.Helper()
	c, err := Httpstate(name, store)
	if err != nil {
		b.Fatal(err)
	}
	return c
}
