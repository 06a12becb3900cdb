package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
)

// runCmd runs the command line in-process and returns its exit code and
// output.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runContext(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpDocumentsCommandsAndExitCodes(t *testing.T) {
	code, out, _ := runCmd(t, "help")
	if code != exitOK {
		t.Fatalf("help exited %d", code)
	}
	for _, want := range []string{"serve", "sessions list", "sessions revoke", "gc", "stats", "Exit codes", "0  success", "1  failure", "2  usage error"} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not mention %q", want)
		}
	}
	for _, topic := range []string{"serve", "sessions", "gc", "stats", "stores"} {
		if code, out, _ := runCmd(t, "help", topic); code != exitOK || len(out) < 100 {
			t.Errorf("help %s: exit %d, %d bytes", topic, code, len(out))
		}
	}
	for _, args := range [][]string{{"serve", "-h"}, {"gc", "--help"}, {"sessions", "revoke", "-h"}} {
		if code, out, errOut := runCmd(t, args...); code != exitOK || !strings.HasPrefix(out, "Usage") || errOut != "" {
			t.Errorf("%s: exit %d, stdout %.40q, stderr %q; want the help on stdout", strings.Join(args, " "), code, out, errOut)
		}
	}
	if code, out, _ := runCmd(t, "version"); code != exitOK || !strings.HasPrefix(out, "httpstate ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	tests := []struct {
		args []string
		msg  string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"help", "frobnicate"}, "no help"},
		{[]string{"sessions"}, "needs a subcommand"},
		{[]string{"sessions", "lsit"}, "unknown subcommand"},
		{[]string{"sessions", "list", "--store", db}, "needs --user"},
		{[]string{"sessions", "list", "--user", "a", "--frob"}, "flag provided but not defined"},
		{[]string{"sessions", "revoke", "--store", db}, "needs --user, --handle"},
		{[]string{"sessions", "revoke", "--store", db, "--handle", "abc"}, "full 43-character handle"},
		{[]string{"gc", "--store", db, "--batch", "0"}, "--batch must be positive"},
		{[]string{"gc", "--store", db, "extra"}, "unexpected argument"},
		{[]string{"stats", "--store", "ftp://example.com"}, `unknown scheme "ftp"`},
		{[]string{"stats", "--store", "httpstate.db"}, "missing scheme"},
		{[]string{"stats", "--store", "memcached://127.0.0.1:1?prefx=y"}, "unknown parameter"},
		{[]string{"stats", "--store", "postgres://u:hunter2@db/x?table=Bad-Name"}, "table name"},
		{[]string{"serve", "--store", "sqlite:"}, "missing file path"},
		{[]string{"serve", "--log-format", "xml", "--store", "memory:"}, "want text or json"},
		{[]string{"sessions", "revoke", "--store", db, "--user", "alice", "--handle", ""}, "--handle is empty"},
		{[]string{"sessions", "revoke", "--store", db, "--user", " ", "--handle", "abc"}, "--user is empty"},
		{[]string{"sessions", "list", "--store", "", "--user", "alice"}, "--store is empty"},
		{[]string{"serve", "--addr", "0.0.0.0:99999", "--store", "memory:"}, "port \"99999\" is not a number from 0 to 65535"},
		{[]string{"serve", "--addr", "localhost", "--store", "memory:"}, "want HOST:PORT"},
		{[]string{"serve", "--cookie-prefix", "two words", "--store", "memory:"}, "--cookie-prefix"},
		{[]string{"serve", "--device-binding", "strict", "--store", "memory:"}, "want off, report-only or enforce"},
		{[]string{"stats", "--store", "redis://127.0.0.1:6379/x"}, `invalid database number: "x"`},
	}
	for _, tt := range tests {
		code, _, stderr := runCmd(t, tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.msg) {
			t.Errorf("httpstate %s: exit %d, stderr %q; want 2 and %q", strings.Join(tt.args, " "), code, stderr, tt.msg)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("httpstate %s: the password reached stderr", strings.Join(tt.args, " "))
		}
	}
}

