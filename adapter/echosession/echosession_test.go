package echosession_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/httpstate/httpstate/adapter/echosession"
	"github.com/httpstate/httpstate/internal/adaptertest"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// app is the adaptertest application in Echo, with the session
// middleware that use returns.
func app(use func(*session.Manager) echo.MiddlewareFunc) adaptertest.App {
	return func(t *testing.T, m *session.Manager, st *adaptertest.Stream) http.Handler {
		e := echo.New()
		e.Use(use(m))
		e.POST("/cart", func(c *echo.Context) error {
			if err := adaptertest.AddToCart(echosession.From(c), c.QueryParam("item")); err != nil {
				return err
			}
			return c.NoContent(http.StatusNoContent)
		})
		e.GET("/cart", func(c *echo.Context) error {
			return c.String(http.StatusOK, adaptertest.Cart(echosession.From(c)))
		})
		e.POST("/login", func(c *echo.Context) error {
			user := c.QueryParam("user")
			if err := echosession.From(c).Login(user, c.QueryParam("remember") == "1"); err != nil {
				return c.String(http.StatusInternalServerError, err.Error())
			}
			return c.String(http.StatusOK, "hello "+user)
		})
		e.GET("/me", func(c *echo.Context) error {
			return c.String(http.StatusOK, echosession.From(c).UserID())
		})
		e.POST("/logout", func(c *echo.Context) error {
			if err := echosession.From(c).Logout(); err != nil {
				return c.String(http.StatusInternalServerError, err.Error())
			}
			return c.String(http.StatusOK, "bye")
		})
		e.GET("/stream", func(c *echo.Context) error {
			if err := adaptertest.AddToCart(echosession.From(c), "streamed"); err != nil {
				return err
			}
			w := c.Response()
			w.WriteHeader(http.StatusOK)
			if _, err := w.Write([]byte("first\n")); err != nil {
				return err
			}
			if err := http.NewResponseController(w).Flush(); err != nil {
				return err
			}
			st.Wait(c.Request().Context())
			_, err := w.Write([]byte("second\n"))
			return err
		})
		return e
	}
}

func TestMiddleware(t *testing.T) {
	adaptertest.Run(t, app(echosession.Middleware))
}

// The adapter one would write first, which only hands the session to
// handlers in the request: Echo handlers still write through the
// c.Response() they had, past the session's writer, so the headers leave
// before the session is saved and its cookie is lost. Middleware replaces
// the response for this reason.
func naive(m *session.Manager) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) (err error) {
			m.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				err = next(c)
			})).ServeHTTP(c.Response(), c.Request())
			return err
		}
	}
}

func TestSwappingOnlyTheRequestLosesTheCookie(t *testing.T) {
	adaptertest.LosesCookie(t, app(naive))
}

// A handler's error goes to Echo's HTTPErrorHandler after the session is
// saved: the error response carries the cookie, and the change is kept.
func TestErrorResponseCarriesCookie(t *testing.T) {
	m := manager(t)
	e := echo.New()
	e.Use(echosession.Middleware(m))
	e.POST("/cart", func(c *echo.Context) error {
		if err := adaptertest.AddToCart(echosession.From(c), "apple"); err != nil {
			return err
		}
		return echo.NewHTTPError(http.StatusConflict, "out of stock")
	})
	e.GET("/cart", func(c *echo.Context) error {
		return c.String(http.StatusOK, adaptertest.Cart(echosession.From(c)))
	})
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("POST", "https://example.com/cart", nil))
	ck := sessionCookie(w.Result(), m.CookieName())
	if w.Code != http.StatusConflict || ck == nil {
		t.Fatalf("handler error = %d, cookies %v; want 409 with the session cookie", w.Code, w.Result().Cookies())
	}
	req := httptest.NewRequest("GET", "https://example.com/cart", nil)
	req.AddCookie(ck)
	w = httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Body.String() != "apple" {
		t.Fatalf("cart after the error response = %q; want %q", w.Body.String(), "apple")
	}
}

// A handler that panics after changing the session: Recover's error
// response goes through Echo's own response, and the change is not saved.
func TestPanicSavesNothing(t *testing.T) {
	m := manager(t)
	e := echo.New()
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}))
	e.Use(echosession.Middleware(m))
	e.POST("/cart", func(c *echo.Context) error {
		if err := adaptertest.AddToCart(echosession.From(c), "apple"); err != nil {
			return err
		}
		panic("handler bug")
	})
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("POST", "https://example.com/cart", nil))
	if w.Code != http.StatusInternalServerError || sessionCookie(w.Result(), m.CookieName()) != nil {
		t.Fatalf("panicking handler = %d, cookies %v; want 500 without a session cookie", w.Code, w.Result().Cookies())
	}
}

func manager(t *testing.T) *session.Manager {
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	m, err := session.New(store, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sessionCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
