package dbsc

import (
	"errors"
	"testing"
)

// chromeRegistrationProof is a registration proof Chromium 156.0.8078.108
// sent (software key, headless) to a test server that offered
// (ES256 RS256);path="/dbsc/register";challenge="c1".
const chromeRegistrationProof = "eyJhbGciOiJFUzI1NiIsImp3ayI6eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6IlQ5UHQtTERBOWlMcWhieWd1STZFMzVTWFpVYjVsT2h3dTF2WjhlSnc4S2ciLCJ5IjoiMXJWY3lVdmg2X0NnUnNqSzZfOGpwcktyUkRlTklBY3hrZFNNSkEyaERlcyJ9LCJ0eXAiOiJkYnNjK2p3dCJ9.eyJqdGkiOiJjMSJ9.lfSuXjB6fShhx2ziCJCc8GqQ26AEaaf59kS9YNFaGRXWYqoX93an0mxHYlyqYiVsSE80zWKcRQ2mziFhpoWjCQ"

func TestChromeProofVerifies(t *testing.T) {
	p, err := ParseProof(chromeRegistrationProof)
	if err != nil {
		t.Fatal(err)
	}
	if p.Algorithm != ES256 || p.Challenge != "c1" || p.HasAuthorization || p.Key == nil {
		t.Fatalf("parsed %+v", p)
	}
	if err := p.verify(p.Key); err != nil {
		t.Fatalf("Chrome's own proof does not verify with its jwk: %v", err)
	}
	// One flipped signature bit must fail.
	p.signature[10] ^= 1
	if err := p.verify(p.Key); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered signature: %v", err)
	}
}

func TestSFParser(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // members, -1 for an error
	}{
		{`(ES256 RS256);path="/r";challenge="c"`, 1},
		{`(ES256);path="a", (RS256);path="b"`, 2},
		{`"c1";id="s1", "c2";id="s2"`, 2},
		{`a;b;c=?0, d=1`, -1}, // '=' without a key
		{`(ES256`, -1},
		{`"unterminated`, -1},
		{`"bad \q escape"`, -1},
		{`1.5`, -1},
		{`x,`, -1},
		{``, 0},
		{`   `, 0},
		{`tok;key=-12;flag`, 1},
	} {
		got, err := parseSFList(tc.in)
		if tc.want < 0 {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("parseSFList(%q): err %v, want ErrMalformed", tc.in, err)
			}
			continue
		}
		if err != nil || len(got) != tc.want {
			t.Errorf("parseSFList(%q) = %d members, %v; want %d", tc.in, len(got), err, tc.want)
		}
	}
}

func TestObjectMembersStrict(t *testing.T) {
	for _, in := range []string{
		`{"a":"x"} x`, `{"a":"x"}{}`, `{"a":"x","a":"y"}`, `["a"]`, `"a"`, `{"a":`, ``, `null`,
	} {
		if _, err := objectMembers([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	m, err := objectMembers([]byte(" {\"a\":\"x\",\"A\":1}\n"))
	if err != nil || len(m) != 2 {
		t.Fatalf("got %v, %v", m, err)
	}
	if _, err := stringMember(m, "A"); err == nil {
		t.Error("a number read as a string")
	}
}
