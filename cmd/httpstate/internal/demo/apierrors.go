package demo

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"
)

// jsonErrors rewrites every error response of next that is not JSON into
// the API's error format, {"error": "...", "error_description": "..."}
// with the same status and headers. It exists for the responses the API
// does not write itself: token.Bearer answers 400, 401 and 403 in plain
// text, with the error code and description in WWW-Authenticate (RFC
// 6750), which it keeps; the JSON body repeats them.
func jsonErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&jsonErrorWriter{ResponseWriter: w}, r)
	})
}

type jsonErrorWriter struct {
	http.ResponseWriter
	wroteHeader bool
	replaced    bool // the body was replaced: drop what the handler writes
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if w.wroteHeader || code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	h := w.Header()
	if ct, _, _ := mime.ParseMediaType(h.Get("Content-Type")); code < 400 || ct == "application/json" {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	code2, desc := errorFromChallenge(code, h.Get("WWW-Authenticate"))
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code2, desc})
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.ResponseWriter.WriteHeader(code)
	w.ResponseWriter.Write(append(body, '\n'))
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *jsonErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errorFromChallenge returns the error code and description of an error
// response: those of its WWW-Authenticate challenge if it has them, else
// ones that follow from the status.
func errorFromChallenge(status int, challenge string) (code, desc string) {
	code, desc = challengeParam(challenge, "error"), challengeParam(challenge, "error_description")
	if code == "" {
		switch status {
		case http.StatusUnauthorized:
			code, desc = "unauthorized", "Send an access token in an Authorization: Bearer header."
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			code = "invalid_request"
		case http.StatusInternalServerError:
			code = "server_error"
		case http.StatusServiceUnavailable:
			code = "temporarily_unavailable"
		default:
			code = strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
		}
	}
	if desc == "" {
		desc = http.StatusText(status) + "."
	}
	return code, desc
}

// challengeParam returns the value of the parameter name of a Bearer
// challenge (RFC 6750 section 3: auth-params, values quoted or not), or
// "" if it has none.
func challengeParam(challenge, name string) string {
	rest, ok := strings.CutPrefix(challenge, "Bearer")
	if !ok {
		return ""
	}
	for {
		rest = strings.TrimLeft(rest, " ,")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			return ""
		}
		k, v = strings.TrimSpace(k), strings.TrimLeft(v, " ")
		var value strings.Builder
		if strings.HasPrefix(v, `"`) {
			i := 1
			for ; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				value.WriteByte(v[i])
			}
			rest = v[min(i+1, len(v)):]
		} else {
			end := strings.IndexByte(v, ',')
			if end < 0 {
				end = len(v)
			}
			value.WriteString(strings.TrimSpace(v[:end]))
			rest = v[end:]
		}
		if k == name {
			return value.String()
		}
	}
}
