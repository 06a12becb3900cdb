package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/observe"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/dbsc"
	"github.com/httpstate/httpstate/session/dbsc/dbsctest"
	"github.com/httpstate/httpstate/store/memory"
)

var bindingSecret = []byte("httpstate device binding test secret, 32+ bytes")

func bindingOptions(mode session.BindingMode, clock *fakeClock) session.Options {
	return session.Options{Clock: clock.Now, DeviceBinding: session.DeviceBinding{Mode: mode, Secrets: [][]byte{bindingSecret}}}
}

// bindingApp is app() with a page that says what the handler sees, a
// renewal, and the session's Info as JSON. ran counts the handler's runs.
func bindingApp(ran *atomic.Int64) http.Handler {
	mux := app().(*http.ServeMux)
	mux.HandleFunc("/view", func(w http.ResponseWriter, r *http.Request) {
		ran.Add(1)
		s := session.FromContext(r.Context())
		fmt.Fprintf(w, "user=%s new=%t lapsed=%t refused=%t", s.UserID(), s.IsNew(), s.Lapsed(), s.BindingRefused())
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).RenewID(); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(session.FromContext(r.Context()).Info())
	})
	return mux
}

// device is a browser profile with DBSC: its jar holds the cookies and
// its dbsctest.Browser the session's key.
type device struct {
	*browser
	dbsc *dbsctest.Browser
}

func (s *site) device(alg dbsc.Algorithm) *device {
	b := s.browser()
	return &device{browser: b, dbsc: &dbsctest.Browser{Client: b.c, Alg: alg}}
}

// loginAndBind logs user in and registers the device-bound session the
// login response offers.
func (d *device) loginAndBind(user string) {
	d.s.t.Helper()
	d.post("/login?user=" + user)
	if err := d.dbsc.Register(d.s.t.Context(), d.resp); err != nil {
		d.s.t.Fatalf("registration after logging in as %s: %v", user, err)
	}
}

// refresh runs the DBSC refresh and returns its status.
func (d *device) refresh() int {
	d.s.t.Helper()
	status, err := d.dbsc.Refresh(d.s.t.Context())
	if err != nil {
		d.s.t.Fatalf("refresh: %v", err)
	}
	return status
}

