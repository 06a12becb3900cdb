package otelobserve_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/httpstate/httpstate/observe"
	otelobserve "github.com/httpstate/httpstate/observe/otel"
)

// TestCookieDecodes checks the cookie vocabulary: a counter by operation,
// outcome and reason, and a span event on the request's span.
func TestCookieDecodes(t *testing.T) {
	tm := newTelemetry(t)
	ctx, span := tm.tracer().Start(context.Background(), "request")
	for _, e := range []observe.Event{
		{Kind: observe.CookieDecode, Op: "sealed", Outcome: observe.OK},
		{Kind: observe.CookieDecode, Op: "sealed", Outcome: observe.OK},
		{Kind: observe.CookieDecode, Op: "sealed", Outcome: observe.Stale},
		{Kind: observe.CookieDecode, Op: "signed", Outcome: observe.Expired},
		{Kind: observe.CookieDecode, Op: "signed", Outcome: observe.Rejected, Reason: "forged"},
		{Kind: observe.CookieDecode, Op: "sealed", Outcome: observe.Rejected, Reason: "unknown_key"},
	} {
		tm.Observe(ctx, e)
	}
	span.End()
	got := fmt.Sprint(counts(t, tm.metrics()["httpstate.cookie.decodes"]))
	want := "map[httpstate.operation=sealed httpstate.outcome=ok:2 " +
		"httpstate.operation=sealed httpstate.outcome=rejected httpstate.reason=unknown_key:1 " +
		"httpstate.operation=sealed httpstate.outcome=stale:1 " +
		"httpstate.operation=signed httpstate.outcome=expired:1 " +
		"httpstate.operation=signed httpstate.outcome=rejected httpstate.reason=forged:1]"
	if got != want {
		t.Errorf("httpstate.cookie.decodes: %s; want %s", got, want)
	}
	s := tm.one("request")
	if len(s.Events()) != 6 {
		t.Fatalf("%d span events; want 6", len(s.Events()))
	}
	ev := s.Events()[4]
	if got := ev.Name + " " + attrsOf(ev.Attributes); got != "cookie.decode httpstate.operation=signed httpstate.outcome=rejected httpstate.reason=forged" {
		t.Errorf("span event %q", got)
	}
	if n := len(tm.spans.Ended()); n != 1 {
		t.Errorf("%d spans; want only the request's: untimed events start none", n)
	}
}

// TestEventsOutsideASpan checks that an untimed event with no span in its
// context only counts, and that a timed one starts a root span.
func TestEventsOutsideASpan(t *testing.T) {
	tm := newTelemetry(t)
	tm.Observe(context.Background(), observe.Event{Kind: observe.Revoke, Op: "one", Attempts: 1})
	if n := len(tm.spans.Ended()); n != 0 {
		t.Errorf("%d spans for an untimed event; want none", n)
	}
	if got := fmt.Sprint(counts(t, tm.metrics()["httpstate.session.revoked"])); got != "map[httpstate.operation=one:1]" {
		t.Errorf("httpstate.session.revoked: %s", got)
	}
	tm.Observe(context.Background(), observe.Event{Kind: observe.StoreCall, Op: "delete", Outcome: observe.OK, Start: time.Now(), Duration: time.Millisecond})
	if s := tm.one("session.store.delete"); s.Parent().IsValid() {
		t.Errorf("the span of an event without a span in its context has parent %v", s.Parent())
	}
}

// TestKindsThisVersionDoesNotKnow checks the fallbacks for a vocabulary
// that grows: a timed event of any kind is a span named for its kind (as a
// timed Revoke would be), and an unknown kind is counted on
// httpstate.events.
func TestKindsThisVersionDoesNotKnow(t *testing.T) {
	tm := newTelemetry(t)
	ctx, span := tm.tracer().Start(context.Background(), "request")
	start := time.Now()
	tm.Observe(ctx, observe.Event{Kind: observe.Revoke, Op: "all", Attempts: 3, Start: start, Duration: 2 * time.Millisecond})
	tm.Observe(ctx, observe.Event{Kind: "cookie.encode", Op: "sealed", Outcome: observe.OK, Attempts: 1, Start: start, Duration: time.Millisecond})
	tm.Observe(ctx, observe.Event{Kind: "cookie.encode", Op: "sealed", Outcome: observe.OK})
	span.End()

	r := tm.one("session.revoke")
	if got := attrsOf(r.Attributes()); got != "httpstate.operation=all httpstate.revoke.sessions=3" {
		t.Errorf("timed revoke span attributes %q", got)
	}
	if !r.StartTime().Equal(start) || !r.EndTime().Equal(start.Add(2*time.Millisecond)) {
		t.Errorf("timed revoke span [%v, %v]; want [%v, +2ms]", r.StartTime(), r.EndTime(), start)
	}
	if got := attrsOf(tm.one("cookie.encode").Attributes()); got != "httpstate.attempts=1 httpstate.operation=sealed httpstate.outcome=ok" {
		t.Errorf("unknown timed kind span attributes %q", got)
	}
	metrics := tm.metrics()
	if got := fmt.Sprint(counts(t, metrics["httpstate.events"])); got != "map[httpstate.kind=cookie.encode httpstate.operation=sealed httpstate.outcome=ok:2]" {
		t.Errorf("httpstate.events: %s", got)
	}
	if got := fmt.Sprint(counts(t, metrics["httpstate.session.revocations"])); got != "map[httpstate.operation=all:1]" {
		t.Errorf("httpstate.session.revocations: %s", got)
	}
	if got := fmt.Sprint(counts(t, metrics["httpstate.session.revoked"])); got != "map[httpstate.operation=all:3]" {
		t.Errorf("httpstate.session.revoked: %s", got)
	}
}

