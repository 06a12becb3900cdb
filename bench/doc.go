// Package bench measures httpstate side by side with alexedwards/scs and
// gorilla/sessions. It is a module of its own so that the httpstate module
// never depends on its rivals.
//
// The package holds what the benchmarks and the loopback load test share:
// the contestants, each one library's middleware wrapped around the same
// handler, and a latency recorder. The benchmarks themselves are in the
// _test.go files; run.sh runs them all and prints the tables that
// BENCHMARKS.md shows.
package bench
