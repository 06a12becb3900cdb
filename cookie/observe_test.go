package cookie

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/observe"
)

// recorder is an Observer that keeps what it sees.
type recorder struct {
	mu     sync.Mutex
	events []observe.Event
}

func (r *recorder) Observe(_ context.Context, e observe.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) take() []observe.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

// observed returns the Codec of kind k with secrets, its clock reading
// *now, reporting to rec.
func observed(t *testing.T, k codecKind, rec *recorder, now *time.Time, secrets ...[]byte) Codec {
	t.Helper()
	c := mustCodec(t, k, secrets...)
	setClock(c, func() time.Time { return *now })
	switch c := c.(type) {
	case *Sealer:
		c.Observer = rec
	case *Signer:
		c.Observer = rec
	}
	return c
}

func TestDecodesAreObserved(t *testing.T) {
	const name = "__Host-prefs"
	a, b, other := testSecret(1), testSecret(2), testSecret(3)
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			op := "sealed"
			if k.name == "signer" {
				op = "signed"
			}
			t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
			now := t0
			rec := &recorder{}
			c := observed(t, k, rec, &now, b, a)
			encode := func(secrets ...[]byte) string {
				e := mustCodec(t, k, secrets...)
				setClock(e, func() time.Time { return t0 })
				v, err := e.Encode(name, []byte(`{"theme":"dark"}`), time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			current, old, unknown := encode(b), encode(a), encode(other)
			raw, err := b64.DecodeString(current[strings.LastIndexByte(current, '.')+1:])
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)-1] ^= 1 // the last byte of the tag
			forged := current[:strings.LastIndexByte(current, '.')+1] + b64.EncodeToString(raw)
			for _, tt := range []struct {
				what, name, value string
				later             time.Duration
				outcome           observe.Outcome
				reason            string
			}{
				{"a value under the current key", name, current, 0, observe.OK, ""},
				{"a value under an older key", name, old, 0, observe.Stale, ""},
				{"a value past its expiry", name, current, 2 * time.Hour, observe.Expired, ""},
				{"a value under a key not configured", name, unknown, 0, observe.Rejected, "unknown_key"},
				{"a value with a changed tag", name, forged, 0, observe.Rejected, "forged"},
				{"a value moved to another name", "__Host-other", current, 0, observe.Rejected, "forged"},
				{"text that is no value", name, "not a cookie value at all!", 0, observe.Rejected, "malformed"},
				{"an empty value", name, "", 0, observe.Rejected, "malformed"},
				{"a value of the other codec", name, encode(b)[:10] + ".x", 0, observe.Rejected, "malformed"},
			} {
				now = t0.Add(tt.later)
				_, _, err := c.Decode(tt.name, tt.value)
				if (err == nil) != (tt.outcome == observe.OK || tt.outcome == observe.Stale) {
					t.Errorf("%s: error %v with outcome %s", tt.what, err, tt.outcome)
				}
				events := rec.take()
				if len(events) != 1 {
					t.Fatalf("%s: %d events, want 1", tt.what, len(events))
				}
				e := events[0]
				want := observe.Event{Kind: observe.CookieDecode, Op: op, Outcome: tt.outcome, Reason: tt.reason}
				if e != want {
					t.Errorf("%s: event %+v, want %+v", tt.what, e, want)
				}
				// Nothing from the request reaches the event: not the
				// value, not the cookie's name.
				if s := fmt.Sprintf("%+v", e); (tt.value != "" && strings.Contains(s, tt.value)) || strings.Contains(s, tt.name) {
					t.Errorf("%s: event %s shows the value or the name", tt.what, s)
				}
			}
		})
	}
}

// Value.Get decodes through its Codec, so each cookie of the name it
// tries is reported once.
func TestValueGetIsObservedOncePerCookie(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	rec := &recorder{}
	c := observed(t, codecKinds[0], rec, &now, testSecret(1))
	v := &Value[prefs]{Name: "__Host-prefs", Codec: c, MaxAge: time.Hour}
	w := httptest.NewRecorder()
	if err := v.Set(w, prefs{Theme: "dark"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("Set reported %d events", len(got))
	}
	good := w.Result().Cookies()[0].Value
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "__Host-prefs=junk; __Host-prefs="+good)
	if got, _, err := v.Get(r); err != nil || got.Theme != "dark" {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	events := rec.take()
	if len(events) != 2 || events[0].Reason != "malformed" || events[1].Outcome != observe.OK {
		t.Fatalf("events %+v, want a malformed rejection then OK", events)
	}
}