func (b *browser) named(name string) string {
	u, _ := url.Parse(b.s.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) bound() string { return b.named(b.s.m.CookieName() + "-bound") }

func (b *browser) setNamed(name, value string) {
	u, _ := url.Parse(b.s.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/", Secure: true}})
}

// copyOf is another browser profile holding copies of b's cookies, as
// malware that read b's cookie store would.
func (b *browser) copyOf() *browser {
	thief := b.s.browser()
	thief.setCookie(b.cookie())
	if v := b.bound(); v != "" {
		thief.setNamed(b.s.m.CookieName()+"-bound", v)
	}
	return thief
}

func (b *browser) info() session.Info {
	b.s.t.Helper()
	var info session.Info
	if err := json.Unmarshal([]byte(b.get("/info")), &info); err != nil {
		b.s.t.Fatal(err)
	}
	return info
}

// setCookieFor returns the Set-Cookie of the last response for name.
func (b *browser) setCookieFor(name string) *http.Cookie {
	for _, c := range b.resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestDeviceBindingRegistersRefreshesAndEnforces(t *testing.T) {
	for _, alg := range []dbsc.Algorithm{dbsc.ES256, dbsc.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			clock := newClock()
			var ran atomic.Int64
			var events eventLog
			opts := bindingOptions(session.BindingEnforce, clock)
			opts.Observer = &events
			s := newSite(t, newSpy(t), opts, bindingApp(&ran))
			d := s.device(alg)
			d.post("/login?user=alice")
			offer := d.resp.Header.Get(dbsc.HeaderRegistration)
			if !strings.HasPrefix(offer, `(ES256 RS256);path="/dbsc/register";challenge="`) {
				t.Fatalf("the login response offers %q", offer)
			}
			if err := d.dbsc.Register(t.Context(), d.resp); err != nil {
				t.Fatal(err)
			}
			in := d.dbsc.Instructions
			if in.SessionIdentifier == "" || in.RefreshURL != "/dbsc/refresh" || len(in.Credentials) != 1 ||
				in.Credentials[0].Name != "__Host-session-bound" || in.Credentials[0].Attributes != "Path=/; Secure; HttpOnly; SameSite=Lax" {
				t.Fatalf("instructions %+v", in)
			}
			if d.dbsc.Challenge == "" {
				t.Fatal("the registration response sent no challenge ahead")
			}
			if got := d.get("/view"); got != "user=alice new=false lapsed=false refused=false" {
				t.Fatalf("the bound browser: %q", got)
			}
			info := d.info()
			if !info.Bound || info.Binding.Algorithm != alg || info.Binding.Thumbprint != d.dbsc.Key.Public.Thumbprint() ||
				info.Binding.Refreshes != 0 || !info.Binding.LastRefresh.IsZero() ||
				info.Binding.CookieExpires.Unix() != clock.Now().Add(session.DefaultBoundCookieLifetime).Unix() {
				t.Fatalf("Info.Binding = %+v", info.Binding)
			}

			// A copy of the session cookie alone is refused at once.
			thief := s.browser()
			thief.setCookie(d.cookie())
			if got := thief.get("/view"); got != "user= new=true lapsed=false refused=true" {
				t.Fatalf("the session cookie without its bound cookie: %q", got)
			}

			for round := 1; round <= 3; round++ {
				// A copy of both works while the copied bound cookie lasts.
				copied := d.copyOf()
				if got := copied.get("/view"); !strings.HasPrefix(got, "user=alice ") {
					t.Fatalf("round %d: a copy within the bound cookie's lifetime: %q", round, got)
				}
				clock.Advance(session.DefaultBoundCookieLifetime + time.Second)
				before := ran.Load()
				if got := d.get("/view"); d.resp.StatusCode != http.StatusTemporaryRedirect || got != "" || ran.Load() != before {
					t.Fatalf("round %d: a stale bound cookie: %d %q; the handler must not run", round, d.resp.StatusCode, got)
				}
				if status := d.refresh(); status != http.StatusOK {
					t.Fatalf("round %d: refresh: %d", round, status)
				}
				if got := d.get("/view"); got != "user=alice new=false lapsed=false refused=false" {
					t.Fatalf("round %d: after the refresh: %q", round, got)
				}
				copied.get("/view")
				if copied.resp.StatusCode != http.StatusTemporaryRedirect {
					t.Fatalf("round %d: the copy's stale bound cookie: status %d", round, copied.resp.StatusCode)
				}
				if got := copied.get("/view"); got != "user= new=true lapsed=false refused=true" {
					t.Fatalf("round %d: the copy after its bound cookie was removed: %q", round, got)
				}
			}
			info = d.info()
			if info.Binding.Refreshes != 3 || !info.Binding.LastRefresh.Equal(clock.Now().Truncate(time.Millisecond)) {
				t.Fatalf("after three refreshes: %+v", info.Binding)
			}
			for _, reason := range []string{"missing", "expired"} {
				if !events.has(func(e observe.Event) bool {
					return e.Kind == observe.DeviceBindingCheck && e.Op == "enforce" && e.Outcome == observe.Rejected && e.Reason == reason
				}) {
					t.Errorf("no enforce check event with reason %q", reason)
				}
			}
			if !events.has(func(e observe.Event) bool {
				return e.Kind == observe.DeviceBindingRefresh && e.Op == "proof" && e.Outcome == observe.OK && e.Duration > 0
			}) {
				t.Error("no timed refresh event")
			}
		})
	}
}

func TestBrowsersWithoutDeviceBindingKeepWorking(t *testing.T) {
	clock := newClock()
	var ran atomic.Int64
	s := newSite(t, newSpy(t), bindingOptions(session.BindingEnforce, clock), bindingApp(&ran))
	b := s.browser()
	b.post("/login?user=bob") // offered, never registered
	for range 5 {
		clock.Advance(session.DefaultBoundCookieLifetime + time.Minute)
		if got := b.get("/view"); got != "user=bob new=false lapsed=false refused=false" {
			t.Fatalf("a browser that never registered: %q", got)
		}
	}
	if devices, _ := s.m.Devices(t.Context(), "bob"); len(devices) != 1 || devices[0].Bound {
		t.Fatalf("Devices = %+v; want one unbound", devices)
	}
}

func TestARefusedRequestLeavesTheStoredSessionAndItsCookie(t *testing.T) {
	clock := newClock()
	var ran atomic.Int64
	s := newSite(t, newSpy(t), bindingOptions(session.BindingEnforce, clock), bindingApp(&ran))
	d := s.device(dbsc.ES256)
	d.loginAndBind("carol")
	d.post("/put?k=cart&v=wine")

	thief := s.browser()
	thief.setCookie(d.cookie())
	got := thief.get("/view")
	if got != "user= new=true lapsed=false refused=true" {
		t.Fatalf("handler saw %q", got)
	}
	if len(thief.resp.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("a refused request touched cookies: %q", thief.resp.Header.Values("Set-Cookie"))
	}
	if got := thief.get("/get?k=cart"); got != "<none>" {
		t.Fatalf("the refused request read the session: %q", got)
	}
	// The anonymous session is an ordinary one: what it stores gets a
	// token of its own, which replaces the copied cookie.
	thief.post("/put?k=cart&v=beer")
	if c := thief.setCookieFor(s.m.CookieName()); c == nil || c.Value == d.cookie() {
		t.Fatalf("the refused request's own session got no cookie of its own: %v", c)
	}
	if got := d.get("/get?k=cart"); got != "wine" {
		t.Fatalf("the bound browser after refusals: %q", got)
	}
	if devices, _ := s.m.Devices(t.Context(), "carol"); len(devices) != 1 || !devices[0].Bound {
		t.Fatalf("Devices = %+v; want the bound session, still there", devices)
	}
}

func TestAStaleOrForgedBoundCookieIsRedirectedToRefresh(t *testing.T) {
	clock := newClock()
	var ran atomic.Int64
	var events eventLog
	opts := bindingOptions(session.BindingEnforce, clock)
	opts.Observer = &events
	s := newSite(t, newSpy(t), opts, bindingApp(&ran))
	d := s.device(dbsc.ES256)
	d.loginAndBind("dora")
	bound := d.bound()
	for name, value := range map[string]string{
		"forged":    strings.Repeat("A", len(bound)),
		"truncated": bound[:len(bound)-1],
		"flipped":   bound[:20] + string(bound[20]^1) + bound[21:],
	} {
		d.setNamed(s.m.CookieName()+"-bound", value)
		before := ran.Load()
		d.do("POST", "/view?x=1")
		c := d.setCookieFor(s.m.CookieName() + "-bound")
		if d.resp.StatusCode != http.StatusTemporaryRedirect || d.resp.Header.Get("Location") != "/view?x=1" ||
			d.resp.Header.Get("Cache-Control") != "no-store" || c == nil || c.MaxAge >= 0 || ran.Load() != before {
			t.Fatalf("%s bound cookie: %d, Location %q, Cache-Control %q, bound cookie %v, handler ran %t",
				name, d.resp.StatusCode, d.resp.Header.Get("Location"), d.resp.Header.Get("Cache-Control"), c, ran.Load() != before)
		}
		if len(d.resp.Header.Values("Set-Cookie")) != 1 {
			t.Fatalf("%s: the redirect must only remove the bound cookie: %q", name, d.resp.Header.Values("Set-Cookie"))
		}
	}
	if !events.has(func(e observe.Event) bool { return e.Kind == observe.DeviceBindingCheck && e.Reason == "invalid" }) {
		t.Fatal("no check event with reason invalid")
	}
	// The jar followed the Set-Cookie: no bound cookie left, so the next
	// request is refused until the browser refreshes.
	if got := d.get("/view"); got != "user= new=true lapsed=false refused=true" {
		t.Fatalf("after the redirect: %q", got)
	}
	if d.refresh() != http.StatusOK {
		t.Fatal("refresh")
	}
	if got := d.get("/view"); !strings.HasPrefix(got, "user=dora ") {
		t.Fatalf("after the refresh: %q", got)
	}
}

func TestReportOnlyServesAndReports(t *testing.T) {
	clock := newClock()
	var events eventLog
	var ran atomic.Int64
	opts := bindingOptions(session.BindingReportOnly, clock)
	opts.Observer = &events
	s := newSite(t, newSpy(t), opts, bindingApp(&ran))
	d := s.device(dbsc.ES256)
	d.loginAndBind("erin")
	thief := s.browser()
	thief.setCookie(d.cookie())
	if got := thief.get("/view"); got != "user=erin new=false lapsed=false refused=false" {
		t.Fatalf("report-only refused: %q", got)
	}
	clock.Advance(session.DefaultBoundCookieLifetime + time.Second)
	if got := d.get("/view"); d.resp.StatusCode != 200 || !strings.HasPrefix(got, "user=erin ") {
		t.Fatalf("report-only redirected a stale bound cookie: %d %q", d.resp.StatusCode, got)
	}
	d.setNamed(s.m.CookieName()+"-bound", strings.Repeat("A", 55))
	d.get("/view")
	for _, reason := range []string{"missing", "expired", "invalid"} {
		if !events.has(func(e observe.Event) bool {
			return e.Kind == observe.DeviceBindingCheck && e.Op == "report" && e.Outcome == observe.OK && e.Reason == reason
		}) {
			t.Errorf("no report-only check event with reason %q", reason)
		}
	}
	if d.refresh() != http.StatusOK {
		t.Fatal("report-only refresh failed")
	}
	if info := d.info(); info.Binding.Refreshes != 1 || info.Binding.CookieExpires.IsZero() {
		t.Fatalf("report-only binding after a refresh: %+v", info.Binding)
	}
}

// postWith sends a POST with the given headers besides b's cookies.
func (b *browser) postWith(path string, h http.Header) (*http.Response, string) {
	b.s.t.Helper()
	req, _ := http.NewRequest("POST", b.s.srv.URL+path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.s.t.Fatal(err)
	}
	b.resp = resp
	return resp, string(body)
}

func challengeOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	cs, err := dbsc.ParseChallenges(resp.Header)
	if err != nil || len(cs) != 1 {
		t.Fatalf("challenges %+v, %v; want one", cs, err)
	}
	return cs[0].Value
}

