package session

import (
	"errors"
	"io"
	"net/http"
)

// errSessionFailed is returned by Write once the session could not be
// saved and the error response has replaced the handler's.
var errSessionFailed = errors.New("session: store failed; the response was replaced by an error response")

// responseWriter saves the session just before the first byte of the
// response leaves: on WriteHeader, Write, Flush or ReadFrom, whichever
// comes first. It never buffers the body, and Unwrap lets
// http.ResponseController reach the underlying writer's Flush, Hijack and
// deadlines.
type responseWriter struct {
	http.ResponseWriter
	m         *Manager
	r         *http.Request
	s         *Session
	committed bool
	failed    bool
}

// begin commits the session once and reports whether the handler's
// response may proceed.
func (w *responseWriter) begin() bool {
	if !w.committed {
		w.committed = true
		if _, err := w.m.commit(w.r.Context(), w.s, w.Header(), w.r); err != nil {
			w.failed = true
			// Drop what the handler prepared for a response that will not
			// be sent, cookies included, before the error response.
			h := w.Header()
			for k := range h {
				delete(h, k)
			}
			w.m.fail(w.ResponseWriter, w.r, err)
		}
	}
	return !w.failed
}

func (w *responseWriter) WriteHeader(code int) {
	// 1xx responses are interim: the real header comes later.
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.begin() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.begin() {
		return 0, errSessionFailed
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher for handlers that assert it directly.
func (w *responseWriter) Flush() {
	if w.begin() {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// ReadFrom keeps the underlying writer's sendfile path for io.Copy.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.begin() {
		return 0, errSessionFailed
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.ResponseWriter, src)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish runs after the handler: it commits a session whose handler wrote
// nothing, and saves changes made after the response started.
func (w *responseWriter) finish() {
	if !w.committed {
		// A handler that wrote its response through another writer (a
		// framework's context whose writer was never replaced by this
		// Middleware's) leaves the session uncommitted although the
		// response is gone. Frameworks' writers say whether they wrote;
		// net/http's does not, so this is caught where it can be.
		bypassed := written(w.ResponseWriter)
		w.committed = true
		cookie, err := w.m.commit(w.r.Context(), w.s, w.Header(), w.r)
		switch {
		case err != nil && bypassed:
			w.m.log.ErrorContext(w.r.Context(), "saving the session failed after the response was written through another writer", "err", err)
		case err != nil:
			w.failed = true
			h := w.Header()
			for k := range h {
				delete(h, k)
			}
			w.m.fail(w.ResponseWriter, w.r, err)
		case cookie && bypassed:
			w.m.log.WarnContext(w.r.Context(), "the session cookie could not be sent: the response was written through a writer that bypassed the session Middleware "+
				"(a framework adapter must pass the Middleware's http.ResponseWriter on to the handler, not only its *http.Request)",
				"method", w.r.Method, "path", w.r.URL.Path)
		}
		return
	}
	if w.failed {
		return
	}
	w.s.mu.Lock()
	pending := len(w.s.ops) > 0 || len(w.s.ended) > 0
	w.s.mu.Unlock()
	if !pending {
		return
	}
	if _, err := w.m.commit(w.r.Context(), w.s, nil, w.r); err != nil {
		w.m.log.ErrorContext(w.r.Context(), "saving session changes made after the response started failed", "err", err)
	}
}

// written reports whether w says it has written a response. Frameworks'
// writers (gin's, negroni's) answer; others are assumed not to have.
func written(w http.ResponseWriter) bool {
	ww, ok := w.(interface{ Written() bool })
	return ok && ww.Written()
}
