package token

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// Bearer is HTTP middleware that admits only requests carrying a valid
// access token in an "Authorization: Bearer" header (RFC 6750 section
// 2.1), and answers the others as RFC 6750 section 3 prescribes:
//
//   - no credentials, or another scheme such as Basic: 401 with
//     `WWW-Authenticate: Bearer realm="..."` and no error code;
//   - a malformed request (two Authorization headers, an empty or
//     syntactically invalid token, or an access_token query parameter):
//     400 with error="invalid_request";
//   - a token that fails verification (bad, expired, wrong audience...):
//     401 with error="invalid_token";
//   - a valid token without a required scope: 403 with
//     error="insufficient_scope" and the scopes needed.
//
// A token is never read from the URL, where it would end up in logs,
// browser history and Referer headers; a request that tries is refused
// rather than treated as anonymous, so the mistake is noticed. Bearer does
// not read request bodies either. Nothing it logs contains a token.
//
// CORS preflight requests carry no credentials: handle them before Bearer.
type Bearer struct {
	// Verifier checks the tokens. Required.
	Verifier *Verifier

	// Realm names the protection space in WWW-Authenticate challenges.
	// Optional.
	Realm string

	// Logger, if set, receives failures that are not the client's fault,
	// such as an unreachable JWKS endpoint; those requests get a 500.
	Logger *slog.Logger
}

type claimsKey struct{}

// ClaimsFrom returns the verified claims of the request's access token, or
// nil if the request did not pass through Bearer.Require.
func ClaimsFrom(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// Require returns middleware that lets a request through only if its
// access token is valid and its "scope" claim lists every one of scopes.
// The handler finds the token's claims with ClaimsFrom.
func (b *Bearer) Require(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, code, desc := requestToken(r)
			switch code {
			case "":
			case "-":
				b.challenge(w, http.StatusUnauthorized, "", "")
				return
			default:
				b.challenge(w, http.StatusBadRequest, code, desc)
				return
			}
			claims, err := b.Verifier.Verify(r.Context(), tok)
			switch {
			case errors.Is(err, ErrExpired):
				b.challenge(w, http.StatusUnauthorized, "invalid_token", "The access token expired")
				return
			case errors.Is(err, ErrInvalid):
				b.challenge(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid")
				return
			case err != nil:
				if b.Logger != nil {
					b.Logger.ErrorContext(r.Context(), "token: cannot verify access token", "err", err)
				}
				http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
				return
			}
			for _, s := range scopes {
				if !claims.HasScope(s) {
					b.challenge(w, http.StatusForbidden, "insufficient_scope", "", "scope="+quote(strings.Join(scopes, " ")))
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
		})
	}
}

// requestToken extracts the bearer token. code is "" on success, "-" when
// the request has no bearer credentials at all, and an RFC 6750 error code
// otherwise.
func requestToken(r *http.Request) (tok, code, desc string) {
	if r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return "", "invalid_request", "Send the access token in the Authorization header, never in the URL"
	}
	vals := r.Header.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", "-", ""
	case 1:
	default:
		return "", "invalid_request", "More than one Authorization header"
	}
	scheme, rest, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", "-", ""
	}
	tok = strings.TrimLeft(rest, " ")
	if !isB64Token(tok) {
		return "", "invalid_request", "Malformed Authorization header"
	}
	return tok, "", ""
}

// isB64Token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if b64Value(c) < 0 && c != '.' && c != '~' && c != '+' && c != '/' {
			return false
		}
	}
	return true
}

// challenge writes an error response with a WWW-Authenticate header. The
// description is fixed text chosen here, never anything from the request.
func (b *Bearer) challenge(w http.ResponseWriter, status int, code, desc string, extra ...string) {
	var params []string
	if b.Realm != "" {
		params = append(params, "realm="+quote(b.Realm))
	}
	if code != "" {
		params = append(params, `error="`+code+`"`)
	}
	if desc != "" {
		params = append(params, `error_description="`+desc+`"`)
	}
	params = append(params, extra...)
	v := "Bearer"
	if len(params) > 0 {
		v += " " + strings.Join(params, ", ")
	}
	h := w.Header()
	h.Set("WWW-Authenticate", v)
	h.Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(status), status)
}

// quote returns s as an HTTP quoted-string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		if c < 0x20 && c != '\t' || c == 0x7f {
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}
