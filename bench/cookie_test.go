package bench

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/httpstate/httpstate/cookie"
)

// cookiePayload is the 200-byte value of the cookie scenario.
var cookiePayload = bytes.Repeat([]byte(`{"theme":"dark","lang":"en"}`), 8)[:200]

const cookieName = "__Host-prefs"

// codecRoundTrip is one encode and one decode of the payload, the cost of
// a value the server sets and later reads back.
type codecRoundTrip func(b *testing.B)

// BenchmarkCookie encodes and decodes a 200-byte value. "encrypted"
// compares httpstate's Sealer (AES-256-GCM under a key of the day on a CPU
// with AES instructions, as every machine these figures come from has;
// XChaCha20-Poly1305 without) with securecookie's encrypted mode
// (AES-256-CTR then HMAC-SHA256); "signed" compares httpstate's Signer
// with securecookie's hash-only mode (HMAC-SHA256). Each is built as its
// documentation shows, with two keys for httpstate (the current one
// signs, as during a rotation). securecookie gets its NopEncoder, so
// neither side pays for a serializer: both take and return the same
// bytes, and every decoded value is compared with what was encoded.
func BenchmarkCookie(b *testing.B) {
	secret := bytes.Repeat([]byte{'s'}, 32)
	old := bytes.Repeat([]byte{'o'}, 32)
	sealer, err := cookie.NewSealer(secret, old)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := cookie.NewSigner(secret, old)
	if err != nil {
		b.Fatal(err)
	}
	encrypted := securecookie.New(gorillaHashKey, gorillaBlockKey).SetSerializer(securecookie.NopEncoder{})
	signed := securecookie.New(gorillaHashKey, nil).SetSerializer(securecookie.NopEncoder{})

	httpstate := func(c cookie.Codec) codecRoundTrip {
		return func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				v, err := c.Encode(cookieName, cookiePayload, time.Hour)
				if err != nil {
					b.Fatal(err)
				}
				got, _, err := c.Decode(cookieName, v)
				if err != nil || !bytes.Equal(got, cookiePayload) {
					b.Fatalf("Decode = %q, %v", got, err)
				}
			}
		}
	}
	gorilla := func(s *securecookie.SecureCookie) codecRoundTrip {
		return func(b *testing.B) {
			// securecookie encrypts the serialized bytes in place, and
			// NopEncoder hands it the caller's slice, so it gets a copy
			// in a reused buffer: 200 bytes of memmove, no allocation.
			in := make([]byte, len(cookiePayload))
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				copy(in, cookiePayload)
				v, err := s.Encode(cookieName, in)
				if err != nil {
					b.Fatal(err)
				}
				var got []byte
				if err := s.Decode(cookieName, v, &got); err != nil || !bytes.Equal(got, cookiePayload) {
					b.Fatalf("Decode = %q, %v", got, err)
				}
			}
		}
	}
	b.Run("encrypted/httpstate", httpstate(sealer))
	b.Run("encrypted/securecookie", gorilla(encrypted))
	b.Run("signed/httpstate", httpstate(signer))
	b.Run("signed/securecookie", gorilla(signed))
}

// reportCPU starts counting the CPU time of the whole process, all its
// threads, and returns the function that reports it per operation as
// "cpu-ns/op": the benchmark's own work and the garbage collection it
// causes, without the time spent waiting for a CPU that ns/op includes
// when other programs share the machine.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
