// Package echosession runs httpstate sessions in Echo v5
// (github.com/labstack/echo/v5) handler chains.
//
//	sessions, err := session.New(store, session.Options{})
//	...
//	e := echo.New()
//	e.Use(echosession.Middleware(sessions))
//	e.POST("/login", func(c *echo.Context) error {
//		// ... check the password, then:
//		if err := echosession.From(c).Login(userID, false); err != nil {
//			return err
//		}
//		return c.String(http.StatusOK, "welcome")
//	})
//
// Everything session.Manager.Middleware promises holds here too: the
// session is saved just before the response's first byte, the response is
// never buffered, and a store outage answers 503 (Options.ErrorHandler)
// without running the rest of the chain.
//
// # Why an adapter
//
// Echo handlers write through c.Response(), not through the
// http.ResponseWriter that net/http middleware hands on. A wrapper that
// only replaces the request (for the session in its context) leaves the
// handlers writing straight past the session's writer: the headers leave
// before the session is saved, the Set-Cookie added afterwards goes
// nowhere, and Login still returns nil. Middleware replaces the response
// as well, and restores both afterwards, so that middleware earlier in the
// chain (a logger, Recover) sees Echo's own response.
package echosession

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/httpstate/httpstate/session"
)

// Middleware returns Echo middleware that runs m's session middleware
// around the rest of the handler chain. Handlers after it reach the
// request's session with From(c) (or session.FromContext on
// c.Request().Context()).
//
// When the session cannot be loaded, m's error response has been written
// and the rest of the chain does not run. An error a handler returns is
// returned unchanged, for Echo's HTTPErrorHandler, after the session has
// been saved: its error response carries the session cookie. If a handler
// panics, changes not yet saved are dropped.
func Middleware(m *session.Manager) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			res, req := c.Response(), c.Request()
			defer func() { c.SetResponse(res); c.SetRequest(req) }()
			var err error
			m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				// An echo.Response of its own, over the session's writer,
				// which wraps Echo's: Unwrap leads from it to the
				// connection.
				c.SetResponse(echo.NewResponse(w, c.Logger()))
				err = next(c)
			})).ServeHTTP(res, req)
			return err
		}
	}
}

// From returns the request's session, or nil when Middleware did not run
// for c.
func From(c *echo.Context) *session.Session {
	return session.FromContext(c.Request().Context())
}
