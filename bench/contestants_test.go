package bench

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestContestantsDoTheSameWork checks the premise of every comparison:
// each library's handler keeps the int a writing request puts, reads it
// back on the next request, and answers exactly what the others answer.
func TestContestantsDoTheSameWork(t *testing.T) {
	for _, name := range memoryNames {
		t.Run(name, func(t *testing.T) {
			c := memoryContestant(t, name)
			if name == "bare" {
				rec := httptest.NewRecorder()
				c.Handler.ServeHTTP(rec, NewRequest(http.MethodGet, bareCookie))
				if got := rec.Body.String(); got != "0" {
					t.Errorf("bare GET = %q, want 0", got)
				}
				return
			}
			cookie, err := SessionCookie(c.Handler)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				rec := httptest.NewRecorder()
				c.Handler.ServeHTTP(rec, NewRequest(http.MethodGet, cookie))
				if got, want := rec.Body.String(), strconv.Itoa(Value); rec.Code != http.StatusOK || got != want {
					t.Fatalf("GET with the session cookie: %d %q, want 200 %q", rec.Code, got, want)
				}
			}
			rec := httptest.NewRecorder()
			c.Handler.ServeHTTP(rec, NewRequest(http.MethodPost, cookie))
			if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
				t.Fatalf("POST with the session cookie: %d %q, want 200 ok", rec.Code, rec.Body.String())
			}
		})
	}
}
