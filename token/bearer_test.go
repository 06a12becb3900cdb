package token

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type bearerSetup struct {
	issuer *Issuer
	bearer *Bearer
	called int
	sub    string
}

func newBearerSetup(t *testing.T) *bearerSetup {
	ks := NewKeySet(edKey(t).Key)
	return &bearerSetup{issuer: newIssuer(ks), bearer: &Bearer{Verifier: newVerifier(ks, EdDSA), Realm: "api"}}
}

func (s *bearerSetup) token(t *testing.T, extra map[string]any) string {
	t.Helper()
	tok, err := s.issuer.Issue(t.Context(), "user-9", extra)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// serve runs a request through Require(scopes...) and reports the
// response.
func (s *bearerSetup) serve(r *http.Request, scopes ...string) *httptest.ResponseRecorder {
	s.called, s.sub = 0, ""
	h := s.bearer.Require(scopes...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called++
		if c := ClaimsFrom(r.Context()); c != nil {
			s.sub = c.Subject
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func request(target string, auth ...string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

func TestBearerAdmitsAValidToken(t *testing.T) {
	s := newBearerSetup(t)
	tok := s.token(t, nil)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		rec := s.serve(request("/orders", scheme+" "+tok))
		if rec.Code != 200 || s.called != 1 || s.sub != "user-9" {
			t.Errorf("%s: status %d, handler called %d times with subject %q", scheme, rec.Code, s.called, s.sub)
		}
	}
}

func TestBearerChallenges(t *testing.T) {
	s := newBearerSetup(t)
	tok := s.token(t, nil)
	expiredIssuer := *s.issuer
	expiredIssuer.now = func() time.Time { return time.Now().Add(-time.Hour) }
	expired, err := expiredIssuer.Issue(t.Context(), "user-9", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		req    *http.Request
		status int
		header string
	}{
		{"no credentials", request("/"), 401, `Bearer realm="api"`},
		{"Basic credentials", request("/", "Basic dXNlcjpwYXNz"), 401, `Bearer realm="api"`},
		{"token without a scheme", request("/", tok), 401, `Bearer realm="api"`},
		{"token in the query", request("/?access_token=" + tok), 400, `Bearer realm="api", error="invalid_request", error_description="Send the access token in the Authorization header, never in the URL"`},
		{"token in the query and the header", request("/?access_token="+tok, "Bearer "+tok), 400, `Bearer realm="api", error="invalid_request", error_description="Send the access token in the Authorization header, never in the URL"`},
		{"token in an escaped query name", request("/?access%5Ftoken=" + tok), 400, `Bearer realm="api", error="invalid_request", error_description="Send the access token in the Authorization header, never in the URL"`},
		{"two Authorization headers", request("/", "Bearer "+tok, "Bearer "+tok), 400, `Bearer realm="api", error="invalid_request", error_description="More than one Authorization header"`},
		{"scheme without a token", request("/", "Bearer"), 400, `Bearer realm="api", error="invalid_request", error_description="Malformed Authorization header"`},
		{"scheme with an empty token", request("/", "Bearer "), 400, `Bearer realm="api", error="invalid_request", error_description="Malformed Authorization header"`},
		{"token with a space", request("/", "Bearer "+tok+" x"), 400, `Bearer realm="api", error="invalid_request", error_description="Malformed Authorization header"`},
		{"token with a quote", request("/", `Bearer "`+tok+`"`), 400, `Bearer realm="api", error="invalid_request", error_description="Malformed Authorization header"`},
		{"forged token", request("/", "Bearer "+tok[:len(tok)-4]+"AAAA"), 401, `Bearer realm="api", error="invalid_token", error_description="The access token is invalid"`},
		{"not a JWT", request("/", "Bearer abc~+/="), 401, `Bearer realm="api", error="invalid_token", error_description="The access token is invalid"`},
		{"expired token", request("/", "Bearer "+expired), 401, `Bearer realm="api", error="invalid_token", error_description="The access token expired"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := s.serve(c.req)
			if rec.Code != c.status || rec.Header().Get("WWW-Authenticate") != c.header || s.called != 0 {
				t.Fatalf("status %d, WWW-Authenticate %q, handler called %d times; want %d, %q, 0",
					rec.Code, rec.Header().Get("WWW-Authenticate"), s.called, c.status, c.header)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			if strings.Contains(rec.Body.String(), tok) || strings.Contains(rec.Header().Get("WWW-Authenticate"), tok) {
				t.Error("the response echoes the token")
			}
		})
	}
}

func TestBearerRequiresScopes(t *testing.T) {
	s := newBearerSetup(t)
	tok := s.token(t, map[string]any{"scope": "orders:read profile"})
	if rec := s.serve(request("/", "Bearer "+tok), "orders:read"); rec.Code != 200 || s.called != 1 {
		t.Errorf("granted scope: %d", rec.Code)
	}
	rec := s.serve(request("/", "Bearer "+tok), "orders:read", "orders:write")
	want := `Bearer realm="api", error="insufficient_scope", scope="orders:read orders:write"`
	if rec.Code != 403 || rec.Header().Get("WWW-Authenticate") != want || s.called != 0 {
		t.Errorf("missing scope: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if rec := s.serve(request("/", "Bearer "+s.token(t, nil)), "profile"); rec.Code != 403 {
		t.Errorf("no scope claim: %d", rec.Code)
	}
}

func TestBearerReportsServerFailuresWithoutLoggingTheToken(t *testing.T) {
	s := newBearerSetup(t)
	tok := s.token(t, nil)
	var logs bytes.Buffer
	s.bearer.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	// A Verifier whose key server is unreachable cannot tell good tokens
	// from bad: that is a 500, not a 401 that would log the user out.
	remote, err := NewRemoteKeySet("http://127.0.0.1:1/jwks", RemoteKeySetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.bearer.Verifier = newVerifier(remote, EdDSA)
	rec := s.serve(request("/", "Bearer "+tok))
	if rec.Code != 500 || s.called != 0 || rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("status %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if !strings.Contains(logs.String(), "cannot verify access token") {
		t.Errorf("nothing logged: %q", logs.String())
	}
	for _, part := range strings.Split(tok, ".") {
		if strings.Contains(logs.String(), part) {
			t.Errorf("the log contains part of the token: %s", logs.String())
		}
	}
}

func TestBearerRealmIsQuotedAndOptional(t *testing.T) {
	s := newBearerSetup(t)
	s.bearer.Realm = `a "b" \c` + "\n"
	if got := s.serve(request("/")).Header().Get("WWW-Authenticate"); got != `Bearer realm="a \"b\" \\c"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	s.bearer.Realm = ""
	if got := s.serve(request("/")).Header().Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

func TestClaimsFromOutsideTheMiddleware(t *testing.T) {
	if c := ClaimsFrom(context.Background()); c != nil {
		t.Errorf("ClaimsFrom(empty context) = %+v", c)
	}
}