// TestAttributeSetsBeyondTheCache checks that combinations past the cache's
// bound are still recorded with their own attributes.
func TestAttributeSetsBeyondTheCache(t *testing.T) {
	tm := newTelemetry(t)
	const n = 1500 // more than the cache holds, fewer than the SDK's cardinality limit
	for i := range n {
		for range 2 {
			tm.Observe(context.Background(), observe.Event{Kind: observe.Lapsed, Reason: fmt.Sprintf("reason-%04d", i)})
		}
	}
	c := counts(t, tm.metrics()["httpstate.session.lapsed"])
	if len(c) != n {
		t.Fatalf("%d data points; want %d", len(c), n)
	}
	for i := range n {
		if got := c[fmt.Sprintf("httpstate.reason=reason-%04d", i)]; got != 2 {
			t.Fatalf("reason-%04d counted %d times; want 2", i, got)
		}
	}
}

// TestDefaultsToTheGlobalProviders checks that zero Options use the
// providers set with otel.SetTracerProvider and otel.SetMeterProvider.
func TestDefaultsToTheGlobalProviders(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	prevT, prevM := otel.GetTracerProvider(), otel.GetMeterProvider()
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prevT)
		otel.SetMeterProvider(prevM)
	})
	obs, err := otelobserve.New(otelobserve.Options{})
	if err != nil {
		t.Fatal(err)
	}

	obs.Observe(context.Background(), observe.Event{Kind: observe.Verify, Outcome: observe.OK, Start: time.Now(), Duration: time.Microsecond})
	if got := spans.Ended(); len(got) != 1 || got[0].Name() != "token.verify" || got[0].InstrumentationScope().Name != otelobserve.ScopeName {
		t.Errorf("global tracer provider got %d spans; want one token.verify of scope %s", len(got), otelobserve.ScopeName)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) != 1 || len(rm.ScopeMetrics[0].Metrics) != 1 || rm.ScopeMetrics[0].Metrics[0].Name != "httpstate.token.verify.duration" {
		t.Errorf("global meter provider got %+v; want httpstate.token.verify.duration", rm.ScopeMetrics)
	}
}

// TestNonRecordingSpan checks that an event whose context holds a span
// that is not sampled adds nothing to it and still counts.
func TestNonRecordingSpan(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sdktrace.NeverSample()))
	reader := sdkmetric.NewManualReader()
	obs, err := otelobserve.New(otelobserve.Options{TracerProvider: tp, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	if span.IsRecording() {
		t.Fatal("the request span records")
	}
	obs.Observe(ctx, observe.Event{Kind: observe.Login})
	obs.Observe(ctx, observe.Event{Kind: observe.StoreCall, Op: "load", Outcome: observe.OK, Start: time.Now(), Duration: time.Microsecond})
	span.End()
	if n := len(spans.Ended()); n != 0 {
		t.Errorf("%d spans recorded under a span that is not sampled", n)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		names[m.Name] = true
	}
	if !names["httpstate.session.logins"] || !names["httpstate.session.store.duration"] {
		t.Errorf("metrics %v; want the login and the store call counted", names)
	}
}

func BenchmarkObserve(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()), sdktrace.WithSampler(sdktrace.NeverSample()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	obs, err := otelobserve.New(otelobserve.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e := observe.Event{Kind: observe.StoreCall, Op: "load", Outcome: observe.OK, Start: time.Now(), Duration: time.Microsecond}
	b.ReportAllocs()
	for b.Loop() {
		obs.Observe(ctx, e)
	}
}
