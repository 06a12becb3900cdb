package storeurl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memcached"
	"github.com/httpstate/httpstate/store/memory"
	"github.com/httpstate/httpstate/store/mysql"
	"github.com/httpstate/httpstate/store/postgres"
	"github.com/httpstate/httpstate/store/redis"
	"github.com/httpstate/httpstate/store/sqlite"
)

var openers = map[string]opener{
	Memory:    openMemory,
	SQLite:    openSQLite,
	Postgres:  openPostgres,
	MySQL:     openMySQL,
	Redis:     openRedis,
	Memcached: openMemcached,
	DynamoDB:  openDynamoDB,
}

func openMemory(context.Context, Location, options) (session.Store, io.Closer, error) {
	s := memory.New()
	return s, s, nil
}

func openSQLite(ctx context.Context, loc Location, o options) (session.Store, io.Closer, error) {
	q, _, err := loc.query([]string{"table"}, false)
	if err != nil {
		return nil, nil, err
	}
	table, err := o.table(loc, q.Get("table"))
	if err != nil {
		return nil, nil, err
	}
	if !o.create {
		// SQLite creates a missing file on open; a command that only reads
		// or deletes must not turn a typo into an empty database. (A file
		// created between this check and the open is a real database.)
		if _, err := os.Stat(loc.path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("no such file %q: %w", loc.path, fs.ErrNotExist)
		}
	}
	s, err := sqlite.Open(ctx, loc.path, sqlite.WithTable(table))
	if err != nil {
		return nil, nil, err
	}
	return s, s, nil
}

// openPostgres passes the URL to pgx, less the store's own table and
// schema parameters, so every libpq parameter (sslmode, connect_timeout,
// multiple hosts) works as documented by PostgreSQL.
func openPostgres(ctx context.Context, loc Location, o options) (session.Store, io.Closer, error) {
	q, rest, err := loc.query([]string{"table", "schema"}, true)
	if err != nil {
		return nil, nil, err
	}
	table, err := o.table(loc, q.Get("table"))
	if err != nil {
		return nil, nil, err
	}
	u := *loc.raw
	u.RawQuery = rest.Encode()
	opts := []postgres.Option{postgres.WithTable(table)}
	if s := q.Get("schema"); s != "" {
		opts = append(opts, postgres.WithSchema(s))
	}
	s, err := postgres.Open(ctx, u.String(), opts...)
	if err != nil {
		return nil, nil, connectFailure(err)
	}
	return s, s, nil
}

// connectFailure words a failure to connect to PostgreSQL as one: the
// store reports it from its first statement, the creation of its table,
// and pgx lists every attempt, which with the default sslmode=prefer is
// the same dial error twice (with TLS, then without). Other errors pass
// unchanged.
func connectFailure(err error) error {
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		return err
	}
	var reasons []string
	for line := range strings.SplitSeq(ce.Unwrap().Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(reasons, line) {
			reasons = append(reasons, line)
		}
	}
	msg := fmt.Sprintf("postgres: cannot connect as user %q to database %q: %s", ce.Config.User, ce.Config.Database, strings.Join(reasons, "; "))
	return &rewordedError{msg: msg, err: err}
}

