package demo_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/httpstate/httpstate/token"
)

// api sends a request to the JSON API and decodes the answer.
func (b *browser) api(method, path, contentType, body, bearer string) (int, map[string]any, http.Header) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	p := b.do(req)
	var v map[string]any
	if strings.Contains(p.header.Get("Content-Type"), "json") {
		if err := json.Unmarshal([]byte(p.body), &v); err != nil {
			b.t.Fatalf("%s %s: bad JSON %q: %v", method, path, p.body, err)
		}
	}
	return p.status, v, p.header
}

func tokenRequest(user, password string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	return string(b)
}

func TestAPITokensRefreshAndMe(t *testing.T) {
	s := newShop(t)
	c := s.browser(t)

	status, body, h := c.api("POST", "/api/token", "application/json", tokenRequest("alice", "correct horse"), "")
	if status != 200 || body["token_type"] != "Bearer" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("token: %d %v (Cache-Control %q)", status, body, h.Get("Cache-Control"))
	}
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)
	if access == "" || refresh == "" || body["expires_in"].(float64) <= 0 {
		t.Fatalf("token response incomplete: %v", body)
	}

	status, me, _ := c.api("GET", "/api/me", "", "", access)
	if status != 200 || me["user"] != "alice" || me["name"] != "Alice Liddell" {
		t.Fatalf("/api/me: %d %v", status, me)
	}
	if status, _, h := c.api("GET", "/api/me", "", "", ""); status != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("/api/me without a token: %d", status)
	}
	if status, _, _ := c.api("GET", "/api/me", "", "", access[:len(access)-4]+"AAAA"); status != 401 {
		t.Fatalf("/api/me with a forged signature: %d", status)
	}

	// Refresh rotates: the new refresh token works, the old one is spent.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}.Encode()
	status, body, _ = c.api("POST", "/api/token/refresh", "application/x-www-form-urlencoded", form, "")
	if status != 200 || body["refresh_token"] == refresh {
		t.Fatalf("refresh: %d %v", status, body)
	}
	refresh2 := body["refresh_token"].(string)
	if status, _, _ := c.api("GET", "/api/me", "", "", body["access_token"].(string)); status != 200 {
		t.Fatalf("/api/me with the refreshed access token: %d", status)
	}
	status, body, _ = c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+refresh2+`"}`, "")
	if status != 200 {
		t.Fatalf("second refresh: %d %v", status, body)
	}
	refresh3 := body["refresh_token"].(string)
	// Reusing a token two rotations old revokes the family: the newest one
	// dies too. (The token of the latest rotation, presented again right
	// away, would be a retry within the grace window.)
	status, body, _ = c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`, "")
	if status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v", status, body)
	}
	if status, _, _ := c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+refresh3+`"}`, ""); status != 400 {
		t.Fatalf("the family survived a reuse: %d", status)
	}
}

func TestAPIRefusesBadCredentialsAndRequests(t *testing.T) {
	s := newShop(t)
	c := s.browser(t)
	tests := []struct {
		name, ctype, body string
		status            int
		code              string
	}{
		{"wrong password", "application/json", tokenRequest("alice", "nope"), 400, "invalid_grant"},
		{"unknown user", "application/json", tokenRequest("zed", "nope"), 400, "invalid_grant"},
		{"not JSON", "application/json", "{", 400, "invalid_request"},
		{"wrong grant", "application/x-www-form-urlencoded", "grant_type=client_credentials", 400, "unsupported_grant_type"},
		{"text body", "text/plain", "alice:correct horse", 415, "invalid_request"},
		{"huge body", "application/json", `{"username":"` + strings.Repeat("a", 1<<20) + `"}`, 400, "invalid_request"},
	}
	for _, tt := range tests {
		status, body, _ := c.api("POST", "/api/token", tt.ctype, tt.body, "")
		if status != tt.status || body["error"] != tt.code {
			t.Errorf("%s: %d %v; want %d %s", tt.name, status, body, tt.status, tt.code)
		}
	}
	if status, body, _ := c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"x.y"}`, ""); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("bogus refresh token: %d %v", status, body)
	}
}

func TestAPIRevokeAndDevicesPage(t *testing.T) {
	s := newShop(t)
	c := s.browser(t)
	_, body, _ := c.api("POST", "/api/token", "application/json", tokenRequest("bob", "battery staple"), "")
	refresh := body["refresh_token"].(string)

	// The API client shows on the devices page and can be revoked there.
	web := s.browser(t)
	web.login("bob", "battery staple", false)
	devices := web.get("/devices")
	if !devices.has(`id="api-clients"`) || strings.Count(devices.body, "data-family=") != 1 {
		t.Fatal("the API client is not listed on the devices page")
	}
	i := strings.Index(devices.body, `data-family="`) + len(`data-family="`)
	family := devices.body[i : i+strings.Index(devices.body[i:], `"`)]
	if p := web.post("/api-clients/revoke", url.Values{"family": {family}}); !p.has("The API client was revoked.") {
		t.Fatal("revoking the API client failed")
	}
	if status, _, _ := c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`, ""); status != 400 {
		t.Fatalf("a revoked family still refreshes: %d", status)
	}

	// Revoke at the API, as at an app's logout, is idempotent.
	_, body, _ = c.api("POST", "/api/token", "application/json", tokenRequest("bob", "battery staple"), "")
	refresh = body["refresh_token"].(string)
	for range 2 {
		if status, _, _ := c.api("POST", "/api/token/revoke", "application/json", `{"refresh_token":"`+refresh+`"}`, ""); status != 200 {
			t.Fatalf("revoke: %d", status)
		}
	}
	if status, _, _ := c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`, ""); status != 400 {
		t.Fatal("a revoked refresh token still works")
	}
}

