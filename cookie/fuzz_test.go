package cookie

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// fuzzNow is the fixed clock of the fuzz targets, so that the committed
// known values stay unexpired and every run is deterministic.
var fuzzNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeError asserts the Codec contract for a value that failed.
func decodeError(t *testing.T, payload []byte, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("error %v wraps none of the decoding sentinels", err)
	}
	if payload != nil {
		t.Fatalf("payload %q returned with error %v", payload, err)
	}
}

// fuzzCodec checks a Codec against untrusted (name, value) pairs: Decode
// never panics, fails only with the documented sentinels, and accepts
// nothing but the genuine values known, which seed the fuzzer (values
// made at run time cannot: each fuzzing process would seal its own); and
// any (name, payload) pair round-trips through Encode and Decode, with c
// and with each of others, which share its keys.
func fuzzCodec(f *testing.F, c Codec, others []Codec, known ...string) {
	for _, k := range known {
		f.Add("__Host-prefs", k)
		f.Add("__Host-prefs", k[:len(k)-1])
		f.Add("__Host-pref", k)
	}
	f.Add("", "")
	f.Add("n", ".")
	f.Fuzz(func(t *testing.T, name, value string) {
		payload, _, err := c.Decode(name, value)
		if err != nil {
			decodeError(t, payload, err)
		} else if name != "__Host-prefs" || !slices.Contains(known, value) || string(payload) != knownPayload {
			t.Fatalf("Decode(%q, %q) accepted a value it never made: %q", name, value, payload)
		}

		for _, enc := range append([]Codec{c}, others...) {
			v, err := enc.Encode(name, []byte(value), time.Hour)
			if errors.Is(err, ErrTooLarge) {
				return
			}
			if err != nil {
				t.Fatalf("Encode(%q): %v", name, err)
			}
			got, stale, err := c.Decode(name, v)
			if err != nil || stale || !bytes.Equal(got, []byte(value)) {
				t.Fatalf("round trip of %q under %q: %q, stale %v, %v", value, name, got, stale, err)
			}
		}
	})
}

// FuzzSealerDecode opens untrusted values with a Sealer that writes the
// current format, and round-trips payloads through both formats.
func FuzzSealerDecode(f *testing.F) {
	s, err := NewSealer(testSecret(2), testSecret(1))
	if err != nil {
		f.Fatal(err)
	}
	s.now = func() time.Time { return fuzzNow }
	s.format = sealV2
	v1, err := NewSealer(testSecret(2), testSecret(1))
	if err != nil {
		f.Fatal(err)
	}
	v1.now = s.now
	v1.format = sealV1
	fuzzCodec(f, s, []Codec{v1}, knownSealed, knownSealedV2)
}

func FuzzSignerDecode(f *testing.F) {
	s, err := NewSigner(testSecret(2), testSecret(1))
	if err != nil {
		f.Fatal(err)
	}
	s.now = func() time.Time { return fuzzNow }
	fuzzCodec(f, s, nil, knownSigned)
}

// FuzzValueGet feeds whole Cookie headers to Value.Get, which parses them
// with net/http, decodes every cookie of its name and unmarshals JSON.
func FuzzValueGet(f *testing.F) {
	s, err := NewSealer(testSecret(2), testSecret(1))
	if err != nil {
		f.Fatal(err)
	}
	s.now = func() time.Time { return fuzzNow }
	v := &Value[prefs]{Name: "__Host-prefs", Codec: s, MaxAge: time.Hour}
	f.Add("__Host-prefs=" + knownSealed)
	f.Add("a=b; __Host-prefs=x; __Host-prefs=" + knownSealed + "; c=d")
	f.Add(`__Host-prefs="` + knownSealed + `"`)
	f.Add("__Host-prefs=;;;; ;=;=\x00\xff")
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", header)
		got, stale, err := v.Get(r)
		if err != nil {
			if !errors.Is(err, http.ErrNoCookie) && !errors.Is(err, ErrInvalid) &&
				!errors.Is(err, ErrExpired) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("error %v wraps no documented sentinel", err)
			}
			if got != (prefs{}) || stale {
				t.Fatalf("returned %+v, stale %v with error %v", got, stale, err)
			}
			return
		}
		if got != (prefs{Theme: "dark", Lang: "fr"}) || !stale {
			t.Fatalf("header %q decoded to %+v, stale %v, which no genuine value holds", header, got, stale)
		}
	})
}

// FuzzAttributesCookie checks that whatever Attributes.Cookie accepts,
// net/http writes exactly as built, within MaxSize, and that whatever it
// refuses, it refuses with a sentinel.
func FuzzAttributesCookie(f *testing.F) {
	f.Add("__Host-id", "v", "", "", uint8(0), int64(0))
	f.Add("__Secure-id", "v", ".example.com", "/app", uint8(0b11110), int64(3600))
	f.Add("id", "a b", "exa mple", "app", uint8(0b00001), int64(-1))
	f.Add("__host-Http-x", "", "127.0.0.1", "/;", uint8(0b00100), int64(1<<62))
	f.Fuzz(func(t *testing.T, name, value, domain, path string, flags uint8, maxAge int64) {
		a := Attributes{
			Domain:         domain,
			Path:           path,
			Insecure:       flags&1 != 0,
			ScriptReadable: flags&2 != 0,
			Partitioned:    flags&4 != 0,
			SameSite:       http.SameSite(flags >> 3 % 6),
		}
		c, err := a.Cookie(name, value, time.Duration(maxAge))
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrInvalid nor ErrTooLarge", err)
			}
			if c != nil {
				t.Fatal("cookie returned with an error")
			}
		} else {
			if n := len(c.String()); n > MaxSize {
				t.Fatalf("accepted a Set-Cookie of %d bytes", n)
			}
			if err := c.Valid(); err != nil {
				t.Fatalf("net/http finds the cookie invalid: %v", err)
			}
			checkLossless(t, c)
		}
		if d, err := a.Expire(name); err == nil {
			checkLossless(t, d)
		}
	})
}
