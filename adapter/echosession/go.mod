module github.com/httpstate/httpstate/adapter/echosession

// Go 1.25, like the library: Echo v5.4.5 declares go 1.25.0. The adapter
// is for Echo v5, the major version Echo recommends; Echo v4's current
// releases need Go 1.26.
go 1.25.0

require (
	github.com/httpstate/httpstate v0.0.0
	github.com/labstack/echo/v5 v5.4.5
)

require (
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)

replace github.com/httpstate/httpstate => ../..
