package demo_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/store/memory"
)

// TestTwoServersActAsOneSite runs two shops, as two processes would run,
// each with its own connections to one shared store and the same secret:
// a visitor logs in on one and continues on the other, and logging out
// everywhere on one is honoured by the other at once.
func TestTwoServersActAsOneSite(t *testing.T) {
	stores := []struct {
		name    string
		url     func(t *testing.T) string
		service string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "shared.db") }, ""},
		{"postgres", func(*testing.T) string { return withParam(testenv.PostgresURL, "table=demo_multiserver") }, "postgres"},
		{"mysql", func(t *testing.T) string { return withParam(mysqlURL(t), "table=demo_multiserver") }, "mysql"},
		{"memcached", func(*testing.T) string { return "memcached://" + testenv.MemcachedAddr + "?prefix=demo-multiserver:" }, "memcached"},
		{"redis", func(*testing.T) string { return "redis://" + testenv.RedisAddr + "?prefix=demo-multiserver:" }, "redis"},
		{"redis-cluster", func(*testing.T) string {
			u := "redis://" + testenv.RedisCluster[0] + "?prefix=demo-multiserver:"
			for _, a := range testenv.RedisCluster[1:] {
				u += "&addr=" + a
			}
			return u
		}, "redis cluster"},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			u := st.url(t)
			user := uniqueAccount()
			a := shopOnURL(t, u, st.service, user)
			b := shopOnURL(t, u, st.service, user)
			twoServers(t, a, b, user)
		})
	}
}

// Two shops sharing one in-process store: the same property without any
// server.
func TestTwoServersOnOneMemoryStore(t *testing.T) {
	sessions, tokens := memory.New(), memory.New()
	t.Cleanup(func() { sessions.Close(); tokens.Close() })
	user := uniqueAccount()
	withUser := func(c *demo.Config) { c.Accounts = []demo.Account{user} }
	twoServers(t, newShopOn(t, sessions, tokens, withUser), newShopOn(t, sessions, tokens, withUser), user)
}

// mysqlURL turns testenv's driver DSN into the URL form --store takes.
func mysqlURL(t *testing.T) string {
	cfg, err := gomysql.ParseDSN(testenv.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	u := &url.URL{Scheme: "mysql", User: url.User(cfg.User), Host: cfg.Addr, Path: "/" + cfg.DBName}
	if cfg.Passwd != "" {
		u.User = url.UserPassword(cfg.User, cfg.Passwd)
	}
	return u.String()
}

func withParam(u, param string) string {
	if strings.Contains(u, "?") {
		return u + "&" + param
	}
	return u + "?" + param
}

// uniqueAccount is a demo account no other test run uses, so tests
// sharing a database cannot revoke each other's sessions.
func uniqueAccount() demo.Account {
	return demo.Account{Username: "carol-" + strings.ToLower(rand.Text()[:10]), Name: "Carol", Password: "correct horse"}
}

// shopOnURL starts a shop with its own connections to the store at
// rawURL, as a separate process would have.
func shopOnURL(t *testing.T, rawURL, service string, user demo.Account) *shop {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	sessions, c1, err := storeurl.Open(ctx, rawURL, storeurl.CreateIfMissing())
	if service != "" {
		testenv.Require(t, service, err)
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c1.Close() })
	tokens, c2, err := storeurl.Open(ctx, rawURL, storeurl.Namespace("tokens"), storeurl.CreateIfMissing())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close() })
	return newShopOn(t, sessions, tokens, func(c *demo.Config) { c.Accounts = []demo.Account{user} })
}

func twoServers(t *testing.T, a, b *shop, user demo.Account) {
	t.Helper()
	laptop := a.browser(t)
	laptop.login(user.Username, user.Password, false)
	laptop.addToCart("gingerbread")
	laptop.post("/preferences", url.Values{"lang": {"de"}})

	// The next request goes to the other server: same login, same cart,
	// same preferences.
	onB := laptop.onServer(b)
	p := onB.get("/cart")
	if !p.has(`id="user-name"`) || cartCount(p) != "1" || !p.has(`lang="de"`) {
		t.Fatalf("server B does not continue server A's session: logged in=%v cart=%s", p.has(`id="user-name"`), cartCount(p))
	}
	onB.addToCart("gingerbread")
	if got := cartCount(laptop.get("/")); got != "2" {
		t.Fatalf("server A sees %s items after B added one; want 2", got)
	}

	// API tokens issued by one verify on the other; refresh works anywhere.
	api := a.browser(t)
	_, body, _ := api.api("POST", "/api/token", "application/json", tokenRequest(user.Username, user.Password), "")
	apiB := api.onServer(b)
	if status, me, _ := apiB.api("GET", "/api/me", "", "", body["access_token"].(string)); status != 200 || me["user"] != user.Username {
		t.Fatalf("server B refuses server A's access token: %d %v", status, me)
	}
	if status, _, _ := apiB.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+body["refresh_token"].(string)+`"}`, ""); status != 200 {
		t.Fatalf("server B cannot refresh server A's token: %d", status)
	}

	// A phone logged in through server B is logged out when the laptop,
	// on server A, logs out everywhere else.
	phone := b.browser(t)
	phone.login(user.Username, user.Password, true)
	if n := strings.Count(laptop.get("/devices").body, `data-handle=`); n != 2 {
		t.Fatalf("server A lists %d devices; want 2", n)
	}
	if p := laptop.post("/devices/revoke-others", nil); !p.has("Abgemeldete andere Sitzungen: 2.") {
		t.Fatalf("want the phone and the API client logged out:\n%s", p.body)
	}
	if p := phone.get("/"); p.has(`id="user-name"`) {
		t.Fatal("server B still accepts the phone's cookie after 'log out everywhere else' on A")
	}

	// Logging out on A kills the cookie on B too.
	old := laptop.sessionCookie()
	laptop.post("/logout", nil)
	replay := b.browser(t)
	u, _ := url.Parse(b.srv.URL)
	replay.c.Jar.SetCookies(u, []*http.Cookie{old})
	if replay.get("/").has(`id="user-name"`) {
		t.Fatal("server B accepts a cookie logged out on server A")
	}
}
