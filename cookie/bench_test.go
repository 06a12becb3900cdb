package cookie

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/observe"
)

// benchPayload is the 200-byte value the speed target is set for.
var benchPayload = bytes.Repeat([]byte("p"), 200)

// BenchmarkSealOpen seals and opens a 200-byte value: the cost of one
// round trip of an encrypted cookie, in the format this CPU gets (version
// 2, AES-256-GCM, where it has AES instructions). bench/'s BenchmarkCookie
// compares it with gorilla/securecookie.
func BenchmarkSealOpen(b *testing.B) {
	s, err := NewSealer(testSecret(1), testSecret(2))
	if err != nil {
		b.Fatal(err)
	}
	benchRoundTrip(b, s)
}

// BenchmarkSealOpenVersion1 is BenchmarkSealOpen in the format written
// where the CPU has no AES instructions (XChaCha20-Poly1305).
func BenchmarkSealOpenVersion1(b *testing.B) {
	s, err := NewSealer(testSecret(1), testSecret(2))
	if err != nil {
		b.Fatal(err)
	}
	s.format = sealV1
	benchRoundTrip(b, s)
}

func benchRoundTrip(b *testing.B, c Codec) {
	b.ReportAllocs()
	for b.Loop() {
		v, err := c.Encode("__Host-prefs", benchPayload, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if got, _, err := c.Decode("__Host-prefs", v); err != nil || !bytes.Equal(got, benchPayload) {
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
	benchRoundTrip(b, s)
}

// BenchmarkOpenObserved opens a sealed value with an Observer that counts
// events: the price of observing decodes.
func BenchmarkOpenObserved(b *testing.B) {
	s, err := NewSealer(testSecret(1))
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	s.Observer = observe.Func(func(context.Context, observe.Event) { n.Add(1) })
	v, err := s.Encode("__Host-prefs", benchPayload, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Decode("__Host-prefs", v); err != nil {
			b.Fatal(err)
		}
	}
	if n.Load() == 0 {
		b.Fatal("no event observed")
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
