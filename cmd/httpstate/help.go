package main

import (
	"fmt"
	"io"
	"strings"
)

const mainHelp = `httpstate: the httpstate demo shop, and tools to inspect and revoke sessions.

Usage:

  httpstate serve [--addr localhost:8080] [--store URL]   run the demo shop
  httpstate sessions list --user U [--json]               list a user's live sessions
  httpstate sessions revoke --user U                      end all of a user's sessions
  httpstate sessions revoke [--user U] --handle H         end one session
  httpstate gc [--batch 1000]                             delete expired sessions
  httpstate stats [--user U]                              check the store and measure it
  httpstate version                                       print the version
  httpstate help [command|stores]                         show help

Every command takes --store URL; the default is $HTTPSTATE_STORE, or
sqlite:httpstate.db in the working directory. See 'httpstate help stores'.

Exit codes:

  0  success
  1  failure: the store is unreachable, a session was not found,
     the address is in use, gc was interrupted
  2  usage error: unknown command or flag, missing argument,
     malformed or unknown store URL
`

var commandHelp = map[string]string{
	"serve": `Usage: httpstate serve [flags]

Runs the demo web shop: log in (alice / correct horse, bob / battery
staple), fill a cart, set preferences, see and revoke your devices, and
get API tokens. It prints its URL and the demo accounts, logs to standard
error, and shuts down gracefully on SIGINT or SIGTERM.

The session cookie is Secure: browsers accept it over HTTPS and on
http://localhost, so open the shop at http://localhost:PORT rather than
at a LAN address.

Servers given the same --store (PostgreSQL, MySQL, Redis) and the same
secret act as one site: log in on one, continue on another.

Two separate shops on one host (say, two stores to compare) need
different --cookie-prefix values: browsers keep one set of cookies per
host, whatever the port, so without it each shop's session cookie would
replace the other's and log you out there.

serve is the only command that creates an SQLite file; the others refuse
a path that does not exist.

Flags:

  --addr HOST:PORT     address to listen on (default localhost:8080)
  --store URL          where sessions are kept (default sqlite:httpstate.db)
  --secret-file PATH   file holding the secret that seals preference
                       cookies and signs access tokens; created with a
                       random secret if missing (default httpstate.key).
                       $HTTPSTATE_SECRET, if set, is used instead.
  --cookie-prefix P    name the cookies __Host-P-session, __Host-P-prefs
                       and __Host-P-theme (default: no prefix); 1 to 20
                       letters, digits, '-' or '_'
  --device-binding M   off, report-only or enforce (default enforce):
                       Device Bound Session Credentials, by which Chrome
                       binds a logged-in session to a key on the device,
                       so that copied cookies stop working within ten
                       minutes. Chrome binds only over HTTPS with a
                       certificate it trusts: on http://localhost sessions
                       stay unbound. Other browsers are never bound.
  --log-format FORMAT  text or json (default text)
  --log-level LEVEL    debug, info, warn or error (default info)
`,
	"sessions": `Usage:

  httpstate sessions list --user U [--json] [--store URL]
  httpstate sessions revoke --user U [--store URL]
  httpstate sessions revoke --handle H [--user U] [--store URL]

list prints the live sessions of user U, browser sessions and API clients
(refresh token families), most recently used first: the start of each
handle, when it was created and last seen, when it ends, and the browser
(described as on the shop's device page, such as "Firefox 128 on Linux")
and address it was last used from. --json prints every field, with full
handles and the raw User-Agent.

revoke --user U ends every session and API client of user U, as after a
compromised password. revoke --handle H ends one: H is a full handle, or,
together with --user, the start of one as printed by list; an empty H is
a usage error. A revoked browser is logged out on its next request. An
API client's access token stays valid until it expires (minutes); it can
no longer be refreshed.

Exit status 1 if the handle names no live session.
`,
	"gc": `Usage: httpstate gc [--batch N] [--store URL]

Deletes expired sessions and API token families, N at a time (default
1000), printing progress on standard error, until none is left. Expired
records are already invisible; gc reclaims their space. Redis and
Memcached expire records by themselves, so gc finds nothing there. SIGINT
stops it between batches.
`,
	"stats": `Usage: httpstate stats [--user U] [--store URL]

Reports what can be measured through the Store interface: the kind of
store, whether it answers, and the round-trip time of a read. With --user,
also how many live sessions and API clients the user has. Stores do not
count their records portably; use the database's own tools for totals.
`,
	"stores": `Store URLs (--store, or $HTTPSTATE_STORE):

  memory:                                 this process's memory; gone when it exits
  sqlite:PATH                             an SQLite file, created by serve if missing
                                          (sqlite:httpstate.db, sqlite:///var/lib/httpstate.db)
  postgres://USER:PASS@HOST:5432/DB       PostgreSQL; libpq parameters such as
                                          sslmode=disable pass through
  mysql://USER:PASS@HOST:3306/DB          MySQL or MariaDB
  redis://[USER:PASS@]HOST:6379[/DB]      Redis (rediss:// for TLS); no DB is database 0
  redis://HOST:7001?addr=HOST:7002        Redis Cluster: list more nodes with addr
  redis://HOST:26379?master_set=NAME      Redis Sentinel: the sentinels, and the
                                          name of the master they watch
  memcached://HOST:11211[,HOST:11212]     one or more Memcached servers
  dynamodb://TABLE?region=REGION          an Amazon DynamoDB table; endpoint=URL for an
                                          emulator such as dynalite, create_table=true
                                          to create it (development); credentials from
                                          the AWS SDK's usual sources

Options: table=NAME for the SQL stores, prefix=PREFIX for Redis and
Memcached. API refresh tokens are kept next to the sessions, in the table
NAME_tokens (TABLE_tokens for DynamoDB) or under the prefix PREFIXtokens:.

Passwords, and parameters whose names say they hold a secret (any name
with pass, pwd, secret, token, auth or credential in it, and API, access,
private or session keys), and the password of a URL given as a
parameter (an emulator's endpoint), are shown as xxxxx wherever a URL is
printed: the banner, logs, stats and error messages.
`,
}

