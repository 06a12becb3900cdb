package otelobserve

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/httpstate/httpstate/observe"
)

// ScopeName is the instrumentation scope of the Observer's tracer and
// meter: the import path of this package.
const ScopeName = "github.com/httpstate/httpstate/observe/otel"

// Attribute keys. Each holds a value from one of package observe's closed
// vocabularies, a session key name, or a count; the package documentation
// says where each appears.
const (
	kindKey         = attribute.Key("httpstate.kind")
	operationKey    = attribute.Key("httpstate.operation")
	outcomeKey      = attribute.Key("httpstate.outcome")
	reasonKey       = attribute.Key("httpstate.reason")
	sessionKeyKey   = attribute.Key("httpstate.session.key")
	saveAttemptsKey = attribute.Key("httpstate.save.attempts")
	revokedKey      = attribute.Key("httpstate.revoke.sessions")
	attemptsKey     = attribute.Key("httpstate.attempts")
)

// Options configures an Observer. The zero value uses the global providers.
type Options struct {
	// TracerProvider makes the spans. Nil means otel.GetTracerProvider(),
	// the provider the application gave otel.SetTracerProvider.
	TracerProvider trace.TracerProvider

	// MeterProvider makes the instruments. Nil means
	// otel.GetMeterProvider(), the provider the application gave
	// otel.SetMeterProvider.
	MeterProvider metric.MeterProvider
}

// Observer is an observe.Observer that records each event as a span or a
// span event and as metric measurements (see the package documentation).
// Make one with New; it is safe for concurrent use.
type Observer struct {
	tracer trace.Tracer

	storeDuration   metric.Float64Histogram
	saveDuration    metric.Float64Histogram
	saveAttempts    metric.Int64Histogram
	verifyDuration  metric.Float64Histogram
	refreshDuration metric.Float64Histogram
	jwksDuration    metric.Float64Histogram

	lapsed            metric.Int64Counter
	logins            metric.Int64Counter
	logouts           metric.Int64Counter
	renewals          metric.Int64Counter
	revocations       metric.Int64Counter
	revoked           metric.Int64Counter
	endedConcurrently metric.Int64Counter
	readConflicts     metric.Int64Counter
	cookieDecodes     metric.Int64Counter
	other             metric.Int64Counter

	// sets caches the attribute set of each combination seen, copied on
	// write: a lookup, on every event, takes no lock and allocates
	// nothing.
	sets   atomic.Pointer[map[setKey]*measurement]
	setsMu sync.Mutex
}

var _ observe.Observer = (*Observer)(nil)

// Bucket boundaries, in seconds, for the duration histograms: store calls
// and verifications take from microseconds (in memory) to the store
// timeout; the SDK's default boundaries (0 to 10000) are meant for
// milliseconds.
var durationBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// attemptBuckets are the boundaries for save attempts: one is the common
// case, and the session package gives up after 100.
var attemptBuckets = []float64{1, 2, 3, 5, 10, 25, 50, 100}

