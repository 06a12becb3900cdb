// Package faults holds the fault-injection tests: each starts a database
// server of its own as a child process, runs steady load through the
// session middleware, kills the server mid-load and brings it back. It
// has no code of its own outside its tests.
package faults
