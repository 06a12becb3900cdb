package faults

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/redis"
)

func TestRedisCrashMidLoad(t *testing.T) {
	rs := startRedis(t)
	scenario(t, func() (session.Store, func()) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := redis.Open(ctx, rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
		if err != nil {
			t.Fatal(err)
		}
		return s, func() { s.Close() }
	}, rs.Kill, rs.Start, true)
}
