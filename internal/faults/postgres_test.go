package faults

import (
	"context"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/postgres"
)

func TestPostgresCrashMidLoad(t *testing.T) {
	pg := startPostgres(t)
	scenario(t, func() (session.Store, func()) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := postgres.Open(ctx, pg.URL())
		if err != nil {
			t.Fatal(err)
		}
		return s, func() { s.Close() }
	}, pg.Kill, pg.Start, true)
}
