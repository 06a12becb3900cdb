package cookie

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// codecKind is one of the two Codec implementations, so that every
// property below is checked for both.
type codecKind struct {
	name string
	new  func(secrets ...[]byte) (Codec, error)
}

var codecKinds = []codecKind{
	{"sealer", func(secrets ...[]byte) (Codec, error) {
		s, err := NewSealer(secrets...)
		if err != nil {
			return nil, err
		}
		return s, nil
	}},
	{"signer", func(secrets ...[]byte) (Codec, error) {
		s, err := NewSigner(secrets...)
		if err != nil {
			return nil, err
		}
		return s, nil
	}},
	// A Sealer as it is on a CPU without AES instructions: it writes
	// version 1, so every property is checked for both sealed formats.
	{"sealer-v1", func(secrets ...[]byte) (Codec, error) {
		s, err := NewSealer(secrets...)
		if err != nil {
			return nil, err
		}
		s.format = sealV1
		return s, nil
	}},
}

func mustCodec(t testing.TB, k codecKind, secrets ...[]byte) Codec {
	t.Helper()
	c, err := k.new(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setClock makes c read the time from now.
func setClock(c Codec, now func() time.Time) {
	switch c := c.(type) {
	case *Sealer:
		c.now = now
	case *Signer:
		c.now = now
	}
}

// refused asserts that decoding value under name fails as a forgery or
// malformed value would: with ErrInvalid or ErrUnknownKey, never success.
func refused(t *testing.T, c Codec, name, value, what string) {
	t.Helper()
	p, _, err := c.Decode(name, value)
	if err == nil {
		t.Fatalf("%s: %q decoded to %q", what, value, p)
	}
	if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("%s: error %v wraps neither ErrInvalid nor ErrUnknownKey", what, err)
	}
	if p != nil {
		t.Fatalf("%s: payload %q returned with an error", what, p)
	}
}

const base64URLChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestRoundTrip(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			c := mustCodec(t, k, testSecret(1))
			for _, payload := range [][]byte{nil, {}, {0}, []byte(`{"theme":"dark"}`), all, benchPayload} {
				for _, name := range []string{"n", "__Host-prefs", "a!#$%&'*+-.^_`|~z"} {
					v, err := c.Encode(name, payload, time.Hour)
					if err != nil {
						t.Fatal(err)
					}
					for i := 0; i < len(v); i++ {
						if !isCookieOctet(v[i]) {
							t.Fatalf("value %q holds %q, which needs quoting", v, v[i])
						}
					}
					got, stale, err := c.Decode(name, v)
					if err != nil {
						t.Fatalf("Decode(%q, %q): %v", name, v, err)
					}
					if stale || !bytes.Equal(got, payload) {
						t.Fatalf("Decode = %q, stale %v; want %q, false", got, stale, payload)
					}
				}
			}
		})
	}
}

