package demo

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/httpstate/httpstate/token"
	"github.com/httpstate/httpstate/token/refresh"
)

// The JSON API: credentials for a token pair, a refresh token for a new
// pair, and a bearer-protected /api/me. Errors follow OAuth 2.0 (RFC 6749
// section 5.2): {"error": "...", "error_description": "..."}.

// api returns the handler of everything under /api/. Every response it
// sends is JSON, errors included: those of its own handlers, those the
// bearer middleware writes, and 404 or 405 (with Allow) for a path or a
// method it does not serve.
func (a *App) api() http.Handler {
	routes := []struct {
		method, path string
		h            http.Handler
	}{
		{"POST", "/api/token", http.HandlerFunc(a.apiToken)},
		{"POST", "/api/token/refresh", http.HandlerFunc(a.apiRefresh)},
		{"POST", "/api/token/revoke", http.HandlerFunc(a.apiRevoke)},
		{"GET", "/api/me", a.bearer.Require(apiScope)(http.HandlerFunc(a.apiMe))},
	}
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, rt.h)
		allowed[rt.path] = append(allowed[rt.path], rt.method)
		if rt.method == "GET" {
			allowed[rt.path] = append(allowed[rt.path], "HEAD")
		}
	}
	// Any other method or path lands here: ServeMux's own 405 and 404
	// are plain text.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if methods, ok := allowed[r.URL.Path]; ok {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			apiError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Use "+strings.Join(methods, " or ")+" here.")
			return
		}
		apiError(w, http.StatusNotFound, "not_found", "There is no such API endpoint.")
	})
	return jsonErrors(mux)
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// apiScope is the one scope the demo grants: reading one's own profile.
const apiScope = "profile"

// maxAPIBody bounds the JSON or form body the API reads.
const maxAPIBody = 16 << 10

// apiRequest is what the token endpoints read, from JSON or a form.
type apiRequest struct {
	GrantType    string `json:"grant_type"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	RefreshToken string `json:"refresh_token"`
}

func readAPIRequest(w http.ResponseWriter, r *http.Request) (apiRequest, bool) {
	var req apiRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&req); err != nil {
			apiError(w, http.StatusBadRequest, "invalid_request", "The body is not a JSON object with the expected fields.")
			return req, false
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			apiError(w, http.StatusBadRequest, "invalid_request", "The form could not be read.")
			return req, false
		}
		req = apiRequest{
			GrantType: r.PostForm.Get("grant_type"), Username: r.PostForm.Get("username"),
			Password: r.PostForm.Get("password"), RefreshToken: r.PostForm.Get("refresh_token"),
		}
	default:
		apiError(w, http.StatusUnsupportedMediaType, "invalid_request", "Send application/json or application/x-www-form-urlencoded.")
		return req, false
	}
	return req, true
}

// apiToken exchanges a username and password for an access token and a
// refresh token. It shares the login abuse policy (see checkCredentials)
// with the HTML form, so the API is no back door for guessing passwords.
func (a *App) apiToken(w http.ResponseWriter, r *http.Request) {
	req, ok := readAPIRequest(w, r)
	if !ok {
		return
	}
	if req.GrantType != "" && req.GrantType != "password" {
		apiError(w, http.StatusBadRequest, "unsupported_grant_type", "Use grant_type=password here, or POST /api/token/refresh.")
		return
	}
	u, why, wait := a.checkCredentials(r, req.Username, req.Password)
	switch why {
	case accountThrottle:
		w.Header().Set("Retry-After", retryAfter(wait))
		apiError(w, http.StatusTooManyRequests, "invalid_grant", "Too many failed attempts for this account from your network.")
		return
	case networkThrottle:
		w.Header().Set("Retry-After", retryAfter(wait))
		apiError(w, http.StatusTooManyRequests, "invalid_grant", "Too many failed logins from your network.")
		return
	case serverBusy:
		w.Header().Set("Retry-After", retryAfter(wait))
		apiError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The server is busy checking other logins. Try again shortly.")
		return
	case wrongPassword:
		apiError(w, http.StatusBadRequest, "invalid_grant", "Wrong username or password.")
		return
	}
	pair, err := a.refresher.Issue(r.Context(), u.username, map[string]any{"scope": apiScope, "name": u.name})
	if err != nil {
		a.log.ErrorContext(r.Context(), "issuing tokens failed", "err", err)
		apiError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	a.log.InfoContext(r.Context(), "api login", "user", u.username)
	a.noteIssued(pair.AccessToken)
	writeTokens(w, pair)
}

// apiRefresh exchanges a refresh token for a new pair. Each refresh token
// works once, except that a retry within the grace window gets a fresh
// pair; presenting one again after that revokes its whole family.
func (a *App) apiRefresh(w http.ResponseWriter, r *http.Request) {
	req, ok := readAPIRequest(w, r)
	if !ok {
		return
	}
	if req.GrantType != "" && req.GrantType != "refresh_token" {
		apiError(w, http.StatusBadRequest, "unsupported_grant_type", "Use grant_type=refresh_token here.")
		return
	}
	if req.RefreshToken == "" {
		apiError(w, http.StatusBadRequest, "invalid_request", "refresh_token is missing.")
		return
	}
	pair, err := a.refresher.Refresh(r.Context(), req.RefreshToken)
	switch {
	case errors.Is(err, refresh.ErrReused):
		a.log.WarnContext(r.Context(), "refresh token reused; its family was revoked")
		apiError(w, http.StatusBadRequest, "invalid_grant", "This refresh token was already used, so every token of its sign-in was revoked. Sign in again.")
		return
	case errors.Is(err, refresh.ErrInvalid):
		apiError(w, http.StatusBadRequest, "invalid_grant", "The refresh token is invalid, expired or revoked.")
		return
	case err != nil:
		a.log.ErrorContext(r.Context(), "refreshing tokens failed", "err", err)
		apiError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	a.noteIssued(pair.AccessToken)
	writeTokens(w, pair)
}

// apiRevoke ends the sign-in a refresh token belongs to, as at logout. Like
// RFC 7009, it answers 200 for a token that is already invalid, so a
// client can always forget its tokens after calling it.
func (a *App) apiRevoke(w http.ResponseWriter, r *http.Request) {
	req, ok := readAPIRequest(w, r)
	if !ok {
		return
	}
	err := a.families.RevokeToken(r.Context(), req.RefreshToken)
	if err != nil && !errors.Is(err, refresh.ErrInvalid) {
		a.log.ErrorContext(r.Context(), "revoking a refresh token failed", "err", err)
		apiError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// apiMe answers with the caller's profile. It runs behind
// token.Bearer.Require(apiScope), which has checked the access token.
func (a *App) apiMe(w http.ResponseWriter, r *http.Request) {
	claims := token.ClaimsFrom(r.Context())
	u := a.users.lookup(claims.Subject)
	if u == nil {
		apiError(w, http.StatusNotFound, "not_found", "The account no longer exists.")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		User      string    `json:"user"`
		Name      string    `json:"name"`
		Scope     []string  `json:"scope"`
		ExpiresAt time.Time `json:"token_expires_at"`
	}{u.username, u.name, claims.Scopes(), claims.Expiry.UTC()})
}

// writeTokens sends a token pair. Responses holding tokens must never be
// cached (RFC 6749 section 5.1).
func writeTokens(w http.ResponseWriter, p refresh.Pair) {
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, p)
}

func apiError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// retryAfter formats a wait for the Retry-After header: whole seconds,
// rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