func TestJWKSPublishesTheSigningKey(t *testing.T) {
	s := newShop(t)
	c := s.browser(t)
	status, jwks, h := c.api("GET", "/.well-known/jwks.json", "", "", "")
	keys, _ := jwks["keys"].([]any)
	if status != 200 || len(keys) != 1 || h.Get("Cache-Control") == "" {
		t.Fatalf("jwks: %d %v", status, jwks)
	}
	k := keys[0].(map[string]any)
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["d"] != nil {
		t.Fatalf("jwks key: %v", k)
	}
	// A verifier that knows only the JWKS accepts the shop's tokens.
	_, body, _ := c.api("POST", "/api/token", "application/json", tokenRequest("alice", "correct horse"), "")
	remote, err := token.NewRemoteKeySet(s.srv.URL+"/.well-known/jwks.json", token.RemoteKeySetOptions{Client: s.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(remote, token.VerifierOptions{Algorithms: []token.Algorithm{token.EdDSA}, Issuer: "httpstate-demo", Audience: "httpstate-demo-api"})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(t.Context(), body["access_token"].(string))
	if err != nil || claims.Subject != "alice" || !claims.HasScope("profile") {
		t.Fatalf("verifying with the published JWKS: %v %+v", err, claims)
	}
}

// TestLogsNeverContainTokens captures every log line of a whole flow and
// searches it for every secret the flow handled: session cookies, access
// tokens, refresh tokens and passwords.
func TestLogsNeverContainTokens(t *testing.T) {
	s := newShop(t)
	var secrets []string
	keep := func(v string) {
		if len(v) >= 8 {
			secrets = append(secrets, v)
		}
	}

	b := s.browser(t)
	b.addToCart("fortune")
	keep(b.sessionCookie().Value)
	b.login("alice", "correct horse", true)
	keep(b.sessionCookie().Value)
	b.post("/login", url.Values{"username": {"correct horse battery"}, "password": {"typed in the wrong box"}})
	other := s.browser(t)
	other.login("alice", "correct horse", false)
	keep(other.sessionCookie().Value)
	b.post("/devices/revoke-others", nil)
	other.get("/")
	b.post("/password", url.Values{"current": {"correct horse"}, "new": {"horse battery staple"}, "confirm": {"horse battery staple"}})
	keep(b.sessionCookie().Value)
	b.post("/logout", nil)

	c := s.browser(t)
	_, body, _ := c.api("POST", "/api/token", "application/json", tokenRequest("bob", "battery staple"), "")
	keep(body["access_token"].(string))
	keep(body["refresh_token"].(string))
	c.api("GET", "/api/me", "", "", body["access_token"].(string))
	refresh := body["refresh_token"].(string)
	_, body, _ = c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`, "")
	keep(body["access_token"].(string))
	keep(body["refresh_token"].(string))
	_, body, _ = c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`, "") // a retry within the grace window
	keep(body["access_token"].(string))
	keep(body["refresh_token"].(string))
	_, body, _ = c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+body["refresh_token"].(string)+`"}`, "")
	keep(body["refresh_token"].(string))
	c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`, "") // reuse
	c.api("GET", "/api/me?access_token="+url.QueryEscape(body["access_token"].(string)), "", "", "")

	secrets = append(secrets, "correct horse", "battery staple", "horse battery staple", "typed in the wrong box", "correct horse battery")
	logs := s.logs.String()
	if !strings.Contains(logs, `"msg":"login"`) || !strings.Contains(logs, `"msg":"request"`) {
		t.Fatalf("the flow logged too little to mean anything:\n%s", logs)
	}
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain a secret: %.12s…", secret)
		}
		// A token split around a "." must not leak by halves either.
		for part := range strings.SplitSeq(secret, ".") {
			if len(part) >= 16 && strings.Contains(logs, part) {
				t.Errorf("the logs contain part of a secret: %.12s…", part)
			}
		}
	}
}

// TestAPIErrorsAreJSON sends the API every kind of request it refuses and
// checks that each answer, whoever wrote it (the handlers, the bearer
// middleware, the router, the cross-origin check), is JSON with error and
// error_description.
func TestAPIErrorsAreJSON(t *testing.T) {
	s := newShop(t)
	c := s.browser(t)
	tests := []struct {
		name, method, path string
		header             map[string]string
		status             int
		code, allow        string
	}{
		{"no token", "GET", "/api/me", nil, 401, "unauthorized", ""},
		{"bad token", "GET", "/api/me", map[string]string{"Authorization": "Bearer abc.def.ghi"}, 401, "invalid_token", ""},
		{"token in the URL", "GET", "/api/me?access_token=abc", nil, 400, "invalid_request", ""},
		{"cross-origin", "POST", "/api/token", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, 403, "cross_origin_request", ""},
		{"cross-origin by Origin", "POST", "/api/token/revoke", map[string]string{"Origin": "https://evil.example"}, 403, "cross_origin_request", ""},
		{"unknown endpoint", "GET", "/api/nope", nil, 404, "not_found", ""},
		{"unknown endpoint, POST", "POST", "/api/me/more", nil, 404, "not_found", ""},
		{"wrong method", "GET", "/api/token", nil, 405, "method_not_allowed", "POST"},
		{"wrong method on /api/me", "DELETE", "/api/me", nil, 405, "method_not_allowed", "GET, HEAD"},
		{"wrong media type", "POST", "/api/token/refresh", map[string]string{"Content-Type": "text/plain"}, 415, "invalid_request", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.srv.URL+tt.path, strings.NewReader("{}"))
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		p := c.do(req)
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		err := json.Unmarshal([]byte(p.body), &body)
		if p.status != tt.status || p.header.Get("Content-Type") != "application/json" || err != nil || body.Error != tt.code || body.Description == "" {
			t.Errorf("%s: %d %q %q; want %d, JSON with error %q and a description", tt.name, p.status, p.header.Get("Content-Type"), p.body, tt.status, tt.code)
		}
		if got := p.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s: Allow %q; want %q", tt.name, got, tt.allow)
		}
	}
	// The bearer middleware's challenge stays as RFC 6750 has it.
	if status, _, h := c.api("GET", "/api/me", "", "", "abc.def.ghi"); status != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("the WWW-Authenticate challenge was lost: %q", h.Get("WWW-Authenticate"))
	}
	// Successes are JSON too, revocation included.
	if p := c.post("/api/token/revoke", url.Values{"refresh_token": {"x.y"}}); p.status != 200 || p.header.Get("Content-Type") != "application/json" {
		t.Errorf("revoke: %d %q", p.status, p.header.Get("Content-Type"))
	}
}

// TestAnAccessTokenOutlivesItsRevokedSignIn checks what the README and
// the "under the hood" page say: revoking a sign-in stops its refreshes,
// but an access token already issued works until it expires.
func TestAnAccessTokenOutlivesItsRevokedSignIn(t *testing.T) {
	s := newShop(t)
	c := s.browser(t)
	_, body, _ := c.api("POST", "/api/token", "application/json", tokenRequest("alice", "correct horse"), "")
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)
	if status, _, _ := c.api("POST", "/api/token/revoke", "application/json", `{"refresh_token":"`+refresh+`"}`, ""); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if status, _, _ := c.api("POST", "/api/token/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`, ""); status != 400 {
		t.Fatalf("a revoked sign-in still refreshes: %d", status)
	}
	if status, me, _ := c.api("GET", "/api/me", "", "", access); status != 200 || me["user"] != "alice" {
		t.Fatalf("the access token stopped working at revocation (%d); the documentation says it lasts until it expires", status)
	}
}
