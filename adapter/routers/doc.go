// Package routers shows httpstate sessions with routers built on net/http,
// which need no adapter: github.com/go-chi/chi/v5 and github.com/gorilla/mux
// take session.Manager.Middleware as it is, because their handlers write
// to the http.ResponseWriter the middleware hands on, so the session is
// saved before the first byte and its cookie reaches the client.
//
//	r := chi.NewRouter()
//	r.Use(sessions.Middleware)
//
//	r := mux.NewRouter()
//	r.Use(sessions.Middleware)
//
// gorilla/mux runs middleware added with Use only for requests that match
// a route; to give 404 pages a session too, wrap the whole router:
// http.ListenAndServe(addr, sessions.Middleware(r)).
//
// The package has no code of its own: its examples are compiled and run
// by go test, so they stay true to both routers' current APIs.
package routers
