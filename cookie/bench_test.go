package cookie

import (
	"bytes"
	"testing"
	"time"
)

// benchPayload is the 200-byte value the speed target is set for.
var benchPayload = bytes.Repeat([]byte("p"), 200)

// BenchmarkSealOpen seals and opens a 200-byte value: the cost of one
// round trip of an encrypted cookie. For comparison, gorilla/securecookie's
// Encode plus Decode of the same payload (AES-CTR and HMAC-SHA256, with its
// no-op serializer) made 32 allocations and took three to five times as
// long as this benchmark when both ran side by side where it was written.
func BenchmarkSealOpen(b *testing.B) {
	s, err := NewSealer(testSecret(1), testSecret(2))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := s.Encode("__Host-prefs", benchPayload, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.Decode("__Host-prefs", v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignVerify signs and verifies a 200-byte value.
func BenchmarkSignVerify(b *testing.B) {
	s, err := NewSigner(testSecret(1), testSecret(2))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := s.Encode("__Host-prefs", benchPayload, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.Decode("__Host-prefs", v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttributesCookie is the cost the session package pays on every
// response that sets its cookie.
func BenchmarkAttributesCookie(b *testing.B) {
	var a Attributes
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Cookie("__Host-session", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