// TestAMistakeGetsOneLineAndAUsageLine checks that a usage error prints
// the error once and a short usage line, not the whole help.
func TestAMistakeGetsOneLineAndAUsageLine(t *testing.T) {
	for args, usage := range map[string]string{
		"sessions list --user a --frob":   "usage: httpstate sessions list --user U",
		"sessions revoke --frob":          "usage: httpstate sessions revoke",
		"gc --batch x":                    "usage: httpstate gc",
		"stats --user":                    "usage: httpstate stats",
		"serve --addr":                    "usage: httpstate serve",
		"frobnicate":                      "usage: httpstate COMMAND",
		"sessions lsit":                   "usage: httpstate sessions list|revoke",
		"sessions revoke --handle abc de": "usage: httpstate sessions revoke",
	} {
		code, out, stderr := runCmd(t, strings.Fields(args)...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != exitUsage || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "httpstate: ") || !strings.HasPrefix(lines[1], usage) {
			t.Errorf("httpstate %s: exit %d, stdout %q, stderr:\n%s\nwant exit 2, one error line and %q", args, code, out, stderr, usage)
		}
	}
}

func TestUnreachableStoreExits1(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, u := range []string{
		"postgres://root:hunter2@" + addr + "/test?sslmode=disable",
		"memcached://" + addr,
		"sqlite:" + filepath.Join(t.TempDir(), "missing", "dir", "x.db"),
	} {
		for _, cmd := range [][]string{{"stats"}, {"gc"}, {"sessions", "list", "--user", "alice"}} {
			args := append(cmd, "--store", u)
			code, _, stderr := runCmd(t, args...)
			if code != exitFailure || !strings.Contains(stderr, "store unreachable") || strings.Contains(stderr, "hunter2") {
				t.Errorf("httpstate %s: exit %d, stderr %q; want 1 and a clear message", strings.Join(args, " "), code, stderr)
			}
			if strings.Count(stderr, "connection refused") > 1 || strings.Contains(stderr, "creating table") {
				t.Errorf("httpstate %s: the reason is repeated or misleading:\n%s", strings.Join(args, " "), stderr)
			}
		}
	}
}

// TestOnlyServeCreatesAnSQLiteFile runs the commands that read or delete
// on a mistyped path: each must fail, and leave no new file behind.
func TestOnlyServeCreatesAnSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htppstate.db")
	for _, cmd := range [][]string{{"stats"}, {"gc"}, {"sessions", "list", "--user", "alice"}, {"sessions", "revoke", "--user", "alice"}} {
		args := append(cmd, "--store", "sqlite:"+path)
		code, _, stderr := runCmd(t, args...)
		if code != exitFailure || !strings.Contains(stderr, "no such file") {
			t.Errorf("httpstate %s: exit %d, stderr %q; want 1 and 'no such file'", strings.Join(args, " "), code, stderr)
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatalf("httpstate %s created %s", strings.Join(args, " "), path)
		}
	}
	_, stop := startServe(t, "--store", "sqlite:"+path, "--secret-file", filepath.Join(t.TempDir(), "k"))
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("serve did not create the database: %v", err)
	}
	if code, _, stderr := runCmd(t, "stats", "--store", "sqlite:"+path); code != exitOK {
		t.Fatalf("stats on the file serve created: exit %d: %s", code, stderr)
	}
}