func TestRefreshRefusesForgedReplayedAndStaleProofs(t *testing.T) {
	clock := newClock()
	var events eventLog
	var ran atomic.Int64
	opts := bindingOptions(session.BindingEnforce, clock)
	opts.Observer = &events
	s := newSite(t, newSpy(t), opts, bindingApp(&ran))
	d := s.device(dbsc.ES256)
	d.loginAndBind("fay")
	sid := d.dbsc.Instructions.SessionIdentifier
	other := s.device(dbsc.ES256)
	other.loginAndBind("gus")
	otherKey, _ := dbsctest.NewKey(dbsc.ES256)
	rsaKey, _ := dbsctest.NewKey(dbsc.RS256)

	refresh := func(proof string) *http.Response {
		h := http.Header{dbsc.HeaderSessionID: {sid}}
		if proof != "" {
			h.Set(dbsc.HeaderResponse, proof)
		}
		resp, _ := d.postWith("/dbsc/refresh", h)
		return resp
	}
	must := func(p string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Without a proof, a challenge.
	resp := refresh("")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refresh without a proof: %d", resp.StatusCode)
	}
	fresh := challengeOf(t, resp)
	if !events.has(func(e observe.Event) bool {
		return e.Kind == observe.DeviceBindingRefresh && e.Op == "challenge" && e.Outcome == observe.OK
	}) {
		t.Fatal("no challenge event")
	}
	answered := d.dbsc.Challenge // sent ahead at registration
	if code := refresh(must(d.dbsc.Key.RefreshProof(answered))).StatusCode; code != 200 {
		t.Fatalf("a good proof: %d", code)
	}
	otherChallenge := other.dbsc.Challenge
	withJWK := must(dbsc.SignProof(d.dbsc.Key.Signer, d.dbsc.Key.Public, true, fresh, ""))
	cases := []struct {
		name, proof, reason string
	}{
		{"signed by another key", must(otherKey.RefreshProof(fresh)), "signature"},
		{"RS256 against an ES256 session", must(rsaKey.RefreshProof(fresh)), "algorithm"},
		{"the challenge of another session", must(d.dbsc.Key.RefreshProof(otherChallenge)), "challenge"},
		{"a challenge answered already", must(d.dbsc.Key.RefreshProof(answered)), "replayed"},
		{"a jwk at refresh", withJWK, "malformed"},
		{"not a JWT", "not-a-proof", "malformed"},
		{"a made-up challenge", must(d.dbsc.Key.RefreshProof("AAAA")), "challenge"},
	}
	for _, c := range cases {
		resp := refresh(c.proof)
		if resp.StatusCode != http.StatusForbidden || challengeOf(t, resp) == "" {
			t.Fatalf("%s: %d; want 403 with a new challenge", c.name, resp.StatusCode)
		}
		if !events.has(func(e observe.Event) bool {
			return e.Kind == observe.DeviceBindingRefresh && e.Op == "proof" && e.Outcome == observe.Rejected && e.Reason == c.reason
		}) {
			t.Fatalf("%s: no refresh event with reason %q", c.name, c.reason)
		}
	}
	// A challenge answered after its lifetime.
	clock.Advance(session.DefaultBoundCookieLifetime + dbsc.DefaultChallengeTTL + time.Second)
	if resp := refresh(must(d.dbsc.Key.RefreshProof(fresh))); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a stale challenge: %d", resp.StatusCode)
	}
	if !events.has(func(e observe.Event) bool { return e.Kind == observe.DeviceBindingRefresh && e.Reason == "expired" }) {
		t.Fatal("no refresh event with reason expired")
	}
	// The refused proofs changed nothing: one refresh counted, and the
	// browser still refreshes.
	if d.refresh() != http.StatusOK {
		t.Fatal("refresh after refused proofs")
	}
	if info := d.info(); info.Binding.Refreshes != 2 {
		t.Fatalf("refreshes %d; want 2", info.Binding.Refreshes)
	}
	// A request naming no binding of this session, or without a name.
	if resp, body := d.postWith("/dbsc/refresh", http.Header{dbsc.HeaderSessionID: {"nope"}}); resp.StatusCode != 200 || body != `{"session_identifier":"nope","continue":false}` {
		t.Fatalf("refresh of an unknown binding: %d %q", resp.StatusCode, body)
	}
	if resp, _ := d.postWith("/dbsc/refresh", nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("refresh without Sec-Secure-Session-Id: %d", resp.StatusCode)
	}
}

