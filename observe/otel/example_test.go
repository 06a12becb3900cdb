package otelobserve_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	otelobserve "github.com/httpstate/httpstate/observe/otel"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
	"github.com/httpstate/httpstate/token"
)

// One Observer serves every option that takes one. The application sets up
// OpenTelemetry once, at start (an exporter to its collector,
// otel.SetTracerProvider, otel.SetMeterProvider); zero Options use those
// global providers.
func Example() {
	obs, err := otelobserve.New(otelobserve.Options{})
	if err != nil {
		log.Fatal(err)
	}

	sessions, err := session.New(memory.New(), session.Options{Observer: obs})
	if err != nil {
		log.Fatal(err)
	}
	keys, err := token.NewRemoteKeySet("https://auth.example.com/.well-known/jwks.json", token.RemoteKeySetOptions{Observer: obs})
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := token.NewVerifier(keys, token.VerifierOptions{
		Algorithms: []token.Algorithm{token.EdDSA},
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
		Observer:   obs,
	})
	if err != nil {
		log.Fatal(err)
	}
	bearer := &token.Bearer{Verifier: verifier}

	mux := http.NewServeMux()
	mux.Handle("/api/", bearer.Require("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders of %s", token.ClaimsFrom(r.Context()).Subject)
	})))
	mux.Handle("/", sessions.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.Update(session.FromContext(r.Context()), "visits", func(n int) int { return n + 1 })
		fmt.Fprintf(w, "visit %d", n)
	})))
	// httpstate's spans are children of the span in the request's context:
	// serve mux through the HTTP server instrumentation of your choice
	// (such as otelhttp.NewHandler) and they nest under each request's
	// server span.
	log.Fatal(http.ListenAndServeTLS(":8443", "cert.pem", "key.pem", mux))
}

// What a first visit records, with the SDK's in-memory exporter and
// reader standing in for a collector.
func ExampleNew() {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	obs, err := otelobserve.New(otelobserve.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		log.Fatal(err)
	}

	store := memory.New()
	defer store.Close()
	sessions, err := session.New(store, session.Options{Observer: obs})
	if err != nil {
		log.Fatal(err)
	}
	site := sessions.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put("theme", "dark")
	}))
	site.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "https://example.com/", nil))

	for _, s := range spans.GetSpans() {
		fmt.Print("span ", s.Name)
		for _, a := range s.Attributes {
			fmt.Printf(" %s=%s", a.Key, a.Value.String())
		}
		fmt.Println()
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	var names []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		names = append(names, m.Name+" ("+m.Unit+")")
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Println("metric", n)
	}
	// Output:
	// span session.store.save httpstate.operation=save httpstate.outcome=ok
	// span session.save httpstate.outcome=ok httpstate.save.attempts=1
	// metric httpstate.session.save.attempts ({attempt})
	// metric httpstate.session.save.duration (s)
	// metric httpstate.session.store.duration (s)
}
