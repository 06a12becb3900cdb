package dbsc_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/internal/testclock"
	"github.com/httpstate/httpstate/session/dbsc"
	"github.com/httpstate/httpstate/session/dbsc/dbsctest"
)

func secret(b byte) []byte { return bytes.Repeat([]byte{b}, dbsc.MinSecretSize) }

// clock is a settable time source for challengers.
type clock = testclock.Clock

func newChallenger(t testing.TB, clk *clock, secrets ...[]byte) *dbsc.Challenger {
	t.Helper()
	if len(secrets) == 0 {
		secrets = [][]byte{secret(1)}
	}
	c, err := dbsc.NewChallenger(secrets, dbsc.ChallengerOptions{TTL: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// keys are made once: RSA generation is slow.
var (
	keysOnce sync.Once
	esA, esB *dbsctest.Key
	rsA      *dbsctest.Key
)

func testKeys(t testing.TB) {
	keysOnce.Do(func() {
		var err error
		if esA, err = dbsctest.NewKey(dbsc.ES256); err == nil {
			if esB, err = dbsctest.NewKey(dbsc.ES256); err == nil {
				rsA, err = dbsctest.NewKey(dbsc.RS256)
			}
		}
		if err != nil {
			panic(err)
		}
	})
}

func TestRegistrationHeaderValue(t *testing.T) {
	for _, tc := range []struct {
		r    dbsc.Registration
		want string
	}{
		{dbsc.Registration{Path: "/dbsc/register", Challenge: "abc"}, `(ES256 RS256);path="/dbsc/register";challenge="abc"`},
		{dbsc.Registration{Algorithms: []dbsc.Algorithm{dbsc.ES256}, Path: "reg", Challenge: "cv", Authorization: "ac"}, `(ES256);path="reg";challenge="cv";authorization="ac"`},
		{dbsc.Registration{Path: `/a"b\c`}, `(ES256 RS256);path="/a\"b\\c"`},
	} {
		got, err := tc.r.HeaderValue()
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %q, %v; want %q", tc.r, got, err, tc.want)
		}
		// A browser reads back what was written.
		back, err := dbsc.ParseRegistrations(http.Header{dbsc.HeaderRegistration: {got}})
		if err != nil || len(back) != 1 || back[0].Path != tc.r.Path || back[0].Challenge != tc.r.Challenge || back[0].Authorization != tc.r.Authorization {
			t.Errorf("round trip of %q: %+v, %v", got, back, err)
		}
	}
	for _, bad := range []dbsc.Registration{
		{},
		{Path: "/r", Algorithms: []dbsc.Algorithm{"none"}},
		{Path: "/r", Algorithms: []dbsc.Algorithm{"HS256"}},
		{Path: "/r\n"},
		{Path: "/r", Challenge: "é"},
	} {
		if _, err := bad.HeaderValue(); !errors.Is(err, dbsc.ErrMalformed) {
			t.Errorf("%+v: err %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseRegistrationsAsABrowser(t *testing.T) {
	// Section 7.9: skip what is not usable, keep the rest.
	h := http.Header{dbsc.HeaderRegistration: {
		`(ES256 XX512);path="reg1";challenge="cv1";authorization="a", ES256;path="skip-not-inner"`,
		`(RS256);challenge="no-path", (RS256);path="reg2";challenge=1, (RS256);path="reg3"`,
	}}
	got, err := dbsc.ParseRegistrations(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Path != "reg1" || len(got[0].Algorithms) != 1 || got[0].Authorization != "a" || got[1].Path != "reg3" {
		t.Fatalf("got %+v", got)
	}
}

func TestChallengeHeader(t *testing.T) {
	v, err := dbsc.ChallengeHeaderValue("c1", "session 1")
	if err != nil || v != `"c1";id="session 1"` {
		t.Fatalf("got %q, %v", v, err)
	}
	h := http.Header{dbsc.HeaderChallenge: {v, `"c2";id="s2", "c3", c4;id="s4", "c5";id=5`}}
	got, err := dbsc.ParseChallenges(h)
	if err != nil || len(got) != 2 || got[0] != (dbsc.Challenge{Value: "c1", SessionID: "session 1"}) || got[1].SessionID != "s2" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := dbsc.ChallengeHeaderValue("", "s"); !errors.Is(err, dbsc.ErrMalformed) {
		t.Errorf("empty challenge: %v", err)
	}
}

func TestSessionIDHeader(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   string
		ok     bool
	}{
		{[]string{`"session-id"`}, "session-id", true},
		{[]string{`s1`}, "s1", true}, // what Chromium 156 sends
		{[]string{`"a b";x=1`}, "a b", true},
		{[]string{`sid;foo`}, "sid", true},
		{nil, "", false},
		{[]string{``}, "", false},
		{[]string{`""`}, "", false},
		{[]string{`(s1)`}, "", false},
		{[]string{`42`}, "", false},
		{[]string{`"a", "b"`}, "", false},
		{[]string{`s1`, `s2`}, "", false},
		{[]string{`"unterminated`}, "", false},
	} {
		h := http.Header{}
		for _, v := range tc.values {
			h.Add(dbsc.HeaderSessionID, v)
		}
		got, err := dbsc.SessionID(h)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("%q: got %q, %v", tc.values, got, err)
		}
		if err != nil && !errors.Is(err, dbsc.ErrMalformed) {
			t.Errorf("%q: error %v does not wrap ErrMalformed", tc.values, err)
		}
	}
}

// registration builds the pieces of one registration attempt.
type registration struct {
	proof, binding, authorization string
	algs                          []dbsc.Algorithm
}

func TestRegistrationProofs(t *testing.T) {
	testKeys(t)
	clk := testclock.New(time.Unix(1_800_000_000, 0))
	c := newChallenger(t, clk)
	other := newChallenger(t, clk, secret(9))
	ch := func(binding string) string {
		s, err := c.Issue(binding)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	must := func(s string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	otherServer, _ := other.Issue("login-1")
	stale := ch("login-1")
	clk.Advance(2 * time.Minute) // past the TTL for stale
	good := ch("login-1")

	// forged: the victim's jwk in the header, signed by another key.
	victimProof := must(esA.RegistrationProof(good, ""))
	forged := splice(victimProof, must(esB.RegistrationProof(good, "")))

	for _, tc := range []struct {
		name string
		reg  registration
		want error
	}{
		{"es256", registration{proof: must(esA.RegistrationProof(good, "")), binding: "login-1"}, nil},
		{"rs256", registration{proof: must(rsA.RegistrationProof(good, "")), binding: "login-1"}, nil},
		{"authorization", registration{proof: must(esA.RegistrationProof(good, "code")), binding: "login-1", authorization: "code"}, nil},
		{"forged signature", registration{proof: forged, binding: "login-1"}, dbsc.ErrSignature},
		{"tampered payload", registration{proof: tamperPayload(t, must(esA.RegistrationProof(good, "")), `{"jti":"`+ch("login-1")+`"}`), binding: "login-1"}, dbsc.ErrSignature},
		{"challenge of another login", registration{proof: must(esA.RegistrationProof(ch("login-2"), "")), binding: "login-1"}, dbsc.ErrChallenge},
		{"challenge of another server", registration{proof: must(esA.RegistrationProof(otherServer, "")), binding: "login-1"}, dbsc.ErrChallenge},
		{"made-up challenge", registration{proof: must(esA.RegistrationProof("c1", "")), binding: "login-1"}, dbsc.ErrChallenge},
		{"stale challenge", registration{proof: must(esA.RegistrationProof(stale, "")), binding: "login-1"}, dbsc.ErrExpired},
		{"algorithm not offered", registration{proof: must(rsA.RegistrationProof(good, "")), binding: "login-1", algs: []dbsc.Algorithm{dbsc.ES256}}, dbsc.ErrAlgorithm},
		{"alg none", registration{proof: rewriteHeader(t, must(esA.RegistrationProof(good, "")), `"alg":"ES256"`, `"alg":"none"`), binding: "login-1"}, dbsc.ErrAlgorithm},
		{"alg says RS256, key is EC", registration{proof: rewriteHeader(t, must(esA.RegistrationProof(good, "")), `"alg":"ES256"`, `"alg":"RS256"`), binding: "login-1"}, dbsc.ErrAlgorithm},
		{"wrong typ", registration{proof: rewriteHeader(t, must(esA.RegistrationProof(good, "")), `"typ":"dbsc+jwt"`, `"typ":"JWT"`), binding: "login-1"}, dbsc.ErrMalformed},
		{"no jwk", registration{proof: must(esA.RefreshProof(good)), binding: "login-1"}, dbsc.ErrMalformed},
		{"authorization missing", registration{proof: must(esA.RegistrationProof(good, "")), binding: "login-1", authorization: "code"}, dbsc.ErrAuthorization},
		{"authorization differs", registration{proof: must(esA.RegistrationProof(good, "other")), binding: "login-1", authorization: "code"}, dbsc.ErrAuthorization},
		{"authorization unexpected", registration{proof: must(esA.RegistrationProof(good, "code")), binding: "login-1"}, dbsc.ErrAuthorization},
		{"two parts", registration{proof: "a.b", binding: "login-1"}, dbsc.ErrMalformed},
		{"padded base64", registration{proof: must(esA.RegistrationProof(good, "")) + "=", binding: "login-1"}, dbsc.ErrMalformed},
		{"DER signature", registration{proof: derSignature(t, must(esA.RegistrationProof(good, ""))), binding: "login-1"}, dbsc.ErrSignature},
		{"empty", registration{binding: "login-1"}, dbsc.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.Registration(tc.reg.proof, tc.reg.binding, tc.reg.authorization, tc.reg.algs)
			if tc.want == nil {
				if err != nil || v.Key == nil || !v.ChallengeIssued.Equal(clk.Now()) {
					t.Fatalf("got %+v, %v", v, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRefreshProofs(t *testing.T) {
	testKeys(t)
	clk := testclock.New(time.Unix(1_800_000_000, 0))
	c := newChallenger(t, clk)
	must := func(s string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The session registered esA; its last answered challenge is last.
	last := must(c.Issue("sess-1"))
	lastIssued, err := c.Verify(last, "sess-1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	stale := must(c.Issue("sess-1"))
	clk.Advance(30 * time.Second)
	older := must(c.Issue("sess-1")) // issued before the accepted one below
	fresh := must(c.Issue("sess-1"))
	accepted, err := c.Refresh(must(esA.RefreshProof(fresh)), "sess-1", esA.Public, lastIssued)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(40 * time.Second) // stale is now 70s old, past the 1-minute TTL
	next := must(c.Issue("sess-1"))
	esPub := esA.Public

	for _, tc := range []struct {
		name     string
		proof    string
		binding  string
		key      *dbsc.PublicKey
		notAfter time.Time
		want     error
	}{
		{"fresh", must(esA.RefreshProof(next)), "sess-1", esPub, accepted.ChallengeIssued, nil},
		{"replayed", must(esA.RefreshProof(fresh)), "sess-1", esPub, accepted.ChallengeIssued, dbsc.ErrReplayed},
		{"older than the last answered", must(esA.RefreshProof(older)), "sess-1", esPub, accepted.ChallengeIssued, dbsc.ErrReplayed},
		{"stale", must(esA.RefreshProof(stale)), "sess-1", esPub, lastIssued, dbsc.ErrExpired},
		{"wrong key", must(esB.RefreshProof(next)), "sess-1", esPub, accepted.ChallengeIssued, dbsc.ErrSignature},
		{"wrong algorithm", must(rsA.RefreshProof(next)), "sess-1", esPub, accepted.ChallengeIssued, dbsc.ErrAlgorithm},
		{"rs256 session, es256 proof", must(esA.RefreshProof(next)), "sess-1", rsA.Public, accepted.ChallengeIssued, dbsc.ErrAlgorithm},
		{"jwk in refresh", must(esA.RegistrationProof(next, "")), "sess-1", esPub, accepted.ChallengeIssued, dbsc.ErrMalformed},
		{"other session's challenge", must(esA.RefreshProof(must(c.Issue("sess-2")))), "sess-1", esPub, accepted.ChallengeIssued, dbsc.ErrChallenge},
		{"forged challenge", must(esA.RefreshProof(flipChallenge(next))), "sess-1", esPub, accepted.ChallengeIssued, dbsc.ErrChallenge},
		{"no key", must(esA.RefreshProof(next)), "sess-1", nil, accepted.ChallengeIssued, dbsc.ErrKey},
		{"garbage", "not a jwt", "sess-1", esPub, accepted.ChallengeIssued, dbsc.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.Refresh(tc.proof, tc.binding, tc.key, tc.notAfter)
			if tc.want == nil {
				if err != nil || !v.ChallengeIssued.After(tc.notAfter) || !v.Key.Equal(tc.key) {
					t.Fatalf("got %+v, %v", v, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestChallengerRotationAndUniqueness(t *testing.T) {
	clk := testclock.New(time.Unix(1_800_000_000, 0))
	old := newChallenger(t, clk, secret(1))
	rotated := newChallenger(t, clk, secret(2), secret(1))
	retired := newChallenger(t, clk, secret(2))
	ch, err := old.Issue("s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Verify(ch, "s", time.Time{}); err != nil {
		t.Errorf("a rotated challenger refuses a challenge of its old secret: %v", err)
	}
	if _, err := retired.Verify(ch, "s", time.Time{}); !errors.Is(err, dbsc.ErrChallenge) {
		t.Errorf("a retired secret's challenge: %v", err)
	}
	// The clock stands still, yet every challenge gets its own issue time,
	// so answering one never makes another look replayed or new.
	seen := map[int64]bool{}
	for range 100 {
		ch, _ := old.Issue("s")
		at, err := old.Verify(ch, "s", time.Time{})
		if err != nil || seen[at.UnixNano()] {
			t.Fatalf("issue time %v repeated or refused: %v", at, err)
		}
		seen[at.UnixNano()] = true
	}
	if _, err := dbsc.NewChallenger([][]byte{make([]byte, 31)}, dbsc.ChallengerOptions{}); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
	if _, err := old.Issue(""); err == nil {
		t.Error("a challenge without binding was issued")
	}
	clk.Advance(-2 * time.Minute)
	if _, err := old.Verify(ch, "s", time.Time{}); !errors.Is(err, dbsc.ErrChallenge) {
		t.Errorf("a challenge from two minutes in the future: %v", err)
	}
}

func TestThumbprintRFC7638(t *testing.T) {
	// The example key of RFC 7638 section 3.1 and its thumbprint.
	n := "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	k, err := dbsc.ParseJWK([]byte(`{"kty":"RSA","n":"`+n+`","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`), dbsc.RS256)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Thumbprint(); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %s", got)
	}
	back, err := dbsc.ParseJWK(k.MarshalJWK(), dbsc.RS256)
	if err != nil || !back.Equal(k) || back.Thumbprint() != k.Thumbprint() {
		t.Fatalf("stored form does not round-trip: %v", err)
	}
}

func TestParseJWKRefuses(t *testing.T) {
	testKeys(t)
	ec := string(esA.Public.MarshalJWK())
	for _, tc := range []struct {
		name, jwk string
		alg       dbsc.Algorithm
		want      error
	}{
		{"off-curve point", `{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}`, dbsc.ES256, dbsc.ErrKey},
		{"private key", strings.Replace(ec, `"kty"`, `"d":"AAAA","kty"`, 1), dbsc.ES256, dbsc.ErrKey},
		{"P-384", strings.Replace(ec, "P-256", "P-384", 1), dbsc.ES256, dbsc.ErrAlgorithm},
		{"EC key for RS256", ec, dbsc.RS256, dbsc.ErrAlgorithm},
		{"alg member disagrees", ec, dbsc.RS256, dbsc.ErrAlgorithm},
		{"short RSA", `{"kty":"RSA","n":"` + strings.Repeat("A", 170) + `w","e":"AQAB"}`, dbsc.RS256, dbsc.ErrMalformed},
		{"RSA 1024", `{"kty":"RSA","n":"` + b64(bytes.Repeat([]byte{0xff}, 128)) + `","e":"AQAB"}`, dbsc.RS256, dbsc.ErrKey},
		{"exponent 3", `{"kty":"RSA","n":"` + b64(bytes.Repeat([]byte{0xff}, 256)) + `","e":"Aw"}`, dbsc.RS256, dbsc.ErrKey},
		{"not JSON", `{`, dbsc.ES256, dbsc.ErrMalformed},
		{"none", ec, "none", dbsc.ErrAlgorithm},
	} {
		if _, err := dbsc.ParseJWK([]byte(tc.jwk), tc.alg); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestInstructionsJSON(t *testing.T) {
	cred, err := dbsc.CookieCredential(&http.Cookie{Name: "__Host-bound", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 300})
	if err != nil {
		t.Fatal(err)
	}
	in := dbsc.Instructions{
		SessionIdentifier: "s1",
		RefreshURL:        "/dbsc/refresh",
		Scope:             dbsc.Scope{Rules: []dbsc.ScopeRule{{Type: "exclude", Domain: "*", Path: "/static"}}},
		Credentials:       []dbsc.Credential{cred},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"session_identifier":"s1","refresh_url":"/dbsc/refresh","scope":{"include_site":false,"scope_specification":[{"type":"exclude","domain":"*","path":"/static"}]},"credentials":[{"type":"cookie","name":"__Host-bound","attributes":"Path=/; Secure; HttpOnly; SameSite=Lax"}]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	back, err := dbsc.ParseInstructions(b)
	if err != nil || back.SessionIdentifier != "s1" || back.Credentials[0] != cred {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	end, _ := json.Marshal(dbsc.Instructions{SessionIdentifier: "s1", Terminate: true})
	if string(end) != `{"session_identifier":"s1","continue":false}` {
		t.Fatalf("terminate: %s", end)
	}
	if got, err := dbsc.ParseInstructions(end); err != nil || !got.Terminate || got.SessionIdentifier != "s1" {
		t.Fatalf("parse terminate: %+v, %v", got, err)
	}
	if err := (dbsc.Instructions{Terminate: true}).Validate(); !errors.Is(err, dbsc.ErrMalformed) {
		t.Fatalf("a termination without the session's identifier validates: %v", err)
	}
	for _, bad := range []string{
		`{"scope":{"include_site":false},"credentials":[{"type":"cookie","name":"b"}]}`,
		`{"session_identifier":"s","scope":{"include_site":false},"credentials":[]}`,
		`{"session_identifier":"s","credentials":[{"type":"cookie","name":"b"}]}`,
		`{"session_identifier":"s","scope":{},"credentials":[{"type":"token","name":"b"}]}`,
		`{"session_identifier":"s","scope":{},"credentials":[{"type":"cookie","name":"b","attributes":"Secure; Partitioned"}]}`,
		`{"session_identifier":"s","session_identifier":"t","scope":{},"credentials":[{"type":"cookie","name":"b"}]}`,
		`[]`, `{"continue":"no"}`, `{"continue":false}`, `{"session_identifier":"","continue":false}`,
	} {
		if _, err := dbsc.ParseInstructions([]byte(bad)); !errors.Is(err, dbsc.ErrMalformed) {
			t.Errorf("%s: err %v", bad, err)
		}
	}
	if _, err := dbsc.CookieCredential(&http.Cookie{Name: "b", Partitioned: true}); !errors.Is(err, dbsc.ErrMalformed) {
		t.Errorf("partitioned credential: %v", err)
	}
}

// splice puts the signature of b under the header and payload of a.
func splice(a, b string) string {
	return a[:strings.LastIndexByte(a, '.')] + b[strings.LastIndexByte(b, '.'):]
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func parts(t *testing.T, jws string) [3][]byte {
	t.Helper()
	var out [3][]byte
	for i, p := range strings.Split(jws, ".") {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func tamperPayload(t *testing.T, jws, payload string) string {
	p := parts(t, jws)
	return b64(p[0]) + "." + b64([]byte(payload)) + "." + b64(p[2])
}

func rewriteHeader(t *testing.T, jws, old, repl string) string {
	p := parts(t, jws)
	h := strings.Replace(string(p[0]), old, repl, 1)
	if h == string(p[0]) {
		t.Fatalf("%q not in header %s", old, p[0])
	}
	return b64([]byte(h)) + "." + b64(p[1]) + "." + b64(p[2])
}

// derSignature re-encodes an ES256 signature as ASN.1 DER, which JWS
// forbids; some libraries emit it by mistake.
func derSignature(t *testing.T, jws string) string {
	p := parts(t, jws)
	r, s := p[2][:32], p[2][32:]
	der := []byte{0x30, byte(4 + 33 + 33), 0x02, 33, 0}
	der = append(der, r...)
	der = append(der, 0x02, 33, 0)
	der = append(der, s...)
	return b64(p[0]) + "." + b64(p[1]) + "." + b64(der)
}

// flipChallenge changes one character of a challenge's tag.
func flipChallenge(c string) string {
	b := []byte(c)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}
