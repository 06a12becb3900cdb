// Package storetest checks that a session.Store honours the contract written
// in its doc comments, the way testing/fstest.TestFS checks an fs.FS.
//
// A store's test file calls TestStore against a real server:
//
//	func TestConformance(t *testing.T) {
//		storetest.TestStore(t, func(t *testing.T) session.Store {
//			return newIsolatedStore(t) // own table, key prefix or database
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
)

// Increments is the shape of the concurrent-increment check: Writers
// goroutines each add one to a shared counter Each times through
// compare-and-swap saves; the counter must end at exactly Writers*Each.
const (
	Writers = 20
	Each    = 100
)

// TestStore runs the conformance suite. newStore is called once per subtest
// and must return a store isolated from every other subtest and test run
// (its own table, key prefix or database), so subtests can run in parallel
// against a shared server. TestStore registers no cleanup of its own: the
// factory should close the store with t.Cleanup.
func TestStore(t *testing.T, newStore func(t *testing.T) session.Store) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newStore(t))
		})
	}
}

var cases = []struct {
	name string
	run  func(*testing.T, session.Store)
}{
	{"LoadOfUnknownIDIsNotFound", loadUnknown},
	{"SavedRecordLoadsBackIntact", roundTrip},
	{"LoadedDataIsNeverWrittenAgain", loadedDataStable},
	{"VersionCountsSaves", versionCounts},
	{"StaleVersionConflictsAndChangesNothing", staleVersion},
	{"NewRecordOverLiveOneConflicts", newOverLive},
	{"DeleteIsIdempotentAndForbidsResurrection", deleteForbidsResurrection},
	{"ExpiredRecordIsAbsentEverywhere", expiredAbsent},
	{"PastExpiryIsRejected", pastExpiryRejected},
	{"UserIndexFollowsSavesAndDeletes", userIndex},
	{"AnonymousRecordsAreNotIndexed", anonymousNotIndexed},
	{"LargeValueOfOneMebibyte", largeValue},
	{"BinaryAndUnicodeDataSurvive", binaryAndUnicode},
	{"ConcurrentIncrementsEndExact", concurrentIncrements},
	{"ConcurrentWritersOfDistinctRecords", concurrentDistinct},
	{"DeleteExpiredRemovesOnlyExpired", deleteExpired},
	{"CanceledContextIsAnErrorNotNotFound", canceledContext},
}

// NewID returns a fresh random record ID in the shape the Manager uses.
func NewID() string {
	var tok [32]byte
	rand.Read(tok[:])
	sum := sha256.Sum256(tok[:])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newUser() string { return "user-" + NewID()[:12] }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func live() time.Time { return time.Now().Add(time.Hour) }

func mustSave(t *testing.T, s session.Store, rec session.Record) {
	t.Helper()
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatalf("Save(%s, version %d): %v", short(rec.ID), rec.Version, err)
	}
}

func mustLoad(t *testing.T, s session.Store, id string) session.Record {
	t.Helper()
	rec, err := s.Load(ctx(t), id)
	if err != nil {
		t.Fatalf("Load(%s): %v", short(id), err)
	}
	return rec
}

