package otelobserve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/httpstate/httpstate/cookie"
	"github.com/httpstate/httpstate/observe"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
)

// idStore is a memory store that remembers every record ID it was asked
// about (each is a session's handle, or the ID of a user's revocation
// marker) and can be told to fail loads with an error that names the
// record and a server, as a driver's error might.
type idStore struct {
	session.Store
	failLoads atomic.Bool

	mu  sync.Mutex
	ids map[string]bool
}

func (s *idStore) saw(id string) {
	s.mu.Lock()
	s.ids[id] = true
	s.mu.Unlock()
}

func (s *idStore) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.ids {
		out = append(out, id)
	}
	return out
}

func (s *idStore) Load(ctx context.Context, id string) (session.Record, error) {
	s.saw(id)
	if s.failLoads.Load() {
		return session.Record{}, fmt.Errorf("GET %s: dial tcp db.internal.example:6379: connection refused", id)
	}
	return s.Store.Load(ctx, id)
}

func (s *idStore) Save(ctx context.Context, rec session.Record) error {
	s.saw(rec.ID)
	return s.Store.Save(ctx, rec)
}

func (s *idStore) Delete(ctx context.Context, id string) error {
	s.saw(id)
	return s.Store.Delete(ctx, id)
}

// shop is a session-backed application behind a middleware that starts a
// span per request, named by the request's X-Step header, as an HTTP
// server instrumentation would.
type shop struct {
	t       *testing.T
	tm      *telemetry
	store   *idStore
	m       *session.Manager
	srv     *httptest.Server
	arrived chan struct{} // a /hold request has read the cart
	release chan struct{} // lets one /hold request write it

	mu     sync.Mutex
	tokens []string // every session cookie value the server set
}

func newShop(t *testing.T, tm *telemetry) *shop {
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	sh := &shop{
		t: t, tm: tm, store: &idStore{Store: mem, ids: map[string]bool{}},
		arrived: make(chan struct{}, 4), release: make(chan struct{}, 4),
	}
	m, err := session.New(sh.store, session.Options{
		Observer: tm,
		Cookie:   cookie.Attributes{Insecure: true}, // plain-HTTP test server
		// The store failure below is logged; keep it out of the test's output.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	sh.m = m
	addToCart := func(s *session.Session, item string) {
		cart, _ := session.Get[[]string](s, "cart")
		if err := s.Put("cart", append(cart, item)); err != nil {
			t.Error(err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).Login(r.FormValue("user"), false); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		addToCart(session.FromContext(r.Context()), r.FormValue("item"))
	})
	// /hold reads the cart, waits to be released, then writes it: two of
	// them on one session are a read-modify-write race.
	mux.HandleFunc("POST /hold", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		cart, _ := session.Get[[]string](s, "cart")
		sh.arrived <- struct{}{}
		<-sh.release
		if err := s.Put("cart", append(cart, r.FormValue("item"))); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).Logout(); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, session.FromContext(r.Context()).UserID())
	})
	tracer := tm.tracer()
	traced := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), "step "+r.Header.Get("X-Step"), trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		m.Middleware(mux).ServeHTTP(w, r.WithContext(ctx))
	})
	sh.srv = httptest.NewServer(traced)
	t.Cleanup(sh.srv.Close)
	return sh
}

// browser is a client with its own cookie jar.
type browser struct {
	sh  *shop
	jar *cookiejar.Jar
	c   *http.Client
}

func (sh *shop) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		sh.t.Fatal(err)
	}
	return &browser{sh: sh, jar: jar, c: &http.Client{Jar: jar}}
}

// do sends a request as the step named step and returns the status.
func (b *browser) do(step, method, path string) int {
	b.sh.t.Helper()
	req, err := http.NewRequest(method, b.sh.srv.URL+path, nil)
	if err != nil {
		b.sh.t.Error(err)
		return 0
	}
	req.Header.Set("X-Step", step)
	resp, err := b.c.Do(req)
	if err != nil {
		b.sh.t.Error(err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	b.sh.mu.Lock()
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			b.sh.tokens = append(b.sh.tokens, c.Value)
		}
	}
	b.sh.mu.Unlock()
	return resp.StatusCode
}

func (b *browser) token() string {
	u, _ := url.Parse(b.sh.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		return c.Value
	}
	return ""
}

