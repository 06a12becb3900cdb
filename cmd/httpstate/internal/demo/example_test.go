package demo_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/demo"
	"github.com/httpstate/httpstate/store/memory"
)

// The shop is an ordinary http.Handler built from two stores and a
// secret, so it runs anywhere a handler does: here, in a test server.
func ExampleNew() {
	sessions, tokens := memory.New(), memory.New()
	defer sessions.Close()
	defer tokens.Close()
	app, err := demo.New(context.Background(), demo.Config{
		Sessions: sessions,
		Tokens:   tokens,
		Secret:   []byte("a secret of at least thirty-two random bytes"),
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewTLSServer(app.Handler())
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/healthz")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, body)
	// Output:
	// 200 ok
}
