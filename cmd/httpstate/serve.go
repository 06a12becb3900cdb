package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
	"github.com/httpstate/httpstate/session"
)

// tokensNamespace is where serve keeps the API's refresh tokens, next to
// the sessions; the admin commands look there too.
const tokensNamespace = "tokens"

// shutdownTimeout bounds how long serve waits for requests in flight when
// asked to stop.
const shutdownTimeout = 10 * time.Second

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve")
	addr := fs.String("addr", "localhost:8080", "address to listen on")
	storeURL := storeFlag(fs)
	secretFile := fs.String("secret-file", "httpstate.key", "file holding the secret; created if missing")
	cookiePrefix := fs.String("cookie-prefix", "", "a word in the names of the shop's cookies, to run two shops on one host")
	binding := fs.String("device-binding", "enforce", "off, report-only or enforce: bind logged-in sessions to the browser's device (Chrome, over HTTPS)")
	logFormat := fs.String("log-format", "text", "text or json")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if err := checkAddr(*addr); err != nil {
		return err
	}
	if *cookiePrefix != "" && !demo.ValidCookiePrefix(*cookiePrefix) {
		return usagef("serve", "--cookie-prefix %q: want 1 to 20 letters, digits, '-' or '_'", *cookiePrefix)
	}
	mode, ok := bindingModes[*binding]
	if !ok {
		return usagef("serve", "--device-binding %q: want off, report-only or enforce", *binding)
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	loc, err := storeurl.Parse(*storeURL)
	if err != nil {
		return err
	}
	secret, created, err := loadSecret(*secretFile)
	if err != nil {
		return err
	}
	if created {
		logger.Info("created a new secret", "file", *secretFile)
	}

	// serve is the one command that may create an SQLite file: it is how
	// a new shop starts.
	sessions, closeSessions, err := storeurl.Open(ctx, *storeURL, storeurl.CreateIfMissing())
	if err != nil {
		return err
	}
	defer closeSessions.Close()
	tokens, closeTokens, err := storeurl.Open(ctx, *storeURL, storeurl.Namespace(tokensNamespace), storeurl.CreateIfMissing())
	if err != nil {
		return err
	}
	defer closeTokens.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	base := baseURL(*addr, ln.Addr())
	app, err := demo.New(ctx, demo.Config{
		Sessions:      sessions,
		Tokens:        tokens,
		Secret:        secret,
		Logger:        logger,
		StoreKind:     loc.Kind,
		Instance:      strings.TrimPrefix(base, "http://"),
		CookiePrefix:  *cookiePrefix,
		DeviceBinding: mode,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           app.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	printBanner(stdout, base, loc, mode)
	logger.Info("serving", "url", base, "store", loc.Redacted)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// bindingModes are the values of serve's --device-binding.
var bindingModes = map[string]session.BindingMode{
	"off": session.BindingOff, "report-only": session.BindingReportOnly, "enforce": session.BindingEnforce,
}

func printBanner(w io.Writer, base string, loc storeurl.Location, mode session.BindingMode) {
	persistence := "sessions survive a restart"
	if loc.Kind == storeurl.Memory {
		persistence = "sessions are lost when the server stops"
	}
	fmt.Fprintf(w, "httpstate demo shop\n\n")
	fmt.Fprintf(w, "  Open:      %s\n", base)
	fmt.Fprintf(w, "  Store:     %s (%s)\n", loc.Redacted, persistence)
	if mode != session.BindingOff {
		// The shop listens on plain HTTP, where no browser binds.
		fmt.Fprintf(w, "  Binding:   %s (Chrome binds sessions only over HTTPS: put a TLS proxy in front)\n", mode)
	}
	for i, a := range demo.DefaultAccounts {
		label := ""
		if i == 0 {
			label = "Accounts:"
		}
		fmt.Fprintf(w, "  %-10s %s / %s\n", label, a.Username, a.Password)
	}
	fmt.Fprintf(w, "\nPress Ctrl+C to stop.\n")
}

// checkAddr refuses an address net.Listen could never use, as a usage
// error: a missing or out-of-range port is a typo, not a failure to
// listen.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("serve", "--addr %q: want HOST:PORT, such as localhost:8080 or :8080", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return usagef("serve", "--addr %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " /") {
		return usagef("serve", "--addr %q: %q is not a host name or address", addr, host)
	}
	return nil
}

// baseURL is the URL to print for a listener: the host as the user wrote
// it, or localhost for a wildcard address, since browsers treat
// http://localhost as a secure context and accept the shop's Secure
// cookies there.
func baseURL(addr string, bound net.Addr) string {
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(bound.String())
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("serve", "--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("serve", "--log-format %q: want text or json", format)
}