func TestRegistrationRefusesForgedAndRepeatedProofs(t *testing.T) {
	clock := newClock()
	var events eventLog
	var ran atomic.Int64
	opts := bindingOptions(session.BindingEnforce, clock)
	opts.Observer = &events
	s := newSite(t, newSpy(t), opts, bindingApp(&ran))
	b := s.browser()
	b.post("/login?user=hal")
	offers, _ := dbsc.ParseRegistrations(b.resp.Header)
	challenge := offers[0].Challenge
	other := s.browser()
	other.post("/login?user=ida")
	offers, _ = dbsc.ParseRegistrations(other.resp.Header)
	otherChallenge := offers[0].Challenge
	key, _ := dbsctest.NewKey(dbsc.ES256)
	otherKey, _ := dbsctest.NewKey(dbsc.ES256)
	register := func(proof string) int {
		h := http.Header{}
		if proof != "" {
			h.Set(dbsc.HeaderResponse, proof)
		}
		resp, _ := b.postWith("/dbsc/register", h)
		return resp.StatusCode
	}
	must := func(p string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A proof whose embedded key is not the one that signed it.
	forged := must(dbsc.SignProof(otherKey.Signer, key.Public, true, challenge, ""))
	for _, c := range []struct{ name, proof, reason string }{
		{"no proof", "", "malformed"},
		{"signed by another key than the one it carries", forged, "signature"},
		{"another session's challenge", must(key.RegistrationProof(otherChallenge, "")), "challenge"},
		{"an authorization the server did not offer", must(key.RegistrationProof(challenge, "x")), "authorization"},
	} {
		if code := register(c.proof); code != http.StatusBadRequest {
			t.Fatalf("%s: %d; want 400", c.name, code)
		}
		if !events.has(func(e observe.Event) bool {
			return e.Kind == observe.DeviceBindingRegister && e.Outcome == observe.Rejected && e.Reason == c.reason
		}) {
			t.Fatalf("%s: no event with reason %q", c.name, c.reason)
		}
	}
	if code := register(must(key.RegistrationProof(challenge, ""))); code != 200 {
		t.Fatalf("a good registration: %d", code)
	}
	// The same proof again, or another key: the session is bound.
	for _, p := range []string{must(key.RegistrationProof(challenge, "")), must(otherKey.RegistrationProof(challenge, ""))} {
		if code := register(p); code != http.StatusForbidden {
			t.Fatalf("a second registration: %d; want 403", code)
		}
	}
	// An anonymous session cannot register.
	anon := s.browser()
	anon.post("/put?k=a&v=b")
	if resp, _ := anon.postWith("/dbsc/register", http.Header{dbsc.HeaderResponse: {must(key.RegistrationProof(challenge, ""))}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an anonymous registration: %d", resp.StatusCode)
	}
	if !events.has(func(e observe.Event) bool {
		return e.Kind == observe.DeviceBindingRegister && e.Reason == "already_bound"
	}) ||
		!events.has(func(e observe.Event) bool { return e.Kind == observe.DeviceBindingRegister && e.Reason == "no_session" }) ||
		!events.has(func(e observe.Event) bool {
			return e.Kind == observe.DeviceBindingRegister && e.Outcome == observe.OK && e.Duration > 0
		}) {
		t.Fatal("missing registration events")
	}
}

func TestDeviceBindingEndsWithTheSession(t *testing.T) {
	for _, end := range []string{"Logout", "Revoke", "RevokeAll"} {
		t.Run(end, func(t *testing.T) {
			clock := newClock()
			var ran atomic.Int64
			s := newSite(t, newSpy(t), bindingOptions(session.BindingEnforce, clock), bindingApp(&ran))
			d := s.device(dbsc.ES256)
			d.loginAndBind("jon")
			stolen := d.copyOf()
			key := *d.dbsc
			key.Client = stolen.c // the key, with the stolen cookies
			switch end {
			case "Logout":
				d.post("/logout")
				if c := d.setCookieFor(s.m.CookieName() + "-bound"); c == nil || c.MaxAge >= 0 {
					t.Fatalf("logout left the bound cookie: %v", c)
				}
			case "Revoke":
				devices, _ := s.m.Devices(t.Context(), "jon")
				if err := s.m.Revoke(t.Context(), "jon", devices[0].Handle); err != nil {
					t.Fatal(err)
				}
			case "RevokeAll":
				if _, err := s.m.RevokeAll(t.Context(), "jon", ""); err != nil {
					t.Fatal(err)
				}
			}
			if got := stolen.get("/view"); got != "user= new=true lapsed=true refused=false" {
				t.Fatalf("session and bound cookie after %s: %q", end, got)
			}
			stolen.setCookie(d.cookie())
			if status, err := key.Refresh(t.Context()); err != nil || status != 200 || !key.Instructions.Terminate {
				t.Fatalf("refresh after %s: %d %v, instructions %+v; want continue:false", end, status, err, key.Instructions)
			}
		})
	}
}

func TestRenewIDKeepsTheBindingAndReissuesTheBoundCookie(t *testing.T) {
	clock := newClock()
	var ran atomic.Int64
	s := newSite(t, newSpy(t), bindingOptions(session.BindingEnforce, clock), bindingApp(&ran))
	d := s.device(dbsc.ES256)
	d.loginAndBind("kim")
	oldToken, oldBound := d.cookie(), d.bound()
	before := d.info()
	clock.Advance(time.Minute)
	d.post("/renew")
	c := d.setCookieFor(s.m.CookieName() + "-bound")
	if d.resp.Header.Get(dbsc.HeaderRegistration) != "" {
		t.Fatal("a renewal of a bound session offered registration again")
	}
	if c == nil || c.Value == oldBound || c.MaxAge != int((session.DefaultBoundCookieLifetime-time.Minute)/time.Second) {
		t.Fatalf("renewal's bound cookie %v; want a new value with the old expiry", c)
	}
	after := d.info()
	if !after.Bound || after.Binding.Thumbprint != before.Binding.Thumbprint || !after.Binding.CookieExpires.Equal(before.Binding.CookieExpires) {
		t.Fatalf("binding before %+v, after %+v", before.Binding, after.Binding)
	}
	// The old bound cookie with the new token is worthless; the old
	// token is dead with any bound cookie.
	mixed := s.browser()
	mixed.setCookie(d.cookie())
	mixed.setNamed(s.m.CookieName()+"-bound", oldBound)
	if mixed.get("/view"); mixed.resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("the old bound cookie with the new token: %d", mixed.resp.StatusCode)
	}
	old := s.browser()
	old.setCookie(oldToken)
	old.setNamed(s.m.CookieName()+"-bound", d.bound())
	if got := old.get("/view"); got != "user= new=true lapsed=true refused=false" {
		t.Fatalf("the old token: %q", got)
	}
	// The binding goes on under the new token.
	clock.Advance(session.DefaultBoundCookieLifetime)
	if d.refresh() != 200 {
		t.Fatal("refresh after the renewal")
	}
	if got := d.get("/view"); !strings.HasPrefix(got, "user=kim ") {
		t.Fatalf("after renewal and refresh: %q", got)
	}
	// Logging in again as the same user is a renewal too.
	d.post("/login?user=kim")
	if c := d.setCookieFor(s.m.CookieName() + "-bound"); c == nil || !d.info().Bound {
		t.Fatal("logging in again as the same user dropped the binding")
	}
}

func TestLoginAsAnotherUserDropsTheBinding(t *testing.T) {
	clock := newClock()
	var events eventLog
	var ran atomic.Int64
	opts := bindingOptions(session.BindingEnforce, clock)
	opts.Observer = &events
	s := newSite(t, newSpy(t), opts, bindingApp(&ran))
	d := s.device(dbsc.ES256)
	d.loginAndBind("lea")
	old := *d.dbsc
	d.post("/login?user=max")
	if d.resp.Header.Get(dbsc.HeaderRegistration) == "" {
		t.Fatal("no registration offered to the new user")
	}
	if info := d.info(); info.Bound || info.UserID != "max" {
		t.Fatalf("after switching users: bound %t, user %q", info.Bound, info.UserID)
	}
	// Unbound, the new session needs no bound cookie.
	d.setNamed(s.m.CookieName()+"-bound", "")
	clock.Advance(session.DefaultBoundCookieLifetime + time.Second)
	if got := d.get("/view"); !strings.HasPrefix(got, "user=max ") {
		t.Fatalf("the new user's unbound session: %q", got)
	}
	if status, err := old.Refresh(t.Context()); err != nil || status != 200 || !old.Instructions.Terminate {
		t.Fatalf("the old binding's refresh: %d %v %+v; want continue:false", status, err, old.Instructions)
	}
	if !events.has(func(e observe.Event) bool { return e.Kind == observe.DeviceBindingRefresh && e.Reason == "unbound" }) {
		t.Fatal("no unbound refresh event")
	}
}

// gatedStore holds every Save until n Loads of armed have happened, so
// that n requests on one session all load, and verify their proofs,
// before any of them saves.
type gatedStore struct {
	session.Store
	mu    sync.Mutex
	armed string
	n     int
	open  chan struct{}
}

func (g *gatedStore) arm(id string, n int) {
	g.mu.Lock()
	g.armed, g.n, g.open = id, n, make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedStore) Load(ctx context.Context, id string) (session.Record, error) {
	g.mu.Lock()
	if id == g.armed && g.n > 0 {
		if g.n--; g.n == 0 {
			close(g.open)
		}
	}
	g.mu.Unlock()
	return g.Store.Load(ctx, id)
}

func (g *gatedStore) Save(ctx context.Context, rec session.Record) error {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	if open != nil {
		select {
		case <-open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Store.Save(ctx, rec)
}

func handleOfToken(t *testing.T, m *session.Manager, user string) string {
	devices, err := m.Devices(t.Context(), user)
	if err != nil || len(devices) != 1 {
		t.Fatalf("Devices = %d, %v", len(devices), err)
	}
	return devices[0].Handle
}

func TestConcurrentRefreshesAnsweringOneChallengeExactlyOneWins(t *testing.T) {
	for _, managers := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d managers", managers), func(t *testing.T) {
			mem := memory.New()
			t.Cleanup(func() { mem.Close() })
			store := &gatedStore{Store: mem}
			clock := newClock()
			var ran atomic.Int64
			var events eventLog
			opts := bindingOptions(session.BindingEnforce, clock)
			opts.StoreTimeout = time.Minute
			opts.Observer = &events
			s := newSite(t, store, opts, bindingApp(&ran))
			urls := []string{s.srv.URL}
			if managers == 2 {
				m2, err := session.New(store, opts)
				if err != nil {
					t.Fatal(err)
				}
				srv2 := httptest.NewTLSServer(m2.Middleware(bindingApp(&ran)))
				t.Cleanup(srv2.Close)
				urls = append(urls, srv2.URL)
			}
			d := s.device(dbsc.ES256)
			d.loginAndBind("ned")
			proof, err := d.dbsc.Key.RefreshProof(d.dbsc.Challenge)
			if err != nil {
				t.Fatal(err)
			}
			const n = 6
			store.arm(handleOfToken(t, s.m, "ned"), n)
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					req, _ := http.NewRequest("POST", urls[i%len(urls)]+"/dbsc/refresh", nil)
					req.Header.Set("Cookie", s.m.CookieName()+"="+d.cookie())
					req.Header.Set(dbsc.HeaderSessionID, d.dbsc.Instructions.SessionIdentifier)
					req.Header.Set(dbsc.HeaderResponse, proof)
					resp, err := s.srv.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					codes[i] = resp.StatusCode
				})
			}
			wg.Wait()
			won := 0
			for _, c := range codes {
				switch c {
				case 200:
					won++
				case http.StatusForbidden:
				default:
					t.Fatalf("statuses %v", codes)
				}
			}
			if won != 1 {
				t.Fatalf("%d of %d refreshes answering one challenge succeeded (statuses %v); want exactly 1", won, n, codes)
			}
			if info := d.info(); info.Binding.Refreshes != 1 {
				t.Fatalf("refreshes recorded: %d; want 1", info.Binding.Refreshes)
			}
			replayed := 0
			events.mu.Lock()
			for _, e := range events.events {
				if e.Kind == observe.DeviceBindingRefresh && e.Reason == "replayed" {
					replayed++
				}
			}
			events.mu.Unlock()
			if replayed != n-1 {
				t.Fatalf("%d refreshes refused as replayed; want %d", replayed, n-1)
			}
			// Two Managers cannot batch each other's saves: the losers
			// there lost a compare-and-swap, reloaded and found the
			// challenge answered.
			if managers == 2 && !events.has(func(e observe.Event) bool {
				return e.Kind == observe.StoreCall && e.Op == "save" && e.Outcome == observe.Conflict
			}) {
				t.Fatal("no compare-and-swap conflict between two Managers")
			}
		})
	}
}

