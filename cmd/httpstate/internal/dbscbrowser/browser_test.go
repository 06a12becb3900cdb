package dbscbrowser_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/dbsc"
)

// dbscFeatures turns on DBSC in Chromium 156 on a machine without a TPM.
// DeviceBoundSessions is the feature behind chrome://flags'
// enable-standard-device-bound-session-credentials,
// EnableBoundSessionCredentialsSoftwareKeysForManualTesting the one
// behind enable-bound-session-credentials-software-keys-for-manual-testing
// (Chromium names a feature after its C++ constant without the k). The
// refresh quota (6 signatures in 9 minutes per site) is switched off so
// that a test with many rounds never meets it.
const dbscFeatures = "DeviceBoundSessions:RefreshQuota/false,EnableBoundSessionCredentialsSoftwareKeysForManualTesting"

// trustedTLS makes a CA and a certificate for localhost and 127.0.0.1 it
// signed, and an NSS database that trusts the CA in a new HOME, where
// Chromium on Linux reads its trust store ($HOME/.pki/nssdb). DBSC
// ignores the registration header of a response whose certificate the
// browser does not trust, --ignore-certificate-errors or not.
func trustedTLS(t *testing.T) (home string, cfg *tls.Config) {
	t.Helper()
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		testenv.Require(t, "certutil (Debian package libnss3-tools)", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "httpstate dbsc test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}

	home = t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(home, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + db, "--empty-password"},
		{"-A", "-d", "sql:" + db, "-n", "httpstate-dbsc-test", "-t", "C,,", "-i", caFile},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return home, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}}
}

// tab is one Chromium, with its own profile, and the DBSC events its tab
// saw.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	events []*network.EventDeviceBoundSessionEventOccurred
	signal chan struct{} // a value after each event
}

func startChromium(t *testing.T, home string) *tab {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests do not run with -short")
	}
	if _, err := exec.LookPath(testenv.Chromium); err != nil {
		testenv.Require(t, "chromium", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.Chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("HOME=" + home),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("enable-features", dbscFeatures),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(browserCtx); err != nil {
		cancelBrowser()
		cancelAlloc()
		testenv.Require(t, "chromium", err)
	}
	ctx, cancelTimeout := context.WithTimeout(browserCtx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelBrowser()
		cancelAlloc()
	})
	tb := &tab{t: t, ctx: ctx, signal: make(chan struct{}, 64)}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventDeviceBoundSessionEventOccurred); ok {
			tb.mu.Lock()
			tb.events = append(tb.events, e)
			tb.mu.Unlock()
			select {
			case tb.signal <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.EnableDeviceBoundSessions, network.EnableDeviceBoundSessionsParams{Enable: true}); err != nil {
		t.Fatalf("Network.enableDeviceBoundSessions: %v", err)
	}
	return tb
}

