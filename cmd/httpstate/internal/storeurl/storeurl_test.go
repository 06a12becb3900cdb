package storeurl_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
)

func TestParseNamesTheKindOfStore(t *testing.T) {
	tests := []struct {
		url, kind, redacted string
	}{
		{"memory:", storeurl.Memory, "memory:"},
		{"sqlite:httpstate.db", storeurl.SQLite, "sqlite:httpstate.db"},
		{"sqlite:///var/lib/httpstate.db?table=web_sessions", storeurl.SQLite, "sqlite:///var/lib/httpstate.db?table=web_sessions"},
		{"postgres://app:s3cret@db:5432/app?sslmode=disable", storeurl.Postgres, "postgres://app:xxxxx@db:5432/app?sslmode=disable"},
		{"postgresql://db/app", storeurl.Postgres, "postgresql://db/app"},
		{"mysql://root:pw@127.0.0.1:3306/test", storeurl.MySQL, "mysql://root:xxxxx@127.0.0.1:3306/test"},
		{"redis://:pw@127.0.0.1:6379/2", storeurl.Redis, "redis://:xxxxx@127.0.0.1:6379/2"},
		{"rediss://cache.internal:6380", storeurl.Redis, "rediss://cache.internal:6380"},
		{"redis://127.0.0.1:7001?addr=127.0.0.1:7002&addr=127.0.0.1:7003", storeurl.Redis, "redis://127.0.0.1:7001?addr=127.0.0.1:7002&addr=127.0.0.1:7003"},
		{"memcached://127.0.0.1:11211,127.0.0.1:11212", storeurl.Memcached, "memcached://127.0.0.1:11211,127.0.0.1:11212"},
		{"MEMORY:", storeurl.Memory, "memory:"},
	}
	for _, tt := range tests {
		loc, err := storeurl.Parse(tt.url)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.url, err)
			continue
		}
		if loc.Kind != tt.kind || loc.Redacted != tt.redacted {
			t.Errorf("Parse(%q) = %q, %q; want %q, %q", tt.url, loc.Kind, loc.Redacted, tt.kind, tt.redacted)
		}
	}
}