func TestSealedValuesAreUnreadableAndUnlinkable(t *testing.T) {
	s, err := NewSealer(testSecret(1))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("the user's secret preference: aaaaaaaaaaaaaaaa")
	v1, err := s.Encode("n", secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.Encode("n", secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if v1 == v2 {
		t.Fatal("sealing the same payload twice gave the same value")
	}
	raw, err := b64.DecodeString(v1)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, secret[:8]) || strings.Contains(v1, base64.RawURLEncoding.EncodeToString(secret[:12])) {
		t.Fatalf("the sealed value %q shows its payload", v1)
	}
}

func TestSignedPayloadIsReadableByScripts(t *testing.T) {
	s, err := NewSigner(testSecret(1))
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"theme":"dark","lang":"fr"}`)
	v, err := s.Encode("prefs", payload, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// What a script does: take the text before the last dot and decode it.
	text := v[:strings.LastIndexByte(v, '.')]
	got, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("script reading %q got %q, %v", v, got, err)
	}
}

func TestEveryCharacterChangeIsDetected(t *testing.T) {
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			c := mustCodec(t, k, testSecret(1), testSecret(2))
			v, err := c.Encode("prefs", benchPayload, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(v); i++ {
				for _, r := range []byte(base64URLChars + ".=+/ \n\r\x00\xff") {
					if r == v[i] {
						continue
					}
					tampered := v[:i] + string(r) + v[i+1:]
					refused(t, c, "prefs", tampered, "changing byte "+itoa(i))
				}
			}
		})
	}
}

func TestEveryBitFlipIsDetected(t *testing.T) {
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			c := mustCodec(t, k, testSecret(1), testSecret(2))
			v, err := c.Encode("prefs", benchPayload, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			// The binary parts of the value, and how to put a changed
			// part back into text.
			parts := strings.Split(v, ".")
			for p, part := range parts {
				raw, err := b64.DecodeString(part)
				if err != nil {
					t.Fatal(err)
				}
				for i := range raw {
					for bit := range 8 {
						flipped := bytes.Clone(raw)
						flipped[i] ^= 1 << bit
						changed := append([]string(nil), parts...)
						changed[p] = b64.EncodeToString(flipped)
						refused(t, c, "prefs", strings.Join(changed, "."), "flipping part "+itoa(p)+" byte "+itoa(i)+" bit "+itoa(bit))
					}
				}
			}
		})
	}
}

func TestTruncatedExtendedAndPaddedValuesAreRefused(t *testing.T) {
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			c := mustCodec(t, k, testSecret(1))
			// Three payload sizes give every encoded length modulo 4, the
			// cases in which a skipped character could go unnoticed.
			for size := 198; size <= 200; size++ {
				v, err := c.Encode("prefs", benchPayload[:size], time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				checkChangesRefused(t, c, v)
			}
		})
	}
}

func checkChangesRefused(t *testing.T, c Codec, v string) {
	t.Helper()
	for i := 0; i < len(v); i++ {
		refused(t, c, "prefs", v[:i], "keeping the first "+itoa(i)+" bytes")
		refused(t, c, "prefs", v[i+1:], "dropping the first "+itoa(i+1)+" bytes")
		// The base64 decoder skips line breaks; the value must not.
		for _, insert := range []string{"\n", "\r", " ", "=", "."} {
			refused(t, c, "prefs", v[:i]+insert+v[i:], "inserting "+strconv.Quote(insert)+" at "+itoa(i))
		}
	}
	for _, extra := range []string{"A", "AA", "AAA", "AAAA", ".", "=", "..", "AAAAAAAAAAAAAAAAAAAAAA"} {
		refused(t, c, "prefs", v+extra, "appending "+extra)
		refused(t, c, "prefs", extra+v, "prepending "+extra)
	}
}

func TestValueMovedToAnotherNameIsRefused(t *testing.T) {
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			c := mustCodec(t, k, testSecret(1))
			v, err := c.Encode("__Host-prefs", []byte("dark"), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for _, other := range []string{"prefs", "__Host-Prefs", "__host-prefs", "__Secure-prefs", "__Host-prefs2", "__Host-pref", "", "__Host-session"} {
				_, _, err := c.Decode(other, v)
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("value for __Host-prefs under %q: error %v, want ErrInvalid", other, err)
				}
			}
		})
	}
}

func TestExpiredValuesAreRefused(t *testing.T) {
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			c := mustCodec(t, k, testSecret(1))
			t0 := time.Date(2030, 5, 6, 7, 8, 9, 300_000_000, time.UTC)
			now := t0
			setClock(c, func() time.Time { return now })
			v, err := c.Encode("n", []byte("x"), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				at   time.Duration
				want error
			}{
				{0, nil},
				{time.Hour - time.Nanosecond, nil}, // never expires early
				{time.Hour + time.Second, ErrExpired},
				{365 * 24 * time.Hour, ErrExpired},
				{-time.Hour, nil}, // a clock stepping back is not an expiry
			} {
				now = t0.Add(tt.at)
				_, _, err := c.Decode("n", v)
				if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
					t.Errorf("%v after sealing: error %v, want %v", tt.at, err, tt.want)
				}
			}
		})
	}
}

func TestNonPositiveTTLIsRefused(t *testing.T) {
	for _, k := range codecKinds {
		c := mustCodec(t, k, testSecret(1))
		for _, ttl := range []time.Duration{0, -time.Second} {
			if _, err := c.Encode("n", []byte("x"), ttl); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: ttl %v: error %v, want ErrInvalid", k.name, ttl, err)
			}
		}
	}
}

func TestKeyRotation(t *testing.T) {
	a, b := testSecret(1), testSecret(2)
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			onlyA := mustCodec(t, k, a)
			aFirst := mustCodec(t, k, a, b) // step 1: B accepted, A still current
			bFirst := mustCodec(t, k, b, a) // step 2: B current, A accepted
			onlyB := mustCodec(t, k, b)     // step 3: A retired
			encode := func(c Codec) string {
				v, err := c.Encode("n", []byte("payload"), time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			tests := []struct {
				name      string
				from, to  Codec
				wantStale bool
				wantErr   error
			}{
				{"an A value opens during step 1 as current", onlyA, aFirst, false, nil},
				{"a value from step 1 opens on a server not yet upgraded", aFirst, onlyA, false, nil},
				{"a value from step 2 opens on a server still at step 1, as stale", bFirst, aFirst, true, nil},
				{"a value from step 1 opens during step 2, as stale", aFirst, bFirst, true, nil},
				{"an A value opens during step 2, as stale", onlyA, bFirst, true, nil},
				{"a value from step 2 opens after step 3 as current", bFirst, onlyB, false, nil},
				{"an A value no longer opens once A is removed", onlyA, onlyB, false, ErrUnknownKey},
				{"a value from step 1 no longer opens once A is removed", aFirst, onlyB, false, ErrUnknownKey},
				{"a B value does not open where B was never configured", onlyB, onlyA, false, ErrUnknownKey},
			}
			for _, tt := range tests {
				got, stale, err := tt.to.Decode("n", encode(tt.from))
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) || got != nil {
						t.Errorf("%s: got %q, %v; want %v", tt.name, got, err, tt.wantErr)
					}
					continue
				}
				if err != nil || stale != tt.wantStale || string(got) != "payload" {
					t.Errorf("%s: got %q, stale %v, %v; want stale %v", tt.name, got, stale, err, tt.wantStale)
				}
			}
			// Re-issuing a stale value moves it to the current key.
			got, stale, err := bFirst.Decode("n", encode(onlyA))
			if err != nil || !stale {
				t.Fatalf("stale value: %v, stale %v", err, stale)
			}
			reissued, err := bFirst.Encode("n", got, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, stale, err := onlyB.Decode("n", reissued); err != nil || stale {
				t.Fatalf("re-issued value under B alone: stale %v, %v", stale, err)
			}
		})
	}
}

func TestSecretRules(t *testing.T) {
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			if _, err := k.new(); err == nil {
				t.Error("no secret accepted")
			}
			if _, err := k.new(make([]byte, MinSecretSize-1)); err == nil {
				t.Error("a 31-byte secret accepted")
			}
			if _, err := k.new(testSecret(1), testSecret(2), testSecret(1)); err == nil {
				t.Error("a repeated secret accepted")
			}
			if _, err := k.new(testSecret(1), nil); err == nil {
				t.Error("a nil secret accepted")
			}
			if _, err := k.new(make([]byte, MinSecretSize)); err != nil {
				t.Errorf("a 32-byte secret refused: %v", err)
			}
			if _, err := k.new(testSecret(1), testSecret(2), bytes.Repeat([]byte{3}, 64)); err != nil {
				t.Errorf("three distinct secrets refused: %v", err)
			}
		})
	}
}

func TestKeyIDIsDerivedNotCopied(t *testing.T) {
	secret := testSecret(7)
	want, err := hkdf.Key(sha256.New, secret, nil, keyIDInfo, keyIDSize)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(secret, want) {
		t.Fatal("the key ID is a piece of the secret")
	}
	sealer, _ := NewSealer(secret)
	signer, _ := NewSigner(secret)
	sealed, _ := sealer.Encode("n", nil, time.Hour)
	signed, _ := signer.Encode("n", nil, time.Hour)
	rawSealed, _ := b64.DecodeString(sealed)
	rawSigned, _ := b64.DecodeString(signed[1:])
	if !bytes.Equal(rawSealed[1:5], want) || !bytes.Equal(rawSigned[1:5], want) {
		t.Fatalf("key IDs %x (sealed) and %x (signed), want %x", rawSealed[1:5], rawSigned[1:5], want)
	}
}

func TestOversizedPayloadIsRefused(t *testing.T) {
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			c := mustCodec(t, k, testSecret(1))
			const name = "__Host-prefs"
			fits := func(n int) bool {
				_, err := c.Encode(name, make([]byte, n), time.Hour)
				if err != nil && !errors.Is(err, ErrTooLarge) {
					t.Fatal(err)
				}
				return err == nil
			}
			lo, hi := 0, MaxSize // fits(lo), !fits(hi)
			for hi-lo > 1 {
				if mid := (lo + hi) / 2; fits(mid) {
					lo = mid
				} else {
					hi = mid
				}
			}
			v, err := c.Encode(name, make([]byte, lo), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(name) + 1 + len(v); n > MaxSize || n < MaxSize-3 {
				t.Fatalf("largest value that fits gives name=value of %d bytes", n)
			}
			// It fits on its own, but not with the attributes.
			if _, err := (Attributes{}).Cookie(name, v, time.Hour); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("a cookie of %d bytes plus attributes: error %v, want ErrTooLarge", len(v), err)
			}
			if got, _, err := c.Decode(name, v); err != nil || len(got) != lo {
				t.Fatalf("largest value does not decode: %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestCodecsDoNotAcceptEachOthersValues(t *testing.T) {
	sealer, _ := NewSealer(testSecret(1))
	signer, _ := NewSigner(testSecret(1))
	sealed, _ := sealer.Encode("n", []byte("x"), time.Hour)
	signed, _ := signer.Encode("n", []byte("x"), time.Hour)
	refused(t, signer, "n", sealed, "a sealed value given to a Signer")
	refused(t, sealer, "n", signed, "a signed value given to a Sealer")
}

func TestZeroCodecsFailWithoutPanicking(t *testing.T) {
	for _, c := range []Codec{&Sealer{}, &Signer{}} {
		if _, err := c.Encode("n", nil, time.Hour); !errors.Is(err, ErrInvalid) {
			t.Errorf("%T: Encode error %v, want ErrInvalid", c, err)
		}
	}
	sealer, _ := NewSealer(testSecret(1))
	signer, _ := NewSigner(testSecret(1))
	sealed, _ := sealer.Encode("n", []byte("x"), time.Hour)
	signed, _ := signer.Encode("n", []byte("x"), time.Hour)
	if _, _, err := (&Sealer{}).Decode("n", sealed); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("zero Sealer: %v", err)
	}
	if _, _, err := (&Signer{}).Decode("n", signed); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("zero Signer: %v", err)
	}
}

// TestKnownValues decodes values made by earlier builds, so a change to
// the wire format or key derivation cannot silently log every user out
// of their cookies. Sealed values of both formats open whichever format
// the Sealer writes.
func TestKnownValues(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		kind  codecKind
		value string
	}{
		{codecKinds[0], knownSealed},
		{codecKinds[0], knownSealedV2},
		{codecKinds[2], knownSealed},
		{codecKinds[2], knownSealedV2},
		{codecKinds[1], knownSigned},
	} {
		c := mustCodec(t, tt.kind, testSecret(2), testSecret(1))
		setClock(c, func() time.Time { return at })
		got, stale, err := c.Decode("__Host-prefs", tt.value)
		if err != nil || !stale || string(got) != knownPayload {
			t.Errorf("%s: got %q, stale %v, %v; want %q, stale", tt.kind.name, got, stale, err, knownPayload)
		}
		setClock(c, func() time.Time { return at.Add(365 * 24 * time.Hour) })
		if _, _, err := c.Decode("__Host-prefs", tt.value); !errors.Is(err, ErrExpired) {
			t.Errorf("%s: a year later: %v, want ErrExpired", tt.kind.name, err)
		}
	}
}

// Values made with testSecret(1) for "__Host-prefs" at 2030-01-01 with a
// 30-day ttl: knownSealed in sealed format version 1 (XChaCha20-Poly1305),
// knownSealedV2 in version 2 (AES-256-GCM under the day's key).
const (
	knownPayload  = `{"theme":"dark","lang":"fr"}`
	knownSealed   = "AcnZU1Gbwr20h3jTf67RAef1bjXLeFbqdQSHg3OHGz-SZJYojinXn4O7aMmBTxY5T2DxlzWbJpk-Z5NOqOxlO-Tmu3GKiG77rs3ghiiMXDdA"
	knownSealedV2 = "AsnZU1EAAFWbz9tSCiWmuPdAERGhyaQVC7TN2dynThe9_UemmHeSZ0Ic0V8mHWssNi5bplWvQdgNNrPNcoC_X1jfhBipSnVG8A"
	knownSigned   = "eyJ0aGVtZSI6ImRhcmsiLCJsYW5nIjoiZnIifQ.AcnZU1EAAAAAcQNlgJUvP4eUko38gl0oWekLaub4kt4Zt0gFZNFCeLLDalb_"
)

func TestConcurrentUse(t *testing.T) {
	for _, k := range codecKinds {
		c := mustCodec(t, k, testSecret(1), testSecret(2))
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 50 {
					payload := []byte(strings.Repeat(itoa(g), i))
					v, err := c.Encode("n", payload, time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					got, _, err := c.Decode("n", v)
					if err != nil || !bytes.Equal(got, payload) {
						t.Errorf("%s: got %q, %v; want %q", k.name, got, err, payload)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
