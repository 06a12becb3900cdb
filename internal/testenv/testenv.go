// Package testenv tells tests where the real servers they need are, and
// turns a missing server into a skip on a developer's machine but a failure
// in CI (CI=true), where a skip would hide a broken setup.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Addresses of the services tests use, from the environment with the
// defaults of the development machines and CI.
var (
	PostgresURL   = env("HTTPSTATE_POSTGRES_URL", "postgres://root@127.0.0.1:5432/test?sslmode=disable")
	MySQLDSN      = env("HTTPSTATE_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/test")
	RedisAddr     = env("HTTPSTATE_REDIS_ADDR", "127.0.0.1:6379")
	RedisCluster  = strings.Split(env("HTTPSTATE_REDIS_CLUSTER", "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"), ",")
	MemcachedAddr = env("HTTPSTATE_MEMCACHED_ADDR", "127.0.0.1:11211")
	DynamoDBURL   = env("HTTPSTATE_DYNAMODB_URL", "http://127.0.0.1:4567") // dynalite
	Chromium      = env("HTTPSTATE_CHROMIUM", "/usr/bin/chromium")
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// InCI reports whether the tests run in CI, where every service must exist.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require stops the test when a service it needs is unavailable (err is
// non-nil): a skip with the reason outside CI, a failure in CI.
func Require(t testing.TB, service string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("%s is required in CI but unavailable: %v", service, err)
	}
	t.Skipf("%s unavailable, skipping (set CI=true to make this a failure): %v", service, err)
}