func TestDevicesShowWhichSessionsAreBound(t *testing.T) {
	clock := newClock()
	var ran atomic.Int64
	s := newSite(t, newSpy(t), bindingOptions(session.BindingEnforce, clock), bindingApp(&ran))
	laptop := s.device(dbsc.RS256)
	laptop.ua = "Laptop"
	laptop.loginAndBind("ola")
	phone := s.browser()
	phone.ua = "Phone"
	phone.post("/login?user=ola")
	clock.Advance(session.DefaultBoundCookieLifetime)
	laptop.refresh()
	devices, err := s.m.Devices(t.Context(), "ola")
	if err != nil || len(devices) != 2 {
		t.Fatalf("Devices = %d, %v", len(devices), err)
	}
	for _, dev := range devices {
		switch dev.UserAgent {
		case "Laptop":
			b := dev.Binding
			if !dev.Bound || b.Algorithm != dbsc.RS256 || b.Thumbprint != laptop.dbsc.Key.Public.Thumbprint() || b.Refreshes != 1 ||
				!b.LastRefresh.Equal(clock.Now().Truncate(time.Millisecond)) ||
				b.CookieExpires.Unix() != clock.Now().Add(session.DefaultBoundCookieLifetime).Unix() {
				t.Fatalf("the bound laptop: %+v", dev)
			}
		case "Phone":
			if dev.Bound || dev.Binding != (session.Binding{}) {
				t.Fatalf("the unbound phone: %+v", dev)
			}
		}
	}
}

