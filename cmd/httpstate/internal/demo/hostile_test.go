package demo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/cookie"
)

// lockedBuffer collects the http.Server's error log, where net/http
// reports handler panics.
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

// TestHostileRequestsGetTheirDocumentedResponse sends the app a table of
// hostile requests. None may get a 500 or make a handler panic; each gets
// the response documented in its row, and the app keeps serving a normal
// visitor afterwards.
func TestHostileRequestsGetTheirDocumentedResponse(t *testing.T) {
	sh := newShop(t)
	serverLog := &lockedBuffer{}
	srv := httptest.NewUnstartedServer(sh.app.Handler())
	srv.Config.ErrorLog = log.New(serverLog, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	// A real, logged-in session and a real access token to mangle.
	alice := &browser{t: t, base: srv.URL, c: clientWithJar(srv)}
	alice.login("alice", "correct horse", false)
	valid := alice.sessionCookie().Value
	access := apiAccessToken(t, srv)

	removedKey, err := cookie.NewSealer([]byte("a secret this server never had, thirty-two bytes or more"))
	if err != nil {
		t.Fatal(err)
	}
	sealedWithRemovedKey, err := removedKey.Encode("__Host-prefs", []byte(`{"theme":"dark","lang":"de"}`), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var hundreds []string
	for i := range 400 {
		hundreds = append(hundreds, fmt.Sprintf("junk%d=%d", i, i))
	}

	const anonymous, loggedIn = "anonymous", "logged in"
	cases := []struct {
		name   string
		path   string
		header http.Header
		status []int  // acceptable statuses
		page   string // for 200 pages: whose page it must be
		detail string // a substring of WWW-Authenticate or the body the response must contain, if any
	}{
		{"enormous session cookie (64 KiB)", "/", cookies("__Host-session=" + strings.Repeat("A", 64<<10)), []int{200}, anonymous, ""},
		{"headers beyond the server's limit (2 MiB cookie)", "/", cookies("__Host-session=" + strings.Repeat("A", 2<<20)), []int{431}, "", ""},
		{"duplicated session cookies, junk first", "/", cookies("__Host-session=junk; __Host-session=" + valid + "; __Host-session=more"), []int{200}, loggedIn, ""},
		{"two Cookie headers", "/", http.Header{"Cookie": {"__Host-session=junk", "__Host-session=" + valid}}, []int{200}, loggedIn, ""},
		{"malformed session cookie", "/", cookies("__Host-session=%%%;;;===; =; __Host-session"), []int{200}, anonymous, ""},
		{"non-UTF-8 session cookie", "/", cookies("__Host-session=\xff\xfe\xfd\xc3\x28"), []int{200}, anonymous, ""},
		{"truncated session token", "/", cookies("__Host-session=" + valid[:len(valid)-1]), []int{200}, anonymous, ""},
		{"session token of the right shape, never issued", "/", cookies("__Host-session=" + strings.Repeat("B", 43)), []int{200}, anonymous, ""},
		{"session token in the URL", "/?__Host-session=" + valid + "&session=" + valid, nil, []int{200}, anonymous, ""},
		{"hundreds of cookies", "/", cookies(strings.Join(append(hundreds, "__Host-session="+valid), "; ")), []int{200}, loggedIn, ""},
		{"preferences sealed with a removed key", "/", cookies("__Host-prefs=" + sealedWithRemovedKey), []int{200}, anonymous, `<html lang="en">`},
		{"tampered preferences", "/", cookies("__Host-prefs=" + flip(sealedWithRemovedKey)), []int{200}, anonymous, `<html lang="en">`},
		{"forged theme cookie", "/", cookies("__Host-theme=ZGFyaw.AAAA"), []int{200}, anonymous, `<html lang="en">`},
		{"no bearer token", "/api/me", nil, []int{401}, "", "Bearer"},
		{"oversized bearer token (1 MB of dots)", "/api/me", bearer(strings.Repeat(".", 1<<20)), []int{401, 400}, "", "invalid_token"},
		{"malformed bearer token", "/api/me", bearer("not-a-jwt"), []int{401}, "", "invalid_token"},
		{"bearer token with non-UTF-8 bytes", "/api/me", bearer("\xff\xfe." + access[1:]), []int{401, 400}, "", ""},
		{"tampered bearer token", "/api/me", bearer(flip(access)), []int{401}, "", "invalid_token"},
		{"two Authorization headers", "/api/me", http.Header{"Authorization": {"Bearer " + access, "Bearer " + access}}, []int{400}, "", "invalid_request"},
		{"access token in the URL", "/api/me?access_token=" + access, nil, []int{400, 401}, "", ""},
		{"session cookie offered to the bearer API", "/api/me", cookies("__Host-session=" + valid), []int{401}, "", ""},
	}
	client := &http.Client{Transport: srv.Client().Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", srv.URL+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.header {
				req.Header[k] = v
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ok := false
			for _, s := range c.status {
				ok = ok || resp.StatusCode == s
			}
			if !ok {
				t.Fatalf("status %d; want one of %v\n%.300s", resp.StatusCode, c.status, body)
			}
			switch c.page {
			case anonymous:
				if bytes.Contains(body, []byte(`id="user-name"`)) {
					t.Fatal("a hostile request was served as a logged-in user")
				}
			case loggedIn:
				if !bytes.Contains(body, []byte(`id="user-name"`)) {
					t.Fatal("the valid session among the junk was not recognised")
				}
			}
			if c.detail != "" && !strings.Contains(resp.Header.Get("WWW-Authenticate")+string(body), c.detail) {
				t.Fatalf("response lacks %q: WWW-Authenticate %q", c.detail, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if p := alice.get("/"); p.status != 200 || !p.has(`id="user-name"`) {
		t.Fatalf("after the hostile requests alice's page: status %d", p.status)
	}
	if strings.Contains(serverLog.String(), "panic") {
		t.Fatalf("a handler panicked:\n%s", serverLog.String())
	}
	if logs := sh.logs.String(); strings.Contains(logs, valid) || strings.Contains(logs, access) {
		t.Fatal("a token reached the logs")
	}
}

func cookies(v string) http.Header { return http.Header{"Cookie": {v}} }
func bearer(v string) http.Header  { return http.Header{"Authorization": {"Bearer " + v}} }

// flip changes one character in the middle of s.
func flip(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func clientWithJar(srv *httptest.Server) *http.Client {
	c := *srv.Client()
	c.Jar = newJar()
	return &c
}

// apiAccessToken exchanges the demo credentials for an access token.
func apiAccessToken(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL+"/api/token", "application/json",
		strings.NewReader(`{"username":"alice","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pair); err != nil || pair.AccessToken == "" {
		t.Fatalf("/api/token: status %d, %v", resp.StatusCode, err)
	}
	return pair.AccessToken
}

func newJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}