func (b *browser) setToken(tok string) {
	u, _ := url.Parse(b.sh.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: b.sh.m.CookieName(), Value: tok, Path: "/"}})
}

// TestSessionSpansAndMetrics drives a real Manager through a login, a cart
// write, a conflicting concurrent write, a logout, a lapsed token, a
// request in flight while RevokeAll ends its session, and a store outage,
// and checks every span, span event and metric data point they make.
func TestSessionSpansAndMetrics(t *testing.T) {
	tm := newTelemetry(t)
	sh := newShop(t, tm)
	const user = "user-7c41e9b2"
	ok := func(status int) {
		t.Helper()
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
	}

	a := sh.browser()
	ok(a.do("login", "POST", "/login?user="+user))
	ok(a.do("cart", "POST", "/cart?item=apple"))

	// Two tabs of one browser read the cart, then both write it, one
	// after the other: the second write's compare-and-swap loses to the
	// first. (Released together, the Manager would commit both in one
	// compare-and-swap, and no save would retry.)
	a2 := sh.browser()
	a2.setToken(a.token())
	var wg sync.WaitGroup
	finished := make(chan struct{})
	for i, b := range []*browser{a, a2} {
		wg.Go(func() {
			defer func() { finished <- struct{}{} }() // even if ok fails the test
			ok(b.do(fmt.Sprintf("race %d", i), "POST", "/hold?item=pear"))
		})
	}
	<-sh.arrived
	<-sh.arrived
	sh.release <- struct{}{}
	<-finished
	sh.release <- struct{}{}
	<-finished
	wg.Wait()

	old := a.token()
	ok(a.do("logout", "POST", "/logout"))
	a.setToken(old)
	ok(a.do("lapsed", "GET", "/whoami"))

	// Two more devices log in; one has a request in flight while an
	// administrator revokes every session of the user.
	b, c := sh.browser(), sh.browser()
	ok(b.do("login b", "POST", "/login?user="+user))
	ok(c.do("login c", "POST", "/login?user="+user))
	wg.Go(func() { ok(b.do("in flight", "POST", "/hold?item=plum")) })
	<-sh.arrived
	ctx, admin := tm.tracer().Start(context.Background(), "step admin")
	n, err := sh.m.RevokeAll(ctx, user, "")
	admin.End()
	if err != nil || n != 2 {
		t.Fatalf("RevokeAll: %d, %v; want 2 sessions ended", n, err)
	}
	sh.release <- struct{}{}
	wg.Wait()

	// The store fails; the error names the record and the server.
	sh.store.failLoads.Store(true)
	if status := c.do("outage", "GET", "/whoami"); status != http.StatusServiceUnavailable {
		t.Fatalf("status %d during the outage; want 503", status)
	}
	sh.store.failLoads.Store(false)

	steps := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range tm.spans.Ended() {
		if strings.HasPrefix(s.Name(), "step ") {
			steps[s.Name()] = s
		}
	}
	own := func(s sdktrace.ReadOnlySpan) bool { return strings.HasPrefix(s.Name(), "step ") }

	// Every timed event is a span with the event's own timestamps, a
	// child of the step it happened in, and inside it.
	events := tm.allEvents()
	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range tm.spans.Ended() {
		if !own(s) {
			spans[s.Name()+" "+s.StartTime().String()] = s
		}
	}
	timed := 0
	for _, e := range events {
		if e.Start.IsZero() {
			continue
		}
		timed++
		name := string(e.Kind)
		if e.Kind == observe.StoreCall {
			name = "session.store." + e.Op
		}
		s, found := spans[name+" "+e.Start.String()]
		if !found {
			t.Errorf("no span %s starting at %v for %+v", name, e.Start, e)
			continue
		}
		if !s.EndTime().Equal(e.Start.Add(e.Duration)) {
			t.Errorf("%s ends at %v; want %v", name, s.EndTime(), e.Start.Add(e.Duration))
		}
		var parent sdktrace.ReadOnlySpan
		for _, p := range steps {
			if p.SpanContext().SpanID() == s.Parent().SpanID() {
				parent = p
			}
		}
		switch {
		case parent == nil:
			t.Errorf("%s is not a child of a request's span", name)
		case s.SpanContext().TraceID() != parent.SpanContext().TraceID():
			t.Errorf("%s is in another trace than its parent", name)
		case s.StartTime().Before(parent.StartTime()) || s.EndTime().After(parent.EndTime()):
			t.Errorf("%s [%v, %v] is not inside its parent %s [%v, %v]", name, s.StartTime(), s.EndTime(), parent.Name(), parent.StartTime(), parent.EndTime())
		}
		wantKind := trace.SpanKindInternal
		if e.Kind == observe.StoreCall {
			wantKind = trace.SpanKindClient
		}
		if s.SpanKind() != wantKind {
			t.Errorf("%s has kind %v; want %v", name, s.SpanKind(), wantKind)
		}
		switch st := s.Status(); {
		case e.Outcome == observe.Error && (st.Code != codes.Error || st.Description != name+" failed"):
			t.Errorf("%s of a failed operation has status %v %q; want Error %q", name, st.Code, st.Description, name+" failed")
		case e.Outcome != observe.Error && st.Code != codes.Unset:
			t.Errorf("%s with outcome %s has status %v; want Unset", name, e.Outcome, st.Code)
		}
		if got := attrsOf(s.Attributes()); !strings.Contains(got, "httpstate.outcome="+string(e.Outcome)) {
			t.Errorf("%s has attributes %q; want its outcome %s", name, got, e.Outcome)
		}
	}
	if got := len(tm.spans.Ended()) - len(steps); got != timed {
		t.Errorf("%d spans besides the steps; want one per timed event (%d)", got, timed)
	}

	// The events of each step, on the step's span.
	stepEvents := func(step string) []string {
		t.Helper()
		s, found := steps["step "+step]
		if !found {
			t.Fatalf("no span for step %q", step)
		}
		var out []string
		for _, ev := range s.Events() {
			out = append(out, strings.TrimSpace(ev.Name+" "+attrsOf(ev.Attributes)))
		}
		return out
	}
	wantEvents := map[string][]string{
		"login":     {"session.login"},
		"cart":      nil,
		"logout":    {"session.logout"},
		"lapsed":    {"session.lapsed httpstate.reason=revoked"},
		"login b":   {"session.login"},
		"login c":   {"session.login"},
		"admin":     nil, // a span of its own, checked below
		"in flight": {"session.ended_concurrently"},
		"outage":    nil,
	}
	for step, want := range wantEvents {
		if got := stepEvents(step); strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("step %q has span events %q; want %q", step, got, want)
		}
	}
	race := append(stepEvents("race 0"), stepEvents("race 1")...)
	if strings.Join(race, ", ") != "session.read_conflict httpstate.outcome=ok httpstate.session.key=cart" {
		t.Errorf("the racing requests have span events %q; want one read conflict on key cart", race)
	}

	// The racing save that lost its compare-and-swap tried twice; the
	// save in flight during RevokeAll tried once and found its session
	// ended.
	saves := map[string][]string{}
	for _, s := range tm.named("session.save") {
		for step, p := range steps {
			if p.SpanContext().SpanID() == s.Parent().SpanID() {
				saves[step] = append(saves[step], attrsOf(s.Attributes()))
			}
		}
	}
	race = append(saves["step race 0"], saves["step race 1"]...)
	slices.Sort(race)
	if want := []string{"httpstate.outcome=ok httpstate.save.attempts=1", "httpstate.outcome=ok httpstate.save.attempts=2"}; !slices.Equal(race, want) {
		t.Errorf("the racing requests' saves: %q; want %q", race, want)
	}
	if got, want := saves["step in flight"], []string{"httpstate.outcome=lost httpstate.save.attempts=1"}; !slices.Equal(got, want) {
		t.Errorf("the save in flight during RevokeAll: %q; want %q", got, want)
	}

	// The outage: a failed load, with a generic description.
	var failed []sdktrace.ReadOnlySpan
	for _, s := range tm.named("session.store.load") {
		if s.Status().Code == codes.Error {
			failed = append(failed, s)
		}
	}
	if len(failed) != 1 || failed[0].Parent().SpanID() != steps["step outage"].SpanContext().SpanID() {
		t.Errorf("%d failed loads; want 1, under the outage step", len(failed))
	}

	// RevokeAll is timed: a span under the administrator's step.
	revokes := tm.named("session.revoke")
	if len(revokes) != 1 || revokes[0].Parent().SpanID() != steps["step admin"].SpanContext().SpanID() {
		t.Errorf("%d session.revoke spans; want 1, under the admin step", len(revokes))
	} else if got := fmt.Sprint(revokes[0].Attributes()); !strings.Contains(got, "httpstate.revoke.sessions") || !strings.Contains(got, "httpstate.operation") {
		t.Errorf("the revoke span's attributes %s lack its operation or count", got)
	}

	// Metrics: each counter's data points, and each histogram's counts
	// agree with the events.
	metrics := tm.metrics()
	wantCounts := map[string]map[string]int64{
		"httpstate.session.logins":             {"": 3},
		"httpstate.session.logouts":            {"": 1},
		"httpstate.session.lapsed":             {"httpstate.reason=revoked": 1},
		"httpstate.session.revocations":        {"httpstate.operation=all httpstate.outcome=ok": 1},
		"httpstate.session.revoked":            {"httpstate.operation=all httpstate.outcome=ok": 2},
		"httpstate.session.ended_concurrently": {"": 1},
		"httpstate.session.read_conflicts":     {"httpstate.outcome=ok": 1},
	}
	for _, kind := range []observe.Kind{observe.StoreCall, observe.Save} {
		name := map[observe.Kind]string{observe.StoreCall: "httpstate.session.store.duration", observe.Save: "httpstate.session.save.duration"}[kind]
		want := map[string]int64{}
		for _, e := range events {
			if e.Kind == kind {
				key := "httpstate.outcome=" + string(e.Outcome)
				if e.Op != "" {
					key = "httpstate.operation=" + e.Op + " " + key
				}
				want[key]++
			}
		}
		wantCounts[name] = want
		if kind == observe.Save {
			wantCounts["httpstate.session.save.attempts"] = want
		}
	}
	for name, want := range wantCounts {
		m, found := metrics[name]
		if !found {
			t.Errorf("no metric %s", name)
			continue
		}
		if got := counts(t, m); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v; want %v", name, got, want)
		}
	}
	store := counts(t, metrics["httpstate.session.store.duration"])
	for _, want := range []string{
		"httpstate.operation=save httpstate.outcome=conflict",
		"httpstate.operation=load httpstate.outcome=error",
		"httpstate.operation=load httpstate.outcome=not_found",
		"httpstate.operation=list httpstate.outcome=ok",
	} {
		if store[want] == 0 {
			t.Errorf("no store call with %s: %v", want, store)
		}
	}
	if m := metrics["httpstate.session.store.duration"]; m.Unit != "s" {
		t.Errorf("store duration in %q; want s", m.Unit)
	}
	attempts := metrics["httpstate.session.save.attempts"].Data.(metricdata.Histogram[int64])
	for _, p := range attempts.DataPoints {
		if max, _ := p.Max.Value(); attrs(p.Attributes) == "httpstate.outcome=ok" && max != 2 {
			t.Errorf("most attempts of a successful save: %d; want 2", max)
		}
	}
	if m := metrics["httpstate.session.save.attempts"]; m.Unit != "{attempt}" {
		t.Errorf("save attempts in %q; want {attempt}", m.Unit)
	}

	secrets := append(sh.store.seen(), user, "db.internal.example")
	sh.mu.Lock()
	secrets = append(secrets, sh.tokens...)
	sh.mu.Unlock()
	if len(secrets) < 8 {
		t.Fatalf("only %d secrets to look for", len(secrets))
	}
	tm.checkNoSecrets(own, secrets...)
}

// TestErrorTextStaysOutOfTelemetry checks that an error's text reaches neither
// a span nor a metric, even when the error is all there is to go on.
func TestErrorTextStaysOutOfTelemetry(t *testing.T) {
	tm := newTelemetry(t)
	ctx, span := tm.tracer().Start(context.Background(), "request")
	err := errors.New("dial tcp db-7.internal.example:5432: password authentication failed for user app_rw")
	start := time.Now()
	tm.Observe(ctx, observe.Event{Kind: observe.StoreCall, Op: "save", Outcome: observe.Error, Err: err, Start: start, Duration: time.Millisecond})
	span.End()
	s := tm.one("session.store.save")
	if s.Status().Code != codes.Error || s.Status().Description != "session.store.save failed" {
		t.Errorf("status %v %q; want Error with a generic description", s.Status().Code, s.Status().Description)
	}
	if len(s.Events()) != 0 {
		t.Errorf("span events %v; want none (no recorded error)", s.Events())
	}
	tm.checkNoSecrets(func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "request" }, "db-7.internal", "app_rw", "password")
}