func wantNotFound(t *testing.T, s session.Store, id string) {
	t.Helper()
	rec, err := s.Load(ctx(t), id)
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Load(%s) = version %d, %v; want ErrNotFound", short(id), rec.Version, err)
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func ids(recs []session.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func loadUnknown(t *testing.T, s session.Store) {
	wantNotFound(t, s, NewID())
}

func roundTrip(t *testing.T, s session.Store) {
	exp := time.Now().Add(90 * time.Minute).Round(time.Millisecond)
	in := session.Record{ID: NewID(), UserID: newUser(), Expiry: exp, Data: []byte(`{"cart":[1,2,3]}`)}
	mustSave(t, s, in)
	got := mustLoad(t, s, in.ID)
	if got.ID != in.ID || got.UserID != in.UserID || got.Version != 1 || !bytes.Equal(got.Data, in.Data) {
		t.Fatalf("Load = {ID %s, UserID %q, Version %d, Data %q}; want {%s, %q, 1, %q}",
			short(got.ID), got.UserID, got.Version, got.Data, short(in.ID), in.UserID, in.Data)
	}
	if d := got.Expiry.Sub(exp).Abs(); d > time.Millisecond {
		t.Fatalf("Expiry came back %v off (%v, want %v); the contract asks for millisecond precision", d, got.Expiry, exp)
	}
}

// loadedDataStable checks the other half of Record.Data's contract: the
// Manager keeps slices of a loaded record (values, user agent) for the
// rest of the request, so a store must never write into a slice it has
// handed out, for example by reusing a buffer for a later load or save.
func loadedDataStable(t *testing.T, s session.Store) {
	rec := session.Record{ID: NewID(), Expiry: live(), Data: bytes.Repeat([]byte("a"), 512)}
	mustSave(t, s, rec)
	first := mustLoad(t, s, rec.ID)
	want := bytes.Clone(first.Data)
	saved := bytes.Clone(rec.Data)
	for i := range 5 {
		next := mustLoad(t, s, rec.ID)
		next.Data = bytes.Repeat([]byte{byte('b' + i)}, 512)
		mustSave(t, s, next)
		mustLoad(t, s, rec.ID)
	}
	if !bytes.Equal(first.Data, want) {
		t.Fatalf("the Data of an earlier Load changed under its caller after later saves and loads: now %.20q…", first.Data)
	}
	if !bytes.Equal(rec.Data, saved) {
		t.Fatalf("the Data passed to an earlier Save changed under its caller: now %.20q…", rec.Data)
	}
}

func versionCounts(t *testing.T, s session.Store) {
	rec := session.Record{ID: NewID(), Expiry: live(), Data: []byte("v")}
	for want := uint64(1); want <= 5; want++ {
		mustSave(t, s, rec)
		rec = mustLoad(t, s, rec.ID)
		if rec.Version != want {
			t.Fatalf("after %d saves Version = %d", want, rec.Version)
		}
	}
}

func staleVersion(t *testing.T, s session.Store) {
	rec := session.Record{ID: NewID(), Expiry: live(), Data: []byte("first")}
	mustSave(t, s, rec)
	v1 := mustLoad(t, s, rec.ID)
	a, b := v1, v1
	a.Data = []byte("winner")
	b.Data = []byte("loser")
	mustSave(t, s, a)
	if err := s.Save(ctx(t), b); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save with stale version 1 after version 2 was stored = %v; want ErrConflict", err)
	}
	got := mustLoad(t, s, rec.ID)
	if got.Version != 2 || string(got.Data) != "winner" {
		t.Fatalf("after a lost compare-and-swap Load = version %d %q; want version 2 %q", got.Version, got.Data, "winner")
	}
	// A version from the future is just as stale.
	c := got
	c.Version = 9
	if err := s.Save(ctx(t), c); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save with version 9 when 2 is stored = %v; want ErrConflict", err)
	}
}

func newOverLive(t *testing.T, s session.Store) {
	rec := session.Record{ID: NewID(), Expiry: live(), Data: []byte("one")}
	mustSave(t, s, rec)
	rec.Data = []byte("two")
	if err := s.Save(ctx(t), rec); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save with version 0 over a live record = %v; want ErrConflict", err)
	}
	if got := mustLoad(t, s, rec.ID); string(got.Data) != "one" {
		t.Fatalf("record was overwritten by a conflicting save: %q", got.Data)
	}
}

func deleteForbidsResurrection(t *testing.T, s session.Store) {
	if err := s.Delete(ctx(t), NewID()); err != nil {
		t.Fatalf("Delete of an unknown ID = %v; want nil", err)
	}
	user := newUser()
	rec := session.Record{ID: NewID(), UserID: user, Expiry: live(), Data: []byte("x")}
	mustSave(t, s, rec)
	loaded := mustLoad(t, s, rec.ID)
	if err := s.Delete(ctx(t), rec.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Delete(ctx(t), rec.ID); err != nil {
		t.Fatalf("second Delete = %v; want nil", err)
	}
	wantNotFound(t, s, rec.ID)
	loaded.Data = []byte("resurrected")
	if err := s.Save(ctx(t), loaded); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save of a version loaded before Delete = %v; want ErrConflict", err)
	}
	wantNotFound(t, s, rec.ID)
	list, err := s.ListByUser(ctx(t), user)
	if err != nil || len(list) != 0 {
		t.Fatalf("ListByUser after Delete = %v, %v; want empty", ids(list), err)
	}
}

