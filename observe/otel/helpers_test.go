package otelobserve_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/httpstate/httpstate/observe"
	otelobserve "github.com/httpstate/httpstate/observe/otel"
)

// telemetry is an Observer under test with in-memory providers. It is
// itself an observe.Observer that keeps every event before passing it on,
// so that tests can compare what httpstate reported with what reached
// OpenTelemetry.
type telemetry struct {
	t      *testing.T
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	obs    *otelobserve.Observer

	mu     sync.Mutex
	events []observe.Event
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	obs, err := otelobserve.New(otelobserve.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	return &telemetry{t: t, spans: spans, tp: tp, reader: reader, obs: obs}
}

func (tm *telemetry) Observe(ctx context.Context, e observe.Event) {
	tm.mu.Lock()
	tm.events = append(tm.events, e)
	tm.mu.Unlock()
	tm.obs.Observe(ctx, e)
}

// tracer makes the test's own spans, the ones httpstate's nest under.
func (tm *telemetry) tracer() trace.Tracer { return tm.tp.Tracer("test") }

func (tm *telemetry) allEvents() []observe.Event {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return slices.Clone(tm.events)
}

// metrics collects every instrument's data.
func (tm *telemetry) metrics() map[string]metricdata.Metrics {
	tm.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tm.reader.Collect(context.Background(), &rm); err != nil {
		tm.t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelobserve.ScopeName {
			tm.t.Errorf("metrics of scope %q; want %q", sm.Scope.Name, otelobserve.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// named returns the ended spans called name.
func (tm *telemetry) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tm.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// one returns the only ended span called name.
func (tm *telemetry) one(name string) sdktrace.ReadOnlySpan {
	tm.t.Helper()
	s := tm.named(name)
	if len(s) != 1 {
		tm.t.Fatalf("%d spans named %q; want 1", len(s), name)
	}
	return s[0]
}

// attrs renders a set as "k=v k=v", sorted by key.
func attrs(s attribute.Set) string {
	var b []string
	for _, kv := range s.ToSlice() {
		b = append(b, fmt.Sprintf("%s=%s", kv.Key, kv.Value.String()))
	}
	return strings.Join(b, " ")
}

func attrsOf(kvs []attribute.KeyValue) string { return attrs(attribute.NewSet(kvs...)) }

// counts returns a counter's values, or a histogram's counts, by data
// point attributes.
func counts(t *testing.T, m metricdata.Metrics) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
			t.Errorf("%s: not a cumulative monotonic sum", m.Name)
		}
		for _, p := range d.DataPoints {
			out[attrs(p.Attributes)] = p.Value
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out[attrs(p.Attributes)] = int64(p.Count)
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			out[attrs(p.Attributes)] = int64(p.Count)
		}
	default:
		t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
	}
	return out
}

// allowedKeys are the only attribute keys the Observer may use.
var allowedKeys = map[attribute.Key]bool{
	"httpstate.kind": true, "httpstate.operation": true, "httpstate.outcome": true,
	"httpstate.reason": true, "httpstate.session.key": true, "httpstate.save.attempts": true,
	"httpstate.revoke.sessions": true, "httpstate.attempts": true,
}

// checkNoSecrets fails the test if any secret appears in any text the
// Observer produced: span names, attributes, span events, status
// descriptions, metric names, descriptions and data point attributes; or
// if an attribute key is not one the Observer documents. The test's own
// spans are skipped but their events are not, since the Observer adds
// those.
func (tm *telemetry) checkNoSecrets(own func(sdktrace.ReadOnlySpan) bool, secrets ...string) {
	tm.t.Helper()
	var texts []string
	checkKeys := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			if !allowedKeys[kv.Key] {
				tm.t.Errorf("%s: attribute %s is not one the Observer documents", where, kv.Key)
			}
			texts = append(texts, string(kv.Key), kv.Value.String())
		}
	}
	for _, s := range tm.spans.Ended() {
		for _, ev := range s.Events() {
			texts = append(texts, ev.Name)
			checkKeys("span event "+ev.Name, ev.Attributes)
		}
		if own(s) {
			continue
		}
		texts = append(texts, s.Name(), s.Status().Description)
		checkKeys("span "+s.Name(), s.Attributes())
		if len(s.Links()) > 0 {
			tm.t.Errorf("span %s has links", s.Name())
		}
	}
	for name, m := range tm.metrics() {
		texts = append(texts, name, m.Description, m.Unit)
		var sets []attribute.Set
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Histogram[int64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		}
		for _, s := range sets {
			if s.HasValue("httpstate.session.key") {
				tm.t.Errorf("%s: a session key is a metric attribute", name)
			}
			checkKeys("metric "+name, s.ToSlice())
		}
	}
	if len(texts) == 0 {
		tm.t.Fatal("no telemetry to check")
	}
	for _, secret := range secrets {
		if len(secret) < 6 {
			tm.t.Fatalf("secret %q too short to search for", secret)
		}
		for _, text := range texts {
			if strings.Contains(text, secret) {
				tm.t.Errorf("telemetry holds a secret: %q contains %q", text, secret)
			}
		}
	}
}