func TestDeviceBindingOptionsAreValidated(t *testing.T) {
	good := session.DeviceBinding{Mode: session.BindingEnforce, Secrets: [][]byte{bindingSecret}}
	for name, o := range map[string]session.Options{
		"no secrets":         {DeviceBinding: session.DeviceBinding{Mode: session.BindingEnforce}},
		"a short secret":     {DeviceBinding: session.DeviceBinding{Mode: session.BindingEnforce, Secrets: [][]byte{[]byte("short")}}},
		"an unknown mode":    {DeviceBinding: session.DeviceBinding{Mode: 7, Secrets: good.Secrets}},
		"a relative path":    {DeviceBinding: session.DeviceBinding{Mode: session.BindingEnforce, Secrets: good.Secrets, RefreshPath: "dbsc/refresh"}},
		"the same two paths": {DeviceBinding: session.DeviceBinding{Mode: session.BindingEnforce, Secrets: good.Secrets, RegisterPath: "/d", RefreshPath: "/d"}},
		"seconds-long cookies": {DeviceBinding: session.DeviceBinding{Mode: session.BindingEnforce, Secrets: good.Secrets,
			CookieLifetime: 30 * time.Second}},
		"a cookie shared across hosts": {Cookie: cookieAttrs("example.com", "/"), DeviceBinding: good},
	} {
		if _, err := session.New(memory.New(), o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	m, err := session.New(memory.New(), session.Options{DeviceBinding: good})
	if err != nil || m.BoundCookieName() != "__Host-session-bound" || m.DeviceBindingMode() != session.BindingEnforce {
		t.Fatalf("New = %v; bound cookie %q", err, m.BoundCookieName())
	}
	if off, _ := session.New(memory.New(), session.Options{}); off.BoundCookieName() != "" || off.DeviceBindingMode() != session.BindingOff {
		t.Fatal("a Manager without binding names a bound cookie")
	}
	if session.BindingEnforce.String() != "enforce" || session.BindingReportOnly.String() != "report-only" || session.BindingOff.String() != "off" {
		t.Fatal("BindingMode.String")
	}
}

func TestBindingOffIgnoresAStoredBinding(t *testing.T) {
	store := newSpy(t)
	clock := newClock()
	var ran atomic.Int64
	s := newSite(t, store, bindingOptions(session.BindingEnforce, clock), bindingApp(&ran))
	d := s.device(dbsc.ES256)
	d.loginAndBind("pia")
	off := newSite(t, store, session.Options{Clock: clock.Now}, bindingApp(&ran))
	b := off.browser()
	b.setCookie(d.cookie())
	if got := b.get("/view"); !strings.HasPrefix(got, "user=pia ") {
		t.Fatalf("with binding off: %q", got)
	}
	if resp, _ := b.postWith("/dbsc/refresh", http.Header{dbsc.HeaderSessionID: {"x"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("with binding off the endpoints are the application's: %d", resp.StatusCode)
	}
	if info := b.info(); !info.Bound {
		t.Fatal("Info hides a stored binding when binding is off")
	}
}

func TestABindingThatWouldPassMaxSizeIsRefused(t *testing.T) {
	clock := newClock()
	var events eventLog
	var ran atomic.Int64
	opts := bindingOptions(session.BindingEnforce, clock)
	opts.Observer = &events
	opts.MaxSize = 300 // room for the session, not for an RSA key
	s := newSite(t, newSpy(t), opts, bindingApp(&ran))
	d := s.device(dbsc.RS256)
	d.post("/login?user=quinn")
	if err := d.dbsc.Register(t.Context(), d.resp); err == nil {
		t.Fatal("a binding past MaxSize was accepted")
	}
	if !events.has(func(e observe.Event) bool { return e.Kind == observe.DeviceBindingRegister && e.Reason == "too_large" }) {
		t.Fatal("no too_large registration event")
	}
	if got := d.get("/view"); got != "user=quinn new=false lapsed=false refused=false" || d.info().Bound {
		t.Fatalf("after a refused registration: %q", got)
	}
}