// loggedIn runs a demo shop on the store at rawURL and logs user in from
// n clients, with and without "remember me", plus one API client; it
// returns the clients' session cookies.
func loggedIn(t *testing.T, rawURL string, user demo.Account, n int) []*http.Cookie {
	t.Helper()
	ctx := t.Context()
	sessions, c1, err := storeurl.Open(ctx, rawURL, storeurl.CreateIfMissing())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	tokens, c2, err := storeurl.Open(ctx, rawURL, storeurl.Namespace(tokensNamespace), storeurl.CreateIfMissing())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	app, err := demo.New(ctx, demo.Config{Sessions: sessions, Tokens: tokens, Secret: bytes.Repeat([]byte("k"), 32), Accounts: []demo.Account{user}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(app.Handler())
	defer srv.Close()
	var cookies []*http.Cookie
	for i := range n {
		jar, _ := cookiejar.New(nil)
		c := srv.Client()
		c.Jar = jar
		form := url.Values{"username": {user.Username}, "password": {user.Password}}
		if i%2 == 1 {
			form.Set("remember", "on")
		}
		req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0 test-client-"+string(rune('a'+i)))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(srv.URL)
		for _, ck := range jar.Cookies(u) {
			if ck.Name == "__Host-session" {
				cookies = append(cookies, ck)
			}
		}
	}
	body := `{"username":"` + user.Username + `","password":"` + user.Password + `"}`
	resp, err := srv.Client().Post(srv.URL+"/api/token", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("api login: %v %v", err, resp)
	}
	resp.Body.Close()
	if len(cookies) != n {
		t.Fatalf("got %d session cookies; want %d", len(cookies), n)
	}
	return cookies
}

// adminStores are the stores the admin commands are tested against.
func adminStores(t *testing.T) map[string]string {
	stores := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "admin.db")}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	try := func(name, u string) {
		_, c, err := storeurl.Open(ctx, u)
		if err != nil {
			t.Logf("%s unavailable: %v", name, err)
			if testenv.InCI() {
				t.Errorf("%s is required in CI: %v", name, err)
			}
			return
		}
		c.Close()
		stores[name] = u
	}
	try("postgres", withParam(testenv.PostgresURL, "table=cmd_admin_test"))
	if cfg, err := gomysql.ParseDSN(testenv.MySQLDSN); err == nil {
		u := &url.URL{Scheme: "mysql", User: url.UserPassword(cfg.User, cfg.Passwd), Host: cfg.Addr, Path: "/" + cfg.DBName, RawQuery: "table=cmd_admin_test"}
		if cfg.Passwd == "" {
			u.User = url.User(cfg.User)
		}
		try("mysql", u.String())
	}
	try("redis", "redis://"+testenv.RedisAddr+"?prefix=cmd-admin-test:")
	return stores
}

func TestSessionsListAndRevoke(t *testing.T) {
	for name, u := range adminStores(t) {
		t.Run(name, func(t *testing.T) {
			user := demo.Account{Username: "dave-" + strings.ToLower(storetest.NewID()[:8]), Name: "Dave", Password: "correct horse"}
			loggedIn(t, u, user, 4)

			code, out, stderr := runCmd(t, "sessions", "list", "--store", u, "--user", user.Username)
			if code != exitOK {
				t.Fatalf("list: exit %d: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 6 || !strings.HasPrefix(lines[0], "HANDLE") {
				t.Fatalf("list printed %d lines; want a header, 4 browser sessions and 1 API client:\n%s", len(lines), out)
			}
			if strings.Count(out, " browser ") != 4 || strings.Count(out, " api ") != 1 || strings.Count(out, "Firefox 128 on Linux") != 4 || !strings.Contains(out, "127.0.0.1") {
				t.Fatalf("list lacks kinds, browsers (described as the web page does) or addresses:\n%s", out)
			}
			if strings.Contains(out, "Mozilla/5.0") || !strings.Contains(out, "(API client, 0 refreshes)") {
				t.Fatalf("list shows raw User-Agent strings, or no API client line:\n%s", out)
			}

			code, out, _ = runCmd(t, "sessions", "list", "--store", u, "--user", user.Username, "--json")
			var list []struct {
				Handle, Kind, User, Browser string
				UserAgent                   string `json:"user_agent"`
				Remembered                  bool
			}
			if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list) != 5 {
				t.Fatalf("list --json: exit %d, %q", code, out)
			}
			var browsers []string
			for _, e := range list {
				if e.User != user.Username {
					t.Errorf("an entry of user %q in %s's list", e.User, user.Username)
				}
				if e.Kind == "browser" {
					browsers = append(browsers, e.Handle)
					if e.Browser != "Firefox 128 on Linux" || !strings.HasPrefix(e.UserAgent, "Mozilla/5.0") {
						t.Errorf("--json: browser %q, user_agent %q; want both the description and the raw header", e.Browser, e.UserAgent)
					}
				}
			}

			// One by full handle, one by prefix with --user.
			if code, out, stderr := runCmd(t, "sessions", "revoke", "--store", u, "--handle", browsers[0]); code != exitOK || !strings.Contains(out, "Revoked browser session") {
				t.Fatalf("revoke --handle: exit %d %q %q", code, out, stderr)
			}
			if code, _, stderr := runCmd(t, "sessions", "revoke", "--store", u, "--handle", browsers[0]); code != exitFailure || !strings.Contains(stderr, "no live session") {
				t.Fatalf("revoking it again: exit %d %q; want 1", code, stderr)
			}
			if code, out, stderr := runCmd(t, "sessions", "revoke", "--store", u, "--user", user.Username, "--handle", browsers[1][:10]); code != exitOK || !strings.Contains(out, "Revoked browser session") {
				t.Fatalf("revoke --user --handle prefix: exit %d %q %q", code, out, stderr)
			}
			if code, _, _ := runCmd(t, "sessions", "revoke", "--store", u, "--user", "someone-else", "--handle", browsers[2][:10]); code != exitFailure {
				t.Fatalf("another user's handle prefix was accepted")
			}
			if code, _, _ := runCmd(t, "sessions", "revoke", "--store", u, "--user", user.Username, "--handle", ""); code != exitUsage {
				t.Fatalf("revoke --handle \"\": exit %d; want a usage error, not every session revoked", code)
			}
			code, out, _ = runCmd(t, "sessions", "revoke", "--store", u, "--user", user.Username)
			if code != exitOK || !strings.Contains(out, "Revoked 2 browser sessions and 1 API client of user") {
				t.Fatalf("revoke --user: exit %d %q", code, out)
			}
			if code, out, _ := runCmd(t, "sessions", "list", "--store", u, "--user", user.Username); code != exitOK || !strings.Contains(out, "No live sessions") {
				t.Fatalf("after revoking all: %q", out)
			}
		})
	}
}

