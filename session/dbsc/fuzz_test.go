package dbsc

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"
)

// Every parser of input a client controls is fuzzed here. Each target
// checks that bad input is one of the package's errors, never a panic,
// and that what parses round-trips.

func isOurs(err error) bool {
	for _, e := range []error{ErrMalformed, ErrAlgorithm, ErrKey, ErrSignature, ErrChallenge, ErrExpired, ErrReplayed, ErrAuthorization} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func FuzzParseProof(f *testing.F) {
	f.Add(chromeRegistrationProof)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiZGJzYytqd3QifQ.eyJqdGkiOiJjIn0.")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := ParseProof(token)
		if err != nil {
			if !isOurs(err) {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		if !p.Algorithm.valid() {
			t.Fatalf("accepted algorithm %q", p.Algorithm)
		}
		if p.Key != nil {
			// Verifying with its own key may fail, but never panics, and
			// a key that parsed round-trips through its stored form.
			_ = p.verify(p.Key)
			back, err := ParseJWK(p.Key.MarshalJWK(), p.Algorithm)
			if err != nil || !back.Equal(p.Key) {
				t.Fatalf("key does not round-trip: %v", err)
			}
		}
	})
}

func FuzzSessionID(f *testing.F) {
	f.Add(`"session-id"`)
	f.Add(`s1`)
	f.Add(`"a\"b";p=1`)
	f.Add(`(x)`)
	f.Fuzz(func(t *testing.T, v string) {
		id, err := SessionID(http.Header{HeaderSessionID: {v}})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		if id == "" {
			t.Fatal("empty identifier accepted")
		}
	})
}

func FuzzParseRegistrations(f *testing.F) {
	f.Add(`(ES256 RS256);path="/dbsc/register";challenge="c";authorization="a"`)
	f.Add(`(ES256);path="reg1", (RS256);path="reg2";challenge=1, x`)
	f.Add(`(ES256;p=?1 "s" 12);path="p"`)
	f.Fuzz(func(t *testing.T, v string) {
		regs, err := ParseRegistrations(http.Header{HeaderRegistration: {v}})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		for _, r := range regs {
			if len(r.Algorithms) == 0 || r.Path == "" {
				continue
			}
			// What a browser read, a server can write back identically.
			hv, err := r.HeaderValue()
			if err != nil {
				t.Fatalf("re-serializing %+v: %v", r, err)
			}
			back, err := ParseRegistrations(http.Header{HeaderRegistration: {hv}})
			if err != nil || len(back) != 1 || back[0].Path != r.Path || back[0].Challenge != r.Challenge || back[0].Authorization != r.Authorization {
				t.Fatalf("%q does not round-trip: %+v %v", hv, back, err)
			}
		}
	})
}

func FuzzParseChallenges(f *testing.F) {
	f.Add(`"c1";id="s1", "c2";id="s2"`)
	f.Add(`"c";id=1, tok, ("i")`)
	f.Fuzz(func(t *testing.T, v string) {
		cs, err := ParseChallenges(http.Header{HeaderChallenge: {v}})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		for _, c := range cs {
			if c.Value == "" || c.SessionID == "" {
				continue
			}
			hv, err := ChallengeHeaderValue(c.Value, c.SessionID)
			if err != nil {
				t.Fatalf("re-serializing %+v: %v", c, err)
			}
			back, err := ParseChallenges(http.Header{HeaderChallenge: {hv}})
			if err != nil || len(back) != 1 || back[0] != c {
				t.Fatalf("%q does not round-trip: %+v %v", hv, back, err)
			}
		}
	})
}

func FuzzParseJWK(f *testing.F) {
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"T9Pt-LDA9iLqhbyguI6E35SXZUb5lOhwu1vZ8eJw8Kg","y":"1rVcyUvh6_CgRsjK6_8jprKrRDeNIAcxkdSMJA2hDes"}`), false)
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`), true)
	f.Fuzz(func(t *testing.T, data []byte, rsa bool) {
		alg := ES256
		if rsa {
			alg = RS256
		}
		k, err := ParseJWK(data, alg)
		if err != nil {
			if !isOurs(err) {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		back, err := ParseJWK(k.MarshalJWK(), alg)
		if err != nil || !back.Equal(k) || back.Thumbprint() != k.Thumbprint() {
			t.Fatalf("does not round-trip: %v", err)
		}
	})
}

func FuzzChallengeVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	c, err := NewChallenger([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, ChallengerOptions{Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	valid, _ := c.Issue("s1")
	f.Add(valid, "s1")
	f.Add(valid, "s2")
	f.Add("AQ", "s1")
	f.Fuzz(func(t *testing.T, challenge, binding string) {
		at, err := c.Verify(challenge, binding, time.Time{})
		if err != nil {
			if !isOurs(err) {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		// Only what this Challenger issued verifies, and then again it
		// is refused as answered once its time is recorded.
		if _, err := c.Verify(challenge, binding, at); !errors.Is(err, ErrReplayed) {
			t.Fatalf("second answer: %v", err)
		}
	})
}

func FuzzParseInstructions(f *testing.F) {
	f.Add([]byte(`{"session_identifier":"s1","refresh_url":"/r","scope":{"include_site":false},"credentials":[{"type":"cookie","name":"b","attributes":"Path=/"}]}`))
	f.Add([]byte(`{"continue":false}`))
	f.Add([]byte(`{"session_identifier":"s","scope":{},"credentials":[{"type":"cookie","name":"b"}],"allowed_refresh_initiators":["*.example.com"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParseInstructions(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("foreign error %v", err)
			}
			return
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseInstructions(b)
		if err != nil || back.SessionIdentifier != in.SessionIdentifier || back.Terminate != in.Terminate || len(back.Credentials) != len(in.Credentials) {
			t.Fatalf("%s does not round-trip: %+v %v", b, back, err)
		}
	})
}