// waitPast blocks until the wall clock is past t. There is no event to wait
// for: expiry is defined by the clock.
func waitPast(t time.Time) {
	time.Sleep(time.Until(t) + 20*time.Millisecond)
}

func expiredAbsent(t *testing.T, s session.Store) {
	user := newUser()
	exp := time.Now().Add(1200 * time.Millisecond)
	rec := session.Record{ID: NewID(), UserID: user, Expiry: exp, Data: []byte("short-lived")}
	keep := session.Record{ID: NewID(), UserID: user, Expiry: live(), Data: []byte("long-lived")}
	mustSave(t, s, rec)
	mustSave(t, s, keep)
	loaded := mustLoad(t, s, rec.ID)
	waitPast(exp)
	wantNotFound(t, s, rec.ID)
	list, err := s.ListByUser(ctx(t), user)
	if err != nil {
		t.Fatalf("ListByUser: %v", err)
	}
	if got := ids(list); !slices.Equal(got, []string{keep.ID}) {
		t.Fatalf("ListByUser after expiry = %v; want only the live record %v", got, []string{keep.ID})
	}
	loaded.Expiry = live()
	if err := s.Save(ctx(t), loaded); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save of an expired record's version = %v; want ErrConflict (expired means absent)", err)
	}
	// An expired ID is free again for a brand-new record.
	fresh := session.Record{ID: rec.ID, Expiry: live(), Data: []byte("new")}
	mustSave(t, s, fresh)
	if got := mustLoad(t, s, rec.ID); got.Version != 1 || string(got.Data) != "new" {
		t.Fatalf("new record under an expired ID loaded as version %d %q", got.Version, got.Data)
	}
}

func pastExpiryRejected(t *testing.T, s session.Store) {
	for _, exp := range []time.Time{{}, time.Now().Add(-time.Second)} {
		rec := session.Record{ID: NewID(), Expiry: exp, Data: []byte("x")}
		if err := s.Save(ctx(t), rec); err == nil || errors.Is(err, session.ErrConflict) {
			t.Fatalf("Save with Expiry %v = %v; want a plain error", exp, err)
		}
		wantNotFound(t, s, rec.ID)
	}
}

