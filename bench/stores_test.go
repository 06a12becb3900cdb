package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/redisstore"
	"github.com/bradfitz/gomemcache/memcache"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memcached"
	"github.com/httpstate/httpstate/store/mysql"
	"github.com/httpstate/httpstate/store/postgres"
	"github.com/httpstate/httpstate/store/redis"
	"github.com/httpstate/httpstate/store/sqlite"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for scs's postgresstore
	"github.com/redis/rueidis"
)

// Every store scenario gets a table or key prefix of its own, named after
// this run, so that it can run beside other engineers' tests and clean up
// exactly what it made.
func uniqueName(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s_%d_%s", prefix, os.Getpid(), hex.EncodeToString(b[:]))
}

// setupTimeout bounds creating, seeding and dropping a store's data.
const setupTimeout = 2 * time.Minute

func setupContext(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	b.Cleanup(cancel)
	return ctx
}

// poolSize is the connection pool size every SQL store gets, httpstate's
// and scs's alike, so that neither wins by holding more server
// connections. See BENCHMARKS.md for how it was chosen.
const poolSize = 16

// pgAdmin runs fn on a one-connection pool, for creating and dropping the
// scenario's tables.
func pgAdmin(b *testing.B, sql string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.New(ctx, testenv.PostgresURL)
	if err == nil {
		defer pool.Close()
		_, err = pool.Exec(ctx, sql)
	}
	testenv.Require(b, "postgres", err)
}

// httpstatePostgres is store/postgres on a table of its own, dropped when
// b ends.
func httpstatePostgres(b *testing.B) session.Store {
	b.Helper()
	ctx := setupContext(b)
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = poolSize
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	testenv.Require(b, "postgres", err)
	table := uniqueName("bench_httpstate")
	store, err := postgres.New(ctx, pool, postgres.WithTable(table))
	if err != nil {
		pool.Close()
		testenv.Require(b, "postgres", err)
	}
	b.Cleanup(func() {
		store.Close()
		pool.Close()
		pgAdmin(b, `DROP TABLE IF EXISTS "`+table+`"`)
	})
	return store
}

// scsPostgres is scs's postgresstore on a table of its own (the schema its
// README gives), through pgx's database/sql driver, dropped when b ends.
func scsPostgres(b *testing.B) *postgresstore.PostgresStore {
	b.Helper()
	table := uniqueName("bench_scs")
	pgAdmin(b, `CREATE TABLE "`+table+`" (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL);
		CREATE INDEX "`+table+`_expiry_idx" ON "`+table+`" (expiry)`)
	db, err := sql.Open("pgx", testenv.PostgresURL)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize)
	store := postgresstore.NewWithConfig(db, postgresstore.Config{TableName: table, CleanUpInterval: 5 * time.Minute})
	b.Cleanup(func() {
		store.StopCleanup()
		db.Close()
		pgAdmin(b, `DROP TABLE IF EXISTS "`+table+`"`)
	})
	return store
}

// redigoPool is the connection pool scs's redisstore is documented with,
// sized so that 64 callers never wait for a connection.
func redigoPool() *redigo.Pool {
	return &redigo.Pool{
		MaxIdle:     128,
		IdleTimeout: time.Minute,
		Dial:        func() (redigo.Conn, error) { return redigo.Dial("tcp", testenv.RedisAddr) },
	}
}

// deleteRedisPrefix removes every key under prefix, with SCAN so that
// nothing else on the server is touched or blocked.
func deleteRedisPrefix(b *testing.B, prefix string) {
	b.Helper()
	conn := redigoPool().Get()
	defer conn.Close()
	cursor := "0"
	for {
		res, err := redigo.Values(conn.Do("SCAN", cursor, "MATCH", prefix+"*", "COUNT", 1000))
		if err != nil {
			b.Errorf("cleaning up Redis keys %s*: %v", prefix, err)
			return
		}
		cursor, _ = redigo.String(res[0], nil)
		keys, _ := redigo.Strings(res[1], nil)
		if len(keys) > 0 {
			args := redigo.Args{}.AddFlat(keys)
			if _, err := conn.Do("UNLINK", args...); err != nil {
				b.Errorf("cleaning up Redis keys %s*: %v", prefix, err)
				return
			}
		}
		if cursor == "0" {
			return
		}
	}
}

// scsRedis is scs's redisstore under a key prefix of its own, whose keys
// are deleted when b ends.
func scsRedis(b *testing.B) *redisstore.RedisStore {
	b.Helper()
	pool := redigoPool()
	conn := pool.Get()
	_, err := conn.Do("PING")
	conn.Close()
	testenv.Require(b, "redis", err)
	prefix := uniqueName("bench_scs") + ":"
	b.Cleanup(func() {
		deleteRedisPrefix(b, prefix)
		pool.Close()
	})
	return redisstore.NewWithPrefix(pool, prefix)
}

// httpstateMySQL is store/mysql on a table of its own, dropped when b
// ends.
func httpstateMySQL(b *testing.B) session.Store {
	b.Helper()
	ctx := setupContext(b)
	table := uniqueName("bench_httpstate")
	db, err := sql.Open("mysql", testenv.MySQLDSN)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize)
	store, err := mysql.New(ctx, db, mysql.WithTable(table))
	if err != nil {
		db.Close()
		testenv.Require(b, "mysql", err)
	}
	b.Cleanup(func() {
		store.Close()
		if _, err := db.Exec("DROP TABLE IF EXISTS `" + table + "`"); err != nil {
			b.Errorf("dropping %s: %v", table, err)
		}
		db.Close()
	})
	return store
}

// httpstateSQLite is store/sqlite on a file in b's temporary directory.
func httpstateSQLite(b *testing.B) session.Store {
	b.Helper()
	store, err := sqlite.Open(setupContext(b), filepath.Join(b.TempDir(), "sessions.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return store
}

// httpstateMemcached is store/memcached under a key prefix of its own.
// Memcached cannot list keys, so the scenarios that use it delete the
// records they made themselves.
func httpstateMemcached(b *testing.B) session.Store {
	b.Helper()
	client := memcache.New(testenv.MemcachedAddr)
	client.MaxIdleConns = 128
	testenv.Require(b, "memcached", client.Ping())
	store, err := memcached.New(client, memcached.WithKeyPrefix(strings.ReplaceAll(uniqueName("bench"), "_", "-")+":"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return store
}

// redisCacheTTL is the client-side cache lifetime of the cached Redis
// contestant, in the "few seconds to a minute" store/redis recommends.
const redisCacheTTL = 10 * time.Second

// httpstateRedis is store/redis (rueidis) under a key prefix of its own,
// whose keys are deleted when b ends, with client-side caching if cached.
func httpstateRedis(b *testing.B, cached bool) *redis.Store {
	b.Helper()
	return openRedis(b, uniqueName("bench_httpstate")+":", cached)
}

func openRedis(b *testing.B, prefix string, cached bool) *redis.Store {
	b.Helper()
	opts := []redis.Option{redis.WithKeyPrefix(prefix)}
	if cached {
		opts = append(opts, redis.WithClientCache(redisCacheTTL))
	}
	store, err := redis.Open(setupContext(b), rueidis.ClientOption{InitAddress: []string{testenv.RedisAddr}}, opts...)
	testenv.Require(b, "redis", err)
	b.Cleanup(func() {
		store.Close()
		deleteRedisPrefix(b, prefix)
	})
	return store
}