func TestGCDeletesExpiredSessionsWithProgress(t *testing.T) {
	old := progressEvery
	progressEvery = 0
	t.Cleanup(func() { progressEvery = old })
	u := "sqlite:" + filepath.Join(t.TempDir(), "gc.db")
	store, closer, err := storeurl.Open(t.Context(), u, storeurl.CreateIfMissing())
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	var last time.Time
	for i := range 28 {
		// Each record gets its own short expiry, so none is already past
		// when it is saved however slow the machine.
		rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(200 * time.Millisecond), Data: []byte{1}}
		if i%10 == 0 {
			rec.Expiry = time.Now().Add(time.Hour)
			live = append(live, rec.ID)
		} else {
			last = rec.Expiry
		}
		if err := store.Save(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	closer.Close()
	// Expiry is a point in time; there is nothing to wait on but the clock.
	time.Sleep(time.Until(last) + 10*time.Millisecond)

	code, out, stderr := runCmd(t, "gc", "--store", u, "--batch", "10")
	if code != exitOK || !strings.Contains(out, "Deleted 25 expired sessions and 0 expired API token families.") {
		t.Fatalf("gc: exit %d, %q, %q", code, out, stderr)
	}
	if strings.Count(stderr, "so far") != 3 {
		t.Errorf("want a progress line per batch (3 batches) with progress every 0s:\n%s", stderr)
	}
	store, closer, err = storeurl.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	for _, id := range live {
		if _, err := store.Load(t.Context(), id); err != nil {
			t.Fatalf("gc deleted a live session: %v", err)
		}
	}
	if code, out, _ := runCmd(t, "gc", "--store", u); code != exitOK || !strings.Contains(out, "Deleted 0 expired sessions") {
		t.Fatalf("second gc: %d %q", code, out)
	}
}

func TestGCOnStoresThatExpireByThemselves(t *testing.T) {
	u := "redis://" + testenv.RedisAddr + "?prefix=cmd-gc-test:"
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, c, err := storeurl.Open(ctx, u)
	testenv.Require(t, "redis", err)
	c.Close()
	code, out, _ := runCmd(t, "gc", "--store", u)
	if code != exitOK || !strings.Contains(out, "redis expires records by itself") {
		t.Fatalf("gc on redis: %d %q", code, out)
	}
}

func TestStats(t *testing.T) {
	u := "sqlite:" + filepath.Join(t.TempDir(), "stats.db")
	user := demo.Account{Username: "erin", Name: "Erin", Password: "correct horse"}
	loggedIn(t, u, user, 2)
	code, out, stderr := runCmd(t, "stats", "--store", u, "--user", "erin")
	if code != exitOK {
		t.Fatalf("stats: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"kind:          sqlite", "reachable:     yes", "read latency:  median", "user erin:     2 browser sessions, 1 API client\n", "not countable"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCmd(t, "stats", "--store", "memory:")
	if code != exitOK || !strings.Contains(out, "records:       0 (this process's own memory") {
		t.Errorf("stats on memory: %d\n%s", code, out)
	}
}

// lineWriter hands each line written to it to a channel, so a test can
// wait for serve's banner instead of sleeping.
type lineWriter struct {
	w     *io.PipeWriter
	lines chan string
}

func newLineWriter() *lineWriter {
	r, w := io.Pipe()
	lw := &lineWriter{w: w, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lw.lines <- sc.Text()
		}
		close(lw.lines)
	}()
	return lw
}

func (lw *lineWriter) Write(p []byte) (int, error) { return lw.w.Write(p) }

// startServe runs "httpstate serve" in-process and returns its URL and a
// function that stops it (as SIGTERM would) and returns its exit code.
func startServe(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := newLineWriter()
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), out, &errOut)
		out.w.Close()
	}()
	for {
		select {
		case line, ok := <-out.lines:
			if !ok {
				t.Fatalf("serve exited early: %d\n%s", <-done, errOut.String())
			}
			if _, u, found := strings.Cut(line, "Open:"); found {
				stop := func() int {
					cancel()
					code := <-done
					if !strings.Contains(errOut.String(), "stopped") {
						t.Errorf("serve did not shut down gracefully:\n%s", errOut.String())
					}
					return code
				}
				go func() {
					for range out.lines {
					}
				}()
				return strings.TrimSpace(u), stop
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not print its URL within 30s")
		}
	}
}

func TestServeKeepsSessionsAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "shop.db")
	key := filepath.Join(dir, "shop.key")

	base, stop := startServe(t, "--store", store, "--secret-file", key)
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	// Log in as a browser would; plain Go clients do not send Secure
	// cookies over http://, so the cookie is carried by hand.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(base+"/login", url.Values{"username": {"alice"}, "password": {"correct horse"}, "remember": {"on"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-session" {
			cookie = c
		}
	}
	if cookie == nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d, cookie %v", resp.StatusCode, cookie)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d after SIGTERM", code)
	}
	info, err := os.Stat(key)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v; want 0600", err, info)
	}

	base, stop = startServe(t, "--store", store, "--secret-file", key)
	defer stop()
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Alice Liddell") {
		t.Fatal("the session did not survive a restart of serve")
	}
}

func TestServeReportsABusyAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	code, _, stderr := runCmd(t, "serve", "--addr", l.Addr().String(), "--store", "memory:", "--secret-file", filepath.Join(dir, "k"))
	if code != exitFailure || !strings.Contains(stderr, "listen") {
		t.Fatalf("busy address: exit %d, %q", code, stderr)
	}
}

func TestLoadSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	a, created, err := loadSecret(path)
	if err != nil || !created || len(a) < 32 {
		t.Fatalf("first load: %d bytes, created %v, %v", len(a), created, err)
	}
	b, created, err := loadSecret(path)
	if err != nil || created || !bytes.Equal(a, b) {
		t.Fatalf("second load differs or claims creation: %v %v", created, err)
	}
	t.Setenv("HTTPSTATE_SECRET", "too short")
	if _, _, err := loadSecret(path); err == nil {
		t.Fatal("a short HTTPSTATE_SECRET was accepted")
	}
	t.Setenv("HTTPSTATE_SECRET", strings.Repeat("s", 40))
	if c, _, err := loadSecret(path); err != nil || string(c) != strings.Repeat("s", 40) {
		t.Fatalf("HTTPSTATE_SECRET not used: %v", err)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HTTPSTATE_SECRET", "")
	if _, _, err := loadSecret(path); err == nil {
		t.Fatal("a short secret file was accepted")
	}
}

func TestBaseURL(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	for addr, want := range map[string]string{
		":8080":          "http://localhost:8080",
		"0.0.0.0:8080":   "http://localhost:8080",
		"[::]:8080":      "http://localhost:8080",
		"localhost:8080": "http://localhost:8080",
		"127.0.0.1:0":    "http://127.0.0.1:8080",
	} {
		if got := baseURL(addr, bound); got != want {
			t.Errorf("baseURL(%q) = %q; want %q", addr, got, want)
		}
	}
}

