package refresh

import (
	"context"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/postgres"
	"github.com/httpstate/httpstate/store/redis"
)

// The refresh suite against real stores: what matters there is that the
// compare-and-swap of a rotation is atomic across connections, so that two
// concurrent refreshes cannot both win.

var pgPool = sync.OnceValues(func() (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	if err := p.Ping(context.Background()); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
})

func TestRefresherPostgres(t *testing.T) {
	pool, err := pgPool()
	testenv.Require(t, "postgres", err)
	testRefresher(t, func(t *testing.T) session.Store {
		// A table of its own, dropped when the subtest ends.
		table := "httpstate_token_test_" + hex.EncodeToString(randomBytes(6))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()); err != nil {
				t.Errorf("dropping test table: %v", err)
			}
		})
		s, err := postgres.New(t.Context(), pool, postgres.WithTable(table), postgres.WithSweepInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

var redisClient = sync.OnceValues(func() (rueidis.Client, error) {
	return rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{testenv.RedisAddr}})
})

func TestRefresherRedis(t *testing.T) {
	client, err := redisClient()
	testenv.Require(t, "redis", err)
	testRefresher(t, func(t *testing.T) session.Store {
		// A key prefix of its own, whose keys are deleted when the
		// subtest ends (families would otherwise live for 30 days).
		prefix := "httpstate-test:token:" + hex.EncodeToString(randomBytes(6)) + ":"
		t.Cleanup(func() { deleteRedisKeys(t, client, prefix) })
		s, err := redis.New(client, redis.WithKeyPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func deleteRedisKeys(t *testing.T, client rueidis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cursor uint64
	for {
		e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Errorf("deleting the test's keys: %v", err)
			return
		}
		if len(e.Elements) > 0 {
			if err := client.Do(ctx, client.B().Del().Key(e.Elements...).Build()).Error(); err != nil {
				t.Errorf("deleting the test's keys: %v", err)
				return
			}
		}
		if e.Cursor == 0 {
			return
		}
		cursor = e.Cursor
	}
}
