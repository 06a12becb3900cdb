package session

import (
	"bytes"
	"net/http"
	"testing"
)

// FuzzDecodeState feeds arbitrary record data to the decoder: it must
// never panic, and whatever it accepts must re-encode to the same bytes
// (one spelling per state, so nothing can hide in a record).
func FuzzDecodeState(f *testing.F) {
	st := state{remember: true, created: 1700000000000, seen: 1700000001000, agent: "Mozilla/5.0", ip: "203.0.113.7",
		values: []kv{{"cart", []byte(`[1,2]`)}, {"theme", []byte(`"dark"`)}}, flashes: []Flash{{"info", "hi"}}}
	f.Add(st.encode(nil))
	f.Add((&state{}).encode(nil))
	f.Add([]byte{formatTombstone})
	f.Add([]byte{formatV1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeState(data)
		if err != nil {
			return
		}
		if again := st.encode(nil); !bytes.Equal(again, data) {
			t.Fatalf("decode/encode changed the record:\n in %x\nout %x", data, again)
		}
	})
}

// FuzzRequestToken covers everything the middleware reads from a request
// before touching the store: Cookie headers and Authorization headers.
// Only a canonical 43-character base64url token may produce a store ID.
func FuzzRequestToken(f *testing.F) {
	f.Add("__Host-session=" + newToken())
	f.Add("a=1; __Host-session=\"x\"; __Host-session=" + newToken() + "; b=2")
	f.Add("__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add("__Host-session=;;;; ;=;=\x00\xff")
	f.Add("Bearer " + newToken())
	f.Fuzz(func(t *testing.T, header string) {
		h := http.Header{"Cookie": {header}, "Authorization": {header}}
		cookieValues(h, "__Host-session", func(v string) bool {
			if id := idFromToken(v); id != "" && (len(v) != tokenLen || len(id) != 43) {
				t.Fatalf("token %q accepted with ID %q", v, id)
			}
			return false
		})
		if tok := bearerToken(h); tok != "" {
			idFromToken(tok)
		}
	})
}
