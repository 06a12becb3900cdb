package session

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzDecodeState feeds arbitrary record data to the decoders: they must
// never panic, and whatever they accept in the current format must
// re-encode to the same bytes (one spelling per state, so nothing can
// hide in a record). A record in the previous format must re-encode to a
// current record that decodes to the same state.
func FuzzDecodeState(f *testing.F) {
	st := state{remember: true, created: 1700000000000, seen: 1700000001000, auth: 1700000000000123, agent: []byte("Mozilla/5.0"), ip: []byte("203.0.113.7"),
		values: []kv{{"cart", []byte(`[1,2]`)}, {"theme", []byte(`"dark"`)}}, flashes: []Flash{{"info", "hi"}},
		ext: []extension{{1, []byte("bound")}, {7, nil}}}
	f.Add(st.encode(nil))
	f.Add((&state{}).encode(nil))
	f.Add([]byte{formatTombstone})
	f.Add(tombstone{kind: tombstoneEnded}.encode())
	f.Add(tombstone{kind: tombstoneRenewed, successor: "abc"}.encode())
	f.Add([]byte{formatV1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{formatV1, 1, 1, 2, 3, 'a', 'g', 't', 0, 1, 1, 'k', 1, 'v', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if isTombstone(data) {
			if tb, err := decodeTombstone(data); err == nil && len(data) > 1 && !bytes.Equal(tb.encode(), data) {
				t.Fatalf("tombstone decode/encode changed it:\n in %x\nout %x", data, tb.encode())
			}
			return
		}
		st, err := decodeState(data)
		if err != nil {
			return
		}
		again := st.encode(nil)
		if len(again) != st.size() {
			t.Fatalf("size() = %d; the encoding has %d bytes", st.size(), len(again))
		}
		if data[0] == formatV2 {
			if !bytes.Equal(again, data) {
				t.Fatalf("decode/encode changed the record:\n in %x\nout %x", data, again)
			}
			return
		}
		st2, err := decodeState(again)
		if err != nil {
			t.Fatalf("a version 1 record re-encoded to an unreadable one: %v", err)
		}
		if !bytes.Equal(st2.encode(nil), again) || st2.auth != st.created*1000 {
			t.Fatalf("a version 1 record changed on upgrade:\n in %x\nout %x", data, again)
		}
	})
}

// FuzzRequestToken covers everything the middleware reads from a request
// before touching the store: its Cookie headers. Only a canonical
// 43-character base64url token may produce a store ID.
func FuzzRequestToken(f *testing.F) {
	f.Add("__Host-session=" + newToken())
	f.Add("a=1; __Host-session=\"x\"; __Host-session=" + newToken() + "; b=2")
	f.Add("__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add("__Host-session=;;;; ;=;=\x00\xff")
	f.Fuzz(func(t *testing.T, header string) {
		h := http.Header{"Cookie": {header}}
		cookieValues(h, "__Host-session", func(v string) bool {
			if id := idFromToken(v); id != "" && (len(v) != tokenLen || len(id) != 43 || !ValidID(id)) {
				t.Fatalf("token %q accepted with ID %q", v, id)
			}
			return false
		})
	})
}

// FuzzScalarJSON holds the JSON codec's fast paths to encoding/json: for
// any input, a value the fast decoder accepts must be what json.Unmarshal
// gives, and whatever json.Unmarshal decodes must be encoded exactly as
// json.Marshal would.
func FuzzScalarJSON(f *testing.F) {
	for _, s := range []string{
		`0`, `-0`, `42`, `-7`, `007`, `-`, `1e3`, `1.0`, `+1`, ` 1`, `1 `,
		`9223372036854775807`, `9223372036854775808`, `-9223372036854775809`,
		`true`, `false`, `null`, `True`,
		`""`, `"a b"`, `"<&>"`, `"\u00e9"`, `"é"`, `"\\"`, `"a"b"`, `"`, "\"\x01\"", "\"\xff\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScalar[int](t, data)
		checkScalar[int64](t, data)
		checkScalar[bool](t, data)
		checkScalar[string](t, data)
		// Any string, including ones that are not JSON at all.
		if b, ok := encodeScalar(string(data)); ok {
			if want, _ := json.Marshal(string(data)); !bytes.Equal(b, want) {
				t.Fatalf("encodeScalar(%q) = %s; json.Marshal gives %s", data, b, want)
			}
		}
	})
}

func checkScalar[T comparable](t *testing.T, data []byte) {
	t.Helper()
	var fast T
	if decodeScalar(data, &fast) {
		var want T
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("decodeScalar accepted %q into %T; json.Unmarshal rejects it: %v", data, want, err)
		}
		if fast != want {
			t.Fatalf("decodeScalar(%q) = %v; json.Unmarshal gives %v", data, fast, want)
		}
	}
	var v T
	if json.Unmarshal(data, &v) != nil {
		return
	}
	if b, ok := encodeScalar(v); ok {
		if want, _ := json.Marshal(v); !bytes.Equal(b, want) {
			t.Fatalf("encodeScalar(%v) = %s; json.Marshal gives %s", v, b, want)
		}
	}
}