// TestTwoServeProcessesActAsOneSite runs "httpstate serve" twice on one
// shared store with one secret, as two processes behind a load balancer:
// a login on one is valid on the other, and "log out everywhere else" and
// logout on one are honoured by the other at once.
func TestTwoServeProcessesActAsOneSite(t *testing.T) {
	t.Setenv("HTTPSTATE_SECRET", "shared by both servers: "+strings.Repeat("s", 32))
	run := storetest.NewID()[:10]
	table := "cmd_two_serve_" + strings.ToLower(strings.ReplaceAll(run, "-", "_"))
	for name, u := range map[string]string{
		"redis":    "redis://" + testenv.RedisAddr + "?prefix=cmd-two-serve-" + run + ":",
		"postgres": withParam(testenv.PostgresURL, "table="+table),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, c, err := storeurl.Open(ctx, u)
			testenv.Require(t, name, err)
			c.Close()
			if name == "postgres" {
				t.Cleanup(func() { dropTables(t, table, table+"_"+tokensNamespace) })
			}
			dir := t.TempDir()
			a, stopA := startServe(t, "--store", u, "--secret-file", filepath.Join(dir, "unused.key"))
			defer stopA()
			b, stopB := startServe(t, "--store", u, "--secret-file", filepath.Join(dir, "unused.key"))
			defer stopB()

			laptop := loginOver(t, a)
			if !pageFor(t, b, laptop).loggedIn {
				t.Fatal("server B does not accept server A's login")
			}
			phone := loginOver(t, b)
			if p := postWith(t, a+"/devices/revoke-others", laptop); p != http.StatusSeeOther {
				t.Fatalf("log out everywhere else on A: status %d", p)
			}
			if pageFor(t, b, phone).loggedIn {
				t.Fatal("server B still accepts the phone's cookie after 'log out everywhere else' on A")
			}
			if !pageFor(t, b, laptop).loggedIn {
				t.Fatal("'log out everywhere else' logged out the laptop too")
			}
			postWith(t, a+"/logout", laptop)
			if pageFor(t, b, laptop).loggedIn {
				t.Fatal("server B accepts a cookie logged out on server A")
			}
		})
	}
}

func withParam(u, param string) string {
	if strings.Contains(u, "?") {
		return u + "&" + param
	}
	return u + "?" + param
}