// New returns an Observer that records with the providers of opts. It
// returns an error only if the MeterProvider refuses to make an
// instrument.
func New(opts Options) (*Observer, error) {
	tp, mp := opts.TracerProvider, opts.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	o := &Observer{tracer: tp.Tracer(ScopeName)}
	o.sets.Store(&map[setKey]*measurement{})

	var errs []error
	duration := func(name, desc string) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		errs = append(errs, err)
		return h
	}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	o.storeDuration = duration("httpstate.session.store.duration", "Duration of calls to the session store.")
	o.saveDuration = duration("httpstate.session.save.duration", "Duration of the save of a request's session, compare-and-swap retries included.")
	o.verifyDuration = duration("httpstate.token.verify.duration", "Duration of access-token verifications.")
	o.refreshDuration = duration("httpstate.token.refresh.duration", "Duration of refresh-token exchanges.")
	o.jwksDuration = duration("httpstate.token.jwks_fetch.duration", "Duration of fetches of a remote JSON Web Key Set.")
	var err error
	o.saveAttempts, err = meter.Int64Histogram("httpstate.session.save.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Store saves tried per session save: more than one means compare-and-swap conflicts."),
		metric.WithExplicitBucketBoundaries(attemptBuckets...))
	errs = append(errs, err)
	o.lapsed = counter("httpstate.session.lapsed", "{request}", "Requests that presented a session token naming no live session.")
	o.logins = counter("httpstate.session.logins", "{login}", "Logins saved.")
	o.logouts = counter("httpstate.session.logouts", "{logout}", "Logouts saved.")
	o.renewals = counter("httpstate.session.renewals", "{renewal}", "Session token renewals saved.")
	o.revocations = counter("httpstate.session.revocations", "{call}", "Calls of Revoke (operation one) and RevokeAll (operation all).")
	o.revoked = counter("httpstate.session.revoked", "{session}", "Sessions ended by Revoke and RevokeAll.")
	o.endedConcurrently = counter("httpstate.session.ended_concurrently", "{request}", "Requests whose session another request logged out, revoked or renewed; their changes were dropped.")
	o.readConflicts = counter("httpstate.session.read_conflicts", "{conflict}", "Read-modify-write conflicts on a session key.")
	o.cookieDecodes = counter("httpstate.cookie.decodes", "{decode}", "Decodes of sealed and signed cookies.")
	o.other = counter("httpstate.events", "{event}", "httpstate events of kinds this version of otelobserve does not know.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return o, nil
}

// Observe records e: a span for a timed event, a span event on the span in
// ctx otherwise, and its measurements. It never blocks unless the
// providers do.
func (o *Observer) Observe(ctx context.Context, e observe.Event) {
	if !e.Start.IsZero() {
		// The measurements get the span's context, so that an exemplar
		// points at the operation's own span.
		ctx = o.span(ctx, e)
	} else if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(string(e.Kind), trace.WithAttributes(spanAttributes(e)...))
	}
	switch e.Kind {
	case observe.StoreCall:
		o.storeDuration.Record(ctx, e.Duration.Seconds(), o.measurement(e, false).record...)
	case observe.Save:
		m := o.measurement(e, false)
		o.saveDuration.Record(ctx, e.Duration.Seconds(), m.record...)
		o.saveAttempts.Record(ctx, int64(e.Attempts), m.record...)
	case observe.Verify:
		o.verifyDuration.Record(ctx, e.Duration.Seconds(), o.measurement(e, false).record...)
	case observe.Refresh:
		o.refreshDuration.Record(ctx, e.Duration.Seconds(), o.measurement(e, false).record...)
	case observe.JWKSFetch:
		o.jwksDuration.Record(ctx, e.Duration.Seconds(), o.measurement(e, false).record...)
	case observe.Lapsed:
		o.lapsed.Add(ctx, 1, o.measurement(e, false).add...)
	case observe.Login:
		o.logins.Add(ctx, 1, o.measurement(e, false).add...)
	case observe.Logout:
		o.logouts.Add(ctx, 1, o.measurement(e, false).add...)
	case observe.Renew:
		o.renewals.Add(ctx, 1, o.measurement(e, false).add...)
	case observe.Revoke:
		m := o.measurement(e, false)
		o.revocations.Add(ctx, 1, m.add...)
		o.revoked.Add(ctx, int64(e.Attempts), m.add...)
	case observe.EndedConcurrently:
		o.endedConcurrently.Add(ctx, 1, o.measurement(e, false).add...)
	case observe.ReadConflict:
		o.readConflicts.Add(ctx, 1, o.measurement(e, false).add...)
	case observe.CookieDecode:
		o.cookieDecodes.Add(ctx, 1, o.measurement(e, false).add...)
	default:
		o.other.Add(ctx, 1, o.measurement(e, true).add...)
	}
}

// span records the timed event e as an ended span and returns its context.
func (o *Observer) span(ctx context.Context, e observe.Event) context.Context {
	name := spanName(e)
	kind := internal
	if e.Kind == observe.StoreCall || e.Kind == observe.JWKSFetch {
		kind = client
	}
	// The attributes are given at the start, where a sampler sees them.
	ctx, span := o.tracer.Start(ctx, name, trace.WithTimestamp(e.Start), kind,
		trace.WithAttributes(spanAttributes(e)...))
	if e.Outcome == observe.Error {
		// Never Err's text: see "Attributes" in the package documentation.
		desc := name + " failed"
		if e.Reason != "" {
			desc += ": " + e.Reason
		}
		span.SetStatus(codes.Error, desc)
	}
	span.End(trace.WithTimestamp(e.Start.Add(e.Duration)))
	return ctx
}

