package memcached

import (
	"bufio"
	"bytes"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		user   string
		data   []byte
		expiry int64
	}{
		{"anonymous with no data", "", nil, 1},
		{"unicode user and binary data", "ユーザー 😀 \"x\"", []byte{0, 1, 0xff, '\n'}, time.Now().UnixMilli()},
		{"negative expiry", "u", []byte("d"), -5},
		{"extreme expiry", "u", []byte("d"), math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeRecord(7, tc.expiry, tc.user, tc.data)
			st, err := decodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if st.version != 7 || st.expiry != tc.expiry || st.userID != tc.user || !bytes.Equal(st.data, tc.data) {
				t.Fatalf("decoded %+v", st)
			}
		})
	}
}

func TestDecodeRecordRejectsDamage(t *testing.T) {
	good := encodeRecord(1, 1000, "user", []byte("data"))
	for name, b := range map[string][]byte{
		"empty":             nil,
		"short header":      good[:recordHeader-1],
		"other format":      append([]byte{9}, good[1:]...),
		"version zero":      encodeRecord(0, 1000, "user", nil),
		"user past the end": good[:recordHeader+3],
		"foreign text":      []byte("a plain string someone else stored"),
	} {
		if _, err := decodeRecord(b); err != errCorrupt {
			t.Errorf("%s: decodeRecord = %v; want errCorrupt", name, err)
		}
	}
}

func TestIndexRoundTrip(t *testing.T) {
	entries := []indexEntry{{storetest.NewID(), 5}, {"", -1}, {strings.Repeat("k", 255), math.MaxInt64}}
	got, err := decodeIndex(encodeIndex(entries))
	if err != nil || !slices.Equal(got, entries) {
		t.Fatalf("decodeIndex(encodeIndex(%v)) = %v, %v", entries, got, err)
	}
	if got, err := decodeIndex(encodeIndex(nil)); err != nil || len(got) != 0 {
		t.Fatalf("empty index decoded as %v, %v", got, err)
	}
	for _, b := range [][]byte{nil, {recordFormat}, {indexFormat, 3, 'a', 'b', 'c', 0, 0, 0}} {
		if _, err := decodeIndex(b); err != errCorrupt {
			t.Errorf("decodeIndex(%q) = %v; want errCorrupt", b, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(1, time.Now().UnixMilli(), "", nil))
	f.Add(encodeRecord(42, 1<<40, "ユーザー 😀", []byte{0, 0xff}))
	f.Add([]byte{recordFormat})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeRecord(b)
		if err != nil {
			return
		}
		// What decodes is exactly what encodes back: no field is read from
		// bytes another field also owns, and nothing is ignored.
		if again := encodeRecord(st.version, st.expiry, st.userID, st.data); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gave %x", b, again)
		}
	})
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add(encodeIndex([]indexEntry{{"abc", 1}, {"", -1}}))
	f.Add([]byte{indexFormat})
	f.Add([]byte{indexFormat, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeIndex(b)
		if err != nil {
			return
		}
		if again := encodeIndex(entries); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gave %x", b, again)
		}
	})
}

func TestExpiration(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	for _, tc := range []struct {
		name string
		left time.Duration
		want int64
	}{
		{"a millisecond is still two seconds", time.Millisecond, 2},
		{"whole seconds get one more than rounding up", 10 * time.Second, 12},
		{"a fraction rounds up", 10*time.Second + time.Millisecond, 12},
		{"thirty days less a second stays relative", 30*24*time.Hour - 2*time.Second, maxRelativeTTL},
		// The server judges a unix time by its own clock, which may be
		// MaxClockSkew ahead.
		{"past thirty days becomes a unix time", 30*24*time.Hour - time.Second, now.Add(30*24*time.Hour-time.Second).Unix() + 2 + 10},
		{"a year is a unix time", 365 * 24 * time.Hour, now.Add(365*24*time.Hour).Unix() + 2 + 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := expiration(now.Add(tc.left), now); int64(got) != tc.want {
				t.Fatalf("expiration(now+%v) = %d; want %d", tc.left, got, tc.want)
			}
		})
	}
	if got := expiration(time.Date(2038, 1, 19, 3, 13, 55, 0, time.UTC), now); got != math.MaxInt32 {
		t.Fatalf("expiration at the last second memcached can say = %d; want %d", got, math.MaxInt32)
	}
	if got := expiration(time.Date(2038, 1, 19, 3, 13, 56, 0, time.UTC), now); got != 0 {
		t.Fatalf("expiration past 2038 = %d; want 0 (no TTL)", got)
	}
	if got := expiration(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), now); got != 0 {
		t.Fatalf("expiration in year 9999 = %d; want 0 (no TTL)", got)
	}
}

// serverTTL asks memcached how many seconds an item has left, with the
// meta get command (memcached 1.6 and later): -1 means no TTL.
func serverTTL(t *testing.T, key string) int64 {
	t.Helper()
	conn, err := net.DialTimeout("tcp", testenv.MemcachedAddr, 5*time.Second)
	testenv.Require(t, "memcached", err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("mg " + key + " t\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, "t"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("meta get answered %q", line)
			}
			return n
		}
	}
	t.Fatalf("meta get answered %q; want the item's TTL", line)
	return 0
}

func TestServerKeepsItemsUntilTheirExpiry(t *testing.T) {
	c := memcache.New(testenv.MemcachedAddr)
	testenv.Require(t, "memcached", c.Ping())
	s, err := New(c, WithKeyPrefix("httpstate-test:"+storetest.NewID()[:16]+":"))
	if err != nil {
		t.Fatal(err)
	}
	for _, left := range []time.Duration{time.Minute, 29 * 24 * time.Hour, 45 * 24 * time.Hour} {
		rec := session.Record{ID: storetest.NewID(), UserID: "u", Expiry: time.Now().Add(left), Data: []byte("x")}
		if err := s.Save(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		key, _ := s.recordKey(rec.ID)
		for name, key := range map[string]string{"record": key, "user index": s.indexKey("u")} {
			// Memcached's answer is in whole seconds of its own clock.
			got := time.Duration(serverTTL(t, key)) * time.Second
			most := left + 3*time.Second
			if left > 30*24*time.Hour {
				most += session.MaxClockSkew // an absolute time, judged by the server's clock
			}
			if got < left-2*time.Second || got > most {
				t.Errorf("%s of a record expiring in %v has a server TTL of %v", name, left, got)
			}
		}
	}
}
