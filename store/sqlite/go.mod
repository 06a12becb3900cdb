module github.com/httpstate/httpstate/store/sqlite

// Go 1.26, not the library's 1.25: modernc.org/sqlite needs Go 1.26 from
// v1.60.0 on, and v1.61.0 is the first whose busy-timeout wait for another
// process's write lock ends when the caller's context does, which Save and
// Delete rely on (TestWaitForOtherWriterHonoursContext). This store is a
// module of its own so that only its users need Go 1.26.
go 1.26.0

require (
	github.com/httpstate/httpstate v0.0.0
	modernc.org/sqlite v1.62.0
)

require (
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)

// Development builds use the library in this repository.
replace github.com/httpstate/httpstate => ../..
