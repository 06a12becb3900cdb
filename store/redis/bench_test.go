package redis_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/internal/storebench"
	"github.com/httpstate/httpstate/store/redis"
)

func BenchmarkLoad(b *testing.B) { storebench.Load(b, newStore(b, standalone(b))) }

// BenchmarkLoadClientCache is Load with client-side caching on and records
// that do not change: after the first Load of each, no round trip.
func BenchmarkLoadClientCache(b *testing.B) {
	for _, n := range storebench.Callers {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			client := standalone(b)
			prefix := redis.WithKeyPrefix(newPrefix(b, client))
			// Written by another store, as by another process: a store
			// does not serve from its cache what it wrote itself lately.
			w, err := redis.New(client, prefix)
			if err != nil {
				b.Fatal(err)
			}
			recs := storebench.Records(b, w, n, "bench-user")
			s, err := redis.New(client, prefix, redis.WithClientCache(time.Minute))
			if err != nil {
				b.Fatal(err)
			}
			storebench.Run(b, n, func(ctx context.Context, i int) error {
				_, err := s.Load(ctx, recs[i].ID)
				return err
			})
		})
	}
}

// BenchmarkSave saves authenticated records, so each Save also updates
// the user index, with a later expiry each time.
func BenchmarkSave(b *testing.B) { storebench.Save(b, newStore(b, standalone(b))) }

// BenchmarkSaveAnonymous saves records without a user: no index.
func BenchmarkSaveAnonymous(b *testing.B) {
	for _, n := range storebench.Callers {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			s := newStore(b, standalone(b))
			recs := storebench.Records(b, s, n, "")
			storebench.Run(b, n, func(ctx context.Context, i int) error {
				return storebench.SaveNext(ctx, s, &recs[i])
			})
		})
	}
}

// BenchmarkSaveConflict measures a lost compare-and-swap: a stale version.
func BenchmarkSaveConflict(b *testing.B) {
	s := newStore(b, standalone(b))
	rec := storebench.Records(b, s, 1, "bench-user")[0]
	rec.Version = 0
	storebench.Run(b, 1, func(ctx context.Context, _ int) error {
		if err := s.Save(ctx, rec); !errors.Is(err, session.ErrConflict) {
			return fmt.Errorf("Save of a stale version = %v", err)
		}
		return nil
	})
}