// open navigates and returns the final status and the page's paragraph
// id, which the server sets to say what it served.
func (b *tab) open(url string) (int64, string) {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("navigate to %s: %v", url, err)
	}
	id, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector("p[id]") || {id: ""}).id`))
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.Status, id
}

// waitEvent waits until the tab has seen a DBSC event that match accepts
// and returns it; the test's deadline bounds the wait.
func (b *tab) waitEvent(what string, seen *int, match func(*network.EventDeviceBoundSessionEventOccurred) bool) *network.EventDeviceBoundSessionEventOccurred {
	b.t.Helper()
	for {
		b.mu.Lock()
		for ; *seen < len(b.events); *seen++ {
			if e := b.events[*seen]; match(e) {
				*seen++
				b.mu.Unlock()
				return e
			}
		}
		b.mu.Unlock()
		select {
		case <-b.signal:
		case <-b.ctx.Done():
			b.mu.Lock()
			all, _ := json.Marshal(b.events)
			b.mu.Unlock()
			b.t.Fatalf("no %s event; events: %s", what, all)
		}
	}
}

func (b *tab) cookies(url string) []*network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.t.Fatal(err)
	}
	return res.Cookies
}

// TestChromiumBindsSession logs in with a real Chromium to a site whose
// session.Manager has DeviceBinding enforced, sees Chromium register a
// DBSC session and refresh it round after round, and shows that a copy
// of its cookies in another browser profile is refused once the bound
// cookie it copied is stale, while the original stays logged in. A
// logout ends the binding: Chromium's next refresh is answered
// {"continue":false} and it deletes the session.
func TestChromiumBindsSession(t *testing.T) {
	home, tlsCfg := trustedTLS(t)
	srv := newSite(t)
	hs := httptest.NewUnstartedServer(srv.handler())
	hs.TLS = tlsCfg
	hs.StartTLS()
	t.Cleanup(hs.Close)
	_, port, _ := net.SplitHostPort(hs.Listener.Addr().String())
	base := "https://localhost:" + port
	defer func() {
		if t.Failed() || testing.Verbose() {
			srv.mu.Lock()
			t.Logf("server events:\n%s", strings.Join(srv.events, "\n"))
			srv.mu.Unlock()
		}
	}()

	orig := startChromium(t, home)
	seen := 0
	if status, id := orig.open(base + "/login"); status != 200 || id != "welcome" {
		t.Fatalf("login: %d %s", status, id)
	}
	created := orig.waitEvent("session creation", &seen, func(e *network.EventDeviceBoundSessionEventOccurred) bool {
		return e.CreationEventDetails != nil
	})
	if !created.Succeeded || created.CreationEventDetails.FetchResult != network.DeviceBoundSessionFetchResultSuccess {
		all, _ := json.Marshal(created)
		t.Fatalf("registration failed in the browser: %s", all)
	}
	if ns := created.CreationEventDetails.NewSession; ns == nil || !strings.HasSuffix(ns.RefreshURL, "/dbsc/refresh") ||
		len(ns.CookieCravings) != 1 || ns.CookieCravings[0].Name != srv.m.CookieName()+"-bound" {
		all, _ := json.Marshal(ns)
		t.Fatalf("the browser did not take the instructions as sent: %s", all)
	}
	devices, err := srv.m.Devices(t.Context(), "alice")
	if err != nil || len(devices) != 1 || !devices[0].Bound || devices[0].Binding.Algorithm != dbsc.ES256 || devices[0].Binding.Thumbprint == "" {
		t.Fatalf("Devices = %+v, %v; want alice's session bound to an ES256 key", devices, err)
	}
	if status, id := orig.open(base + "/private"); status != 200 || id != "secret" {
		t.Fatalf("the registered browser's first private page: %d %s", status, id)
	}

	// Someone copies every cookie of the browser into another profile.
	thief := startChromium(t, home)
	yes := true
	for _, c := range orig.cookies(base) {
		if _, err := chromedp.Call(thief.ctx, network.SetCookie, network.SetCookieParams{
			Name: c.Name, Value: c.Value, URL: base + "/", Path: c.Path, Secure: &yes, HTTPOnly: &c.HTTPOnly, SameSite: c.SameSite,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if status, id := thief.open(base + "/private"); status != 200 || id != "secret" {
		t.Fatalf("the copy while the copied bound cookie is fresh: %d %s", status, id)
	}

	for round := 1; round <= 3; round++ {
		// Every bound cookie is now stale on the server's clock, though
		// not in the browsers' jars: the Manager answers 307 and deletes
		// it. The thief's profile has no key and follows the redirect
		// without a bound cookie, so it is served as anonymous.
		srv.clk.Advance(session.DefaultBoundCookieLifetime + time.Second)
		if status, id := thief.open(base + "/private"); status != 401 || id != "refused" {
			t.Fatalf("round %d: the copy with a stale bound cookie: %d %s", round, status, id)
		}
		srv.mu.Lock()
		before := srv.refreshes
		srv.mu.Unlock()
		// The original browser refreshes before it follows the redirect.
		if status, id := orig.open(base + "/private"); status != 200 || id != "secret" {
			t.Fatalf("round %d: the original browser: %d %s", round, status, id)
		}
		refreshed := orig.waitEvent("refresh", &seen, func(e *network.EventDeviceBoundSessionEventOccurred) bool {
			return e.RefreshEventDetails != nil
		})
		if !refreshed.Succeeded || refreshed.RefreshEventDetails.RefreshResult != network.RefreshEventDetailsRefreshResultRefreshed {
			all, _ := json.Marshal(refreshed)
			t.Fatalf("round %d: refresh failed in the browser: %s", round, all)
		}
		srv.mu.Lock()
		after, challenged := srv.refreshes, srv.challenged
		srv.mu.Unlock()
		if after != before+1 {
			t.Fatalf("round %d: the server verified %d refresh proofs, want 1", round, after-before)
		}
		if challenged != 0 {
			t.Fatalf("round %d: the browser did not sign the challenge sent ahead; %d refreshes were challenged", round, challenged)
		}
		if status, id := thief.open(base + "/private"); status != 401 || id != "refused" {
			t.Fatalf("round %d: the copy after the original refreshed: %d %s", round, status, id)
		}
	}
	devices, err = srv.m.Devices(t.Context(), "alice")
	if err != nil || len(devices) != 1 || devices[0].Binding.Refreshes != 3 {
		t.Fatalf("Devices = %+v, %v; want 3 refreshes recorded", devices, err)
	}

	// Logging out deletes the session and the bound cookie; the browser's
	// next request in scope makes it refresh, the Manager answers
	// {"continue":false}, and Chromium deletes the DBSC session.
	if status, id := orig.open(base + "/logout"); status != 200 || id != "bye" {
		t.Fatalf("logout: %d %s", status, id)
	}
	if status, id := orig.open(base + "/private"); status != 401 || id != "anonymous" {
		t.Fatalf("after logout: %d %s", status, id)
	}
	ended := orig.waitEvent("termination", &seen, func(e *network.EventDeviceBoundSessionEventOccurred) bool {
		return e.TerminationEventDetails != nil
	})
	if ended.SessionID != created.SessionID || ended.TerminationEventDetails.DeletionReason != network.TerminationEventDetailsDeletionReasonServerRequested {
		all, _ := json.Marshal(ended)
		t.Fatalf("the browser's session did not end at the server's request: %s", all)
	}

	// Chromium 156 sends Sec-Secure-Session-Id and Secure-Session-Response
	// unquoted; the package reads both forms. Record it so a change shows.
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, h := range srv.sessionIDHeaders {
		if h != created.SessionID {
			t.Errorf("Sec-Secure-Session-Id sent as %q, want the bare identifier %q", h, created.SessionID)
		}
	}
	for _, h := range srv.proofHeaders {
		if !strings.HasPrefix(h, "eyJ") {
			t.Errorf("Secure-Session-Response sent as %.20q..., want a bare JWT", h)
		}
	}
	if len(srv.proofHeaders) < 4 {
		t.Errorf("the server saw %d proofs, want a registration and three refreshes", len(srv.proofHeaders))
	}
	t.Logf("session %s bound to key %s; %d refreshes", created.SessionID, devices[0].Binding.Thumbprint, srv.refreshes)
}