func TestParseRejectsURLsThatCanNeverWork(t *testing.T) {
	tests := []struct{ url, why string }{
		{"", "missing scheme"},
		{"httpstate.db", "missing scheme"},
		{"ftp://example.com", `unknown scheme "ftp"`},
		{"memory:foo", "takes no address"},
		{"sqlite:", "missing file path"},
		{"sqlite://relative.db", "would name a host"},
		{"postgres://", "missing host"},
		{"redis:6379", "missing host"},
		{"postgres://u:hunter2@db:5432/%zz", "malformed URL"},
	}
	for _, tt := range tests {
		_, err := storeurl.Parse(tt.url)
		if !errors.Is(err, storeurl.ErrInvalid) {
			t.Errorf("Parse(%q) = %v; want ErrInvalid", tt.url, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) {
			t.Errorf("Parse(%q) = %q; want it to say %q", tt.url, err, tt.why)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(%q) error reveals the password: %q", tt.url, err)
		}
	}
}

func TestRedactHidesPasswords(t *testing.T) {
	tests := map[string]string{
		"postgres://u:hunter2@db/app":                                                          "postgres://u:xxxxx@db/app",
		"redis://:hunter2@cache:6379":                                                          "redis://:xxxxx@cache:6379",
		"sqlite:app.db":                                                                        "sqlite:app.db",
		"redis://u:hunter2@%zz":                                                                "…",
		"root:hunter2@tcp(db)/app":                                                             "…",
		"httpstate.db":                                                                         "httpstate.db",
		"postgres://u@db/app?password=hunter2&sslmode=disable":                                 "postgres://u@db/app?password=xxxxx&sslmode=disable",
		"postgres://db/app?sslpassword=hunter2&sslmode=verify-full":                            "postgres://db/app?sslpassword=xxxxx&sslmode=verify-full",
		"mysql://root@db/app?Password=hunter2&tls=true":                                        "mysql://root@db/app?Password=xxxxx&tls=true",
		"redis://cache:6379?auth_token=hunter2&prefix=a:":                                      "redis://cache:6379?auth_token=xxxxx&prefix=a:",
		"memcached://cache:11211?secret=hunter2":                                               "memcached://cache:11211?secret=xxxxx",
		"sqlite:app.db?table=t&pass%77ord=hunter2":                                             "sqlite:app.db?table=t&pass%77ord=xxxxx",
		"memory:?password=hunter2":                                                             "memory:?password=xxxxx",
		"host=db user=u password=hunter2 dbname=app":                                           "host=db user=u password=xxxxx dbname=app",
		"postgres://db:port/app?password=hunter2":                                              "postgres://db:port/app?password=xxxxx",
		"postgres://u:hunter2@db/app?x=1#password=hunter2":                                     "postgres://u:xxxxx@db/app?x=1",
		"dynamo://us-east-1?access_key_id=AKIA&secret_access_key=hunter2":                      "dynamo://us-east-1?access_key_id=xxxxx&secret_access_key=xxxxx",
		"dynamodb://sessions?region=eu-west-1&endpoint=http://u:hunter2@127.0.0.1:4567":        "dynamodb://sessions?region=eu-west-1&endpoint=http://u:xxxxx@127.0.0.1:4567",
		"dynamodb://sessions?endpoint=http%3A%2F%2Fu%3Ahunter2%40127.0.0.1%3A4567&region=x":    "dynamodb://sessions?endpoint=http%3A%2F%2Fu%3Axxxxx%40127.0.0.1%3A4567&region=x",
		"dynamodb://sessions?endpoint=http%3A%2F%2Fu%3Ahun%2Fter2%40127.0.0.1%3A4567&region=x": "dynamodb://sessions?endpoint=http%3A%2F%2Fu%3Axxxxx%40127.0.0.1%3A4567&region=x",
	}
	for in, want := range tests {
		if got := storeurl.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestOpenMemory(t *testing.T) {
	store, closer, err := storeurl.Open(t.Context(), "memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	roundTrip(t, store)
}

func TestOpenSQLiteCreatesTheFileAndKeepsRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	u := "sqlite:" + path + "?table=demo_sessions"
	store, closer, err := storeurl.Open(t.Context(), u, storeurl.CreateIfMissing())
	if err != nil {
		t.Fatal(err)
	}
	id := roundTrip(t, store)
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	// A second open of the same file, as after a restart, finds the record.
	store, closer, err = storeurl.Open(t.Context(), "sqlite://"+path+"?table=demo_sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if _, err := store.Load(t.Context(), id); err != nil {
		t.Fatalf("record lost across reopen: %v", err)
	}
}

func TestOpenRejectsUnknownParameters(t *testing.T) {
	for _, u := range []string{
		"sqlite:" + filepath.Join(t.TempDir(), "x.db") + "?tabel=x",
		"memcached://127.0.0.1:11211?prefx=x",
		"memcached://127.0.0.1:11211?timeout=soon",
		"memcached://user:pw@127.0.0.1:11211",
	} {
		_, _, err := storeurl.Open(t.Context(), u)
		if !errors.Is(err, storeurl.ErrInvalid) {
			t.Errorf("Open(%q) = %v; want ErrInvalid", u, err)
		}
	}
}

func TestOpenReportsAnUnreachableStore(t *testing.T) {
	addr := closedPort(t)
	for _, u := range []string{
		"memcached://" + addr,
		"sqlite:" + filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"),
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, _, err := storeurl.Open(ctx, u)
		cancel()
		if !errors.Is(err, storeurl.ErrUnreachable) || errors.Is(err, storeurl.ErrInvalid) {
			t.Errorf("Open(%q) = %v; want ErrUnreachable only", u, err)
		}
	}
}

func TestOpenMemcached(t *testing.T) {
	c, err := net.DialTimeout("tcp", testenv.MemcachedAddr, time.Second)
	testenv.Require(t, "memcached", err)
	c.Close()
	store, closer, err := storeurl.Open(t.Context(), "memcached://"+testenv.MemcachedAddr+"?prefix=storeurl-test:&timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	roundTrip(t, store)
}

func TestPingMeasuresARoundTrip(t *testing.T) {
	store, closer, err := storeurl.Open(t.Context(), "memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	d, err := storeurl.Ping(t.Context(), store)
	if err != nil || d < 0 {
		t.Fatalf("Ping = %v, %v", d, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := storeurl.Ping(ctx, store); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with a canceled context = %v; want context.Canceled", err)
	}
}

// roundTrip saves, loads and deletes a record and returns the ID of a
// second record it leaves in place.
func roundTrip(t *testing.T, store session.Store) string {
	t.Helper()
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	id := storetest.NewID()
	if err := store.Save(ctx, session.Record{ID: id, UserID: "u1", Expiry: exp, Data: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	rec, err := store.Load(ctx, id)
	if err != nil || rec.Version != 1 || rec.UserID != "u1" {
		t.Fatalf("Load = %+v, %v", rec, err)
	}
	if err := store.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	keep := storetest.NewID()
	if err := store.Save(ctx, session.Record{ID: keep, Expiry: exp, Data: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Delete(context.Background(), keep) })
	return keep
}

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestNamespaceKeepsRecordsApart(t *testing.T) {
	u := "sqlite:" + filepath.Join(t.TempDir(), "ns.db")
	main, c1, err := storeurl.Open(t.Context(), u, storeurl.CreateIfMissing())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	tokens, c2, err := storeurl.Open(t.Context(), u, storeurl.Namespace("tokens"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	id := roundTrip(t, main)
	if _, err := tokens.Load(t.Context(), id); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("a record saved in the main namespace is visible in another: %v", err)
	}
	if _, _, err := storeurl.Open(t.Context(), u, storeurl.Namespace("Bad-Name")); err == nil {
		t.Fatal("Open accepted an invalid namespace")
	}
	if _, _, err := storeurl.Open(t.Context(), u+"?table=Sessions"); !errors.Is(err, storeurl.ErrInvalid) {
		t.Fatalf("Open with an upper-case table = %v; want ErrInvalid", err)
	}
}

func TestOpenPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	u := testenv.PostgresURL
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	store, closer, err := storeurl.Open(ctx, u+sep+"table=storeurl_test")
	testenv.Require(t, "postgres", err)
	defer closer.Close()
	roundTrip(t, store)
}

func TestOpenMySQL(t *testing.T) {
	// testenv gives a driver DSN, user@tcp(host:port)/db; the command takes
	// a URL.
	cfg, err := gomysql.ParseDSN(testenv.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	u := &url.URL{Scheme: "mysql", Host: cfg.Addr, Path: "/" + cfg.DBName, RawQuery: "table=storeurl_test"}
	if cfg.Passwd != "" {
		u.User = url.UserPassword(cfg.User, cfg.Passwd)
	} else {
		u.User = url.User(cfg.User)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	store, closer, err := storeurl.Open(ctx, u.String())
	testenv.Require(t, "mysql", err)
	defer closer.Close()
	roundTrip(t, store)
}

func TestOpenReportsUnreachableSQLServers(t *testing.T) {
	addr := closedPort(t)
	for _, u := range []string{
		"postgres://root:hunter2@" + addr + "/test?sslmode=disable",
		"mysql://root:hunter2@" + addr + "/test",
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, _, err := storeurl.Open(ctx, u)
		cancel()
		if !errors.Is(err, storeurl.ErrUnreachable) {
			t.Errorf("Open(%q) = %v; want ErrUnreachable", storeurl.Redact(u), err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals the password: %v", err)
		}
	}
}

func TestOpenRedis(t *testing.T) {
	cluster := "redis://" + testenv.RedisCluster[0] + "?prefix=storeurl-test:"
	for _, a := range testenv.RedisCluster[1:] {
		cluster += "&addr=" + a
	}
	for name, u := range map[string]string{
		"redis":         "redis://" + testenv.RedisAddr + "/0?prefix=storeurl-test:",
		"redis cluster": cluster,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			store, closer, err := storeurl.Open(ctx, u)
			testenv.Require(t, name, err)
			defer closer.Close()
			id := roundTrip(t, store)
			tokens, c2, err := storeurl.Open(ctx, u, storeurl.Namespace("tokens"))
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			if _, err := tokens.Load(ctx, id); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("namespaces share records: %v", err)
			}
		})
	}
}

func TestOpenRedisRejectsUnknownParameters(t *testing.T) {
	for _, u := range []string{"redis://127.0.0.1:6379?prefx=a", "redis://127.0.0.1:6379/notanumber", "redis://127.0.0.1:6379/0/1"} {
		if _, _, err := storeurl.Open(t.Context(), u); !errors.Is(err, storeurl.ErrInvalid) {
			t.Errorf("Open(%q) = %v; want ErrInvalid", u, err)
		}
	}
	addr := closedPort(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, _, err := storeurl.Open(ctx, "redis://:hunter2@"+addr); !errors.Is(err, storeurl.ErrUnreachable) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unreachable redis: %v", err)
	}
}

// TestNoSecretIsEverShown opens URLs of every scheme with secrets in every
// place a URL can hold one, each failing (or not) at a different stage,
// and searches every form in which the package hands a URL or an error
// back to be printed.
func TestNoSecretIsEverShown(t *testing.T) {
	closed := closedPort(t)
	dir := t.TempDir()
	secrets := []string{"hunter2", "s3cret-param", "t0ken-value", "sslpw-value"}
	urls := []string{
		"memory:?password=hunter2",
		"memory://u:hunter2@host",
		"sqlite:" + filepath.Join(dir, "x.db") + "?password=hunter2",
		"sqlite:" + filepath.Join(dir, "missing.db") + "?table=t&sslpassword=sslpw-value",
		"sqlite3://" + filepath.Join(dir, "y.db") + "?table=Bad&token=t0ken-value",
		"postgres://u:hunter2@" + closed + "/db?password=s3cret-param&sslpassword=sslpw-value&sslmode=disable",
		"postgres://u:hunter2@" + closed + "/db?password=s3cret-param&table=Bad-Name",
		"postgresql://u:hunter2@db:port/db?password=s3cret-param",
		"postgresql://u:hunter2@db/%zz?password=s3cret-param",
		"mysql://u:hunter2@" + closed + "/db?password=s3cret-param",
		"mysql://u:hunter2@" + closed + "/db?tls=bogus&auth_token=t0ken-value",
		"mariadb://u:hunter2@" + closed + "?password=s3cret-param",
		"redis://u:hunter2@" + closed + "/0?password=s3cret-param",
		"rediss://:hunter2@" + closed + "/x?token=t0ken-value",
		"redis://:hunter2@" + closed + "?dial_timeout=soon&client_token=t0ken-value",
		"redis://:hunter2@" + closed,
		"memcached://u:hunter2@" + closed + "?token=t0ken-value",
		"memcache://" + closed + "?secret=s3cret-param",
		"memcached://" + closed + "?timeout=soon&password=hunter2",
		"ftp://u:hunter2@x?password=s3cret-param",
		"ftp://x?endpoint=http://u:hunter2@127.0.0.1:4567",
		"host=db user=u password=hunter2 sslpassword=sslpw-value",
		"u:hunter2@tcp(db)/x",
	}
	for _, u := range urls {
		var shown []string
		shown = append(shown, storeurl.Redact(u))
		loc, err := storeurl.Parse(u)
		shown = append(shown, loc.Redacted, fmt.Sprint(err), fmt.Sprintf("%+v", err))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, closer, err := storeurl.Open(ctx, u)
		cancel()
		if err == nil {
			closer.Close()
			t.Errorf("Open(%q) worked; each URL here is meant to fail somewhere", storeurl.Redact(u))
		}
		shown = append(shown, fmt.Sprint(err), fmt.Sprintf("%+v", err))
		for _, s := range shown {
			for _, secret := range secrets {
				if strings.Contains(s, secret) {
					t.Errorf("a secret of %q is shown: %s", storeurl.Redact(u), s)
				}
			}
		}
	}
}

func TestOpenSQLiteCreatesAFileOnlyWhenAsked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.db")
	_, _, err := storeurl.Open(t.Context(), "sqlite:"+path)
	if !errors.Is(err, storeurl.ErrUnreachable) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Open of a missing file = %v; want ErrUnreachable and fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open created %s without CreateIfMissing", path)
	}
	_, closer, err := storeurl.Open(t.Context(), "sqlite:"+path, storeurl.CreateIfMissing())
	if err != nil {
		t.Fatal(err)
	}
	closer.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("CreateIfMissing did not create the file: %v", err)
	}
	_, closer, err = storeurl.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatalf("an existing file does not need CreateIfMissing: %v", err)
	}
	closer.Close()
}

func TestOpenRedisAcceptsATrailingSlash(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	store, closer, err := storeurl.Open(ctx, "redis://"+testenv.RedisAddr+"/?prefix=storeurl-test:")
	testenv.Require(t, "redis", err)
	defer closer.Close()
	roundTrip(t, store)
	// A refusal says why.
	_, _, err = storeurl.Open(ctx, "redis://"+testenv.RedisAddr+"/two")
	if !errors.Is(err, storeurl.ErrInvalid) || !strings.Contains(err.Error(), `invalid database number: "two"`) {
		t.Fatalf("Open with a bad database = %v; want the reason", err)
	}
}

func TestOpenReportsOneConnectErrorOnce(t *testing.T) {
	// localhost with the default sslmode=prefer: pgx tries twice per
	// address and used to report every attempt.
	_, port, _ := net.SplitHostPort(closedPort(t))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, err := storeurl.Open(ctx, "postgres://root@localhost:"+port+"/test")
	if !errors.Is(err, storeurl.ErrUnreachable) {
		t.Fatalf("Open = %v; want ErrUnreachable", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "creating table") || strings.Count(msg, "connection refused") != 1 || !strings.Contains(msg, "cannot connect") {
		t.Fatalf("Open = %q; want one plain 'cannot connect' with the reason once", msg)
	}
}

// FuzzRedact checks, for any password, that Redact hides it both in the
// user information and in a password parameter, and that redacting twice
// changes nothing more.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"hunter2", "p@ss:word/?#", "xxxxx", "%zz", "pässwörd", "a b&c=d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, password string) {
		for _, raw := range []string{
			"postgres://u:" + url.QueryEscape(password) + "@db:5432/app?sslmode=disable&password=" + url.QueryEscape(password),
			"redis://:" + url.PathEscape(password) + "@cache:6379/0?prefix=p:",
			"sqlite:app.db?sslpassword=" + url.QueryEscape(password),
			"host=db password=" + strings.Join(strings.Fields(password), ""),
		} {
			got := storeurl.Redact(raw)
			if again := storeurl.Redact(got); again != got {
				t.Fatalf("Redact is not idempotent: %q then %q", got, again)
			}
			// Only a password that could not be mistaken for the rest of
			// the redacted URL, its mask included, can be looked for.
			const rest = "postgres://u:xxxxx@db:5432/app?sslmode=disable&password=xxxxx redis://:xxxxx@cache:6379/0?prefix=p: sqlite:app.db?sslpassword=xxxxx host=db password=xxxxx"
			for _, form := range []string{password, url.QueryEscape(password), url.PathEscape(password)} {
				if len(form) >= 3 && !strings.Contains(rest, form) && strings.Contains(got, form) {
					t.Fatalf("Redact(%q) = %q reveals the password", raw, got)
				}
			}
		}
	})
}