// Span kinds, made once: an option made per span would be an allocation.
var (
	internal = trace.WithSpanKind(trace.SpanKindInternal)
	client   = trace.WithSpanKind(trace.SpanKindClient)
)

// spanName names the span of a timed event. Store calls are named for
// their operation, a closed vocabulary, so that a trace view tells a load
// from a save at a glance.
func spanName(e observe.Event) string {
	if e.Kind != observe.StoreCall {
		return string(e.Kind)
	}
	switch e.Op {
	case "load":
		return "session.store.load"
	case "save":
		return "session.store.save"
	case "delete":
		return "session.store.delete"
	case "list":
		return "session.store.list"
	case "delete_expired":
		return "session.store.delete_expired"
	}
	return "session.store"
}

// spanAttributes are the attributes of the span or span event of e.
func spanAttributes(e observe.Event) []attribute.KeyValue {
	a := make([]attribute.KeyValue, 0, 4)
	if e.Op != "" {
		a = append(a, operationKey.String(e.Op))
	}
	if e.Outcome != "" {
		a = append(a, outcomeKey.String(string(e.Outcome)))
	}
	if e.Reason != "" {
		a = append(a, reasonKey.String(e.Reason))
	}
	switch e.Kind {
	case observe.Save:
		a = append(a, saveAttemptsKey.Int(e.Attempts))
	case observe.Revoke:
		a = append(a, revokedKey.Int(e.Attempts))
	case observe.ReadConflict:
		a = append(a, sessionKeyKey.String(e.Key))
	default:
		if e.Attempts != 0 {
			a = append(a, attemptsKey.Int(e.Attempts))
		}
	}
	return a
}

// setKey identifies a metric attribute set: the fields of an Event that
// become metric attributes.
type setKey struct {
	kind                observe.Kind // set only for httpstate.events
	op, outcome, reason string
}

// maxSets bounds the cache of attribute sets. The vocabularies give a few
// hundred combinations; the bound only matters if an application emits
// events of its own with unbounded fields, which then cost an allocation
// each instead of growing the cache.
const maxSets = 1024

// measurement is the attribute set of some measurements, as the option
// lists that Record and Add take: passing a list that already exists
// spares each call the allocation of its variadic argument.
type measurement struct {
	record []metric.RecordOption
	add    []metric.AddOption
}

// measurement returns the attribute set of e's measurements, with the
// event's Kind if withKind. Building a set sorts and allocates, so each
// combination is built once.
func (o *Observer) measurement(e observe.Event, withKind bool) *measurement {
	k := setKey{op: e.Op, outcome: string(e.Outcome), reason: e.Reason}
	if withKind {
		k.kind = e.Kind
	}
	if m, ok := (*o.sets.Load())[k]; ok {
		return m
	}
	a := make([]attribute.KeyValue, 0, 4)
	if withKind {
		a = append(a, kindKey.String(string(e.Kind)))
	}
	if e.Op != "" {
		a = append(a, operationKey.String(e.Op))
	}
	if e.Outcome != "" {
		a = append(a, outcomeKey.String(string(e.Outcome)))
	}
	if e.Reason != "" {
		a = append(a, reasonKey.String(e.Reason))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(a...))
	m := &measurement{record: []metric.RecordOption{opt}, add: []metric.AddOption{opt}}
	o.setsMu.Lock()
	defer o.setsMu.Unlock()
	old := *o.sets.Load()
	if _, ok := old[k]; !ok && len(old) < maxSets {
		// A few hundred copies of a small map, once each, at most.
		sets := make(map[setKey]*measurement, len(old)+1)
		maps.Copy(sets, old)
		sets[k] = m
		o.sets.Store(&sets)
	}
	return m
}
