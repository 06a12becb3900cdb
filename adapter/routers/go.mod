module github.com/httpstate/httpstate/adapter/routers

// Go 1.25, like the library; chi and gorilla/mux ask for less.
go 1.25.0

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/gorilla/mux v1.8.1
	github.com/httpstate/httpstate v0.0.0
)

require (
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace github.com/httpstate/httpstate => ../..
