package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
	"github.com/httpstate/httpstate/cookie"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/token"
	"github.com/httpstate/httpstate/token/refresh"
)

// Config configures the shop.
type Config struct {
	// Sessions keeps the browser sessions. Required.
	Sessions session.Store

	// Tokens keeps the API's refresh token families. Required, and
	// separate from Sessions (another table, key prefix or database), as
	// package token asks.
	Tokens session.Store

	// Secret is the master secret, at least cookie.MinSecretSize random
	// bytes, from which the keys sealing the preference cookies and
	// signing access tokens are derived. Servers that share a store and
	// should act as one site must share it too.
	Secret []byte

	// Logger receives structured logs (default slog.Default()). Nothing
	// the shop logs contains a session token, access token or refresh
	// token.
	Logger *slog.Logger

	// Accounts are the users who can log in (default DefaultAccounts).
	// The login page lists them: this is a demo.
	Accounts []Account

	// Session configures the session Manager; the zero value is the
	// library's secure default. Its Logger and ErrorHandler default to the
	// shop's.
	Session session.Options

	// DeviceBinding binds logged-in sessions to the browser's device
	// (session.DeviceBinding) in this mode, with a secret derived from
	// Secret; the zero value leaves binding off. Only Chrome binds, and
	// only over HTTPS with a certificate it trusts: on plain
	// http://localhost sessions stay unbound and work as before.
	// Session.DeviceBinding, if its Mode is set, takes precedence.
	DeviceBinding session.BindingMode

	// Issuer is the "iss" claim of access tokens (default
	// "httpstate-demo"). Servers acting as one site must agree on it.
	Issuer string

	// AccessTokenTTL is how long an access token lives (default
	// token.DefaultTTL).
	AccessTokenTTL time.Duration

	// StoreKind and Instance are shown in the page footer, to make it
	// visible which store and which server answered.
	StoreKind, Instance string

	// CookiePrefix, if not empty, goes into the name of each of the
	// shop's cookies: __Host-P-session, __Host-P-prefs and __Host-P-theme
	// instead of __Host-session, __Host-prefs and __Host-theme. Browsers
	// keep one set of cookies per host, whatever the port, so two shops on
	// localhost with different stores need different prefixes not to
	// replace each other's cookies. See ValidCookiePrefix; it overrides
	// Session.CookieName.
	CookiePrefix string
}

// apiAudience is the "aud" of the demo API's access tokens.
const apiAudience = "httpstate-demo-api"

// requestTimeout bounds every request's work, store calls included, so an
// unreachable store is an error page rather than a hung browser tab.
const requestTimeout = 15 * time.Second

// App is the demo shop. Create it with New and serve App.Handler.
type App struct {
	cfg       Config
	log       *slog.Logger
	sessions  *session.Manager
	users     *users
	throttle  *throttle
	hashes    *hashGate
	prefs     cookie.Value[preferences]
	theme     cookie.Value[string]
	keys      *token.KeySet
	bearer    *token.Bearer
	refresher *refresh.Refresher
	families  *refresh.Families
	templates map[string]*template.Template
	assets    *assets
	handler   http.Handler

	// issued remembers the claims of the last access token issued to
	// each user, for the "under the hood" page.
	issued issuedTokens

	// droppedFlashes counts flash messages not queued because the
	// session held too many, or had no room left.
	droppedFlashes atomic.Int64
}