func userIndex(t *testing.T, s session.Store) {
	u1, u2, nobody := newUser(), newUser(), newUser()
	a := session.Record{ID: NewID(), UserID: u1, Expiry: live(), Data: []byte("a")}
	b := session.Record{ID: NewID(), UserID: u1, Expiry: live(), Data: []byte("b")}
	c := session.Record{ID: NewID(), UserID: u2, Expiry: live(), Data: []byte("c")}
	for _, r := range []session.Record{a, b, c} {
		mustSave(t, s, r)
	}
	list := func(u string) []string {
		t.Helper()
		recs, err := s.ListByUser(ctx(t), u)
		if err != nil {
			t.Fatalf("ListByUser: %v", err)
		}
		for _, r := range recs {
			if r.UserID != u {
				t.Fatalf("ListByUser(%q) returned a record of %q", u, r.UserID)
			}
			if r.Version == 0 || len(r.Data) == 0 {
				t.Fatalf("ListByUser returned an incomplete record: version %d, %d data bytes", r.Version, len(r.Data))
			}
		}
		return ids(recs)
	}
	if got, want := list(u1), sorted(a.ID, b.ID); !slices.Equal(got, want) {
		t.Fatalf("ListByUser(u1) = %v; want %v", got, want)
	}
	if got := list(nobody); len(got) != 0 {
		t.Fatalf("ListByUser(unknown user) = %v; want empty", got)
	}
	// Moving b to u2 (a login as someone else) moves its index entry.
	b = mustLoad(t, s, b.ID)
	b.UserID = u2
	mustSave(t, s, b)
	if got, want := list(u1), []string{a.ID}; !slices.Equal(got, want) {
		t.Fatalf("after moving b, ListByUser(u1) = %v; want %v", got, want)
	}
	if got, want := list(u2), sorted(b.ID, c.ID); !slices.Equal(got, want) {
		t.Fatalf("after moving b, ListByUser(u2) = %v; want %v", got, want)
	}
	// Logging out of an account (UserID cleared) removes the entry too.
	c = mustLoad(t, s, c.ID)
	c.UserID = ""
	mustSave(t, s, c)
	if got, want := list(u2), []string{b.ID}; !slices.Equal(got, want) {
		t.Fatalf("after clearing c's user, ListByUser(u2) = %v; want %v", got, want)
	}
	if err := s.Delete(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	if got := list(u1); len(got) != 0 {
		t.Fatalf("after Delete, ListByUser(u1) = %v; want empty", got)
	}
}

func anonymousNotIndexed(t *testing.T, s session.Store) {
	mustSave(t, s, session.Record{ID: NewID(), Expiry: live(), Data: []byte("anon")})
	recs, err := s.ListByUser(ctx(t), "")
	if err != nil || len(recs) != 0 {
		t.Fatalf("ListByUser(\"\") = %d records, %v; want none: anonymous sessions have no index", len(recs), err)
	}
}

func largeValue(t *testing.T, s session.Store) {
	data := make([]byte, 1<<20)
	rand.Read(data)
	rec := session.Record{ID: NewID(), UserID: newUser(), Expiry: live(), Data: data}
	mustSave(t, s, rec)
	got := mustLoad(t, s, rec.ID)
	if !bytes.Equal(got.Data, data) {
		t.Fatalf("1 MiB value came back as %d bytes, different", len(got.Data))
	}
	got.Data = data[:10]
	mustSave(t, s, got)
	if got := mustLoad(t, s, rec.ID); !bytes.Equal(got.Data, data[:10]) {
		t.Fatalf("shrinking a large value: got %d bytes", len(got.Data))
	}
}

func binaryAndUnicode(t *testing.T, s session.Store) {
	data := make([]byte, 0, 512)
	for i := range 256 {
		data = append(data, byte(i), byte(255-i))
	}
	data = append(data, "\x00\xff\xfe 日本語 😀 \u202e'\";--"...)
	user := "ユーザー 😀 O'Brien \"quoted\" ; DROP TABLE sessions; --" + newUser()
	rec := session.Record{ID: NewID(), UserID: user, Expiry: live(), Data: data}
	mustSave(t, s, rec)
	got := mustLoad(t, s, rec.ID)
	if !bytes.Equal(got.Data, data) || got.UserID != user {
		t.Fatalf("binary/unicode round trip changed the record: user %q, %d bytes", got.UserID, len(got.Data))
	}
	list, err := s.ListByUser(ctx(t), user)
	if err != nil || len(list) != 1 || list[0].ID != rec.ID {
		t.Fatalf("ListByUser(unicode user) = %v, %v", ids(list), err)
	}
	// Empty data is a valid value too.
	empty := session.Record{ID: NewID(), Expiry: live()}
	mustSave(t, s, empty)
	if got := mustLoad(t, s, empty.ID); len(got.Data) != 0 || got.Version != 1 {
		t.Fatalf("empty Data came back as %d bytes, version %d", len(got.Data), got.Version)
	}
}

// Increment performs one read-modify-write of an 8-byte big-endian counter
// stored in the record's Data, retrying on ErrConflict. It is exported so
// store packages can reuse it in their own benchmarks and tests.
func Increment(ctx context.Context, s session.Store, id string) error {
	for {
		rec, err := s.Load(ctx, id)
		if err != nil {
			return err
		}
		n := binary.BigEndian.Uint64(rec.Data)
		rec.Data = binary.BigEndian.AppendUint64(nil, n+1)
		err = s.Save(ctx, rec)
		if errors.Is(err, session.ErrConflict) {
			continue
		}
		return err
	}
}

func concurrentIncrements(t *testing.T, s session.Store) {
	rec := session.Record{ID: NewID(), UserID: newUser(), Expiry: live(), Data: make([]byte, 8)}
	mustSave(t, s, rec)
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, Writers)
	for range Writers {
		wg.Go(func() {
			for range Each {
				if err := Increment(c, s, rec.ID); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("increment: %v", err)
	}
	got := mustLoad(t, s, rec.ID)
	if n := binary.BigEndian.Uint64(got.Data); n != Writers*Each {
		t.Fatalf("%d writers x %d increments ended at %d; want %d (updates were lost)", Writers, Each, n, Writers*Each)
	}
	if got.Version != Writers*Each+1 {
		t.Fatalf("Version = %d after %d saves", got.Version, Writers*Each+1)
	}
}

func concurrentDistinct(t *testing.T, s session.Store) {
	user := newUser()
	const n = 32
	recs := make([]session.Record, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range recs {
		recs[i] = session.Record{ID: NewID(), UserID: user, Expiry: live(), Data: fmt.Appendf(nil, "record %d", i)}
		wg.Go(func() {
			if err := s.Save(ctx(t), recs[i]); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Save: %v", err)
	}
	list, err := s.ListByUser(ctx(t), user)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(list), ids(recs); !slices.Equal(got, want) {
		t.Fatalf("ListByUser after %d concurrent saves has %d records", n, len(got))
	}
	for i, r := range recs {
		if got := mustLoad(t, s, r.ID); string(got.Data) != fmt.Sprintf("record %d", i) {
			t.Fatalf("record %d holds %q", i, got.Data)
		}
	}
}

func deleteExpired(t *testing.T, s session.Store) {
	user := newUser()
	exp := time.Now().Add(1200 * time.Millisecond)
	var dead []string
	for range 5 {
		r := session.Record{ID: NewID(), UserID: user, Expiry: exp, Data: []byte("dead")}
		mustSave(t, s, r)
		dead = append(dead, r.ID)
	}
	keep := session.Record{ID: NewID(), UserID: user, Expiry: live(), Data: []byte("alive")}
	mustSave(t, s, keep)
	waitPast(exp)
	n, err := s.DeleteExpired(ctx(t), 2)
	if err != nil {
		t.Fatalf("DeleteExpired(2): %v", err)
	}
	if n > 2 {
		t.Fatalf("DeleteExpired(2) removed %d records; the limit is 2", n)
	}
	for {
		m, err := s.DeleteExpired(ctx(t), 0)
		if err != nil {
			t.Fatalf("DeleteExpired(0): %v", err)
		}
		if m == 0 {
			break
		}
	}
	for _, id := range dead {
		wantNotFound(t, s, id)
	}
	if got := mustLoad(t, s, keep.ID); string(got.Data) != "alive" {
		t.Fatalf("DeleteExpired damaged a live record: %q", got.Data)
	}
	list, err := s.ListByUser(ctx(t), user)
	if err != nil || !slices.Equal(ids(list), []string{keep.ID}) {
		t.Fatalf("ListByUser after DeleteExpired = %v, %v; want only the live record", ids(list), err)
	}
}

func canceledContext(t *testing.T, s session.Store) {
	rec := session.Record{ID: NewID(), UserID: newUser(), Expiry: live(), Data: []byte("x")}
	mustSave(t, s, rec)
	c, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrConflict) {
			t.Errorf("%s with a canceled context = %v; want an error that is neither ErrNotFound nor ErrConflict", op, err)
		}
	}
	_, err := s.Load(c, rec.ID)
	check("Load", err)
	check("Save", s.Save(c, session.Record{ID: NewID(), Expiry: live()}))
	_, err = s.ListByUser(c, rec.UserID)
	check("ListByUser", err)
	check("Delete", s.Delete(c, rec.ID))
	// The record must have survived the canceled Delete.
	mustLoad(t, s, rec.ID)
}