// usages are the one-line forms printed under a usage error.
var usages = map[string]string{
	"":                "httpstate COMMAND [flags], where COMMAND is serve, sessions, gc, stats, version or help",
	"serve":           "httpstate serve [--addr HOST:PORT] [--store URL] [--secret-file PATH] [--cookie-prefix P] [--device-binding off|report-only|enforce] [--log-format text|json] [--log-level LEVEL]",
	"sessions":        "httpstate sessions list|revoke [flags]",
	"sessions list":   "httpstate sessions list --user U [--json] [--store URL]",
	"sessions revoke": "httpstate sessions revoke --user U | --handle H | --user U --handle PREFIX [--store URL]",
	"gc":              "httpstate gc [--batch N] [--store URL]",
	"stats":           "httpstate stats [--user U] [--store URL]",
}

// usageLine is the line printed under a usage error of cmd: its form and
// where its help is.
func usageLine(cmd string) string {
	u, ok := usages[cmd]
	if !ok {
		u = usages[""]
	}
	if topic := topicOf(cmd); topic != "" {
		return fmt.Sprintf("usage: %s (more: httpstate help %s)", u, topic)
	}
	return fmt.Sprintf("usage: %s (more: httpstate help)", u)
}

func helpFor(cmd string) string {
	if h, ok := commandHelp[cmd]; ok {
		return h
	}
	return mainHelp
}

func help(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, mainHelp)
		return nil
	}
	topic := strings.TrimSpace(args[0])
	h, ok := commandHelp[topic]
	if !ok {
		return usagef("", "no help for %q; topics: serve, sessions, gc, stats, stores", topic)
	}
	fmt.Fprint(stdout, h)
	return nil
}