// openMySQL turns mysql://USER:PASS@HOST:PORT/DB?PARAMS into the driver's
// DSN; parameters other than table go to the driver (tls, timeout...).
// Without a timeout parameter, connecting gives up after 5 seconds.
func openMySQL(ctx context.Context, loc Location, o options) (session.Store, io.Closer, error) {
	q, rest, err := loc.query([]string{"table"}, true)
	if err != nil {
		return nil, nil, err
	}
	table, err := o.table(loc, q.Get("table"))
	if err != nil {
		return nil, nil, err
	}
	cfg := gomysql.NewConfig()
	if u := loc.raw.User; u != nil {
		cfg.User = u.Username()
		cfg.Passwd, _ = u.Password()
	}
	cfg.Net = "tcp"
	cfg.Addr = loc.raw.Host
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		cfg.Addr = net.JoinHostPort(strings.Trim(cfg.Addr, "[]"), "3306")
	}
	cfg.DBName = strings.TrimPrefix(loc.raw.Path, "/")
	if cfg.DBName == "" || strings.Contains(cfg.DBName, "/") {
		return nil, nil, invalid(loc.Redacted, "name the database: mysql://USER:PASS@HOST:3306/DATABASE")
	}
	if !rest.Has("timeout") {
		rest.Set("timeout", "5s")
	}
	dsn := cfg.FormatDSN()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	dsn += sep + rest.Encode()
	if _, err := gomysql.ParseDSN(dsn); err != nil {
		// The driver's message may quote the DSN, password included: Open
		// masks it, and the reason is worth passing on.
		return nil, nil, invalid(loc.Redacted, "the MySQL driver refused it: "+err.Error())
	}
	s, err := mysql.Open(ctx, dsn, mysql.WithTable(table))
	if err != nil {
		return nil, nil, err
	}
	return s, s, nil
}

// redisParams are the query parameters rueidis.ParseURL reads; it ignores
// any other silently, so openRedis checks for them.
var redisParams = []string{"prefix", "db", "dial_timeout", "write_timeout", "addr", "skip_verify", "protocol", "client_cache", "max_retries", "client_name", "master_set"}

// openRedis takes the URL forms of rueidis.ParseURL: redis:// or rediss://
// with more nodes in addr parameters (a Cluster is detected by asking the
// server) and master_set for Sentinel, plus the store's prefix.
func openRedis(ctx context.Context, loc Location, o options) (session.Store, io.Closer, error) {
	q, _, err := loc.query(redisParams, false)
	if err != nil {
		return nil, nil, err
	}
	u := *loc.raw
	rest := u.Query()
	rest.Del("prefix")
	u.RawQuery = rest.Encode()
	if u.Path == "/" {
		// redis://HOST:6379/ names no database: the default, 0, as
		// without the slash. rueidis would read an empty database number.
		u.Path, u.RawPath = "", ""
	}
	opt, err := rueidis.ParseURL(u.String())
	if err != nil {
		// rueidis says what is wrong (a database number, a timeout); Open
		// masks any secret it quotes.
		return nil, nil, invalid(loc.Redacted, err.Error())
	}
	s, err := redis.Open(ctx, opt, redis.WithKeyPrefix(o.prefix(q)))
	if err != nil {
		return nil, nil, err
	}
	return s, s, nil
}

// openMemcached takes memcached://HOST[:PORT][,HOST[:PORT]...] with
// optional prefix and timeout parameters.
func openMemcached(_ context.Context, loc Location, o options) (session.Store, io.Closer, error) {
	q, _, err := loc.query([]string{"prefix", "timeout"}, false)
	if err != nil {
		return nil, nil, err
	}
	if loc.raw.User != nil || strings.Trim(loc.raw.Path, "/") != "" {
		return nil, nil, invalid(loc.Redacted, "memcached URLs take no user, password or path: memcached://HOST:11211[,HOST:PORT]")
	}
	var addrs []string
	for _, h := range strings.Split(loc.raw.Host, ",") {
		if h == "" {
			return nil, nil, invalid(loc.Redacted, "empty server in the list")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "11211")
		}
		addrs = append(addrs, h)
	}
	opts := []memcached.Option{memcached.WithKeyPrefix(o.prefix(q))}
	if t := q.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return nil, nil, invalid(loc.Redacted, "timeout must be a positive duration such as 500ms")
		}
		opts = append(opts, memcached.WithTimeout(d))
	}
	var servers memcache.ServerList
	if err := servers.SetServers(addrs...); err != nil {
		return nil, nil, err
	}
	client := memcache.NewFromSelector(&servers)
	client.MaxIdleConns = memcached.OpenMaxIdleConns
	s, err := memcached.New(client, opts...)
	if err != nil {
		return nil, nil, invalid(loc.Redacted, err.Error())
	}
	return s, s, nil
}
