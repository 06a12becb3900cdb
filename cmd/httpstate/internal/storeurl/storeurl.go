// Package storeurl opens a session.Store named by a URL: the --store flag
// of cmd/httpstate. The forms are
//
//	memory:                                 this process's memory; gone when it exits
//	sqlite:PATH                             an SQLite file; created if missing only with
//	                                        CreateIfMissing (sqlite:httpstate.db,
//	                                        sqlite:///var/lib/httpstate.db)
//	postgres://USER:PASS@HOST:5432/DB       PostgreSQL (also postgresql://); libpq
//	                                        parameters such as sslmode pass through
//	mysql://USER:PASS@HOST:3306/DB          MySQL or MariaDB
//	redis://[USER:PASS@]HOST:6379[/DB]      Redis (rediss:// for TLS); no DB, or a bare
//	                                        "/", is database 0
//	redis://HOST:7001?addr=HOST:7002        Redis Cluster: every extra node in an addr
//	redis://HOST:26379?master_set=NAME      Redis Sentinel: the sentinels, and the
//	                                        name of the master they watch
//	memcached://HOST:11211[,HOST:11212]     one or more Memcached servers
//	dynamodb://TABLE?region=REGION          an Amazon DynamoDB table; endpoint=URL for an
//	                                        emulator such as dynalite, create_table=true to
//	                                        create a missing table (development); credentials
//	                                        from the AWS SDK's usual sources
//
// SQL stores take table=NAME and the key-value stores prefix=PREFIX to share
// a database or server with other applications.
//
// Errors distinguish a URL that can never work (ErrInvalid: a typo, an
// unknown scheme) from a store that did not answer (ErrUnreachable), so a
// command can tell its user which one to fix. No secret of the URL (a
// password, a secret query parameter) ever appears in an error or in
// Location.Redacted; use Redact to show a URL.
package storeurl

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/httpstate/httpstate/session"
)

var (
	// ErrInvalid reports a store URL that is malformed or names an unknown
	// scheme: retrying cannot help, the URL must change.
	ErrInvalid = errors.New("invalid store URL")

	// ErrUnreachable reports a store that could not be opened or did not
	// answer a first request: a server that is down, a wrong address or
	// password, a file that cannot be created.
	ErrUnreachable = errors.New("store unreachable")
)

// Kinds of store, as returned by Parse.
const (
	Memory    = "memory"
	SQLite    = "sqlite"
	Postgres  = "postgres"
	MySQL     = "mysql"
	Redis     = "redis"
	Memcached = "memcached"
	DynamoDB  = "dynamodb"
)

// DefaultURL is the store cmd/httpstate uses when none is given: a file in
// the working directory, so sessions survive a restart with nothing to
// install.
const DefaultURL = "sqlite:httpstate.db"

// PingTimeout bounds Open's first request when ctx has no earlier deadline.
const PingTimeout = 5 * time.Second

// Location is a parsed store URL.
type Location struct {
	// Kind is one of Memory, SQLite, Postgres, MySQL, Redis, Memcached,
	// DynamoDB.
	Kind string
	// Redacted is the URL with every secret replaced by "xxxxx" (see
	// Redact), safe to print and log.
	Redacted string

	raw  *url.URL // the parsed URL; nil for memory:
	path string   // the file of an SQLite store
}

// Parse checks rawURL's syntax and names the kind of store it opens
// without contacting it. Errors wrap ErrInvalid and never contain a
// secret of rawURL.
func Parse(rawURL string) (Location, error) {
	scheme, rest, ok := strings.Cut(rawURL, ":")
	if !ok || scheme == "" {
		return Location{}, invalid(rawURL, "missing scheme; "+schemesHint)
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "memory":
		if rest != "" && rest != "//" {
			return Location{}, invalid(rawURL, `memory: takes no address or options; write "memory:"`)
		}
		return Location{Kind: Memory, Redacted: "memory:"}, nil
	case "sqlite", "sqlite3":
		return parseSQLite(rawURL, rest)
	}
	kind, known := schemes[scheme]
	if !known {
		return Location{}, invalid(rawURL, fmt.Sprintf("unknown scheme %q; %s", scheme, schemesHint))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, password included.
		return Location{}, invalid(rawURL, "malformed URL")
	}
	if u.Host == "" {
		return Location{}, invalid(rawURL, "missing host; for example "+scheme+"://127.0.0.1")
	}
	return Location{Kind: kind, Redacted: Redact(rawURL), raw: u}, nil
}

var schemes = map[string]string{
	"postgres":   Postgres,
	"postgresql": Postgres,
	"mysql":      MySQL,
	"mariadb":    MySQL,
	"redis":      Redis,
	"rediss":     Redis,
	"memcached":  Memcached,
	"memcache":   Memcached,
	"dynamodb":   DynamoDB,
}

const schemesHint = "want memory:, sqlite:PATH, postgres://, mysql://, redis://, rediss://, memcached:// or dynamodb://"

// invalid reports why rawURL can never work. why may quote a driver's
// message about the URL, so its secrets are masked too.
func invalid(rawURL, why string) error {
	return fmt.Errorf("%w %q: %s", ErrInvalid, Redact(rawURL), scrub(why, secretsOf(rawURL)))
}

