package refresh

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseRefreshToken: only the canonical spelling of a refresh token
// reaches the store.
func FuzzParseRefreshToken(f *testing.F) {
	id, _ := newSecret()
	secret, _ := newSecret()
	f.Add(id + "." + secret)
	f.Add(id + "." + secret[:42] + "B")
	f.Add(id + ":" + secret)
	f.Add(strings.Repeat("A", 43) + "." + strings.Repeat("_", 43))
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		family, _, ok := parseToken(tok)
		if !ok {
			return
		}
		if len(tok) != tokenLen || family != tok[:secretLen] || tok[secretLen] != '.' {
			t.Fatalf("accepted %q", tok)
		}
		// One spelling per token: each half re-encodes to itself.
		for _, half := range []string{tok[:secretLen], tok[secretLen+1:]} {
			raw, err := base64.RawURLEncoding.DecodeString(half)
			if err != nil || len(raw) != secretBytes || base64.RawURLEncoding.EncodeToString(raw) != half {
				t.Fatalf("accepted %q, whose %q is not the canonical spelling of 32 bytes", tok, half)
			}
		}
	})
}

// FuzzDecodeFamily: a family record comes from a store, which may be
// shared over a network. Whatever decodes must hold hashes of the right
// size within the bounds, so that matching a secret against it can
// neither panic nor match a truncated hash, and must encode again.
func FuzzDecodeFamily(f *testing.F) {
	_, h := newSecret()
	good, err := json.Marshal(familyData{Format: 1, Current: h, Previous: [][]byte{h}, Last: h, Rotated: 1, Created: 1, Used: 2, Ends: 3, Rotations: 1, Extra: json.RawMessage(`{"scope":"a"}`)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"v":1,"cur":"AAAA"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"cur":"` + strings.Repeat("A", 43) + `=","last":"AA==","prev":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fam, err := decodeFamily(b)
		if err != nil {
			return
		}
		if len(fam.Current) != sha256.Size || (len(fam.Last) != 0 && len(fam.Last) != sha256.Size) || len(fam.Previous) > maxPrevious || fam.Rotations < 0 {
			t.Fatalf("accepted %s as %+v", b, fam)
		}
		var probe [sha256.Size]byte
		copy(probe[:], fam.Current)
		if matchSecret(&fam, probe) != secretCurrent {
			t.Fatalf("the current hash of %s does not match itself", b)
		}
		again, err := json.Marshal(fam)
		if err != nil {
			t.Fatalf("decoded %s but cannot encode it: %v", b, err)
		}
		if back, err := decodeFamily(again); err != nil || !bytes.Equal(back.Current, fam.Current) {
			t.Fatalf("re-encoded %s does not decode the same: %v", again, err)
		}
	})
}
