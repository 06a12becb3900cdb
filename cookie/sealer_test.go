package cookie

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// newSealerAt returns a Sealer of the given format whose clock reads *now.
func newSealerAt(t *testing.T, format byte, now *time.Time, secrets ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	s.format = format
	s.now = func() time.Time { return *now }
	return s
}

func TestSealerWritesVersion2WhereAESIsInHardware(t *testing.T) {
	s, err := NewSealer(testSecret(1))
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Encode("n", []byte("x"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b64.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	want := byte(sealV1)
	if hardwareAESGCM {
		want = sealV2
	}
	if raw[0] != want {
		t.Fatalf("format version %d, want %d (AES hardware: %v)", raw[0], want, hardwareAESGCM)
	}
}

func TestSealedFormatsOpenEachOther(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	a, b := testSecret(1), testSecret(2)
	v1 := newSealerAt(t, sealV1, &now, a, b)
	v2 := newSealerAt(t, sealV2, &now, a, b)
	v2Rotated := newSealerAt(t, sealV2, &now, b, a)
	payload := []byte(`{"theme":"dark"}`)
	for _, tt := range []struct {
		name      string
		from, to  *Sealer
		wantStale bool
	}{
		{"version 1 opens where version 2 is written", v1, v2, false},
		{"version 2 opens where version 1 is written", v2, v1, false},
		{"version 1 under an old key is stale", v1, v2Rotated, true},
		{"version 2 under an old key is stale", v2, v2Rotated, true},
	} {
		v, err := tt.from.Encode("n", payload, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got, stale, err := tt.to.Decode("n", v)
		if err != nil || stale != tt.wantStale || !bytes.Equal(got, payload) {
			t.Errorf("%s: %q, stale %v, %v", tt.name, got, stale, err)
		}
	}
}

func TestSealedValueLengths(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		format   byte
		overhead int
		empty    int // characters of a value with an empty payload
	}{{sealV2, 45, 60}, {sealV1, 53, 71}} {
		s := newSealerAt(t, tt.format, &now, testSecret(1))
		for _, n := range []int{0, 1, 2, 3, 200} {
			v, err := s.Encode("n", make([]byte, n), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if want := b64.EncodedLen(tt.overhead + n); len(v) != want {
				t.Errorf("version %d, %d-byte payload: %d characters, want %d", tt.format, n, len(v), want)
			}
			if n == 0 && len(v) != tt.empty {
				t.Errorf("version %d, empty payload: %d characters, want %d", tt.format, len(v), tt.empty)
			}
		}
	}
}

// A value sealed on one day opens on later days, under the key of the
// day it was sealed, until its own expiry.
func TestValuesOpenOnLaterDays(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 23, 59, 59, 0, time.UTC)
	now := t0
	s := newSealerAt(t, sealV2, &now, testSecret(1))
	values := map[time.Duration]string{}
	for _, d := range []time.Duration{0, time.Second, 24 * time.Hour, 400 * 24 * time.Hour} {
		now = t0.Add(d)
		v, err := s.Encode("n", []byte("x"), 1000*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		values[d] = v
	}
	if values[0][:12] == values[time.Second][:12] {
		t.Fatal("values sealed on two days name the same day")
	}
	// A Sealer on another server, which has seen none of these days.
	now = t0.Add(500 * 24 * time.Hour)
	other := newSealerAt(t, sealV2, &now, testSecret(1))
	for d, v := range values {
		if got, stale, err := other.Decode("n", v); err != nil || stale || string(got) != "x" {
			t.Errorf("value sealed %v after t0, opened 500 days later: %q, stale %v, %v", d, got, stale, err)
		}
	}
	now = t0.Add(1001 * 24 * time.Hour)
	if _, _, err := other.Decode("n", values[0]); !errors.Is(err, ErrExpired) {
		t.Errorf("past its expiry: %v, want ErrExpired", err)
	}
}

// Day keys are kept only for values that proved authentic, and never
// more than maxDayKeys of them.
func TestDayKeysAreBounded(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSealerAt(t, sealV2, &now, testSecret(1))
	k := s.keys[0]
	v, err := s.Encode("n", []byte("x"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n := k.nDays.Load(); n != 1 {
		t.Fatalf("after sealing on one day: %d day keys, want 1", n)
	}
	raw, _ := b64.DecodeString(v)
	for day := range uint32(50) {
		forged := bytes.Clone(raw)
		forged[5], forged[6], forged[7], forged[8] = 0, 1, 0, byte(day)
		refused(t, s, "n", b64.EncodeToString(forged), "a value naming another day")
	}
	if n := k.nDays.Load(); n != 1 {
		t.Fatalf("after 50 forged days: %d day keys, want 1", n)
	}
	for range maxDayKeys + 10 {
		now = now.Add(24 * time.Hour)
		if _, err := s.Encode("n", []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := k.nDays.Load(); n > maxDayKeys {
			t.Fatalf("%d day keys kept, more than %d", n, maxDayKeys)
		}
	}
	// The first day's key was dropped; its value still opens.
	now = time.Date(2030, 1, 1, 0, 30, 0, 0, time.UTC)
	if got, _, err := s.Decode("n", v); err != nil || string(got) != "x" {
		t.Fatalf("value of a forgotten day: %q, %v", got, err)
	}
}

// Nonces come from a batch of random bytes kept with each scratch space;
// none may ever be handed out twice.
func TestNoncesNeverRepeat(t *testing.T) {
	for _, format := range []byte{sealV2, sealV1} {
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		s := newSealerAt(t, format, &now, testSecret(1))
		header, nonceLen := sealV2Header, sealV2Nonce
		if format == sealV1 {
			header, nonceLen = sealV1Header, sealV1Nonce
		}
		seen := map[string]bool{}
		for range 3 * nonceBatch {
			v, err := s.Encode("n", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := b64.DecodeString(v)
			nonce := string(raw[header : header+nonceLen])
			if seen[nonce] {
				t.Fatalf("version %d: nonce %x used twice", format, nonce)
			}
			seen[nonce] = true
		}
	}
}
