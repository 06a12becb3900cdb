package dbscbrowser_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/internal/testclock"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// TestChromiumBindsTheDemoShop logs in to the demo shop, with device
// binding enforced, through its login form in a real Chromium: the offer
// rides on the login's 303 redirect, registration and refresh pass the
// shop's cross-origin protection, and the "under the hood" page shows
// the binding and, after the server's clock passed the bound cookie's
// lifetime, the refresh.
func TestChromiumBindsTheDemoShop(t *testing.T) {
	home, tlsCfg := trustedTLS(t)
	sessions, tokens := memory.New(), memory.New()
	t.Cleanup(func() { sessions.Close(); tokens.Close() })
	clk := testclock.New(time.Now())
	app, err := demo.New(t.Context(), demo.Config{
		Sessions: sessions, Tokens: tokens,
		Secret:        []byte("dbscbrowser demo test secret, thirty-two bytes or more"),
		Logger:        slog.New(slog.DiscardHandler),
		Session:       session.Options{Clock: clk.Now},
		DeviceBinding: session.BindingEnforce,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(app.Handler())
	hs.TLS = tlsCfg
	hs.StartTLS()
	t.Cleanup(hs.Close)
	_, port, _ := net.SplitHostPort(hs.Listener.Addr().String())
	base := "https://localhost:" + port

	b := startChromium(t, home)
	seen := 0
	b.open(base + "/login")
	if _, err := chromedp.RunResponse(b.ctx,
		chromedp.SetValue(chromedp.ID("username"), "alice"),
		chromedp.SetValue(chromedp.ID("password"), "correct horse"),
		chromedp.Click(chromedp.ID("login-submit")),
	); err != nil {
		t.Fatalf("login form: %v", err)
	}
	created := b.waitEvent("session creation", &seen, func(e *network.EventDeviceBoundSessionEventOccurred) bool {
		return e.CreationEventDetails != nil
	})
	if !created.Succeeded {
		all, _ := json.Marshal(created)
		t.Fatalf("the shop's registration failed in the browser: %s", all)
	}
	bound := func() (string, string) {
		t.Helper()
		status, _ := b.open(base + "/under-the-hood")
		if status != 200 {
			t.Fatalf("under the hood: status %d", status)
		}
		res, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
			`[document.querySelector("#binding").dataset.bound, (document.querySelector("#binding-refreshes") || {}).textContent || ""]`))
		if err != nil {
			t.Fatal(err)
		}
		return res[0], res[1]
	}
	if isBound, refreshes := bound(); isBound != "true" || refreshes != "0" {
		t.Fatalf("under the hood after login: bound %s, refreshes %q", isBound, refreshes)
	}
	clk.Advance(session.DefaultBoundCookieLifetime + time.Second)
	if isBound, refreshes := bound(); isBound != "true" || len(refreshes) < 1 || refreshes[0] != '1' {
		t.Fatalf("under the hood once the bound cookie was stale: bound %s, refreshes %q", isBound, refreshes)
	}
	refreshed := b.waitEvent("refresh", &seen, func(e *network.EventDeviceBoundSessionEventOccurred) bool {
		return e.RefreshEventDetails != nil
	})
	if !refreshed.Succeeded {
		all, _ := json.Marshal(refreshed)
		t.Fatalf("the refresh failed in the browser: %s", all)
	}
}
