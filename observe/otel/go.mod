module github.com/httpstate/httpstate/observe/otel

// The go line follows the root module's, which it may not be below.
// OpenTelemetry stays at v1.46.0, its newest release that builds with Go
// 1.25 (v1.47.0 requires Go 1.26), so that this module can follow the root
// module down to go 1.25.
go 1.25.0

require (
	github.com/httpstate/httpstate v0.0.0
	go.opentelemetry.io/otel v1.46.0
	go.opentelemetry.io/otel/metric v1.46.0
	go.opentelemetry.io/otel/sdk v1.46.0
	go.opentelemetry.io/otel/sdk/metric v1.46.0
	go.opentelemetry.io/otel/trace v1.46.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

// Development builds use the library in this repository.
replace github.com/httpstate/httpstate => ../..
