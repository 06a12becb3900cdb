package bench

import (
	"bytes"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/httpstate/httpstate/store/memory"
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

// TestCountersCountAcknowledgedIncrements checks the hot-session
// workload's accounting: one caller at a time, no library loses an
// increment, so the counter ends at exactly the acknowledged increments,
// reads included in the mix.
func TestCountersCountAcknowledgedIncrements(t *testing.T) {
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	hs, err := HttpstateCounter("httpstate", store)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Contestant{hs, SCSCounter("scs", scs.New())} {
		cookie, err := CounterSession(c.Handler)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		acked, err := driveHot(c, cookie, 1, 3, 60)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if acked != 20 {
			t.Errorf("%s: %d increments acknowledged of 60 requests with one in three an increment, want 20", c.Name, acked)
		}
		if n, err := ReadCounter(c.Handler, cookie); err != nil || n != 21 {
			t.Errorf("%s: counter %d (%v) after 20 increments on a new counter of 1, want 21", c.Name, n, err)
		}
	}
}

// TestHttpstateLosesNoConcurrentIncrement is the claim the hot-session
// benchmark measures against scs: 32 callers incrementing one session at
// once, and the counter holds every acknowledged increment.
func TestHttpstateLosesNoConcurrentIncrement(t *testing.T) {
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	c, err := HttpstateCounter("httpstate", store)
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := CounterSession(c.Handler)
	if err != nil {
		t.Fatal(err)
	}
	acked, err := driveHot(c, cookie, 32, 1, 640)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ReadCounter(c.Handler, cookie); err != nil || int64(n) != acked+1 {
		t.Errorf("counter %d (%v) after %d acknowledged increments on a new counter of 1: updates were lost", n, err, acked)
	}
}

// TestIncrementedCountsWrites checks the session-caching workload's
// counter: each write stores one more than it loaded, in the value's
// fixed-width field, and the rest of the value is the template's.
func TestIncrementedCountsWrites(t *testing.T) {
	tmpl := jsonValues(1, mrand.New(mrand.NewPCG(1, 2)))[0]
	v := tmpl
	for want := 1; want <= 1001; want++ {
		next, err := incremented(v, tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := counterOf(next); err != nil || n != want {
			t.Fatalf("counter after %d writes = %d, %v", want, n, err)
		}
		if !bytes.Equal(next[counterAt+counterLen:], tmpl[counterAt+counterLen:]) || len(next) != len(tmpl) {
			t.Fatalf("write %d changed more than the counter: %q", want, next)
		}
		v = next
	}
	if _, err := incremented([]byte("short"), tmpl); err == nil {
		t.Error("incremented accepted a value without a counter")
	}
}