// dropTables removes the tables a test created in the shared database.
func dropTables(t *testing.T, tables ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.PostgresURL)
	if err != nil {
		t.Logf("dropping test tables: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, tb := range tables {
		if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS "`+tb+`"`); err != nil {
			t.Logf("dropping %s: %v", tb, err)
		}
	}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// loginOver logs alice in at base and returns her session cookie. Go's
// client keeps Secure cookies for https only, so tests over http:// carry
// them by hand.
func loginOver(t *testing.T, base string) *http.Cookie {
	t.Helper()
	resp, err := noRedirect.PostForm(base+"/login", url.Values{"username": {"alice"}, "password": {"correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-session" {
			return c
		}
	}
	t.Fatalf("login at %s set no session cookie (status %d)", base, resp.StatusCode)
	return nil
}

func postWith(t *testing.T, target string, c *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("POST", target, nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type shopPage struct{ loggedIn bool }

func pageFor(t *testing.T, base string, c *http.Cookie) shopPage {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return shopPage{loggedIn: strings.Contains(string(body), `id="user-name"`)}
}

// runServeOnce runs serve until it has printed its banner (then stops it
// as SIGTERM would) or until it exits on its own, and returns everything
// it printed.
func runServeOnce(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := newLineWriter()
	var errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), out, &errOut)
		out.w.Close()
	}()
	var b strings.Builder
	for line := range out.lines {
		b.WriteString(line + "\n")
		if strings.HasPrefix(line, "Press Ctrl+C") {
			cancel()
		}
	}
	return <-done, b.String(), errOut.String()
}

// lockedBuffer is a bytes.Buffer for a writer used from another goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestSecretsAreNeverPrinted runs every command on store URLs of every
// scheme carrying secrets in the user information and in query
// parameters, some that work and some that fail at each stage, and
// searches everything printed: the serve banner and log, stats, and every
// error message.
func TestSecretsAreNeverPrinted(t *testing.T) {
	secrets := []string{"hunter2", "s3cret-param", "t0ken-value"}
	dir := t.TempDir()
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	// PostgreSQL here trusts local connections, so a password in the URL
	// is sent and ignored: the store works and serve prints its banner.
	pg, err := url.Parse(withParam(testenv.PostgresURL, "table=cmd_secret_test&password=s3cret-param"))
	if err != nil {
		t.Fatal(err)
	}
	pg.User = url.UserPassword(pg.User.Username(), "hunter2")
	working := pg.String()
	t.Cleanup(func() { dropTables(t, "cmd_secret_test", "cmd_secret_test_"+tokensNamespace) })

	urls := []string{
		working,
		"postgres://u:hunter2@" + closed + "/db?password=s3cret-param&sslpassword=t0ken-value",
		"postgresql://u:hunter2@db:port/db?password=s3cret-param",
		"mysql://root:hunter2@" + closed + "/test?password=s3cret-param",
		"mysql://root:hunter2@127.0.0.1:3306/test?tls=bogus&auth_token=t0ken-value",
		"redis://:hunter2@" + testenv.RedisAddr + "?prefix=cmd-secret-test:",
		"redis://u:hunter2@" + closed + "/0?password=s3cret-param",
		"rediss://:hunter2@" + closed + "/x",
		"memcached://" + closed + "?token=t0ken-value",
		"memcached://u:hunter2@" + closed,
		"sqlite:" + filepath.Join(dir, "x.db") + "?password=s3cret-param",
		"memory:?password=s3cret-param",
		"ftp://u:hunter2@x?password=s3cret-param",
		"host=db password=hunter2",
	}
	commands := [][]string{{"stats"}, {"stats", "--user", "alice"}, {"gc"}, {"sessions", "list", "--user", "alice"}, {"sessions", "revoke", "--user", "alice"}}
	for _, u := range urls {
		var printed []string
		code, stdout, stderr := runServeOnce(t, "--store", u, "--secret-file", filepath.Join(dir, "key"))
		printed = append(printed, stdout, stderr)
		if u == working && (code != exitOK || !strings.Contains(stdout, "Store:") || !strings.Contains(stderr, `msg=serving`)) {
			t.Errorf("serve on a working PostgreSQL URL: exit %d; want its banner and log\n%s\n%s", code, stdout, stderr)
		}
		for _, cmd := range commands {
			code, stdout, stderr := runCmd(t, append(cmd, "--store", u)...)
			printed = append(printed, stdout, stderr)
			if u == working && cmd[0] == "stats" && (code != exitOK || !strings.Contains(stdout, "store:")) {
				t.Errorf("stats on a working URL: exit %d\n%s%s", code, stdout, stderr)
			}
		}
		for _, p := range printed {
			for _, s := range secrets {
				if strings.Contains(p, s) {
					t.Errorf("a secret of %s was printed:\n%s", storeurl.Redact(u), p)
				}
			}
		}
	}
}

// TestServeBindsSessionsByDefault checks that serve turns device binding
// on unless told otherwise, and says in its banner that it needs HTTPS.
func TestServeBindsSessionsByDefault(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "Binding:   enforce (Chrome binds sessions only over HTTPS"},
		{[]string{"--device-binding", "report-only"}, "Binding:   report-only"},
	} {
		code, stdout, stderr := runServeOnce(t, append([]string{"--store", "memory:", "--secret-file", filepath.Join(dir, "k")}, tt.args...)...)
		if code != exitOK || !strings.Contains(stdout, tt.want) {
			t.Errorf("serve %v: exit %d, banner %q (stderr %q); want %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
	if code, stdout, _ := runServeOnce(t, "--store", "memory:", "--secret-file", filepath.Join(dir, "k"), "--device-binding", "off"); code != exitOK || strings.Contains(stdout, "Binding:") {
		t.Errorf("serve --device-binding off: exit %d, banner %q", code, stdout)
	}
}