// New builds the shop: it hashes the accounts' passwords, derives its keys
// from cfg.Secret and parses its templates. ctx is not retained; New does
// not contact the stores.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Sessions == nil || cfg.Tokens == nil {
		return nil, errors.New("demo: Config.Sessions and Config.Tokens are required")
	}
	if cfg.Sessions == cfg.Tokens {
		return nil, errors.New("demo: Config.Tokens must be a store separate from Config.Sessions")
	}
	if len(cfg.Secret) < cookie.MinSecretSize {
		return nil, fmt.Errorf("demo: Config.Secret must be at least %d bytes", cookie.MinSecretSize)
	}
	if cfg.Accounts == nil {
		cfg.Accounts = DefaultAccounts
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "httpstate-demo"
	}
	if cfg.CookiePrefix != "" {
		if !ValidCookiePrefix(cfg.CookiePrefix) {
			return nil, fmt.Errorf("demo: Config.CookiePrefix %q: want 1 to 20 letters, digits, '-' or '_'", cfg.CookiePrefix)
		}
		cfg.Session.CookieName = cfg.CookiePrefix + "-session"
	}
	a := &App{cfg: cfg, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.Default()
	}
	var err error
	if a.users, err = newUsers(cfg.Accounts); err != nil {
		return nil, err
	}
	a.throttle = newThrottle(a.now)
	a.hashes = newHashGate(maxConcurrentHashes, maxQueuedHashes)
	if a.prefs, a.theme, err = newPrefCookies(cfg.Secret, cfg.CookiePrefix); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := a.setUpTokens(); err != nil {
		return nil, err
	}
	opts := cfg.Session
	if opts.Logger == nil {
		opts.Logger = a.log
	}
	if opts.ErrorHandler == nil {
		opts.ErrorHandler = a.storeDownPage
	}
	if cfg.DeviceBinding != session.BindingOff && opts.DeviceBinding.Mode == session.BindingOff {
		secret, err := hkdf.Key(sha256.New, cfg.Secret, nil, "httpstate demo: device binding secret", 32)
		if err != nil {
			return nil, fmt.Errorf("demo: deriving the device binding secret: %w", err)
		}
		opts.DeviceBinding = session.DeviceBinding{Mode: cfg.DeviceBinding, Secrets: [][]byte{secret}}
	}
	if a.sessions, err = session.New(cfg.Sessions, opts); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if a.templates, err = parseTemplates(); err != nil {
		return nil, err
	}
	if a.assets, err = loadAssets(); err != nil {
		return nil, fmt.Errorf("demo: static files: %w", err)
	}
	a.handler = a.routes()
	return a, ctx.Err()
}

// setUpTokens derives the Ed25519 signing key from the secret, so every
// server sharing the secret signs and verifies with the same key (and
// publishes the same key ID) without any key distribution.
func (a *App) setUpTokens() error {
	seed, err := hkdf.Key(sha256.New, a.cfg.Secret, nil, "httpstate demo: access token signing key", ed25519.SeedSize)
	if err != nil {
		return fmt.Errorf("demo: deriving the signing key: %w", err)
	}
	key, err := token.NewKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	a.keys = token.NewKeySet(key)
	issuer, err := token.NewIssuer(a.keys, token.IssuerOptions{Issuer: a.cfg.Issuer, Audience: []string{apiAudience}, TTL: a.cfg.AccessTokenTTL})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	verifier, err := token.NewVerifier(a.keys, token.VerifierOptions{Algorithms: []token.Algorithm{token.EdDSA}, Issuer: a.cfg.Issuer, Audience: apiAudience})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	a.bearer = &token.Bearer{Verifier: verifier, Realm: "httpstate demo", Logger: a.log}
	if a.refresher, err = refresh.New(a.cfg.Tokens, issuer, refresh.Options{IdleTimeout: session.DefaultRememberIdleTimeout}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if a.families, err = refresh.NewFamilies(a.cfg.Tokens); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// Handler returns the shop's HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Sessions returns the shop's session Manager.
func (a *App) Sessions() *session.Manager { return a.sessions }

func (a *App) now() time.Time {
	if a.cfg.Session.Clock != nil {
		return a.cfg.Session.Clock()
	}
	return time.Now()
}

// routes wires the handlers. Pages run inside the session middleware;
// static files, the health check and the token API do not need a session
// and stay outside it. Every route is behind CrossOriginProtection, which
// refuses state-changing requests a browser sends from another origin.
func (a *App) routes() http.Handler {
	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", a.home)
	pages.HandleFunc("GET /cart", a.cartPage)
	pages.HandleFunc("POST /cart/add", a.addToCart)
	pages.HandleFunc("POST /cart/set", a.setQuantity)
	pages.HandleFunc("POST /checkout", a.checkout)
	pages.HandleFunc("GET /login", a.loginPage)
	pages.HandleFunc("POST /login", a.login)
	pages.HandleFunc("POST /logout", a.logout)
	pages.HandleFunc("GET /devices", a.devicesPage)
	pages.HandleFunc("POST /devices/revoke", a.revokeDevice)
	pages.HandleFunc("POST /devices/revoke-others", a.revokeOthers)
	pages.HandleFunc("POST /api-clients/revoke", a.revokeFamily)
	pages.HandleFunc("GET /password", a.passwordPage)
	pages.HandleFunc("POST /password", a.changePassword)
	pages.HandleFunc("GET /preferences", a.preferencesPage)
	pages.HandleFunc("POST /preferences", a.savePreferences)
	pages.HandleFunc("POST /preferences/theme", a.toggleTheme)
	pages.HandleFunc("POST /banner/dismiss", a.dismissBanner)
	pages.HandleFunc("GET /under-the-hood", a.hoodPage)
	pages.HandleFunc("POST /under-the-hood", a.hoodPage)
	pages.HandleFunc("/", a.notFound)

	mux := http.NewServeMux()
	mux.Handle("GET /static/", a.assets)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("GET /.well-known/jwks.json", a.keys.JWKSHandler())
	mux.Handle("/api/", a.api())
	mux.Handle("/", a.sessions.Middleware(a.noticeLapsed(limitForms(pages))))

	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(a.refused))
	return a.logRequests(securityHeaders(withTimeout(csrf.Handler(mux))))
}

// maxFormBody bounds what a form POST may send.
const maxFormBody = 64 << 10

func limitForms(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		}
		next.ServeHTTP(w, r)
	})
}

func withTimeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// contentSecurityPolicy allows only this site's own scripts, styles and
// images: no inline script or style, no framing, forms that post only
// here. An injected <script> or style attribute does nothing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY") // for browsers that predate frame-ancestors
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// logRequests logs one line per request: method, path (never the query,
// never headers, so no credential can reach the log), status, size and
// duration. Static files and health checks log at debug level.
func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		level := slog.LevelInfo
		if strings.HasPrefix(r.URL.Path, "/static/") || r.URL.Path == "/healthz" {
			level = slog.LevelDebug
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		a.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// statusRecorder notes the status and size of a response. Unwrap keeps
// http.ResponseController working through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// healthz answers 200 when both stores answer a read, and 503 otherwise,
// for load balancers and orchestrators. It reveals nothing else.
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	for _, s := range []session.Store{a.cfg.Sessions, a.cfg.Tokens} {
		if _, err := storeurl.Ping(ctx, s); err != nil {
			a.log.ErrorContext(r.Context(), "health check: store unreachable", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("store unavailable\n"))
			return
		}
	}
	w.Write([]byte("ok\n"))
}

func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	a.errorPage(w, r, http.StatusNotFound, "Page not found", "This page does not exist.")
}

// refused answers a request CrossOriginProtection rejected: a form or
// fetch sent to this site by a page on another origin.
func (a *App) refused(w http.ResponseWriter, r *http.Request) {
	a.log.WarnContext(r.Context(), "cross-origin request refused", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	if isAPI(r) {
		apiError(w, http.StatusForbidden, "cross_origin_request", "This request came from a page on another origin, so it was refused. Nothing was changed.")
		return
	}
	a.errorPage(w, r, http.StatusForbidden, "Request refused", "This form was sent from another site, so it was refused. Nothing was changed.")
}

// storeDownPage is the session Manager's ErrorHandler: the store did not
// answer, which must never look like being logged out.
func (a *App) storeDownPage(w http.ResponseWriter, r *http.Request, _ error) {
	w.Header().Set("Retry-After", "5")
	const heading = "Service unavailable"
	a.renderError(w, r, http.StatusServiceUnavailable, a.basePage(r, heading, ""), heading, "Session storage did not answer. Please try again in a moment.")
}

// storeDown reports a store failure met by a handler.
func (a *App) storeDown(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "store failed", "err", err, "path", r.URL.Path)
	a.storeDownPage(w, r, err)
}
