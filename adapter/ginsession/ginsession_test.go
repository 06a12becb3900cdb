package ginsession_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/httpstate/httpstate/adapter/ginsession"
	"github.com/httpstate/httpstate/internal/adaptertest"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

func init() { gin.SetMode(gin.TestMode) }

// app is the adaptertest application in gin, with the session middleware
// that use returns.
func app(use func(*session.Manager) gin.HandlerFunc) adaptertest.App {
	return func(t *testing.T, m *session.Manager, st *adaptertest.Stream) http.Handler {
		r := gin.New()
		r.Use(use(m))
		r.POST("/cart", func(c *gin.Context) {
			if err := adaptertest.AddToCart(ginsession.From(c), c.Query("item")); err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			c.Status(http.StatusNoContent)
		})
		r.GET("/cart", func(c *gin.Context) {
			c.String(http.StatusOK, adaptertest.Cart(ginsession.From(c)))
		})
		r.POST("/login", func(c *gin.Context) {
			user := c.Query("user")
			if err := ginsession.From(c).Login(user, c.Query("remember") == "1"); err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			c.String(http.StatusOK, "hello %s", user)
		})
		r.GET("/me", func(c *gin.Context) {
			c.String(http.StatusOK, ginsession.From(c).UserID())
		})
		r.POST("/logout", func(c *gin.Context) {
			if err := ginsession.From(c).Logout(); err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			c.String(http.StatusOK, "bye")
		})
		r.GET("/stream", func(c *gin.Context) {
			if err := adaptertest.AddToCart(ginsession.From(c), "streamed"); err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			c.Status(http.StatusOK)
			c.Writer.WriteString("first\n")
			c.Writer.Flush()
			st.Wait(c.Request.Context())
			c.Writer.WriteString("second\n")
		})
		return r
	}
}

func TestMiddleware(t *testing.T) {
	adaptertest.Run(t, app(ginsession.Middleware))
}

// The adapter one would write first, which only hands the session to
// handlers in c.Request: gin handlers still write through the c.Writer
// they had, past the session's writer, so the headers leave before the
// session is saved and its cookie is lost. Middleware replaces c.Writer
// for this reason.
func naive(m *session.Manager) gin.HandlerFunc {
	return func(c *gin.Context) {
		m.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
	}
}

func TestSwappingOnlyTheRequestLosesTheCookie(t *testing.T) {
	adaptertest.LosesCookie(t, app(naive))
}

// gin's c.Status only records the status, so a handler may still log in
// after calling it: a redirect that writes no body carries the renewed
// cookie.
func TestLoginAfterStatus(t *testing.T) {
	m := manager(t)
	r := gin.New()
	r.Use(ginsession.Middleware(m))
	var loginErr error
	r.POST("/login", func(c *gin.Context) {
		c.Header("Location", "/")
		c.Status(http.StatusSeeOther)
		loginErr = ginsession.From(c).Login("alice", false)
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "https://example.com/login", nil))
	if loginErr != nil {
		t.Fatalf("Login after c.Status: %v", loginErr)
	}
	if w.Code != http.StatusSeeOther || !hasCookie(w.Result(), m.CookieName()) {
		t.Fatalf("login redirect = %d, cookies %v; want 303 with the session cookie", w.Code, w.Result().Cookies())
	}
}

// A handler that panics after changing the session: gin.Recovery answers
// 500 through gin's own writer, and the change is not saved.
func TestPanicSavesNothing(t *testing.T) {
	m := manager(t)
	r := gin.New()
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }))
	r.Use(ginsession.Middleware(m))
	r.POST("/cart", func(c *gin.Context) {
		if err := adaptertest.AddToCart(ginsession.From(c), "apple"); err != nil {
			t.Error(err)
		}
		panic("handler bug")
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "https://example.com/cart", nil))
	if w.Code != http.StatusInternalServerError || hasCookie(w.Result(), m.CookieName()) {
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

func hasCookie(resp *http.Response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return true
		}
	}
	return false
}