// parseSQLite accepts sqlite:PATH and sqlite:///ABSOLUTE/PATH, each with an
// optional ?table=NAME. A relative path is relative to the working
// directory.
func parseSQLite(rawURL, rest string) (Location, error) {
	path, query, _ := strings.Cut(rest, "?")
	if strings.HasPrefix(path, "//") {
		if !strings.HasPrefix(path, "///") {
			return Location{}, invalid(rawURL, "write sqlite:RELATIVE/PATH or sqlite:///ABSOLUTE/PATH (sqlite://NAME would name a host)")
		}
		path = path[2:]
	}
	p, err := url.PathUnescape(path)
	if err != nil || p == "" {
		return Location{}, invalid(rawURL, "missing file path; for example sqlite:httpstate.db")
	}
	u := &url.URL{Scheme: "sqlite", Opaque: path, RawQuery: query}
	if _, err := url.ParseQuery(query); err != nil {
		return Location{}, invalid(rawURL, "malformed query")
	}
	return Location{Kind: SQLite, Redacted: Redact(rawURL), raw: u, path: p}, nil
}

// Open opens the store rawURL names and checks that it answers, within
// ctx and at most PingTimeout. The Closer releases its connections (and,
// for memory:, stops its sweeper); call it when done with the store.
//
// Errors wrap ErrInvalid for a URL that can never work and ErrUnreachable
// for a store that did not open or answer (also, wrapping fs.ErrNotExist,
// for an SQLite file that does not exist and CreateIfMissing was not
// given). No error contains a secret of rawURL, even where a driver
// quoted one.
func Open(ctx context.Context, rawURL string, opts ...Option) (session.Store, io.Closer, error) {
	store, closer, err := open(ctx, rawURL, opts)
	return store, closer, scrubError(err, rawURL)
}

func open(ctx context.Context, rawURL string, opts []Option) (session.Store, io.Closer, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.namespace != "" && !validNamespace(o.namespace) {
		return nil, nil, fmt.Errorf("storeurl: namespace %q: want 1 to 16 lower-case letters, digits or underscores", o.namespace)
	}
	loc, err := Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	open := openers[loc.Kind]
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	store, closer, err := open(ctx, loc, o)
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, loc.Redacted, err)
	}
	if _, err := Ping(ctx, store); err != nil {
		closer.Close()
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, loc.Redacted, err)
	}
	return store, closer, nil
}

// Option changes what Open opens.
type Option func(*options)

type options struct {
	namespace string
	create    bool
}

// CreateIfMissing lets Open create the SQLite file the URL names if it
// does not exist yet. Without it, a missing file is an error wrapping
// ErrUnreachable and fs.ErrNotExist, so that a mistyped path is reported
// rather than answered from a new, empty database. Other stores ignore it.
func CreateIfMissing() Option {
	return func(o *options) { o.create = true }
}

// Namespace opens a second, separate set of records in the database or
// server the URL names, for data that must not mix with sessions (such as
// API refresh tokens, which package token keeps in a Store of their own).
// SQL stores and DynamoDB use the table name with "_"+name appended;
// key-value stores add name+":" to the key prefix; memory: is a separate
// store anyway. name is 1 to 16 lower-case letters, digits or underscores.
func Namespace(name string) Option {
	return func(o *options) { o.namespace = name }
}

func validNamespace(ns string) bool {
	if len(ns) > 16 {
		return false
	}
	for _, c := range ns {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// table returns the table an SQL store uses: the URL's table parameter or
// the stores' default, in o's namespace. The name must suit every SQL
// store: lower-case ASCII letters, digits and underscores, not starting
// with a digit, at most 48 characters.
func (o options) table(loc Location, param string) (string, error) {
	t := param
	if t == "" {
		t = defaultTable
	}
	if o.namespace != "" {
		t += "_" + o.namespace
	}
	ok := len(t) <= 48 && (t[0] < '0' || t[0] > '9')
	for _, c := range t {
		ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_')
	}
	if !ok {
		return "", invalid(loc.Redacted, fmt.Sprintf("table name %q: want lower-case letters, digits and underscores, not starting with a digit, at most 48 characters", t))
	}
	return t, nil
}

// prefix returns the key prefix a key-value store uses: the URL's prefix
// parameter or the stores' default, in o's namespace.
func (o options) prefix(q url.Values) string {
	p := defaultPrefix
	if q.Has("prefix") {
		p = q.Get("prefix")
	}
	if o.namespace != "" {
		p += o.namespace + ":"
	}
	return p
}

// The defaults every store package uses, repeated here so that a
// namespace can be derived from them.
const (
	defaultTable  = "httpstate_sessions"
	defaultPrefix = "httpstate:"
)

// opener opens one kind of store. Errors that are the URL's fault wrap
// ErrInvalid; any other error is reported as unreachable.
type opener func(ctx context.Context, loc Location, o options) (session.Store, io.Closer, error)

// Ping makes one round trip to store, a Load of a random ID that cannot
// exist, and returns how long it took. A store that answers "not found" is
// healthy; any other answer is an error.
func Ping(ctx context.Context, store session.Store) (time.Duration, error) {
	var b [32]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	start := time.Now()
	_, err := store.Load(ctx, id)
	took := time.Since(start)
	if errors.Is(err, session.ErrNotFound) {
		return took, nil
	}
	if err == nil {
		return took, errors.New("a Load of a random ID found a record; the store is not answering honestly")
	}
	return took, err
}

// query returns loc's query parameters, rejecting any not in allowed so a
// misspelt option is an error rather than silently ignored. With
// passThrough, unknown parameters are returned in rest for the driver.
func (loc Location) query(allowed []string, passThrough bool) (ours, rest url.Values, err error) {
	q, err := url.ParseQuery(loc.raw.RawQuery)
	if err != nil {
		return nil, nil, invalid(loc.Redacted, "malformed query")
	}
	ours, rest = url.Values{}, url.Values{}
	for k, v := range q {
		switch {
		case slices.Contains(allowed, k):
			ours[k] = v
		case passThrough:
			rest[k] = v
		default:
			return nil, nil, invalid(loc.Redacted, fmt.Sprintf("unknown parameter %q (known: %s)", k, strings.Join(allowed, ", ")))
		}
	}
	return ours, rest, nil
}
