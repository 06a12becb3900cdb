// Package ginsession runs httpstate sessions in gin
// (github.com/gin-gonic/gin) handler chains.
//
//	sessions, err := session.New(store, session.Options{})
//	...
//	r := gin.New()
//	r.Use(ginsession.Middleware(sessions))
//	r.POST("/login", func(c *gin.Context) {
//		// ... check the password, then:
//		if err := ginsession.From(c).Login(userID, false); err != nil { ... }
//	})
//
// Everything session.Manager.Middleware promises holds here too: the
// session is saved just before the response's first byte, the response is
// never buffered, and a store outage answers 503 (Options.ErrorHandler)
// without running the rest of the chain.
//
// # Why an adapter
//
// gin handlers write through c.Writer, not through the http.ResponseWriter
// that net/http middleware hands on. A wrapper that only replaces
// c.Request (for the session in its context) leaves the handlers writing
// straight past the session's writer: the headers leave before the
// session is saved, the Set-Cookie added afterwards goes nowhere, and
// Login still returns nil. Middleware replaces c.Writer as well, with a
// gin.ResponseWriter that saves the session before gin sends the headers.
package ginsession

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/httpstate/httpstate/session"
)

// Middleware returns gin middleware that runs m's session middleware
// around the rest of the handler chain. Handlers after it reach the
// request's session with From(c) (or session.FromContext on
// c.Request.Context()).
//
// When the session cannot be loaded, m's error response has been written
// and the chain is aborted. If a handler panics, changes not yet saved are
// dropped: c.Writer and c.Request are restored first, so gin.Recovery's
// error response goes through gin's own writer and saves nothing.
func Middleware(m *session.Manager) gin.HandlerFunc {
	return func(c *gin.Context) {
		gw, req := c.Writer, c.Request
		defer func() { c.Writer, c.Request = gw, req }()
		ran := false
		m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ran = true
			c.Request = r
			c.Writer = &responseWriter{ResponseWriter: gw, session: w}
			c.Next()
		})).ServeHTTP(gw, req)
		if !ran {
			c.Abort()
		}
	}
}

// From returns the request's session, or nil when Middleware did not run
// for c.
func From(c *gin.Context) *session.Session {
	return session.FromContext(c.Request.Context())
}

// responseWriter is the c.Writer handlers see. gin's own writer (the
// embedded one) keeps the status, the size and the connection; every
// path by which bytes leave goes through the session's writer first, so
// the session is saved, and its cookie set, before gin sends the headers.
//
// WriteHeader only records the status, as gin's writer does: in gin,
// c.Status does not start the response, so a handler may still call Login
// after it.
type responseWriter struct {
	gin.ResponseWriter
	session http.ResponseWriter // session.Manager's writer, wrapping the embedded one
}

// WriteHeaderNow saves the session, then sends the headers.
func (w *responseWriter) WriteHeaderNow() {
	if !w.Written() {
		// The session's writer saves the session and passes the status
		// on to gin's writer, which records it; if saving failed it has
		// written the error response instead.
		w.session.WriteHeader(w.Status())
	}
	w.ResponseWriter.WriteHeaderNow()
}

func (w *responseWriter) Write(b []byte) (int, error) {
	return w.session.Write(b)
}

func (w *responseWriter) WriteString(s string) (int, error) {
	return io.WriteString(w.session, s)
}

// Flush saves the session, then sends what was written so far.
func (w *responseWriter) Flush() {
	http.NewResponseController(w.session).Flush()
}

// Unwrap returns the session's writer, so that http.ResponseController
// reaches the connection's deadlines through it.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.session }
