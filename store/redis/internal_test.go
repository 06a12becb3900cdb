package redis

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name    string
		version uint64
		expiry  int64
		user    string
		data    []byte
	}{
		{"anonymous and empty", 0, 1, "", nil},
		{"user and data", 41, 1_800_000_000_123, "alice", []byte("cart")},
		{"binary user", 7, 1, "\x00\xff{tag}", []byte{0, 1, 2}},
		{"largest version before overflow", math.MaxUint64 - 1, math.MaxInt64, "u", []byte("x")},
	} {
		t.Run(c.name, func(t *testing.T) {
			buf, n := encode(c.version, c.expiry, c.user, c.data)
			if got := buf[n:]; !bytes.Equal(got, be64(c.version)) {
				t.Fatalf("expected-version suffix = %x; want %x", got, be64(c.version))
			}
			rec, err := decode("id", string(buf[:n]))
			if err != nil {
				t.Fatal(err)
			}
			if rec.ID != "id" || rec.Version != c.version+1 || rec.Expiry.UnixMilli() != c.expiry ||
				rec.UserID != c.user || !bytes.Equal(rec.Data, c.data) {
				t.Fatalf("decode(encode) = %+v", rec)
			}
		})
	}
}

func be64(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func TestDecodeRejectsMalformedValues(t *testing.T) {
	valid, n := encode(1, 1, "user", []byte("data"))
	valid = valid[:n]
	for name, v := range map[string]string{
		"empty":             "",
		"header one short":  string(valid[:recordHeader-1]),
		"wrong format":      "\x02" + string(valid[1:]),
		"version zero":      string(valid[:1]) + strings.Repeat("\x00", 8) + string(valid[9:]),
		"user past the end": string(valid[:17]) + "\x00\x00\x01\x00" + string(valid[21:]),
		"user length max":   string(valid[:17]) + "\xff\xff\xff\xff" + string(valid[21:]),
	} {
		if _, err := decode("id", v); err != errCorrupt {
			t.Errorf("%s: decode = %v; want errCorrupt", name, err)
		}
	}
}

// FuzzDecode feeds arbitrary stored values to the decoder: whatever is
// under a record key (another program's data, a damaged value) must give
// an error, never a panic, and what decodes must encode back to itself.
func FuzzDecode(f *testing.F) {
	for _, rec := range []struct {
		user string
		data string
	}{{"", ""}, {"alice", `{"cart":[1]}`}, {"ユーザー", "\x00\xff"}} {
		buf, n := encode(3, 1_800_000_000_000, rec.user, []byte(rec.data))
		f.Add(buf[:n])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decode("id", string(b))
		if err != nil {
			return
		}
		buf, n := encode(rec.Version-1, rec.Expiry.UnixMilli(), rec.UserID, rec.Data)
		if !bytes.Equal(buf[:n], b) {
			t.Fatalf("decode then encode changed the value:\n in  %x\n out %x", b, buf[:n])
		}
	})
}

func TestRecentWritesRememberForOneToTwoTTLs(t *testing.T) {
	const ttl = time.Minute
	r := newRecentWrites(ttl)
	has := func(id string) bool { _, ok := r.get(id); return ok }
	r.add("a", written{version: 3})
	if !has("a") || has("b") {
		t.Fatal("a fresh write is not remembered, or an unknown one is")
	}
	// Age the generations by moving their start back, instead of waiting.
	r.since = r.since.Add(-ttl)
	if !has("a") {
		t.Fatal("forgot a write after one rotation; it must last at least one TTL")
	}
	r.add("b", written{version: 1})
	r.since = r.since.Add(-ttl)
	if has("a") {
		t.Fatal("remembered a write for more than two TTLs")
	}
	if !has("b") {
		t.Fatal("forgot a write one rotation old")
	}
	r.since = r.since.Add(-2 * ttl)
	if has("b") {
		t.Fatal("remembered a write across a long idle period")
	}
}

func TestRecentWritesJudgeCachedAnswers(t *testing.T) {
	r := newRecentWrites(time.Minute)
	r.add("a", written{version: 5})
	r.add("a", written{version: 4}) // a lost swap that had loaded version 3
	w, _ := r.get("a")
	for _, c := range []struct {
		found   bool
		version uint64
		fresh   bool
	}{{true, 5, true}, {true, 6, true}, {true, 4, false}, {false, 0, false}} {
		if got := w.fresh(c.found, c.version); got != c.fresh {
			t.Errorf("after writing version 5, a cached answer (found %t, version %d) fresh = %t", c.found, c.version, got)
		}
	}
	r.add("a", written{deleted: true})
	w, _ = r.get("a")
	if w.fresh(true, 9) || !w.fresh(false, 0) {
		t.Error("after a delete, only an absent record is fresh")
	}
	r.add("a", written{version: 1}) // created again
	if w, _ = r.get("a"); !w.fresh(true, 1) || w.fresh(false, 0) {
		t.Error("a record created after a delete")
	}
}

func testStore(t *testing.T) *Store {
	t.Helper()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{testenv.RedisAddr}})
	testenv.Require(t, "redis", err)
	t.Cleanup(client.Close)
	prefix := "httpstate-test:" + storetest.NewID()[:16] + ":"
	s, err := New(client, WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var cursor uint64
		for {
			e, err := client.Do(c, client.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Errorf("deleting the test's keys: %v", err)
				return
			}
			for _, k := range e.Elements {
				client.Do(c, client.B().Del().Key(k).Build())
			}
			if cursor = e.Cursor; cursor == 0 {
				return
			}
		}
	})
	return s
}

// unindex runs after a record left a user, but not atomically with that:
// if the record has come back to the user by the time the entry is
// removed, unindex must put the entry back.
func TestUnindexRestoresAnEntryWhoseRecordCameBack(t *testing.T) {
	s := testStore(t)
	ctx := t.Context()
	back := session.Record{ID: storetest.NewID(), UserID: "alice", Expiry: time.Now().Add(time.Hour)}
	gone := session.Record{ID: storetest.NewID(), UserID: "bob", Expiry: time.Now().Add(time.Hour)}
	for _, r := range []session.Record{back, gone} {
		if err := s.Save(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// As if gone had belonged to alice before bob, and back had moved
	// away from alice and returned before the removal ran.
	s.run(ctx, call{indexScript, s.indexKey("alice"), []string{gone.ID, "99999999999999"}})
	s.unindex(ctx, "alice", back.ID)
	s.unindex(ctx, "alice", gone.ID)
	ids, err := s.client.Do(ctx, s.client.B().Zrange().Key(s.indexKey("alice")).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != back.ID {
		t.Fatalf("alice's index = %v; want only the record that is hers", ids)
	}
}
