// Package storetest checks that a session.Store honours the contract written
// in its doc comments, the way testing/fstest.TestFS checks an fs.FS: the
// contract promises nothing this suite does not check, and the suite
// checks nothing the contract does not promise.
//
// A store's test file calls TestStore against a real server:
//
//	func TestConformance(t *testing.T) {
//		storetest.TestStore(t, func(t *testing.T) session.Store {
//			return newIsolatedStore(t) // own table, key prefix or database
//		})
//	}
//
// Besides the store's own methods, the suite runs the races users care
// about through the real session middleware over HTTP on the store under
// test: concurrent increments, logouts and renewals, RevokeAll and Revoke
// racing logins and renewals, saves that fail after writing, application
// clocks that are off by seconds, and device binding (registration,
// refresh, enforcement, and concurrent refreshes answering one
// challenge).
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
)

// The shape of the concurrent-increment checks: writers goroutines each
// add one to a shared counter each times; the counter must end at exactly
// writers*each.
const (
	writers = 20
	each    = 100
)

// TestStore runs the conformance suite. newStore is called once per subtest
// and must return a store isolated from every other subtest and test run
// (its own table, key prefix or database), so subtests can run in parallel
// against a shared server. TestStore registers no cleanup of its own: the
// factory should close the store with t.Cleanup.
func TestStore(t *testing.T, newStore func(t *testing.T) session.Store, opts ...Option) {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	for _, tc := range cases {
		if tc.forgetful && c.forget == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t), &c)
		})
	}
}

// Option declares a documented property of the store under test that the
// suite must take into account.
type Option func(*config)

type config struct {
	forget func(t *testing.T, s session.Store, userID string)
}

// ForgetfulIndex declares that the store's user index can lose entries on
// its own, as a cache that evicts does, which the Store contract allows if
// the store documents it. forget must make the store lose userID's index
// the way it would by itself (for a cache: evict the index item). The
// suite then also checks the weaker promise such a store makes: losing
// the index hides records from ListByUser and nothing else (every record
// still loads, saves and deletes normally, and ListByUser does not fail),
// and a record's next Save lists it again.
func ForgetfulIndex(forget func(t *testing.T, s session.Store, userID string)) Option {
	return func(c *config) { c.forget = forget }
}

// cases is the whole suite, in one list: every promise of the contract and
// the HTTP races of races.go.
var cases = []struct {
	name      string
	run       func(*testing.T, session.Store, *config)
	forgetful bool // only for stores declared with ForgetfulIndex
}{
	{name: "LoadOfUnknownIDIsNotFound", run: loadUnknown},
	{name: "SavedRecordLoadsBackIntact", run: roundTrip},
	{name: "ExpiryKeepsItsMilliseconds", run: expiryMilliseconds},
	{name: "LoadedDataIsNeverWrittenAgain", run: loadedDataStable},
	{name: "VersionCountsSaves", run: versionCounts},
	{name: "StaleVersionConflictsAndChangesNothing", run: staleVersion},
	{name: "NewRecordOverLiveOneConflicts", run: newOverLive},
	{name: "DeleteIsIdempotentAndForbidsResurrection", run: deleteForbidsResurrection},
	{name: "ExpiredRecordIsAbsentEverywhere", run: expiredAbsent},
	{name: "InvalidRecordsAreRefusedAndNeverFound", run: invalidRefused},
	{name: "EveryRecordWithinTheLimitsIsKept", run: limitsKept},
	{name: "UserIndexFollowsSavesAndDeletes", run: userIndex},
	{name: "ListIncludesEverySaveThatReturned", run: listReadsWrites},
	{name: "AnonymousRecordsAreNotIndexed", run: anonymousNotIndexed},
	{name: "LargeValueOfOneMebibyte", run: largeValue},
	{name: "BinaryAndUnicodeDataSurvive", run: binaryAndUnicode},
	{name: "ConcurrentIncrementsEndExact", run: concurrentIncrements},
	{name: "ConcurrentwritersOfDistinctRecords", run: concurrentDistinct},
	{name: "DeleteExpiredRemovesOnlyExpired", run: deleteExpired},
	{name: "CanceledContextIsAnErrorNotNotFound", run: canceledContext},
	{name: "ForgottenIndexOnlyHidesRecords", run: forgottenIndex, forgetful: true},

	{name: "HTTPConcurrentIncrementsEndExact", run: httpIncrements},
	{name: "HTTPConcurrentwritersOfDistinctKeysAllPersist", run: httpDistinctKeys},
	{name: "HTTPLogoutRacingSlowerRequestNeverResurrects", run: httpLogoutRace},
	{name: "HTTPConcurrentRenewalsLeaveExactlyOneToken", run: httpRenewals},
	{name: "HTTPRevokeAllRacingLoginsAndRenewalsLeavesNoSurvivor", run: httpRevokeAllRace},
	{name: "HTTPRevokeRacingRenewalEndsTheDevice", run: httpRevokeRace},
	{name: "HTTPLogoutRacingRenewalEndsBoth", run: httpLogoutRenewalRace},
	{name: "HTTPSavesThatFailAfterWritingLoseNothing", run: httpFailAfterWrite},
	{name: "HTTPAppClockOffBySecondsStillWorks", run: httpClockSkew},
	{name: "HTTPDeviceBindingRegistersRefreshesAndEnforces", run: httpDeviceBinding},
	{name: "HTTPConcurrentRefreshesOfOneChallengeExactlyOneWins", run: httpConcurrentRefreshes},
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

// conflictCarries checks the error of a lost save of id: a plain
// ErrConflict, or a *session.ConflictError that names id and whose record
// is the one Load returns now (or none, if want is nil).
func conflictCarries(t *testing.T, err error, id string, want *session.Record) {
	t.Helper()
	if !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save = %v; want ErrConflict", err)
	}
	var ce *session.ConflictError
	if !errors.As(err, &ce) {
		return
	}
	switch {
	case ce.Current.ID != id:
		t.Fatalf("ConflictError names ID %q; the lost save was of %q", ce.Current.ID, id)
	case want == nil && ce.Found:
		t.Fatalf("ConflictError carries a record (version %d) where none is live", ce.Current.Version)
	case want != nil && !ce.Found:
		t.Fatalf("ConflictError carries no record; version %d is live", want.Version)
	case want != nil && (ce.Current.ID != want.ID || ce.Current.UserID != want.UserID || ce.Current.Version != want.Version ||
		!bytes.Equal(ce.Current.Data, want.Data) || ce.Current.Expiry.Sub(want.Expiry).Abs() > time.Millisecond):
		t.Fatalf("ConflictError carries version %d %q; Load gives version %d %q", ce.Current.Version, ce.Current.Data, want.Version, want.Data)
	}
}

func loadUnknown(t *testing.T, s session.Store, _ *config) {
	wantNotFound(t, s, NewID())
}

func roundTrip(t *testing.T, s session.Store, _ *config) {
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

// expiryMilliseconds checks the precision the contract promises: an Expiry
// comes back within a millisecond, and one that is a few milliseconds
// ahead is not taken as already past.
func expiryMilliseconds(t *testing.T, s session.Store, _ *config) {
	for _, off := range []time.Duration{1234567 * time.Microsecond, time.Hour + 999*time.Millisecond, 90 * 24 * time.Hour} {
		exp := time.Now().Add(off)
		rec := session.Record{ID: NewID(), UserID: newUser(), Expiry: exp, Data: []byte("x")}
		mustSave(t, s, rec)
		got := mustLoad(t, s, rec.ID)
		if d := got.Expiry.Sub(exp); d > time.Millisecond || d < -time.Millisecond {
			t.Fatalf("Expiry %v ahead came back %v off; the contract keeps milliseconds", off, d)
		}
		list, err := s.ListByUser(ctx(t), rec.UserID)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListByUser: %d records, %v", len(list), err)
		}
		if d := list[0].Expiry.Sub(exp); d > time.Millisecond || d < -time.Millisecond {
			t.Fatalf("ListByUser's Expiry came back %v off", d)
		}
	}
}

// loadedDataStable checks the other half of Record.Data's contract: the
// Manager keeps slices of a loaded record (values, user agent) for the
// rest of the request, so a store must never write into a slice it has
// handed out, for example by reusing a buffer for a later load or save.
func loadedDataStable(t *testing.T, s session.Store, _ *config) {
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

func versionCounts(t *testing.T, s session.Store, _ *config) {
	rec := session.Record{ID: NewID(), Expiry: live(), Data: []byte("v")}
	for want := uint64(1); want <= 5; want++ {
		mustSave(t, s, rec)
		rec = mustLoad(t, s, rec.ID)
		if rec.Version != want {
			t.Fatalf("after %d saves Version = %d", want, rec.Version)
		}
	}
}

func staleVersion(t *testing.T, s session.Store, _ *config) {
	rec := session.Record{ID: NewID(), Expiry: live(), Data: []byte("first")}
	mustSave(t, s, rec)
	v1 := mustLoad(t, s, rec.ID)
	a, b := v1, v1
	a.Data = []byte("winner")
	b.Data = []byte("loser")
	mustSave(t, s, a)
	err := s.Save(ctx(t), b)
	got := mustLoad(t, s, rec.ID)
	conflictCarries(t, err, rec.ID, &got)
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

func newOverLive(t *testing.T, s session.Store, _ *config) {
	rec := session.Record{ID: NewID(), Expiry: live(), Data: []byte("one")}
	mustSave(t, s, rec)
	rec.Data = []byte("two")
	err := s.Save(ctx(t), rec)
	got := mustLoad(t, s, rec.ID)
	conflictCarries(t, err, rec.ID, &got)
	if string(got.Data) != "one" {
		t.Fatalf("record was overwritten by a conflicting save: %q", got.Data)
	}
}

func deleteForbidsResurrection(t *testing.T, s session.Store, _ *config) {
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
	conflictCarries(t, s.Save(ctx(t), loaded), loaded.ID, nil)
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

func expiredAbsent(t *testing.T, s session.Store, _ *config) {
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
	conflictCarries(t, s.Save(ctx(t), loaded), loaded.ID, nil) // expired means absent
	// An expired ID is free again for a brand-new record.
	fresh := session.Record{ID: rec.ID, Expiry: live(), Data: []byte("new")}
	mustSave(t, s, fresh)
	if got := mustLoad(t, s, rec.ID); got.Version != 1 || string(got.Data) != "new" {
		t.Fatalf("new record under an expired ID loaded as version %d %q", got.Version, got.Data)
	}
}

func invalidRefused(t *testing.T, s session.Store, _ *config) {
	user := newUser()
	for _, c := range []struct {
		name string
		rec  session.Record
	}{
		{"an empty ID", session.Record{ID: "", Expiry: live()}},
		{"an ID of 65 bytes", session.Record{ID: strings.Repeat("a", session.MaxIDLen+1), Expiry: live()}},
		{"an ID with a space", session.Record{ID: "a b", Expiry: live()}},
		{"an ID with a slash", session.Record{ID: "a/b", Expiry: live()}},
		{"an ID with a NUL byte", session.Record{ID: "a\x00b", Expiry: live()}},
		{"an ID that is not ASCII", session.Record{ID: "é", Expiry: live()}},
		{"a user ID of 256 bytes", session.Record{ID: NewID(), UserID: strings.Repeat("u", session.MaxUserIDLen+1), Expiry: live()}},
		{"a user ID with a NUL byte", session.Record{ID: NewID(), UserID: user + "\x00", Expiry: live()}},
		{"a user ID with a newline", session.Record{ID: NewID(), UserID: user + "\n", Expiry: live()}},
		{"a user ID with a C1 control", session.Record{ID: NewID(), UserID: user + "\u0085", Expiry: live()}},
		{"a user ID that is not UTF-8", session.Record{ID: NewID(), UserID: user + "\xff", Expiry: live()}},
		{"a zero Expiry", session.Record{ID: NewID(), UserID: user}},
		{"an Expiry in the past", session.Record{ID: NewID(), UserID: user, Expiry: time.Now().Add(-time.Second)}},
	} {
		if err := s.Save(ctx(t), c.rec); !errors.Is(err, session.ErrInvalid) {
			t.Errorf("Save of a record with %s = %v; want ErrInvalid", c.name, err)
			continue
		}
		if _, err := s.Load(ctx(t), c.rec.ID); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Load of the refused record with %s = %v; want ErrNotFound", c.name, err)
		}
		if err := s.Delete(ctx(t), c.rec.ID); err != nil {
			t.Errorf("Delete of the refused record with %s = %v; want nil", c.name, err)
		}
		if list, err := s.ListByUser(ctx(t), c.rec.UserID); err != nil || len(list) != 0 {
			t.Errorf("ListByUser after refusing a record with %s = %d records, %v; want none", c.name, len(list), err)
		}
	}
}

// limitsKept saves records at the edges of the contract's limits, which
// every store must keep byte for byte.
func limitsKept(t *testing.T, s session.Store, _ *config) {
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
	longID := (alphabet + alphabet)[:session.MaxIDLen]
	// 127 two-byte runes and one ASCII byte: 255 bytes, the limit.
	longUser := strings.Repeat("ü", (session.MaxUserIDLen-1)/2) + NewID()[:1]
	if len(longUser) != session.MaxUserIDLen || !session.ValidID(longID) || !session.ValidUserID(longUser) {
		t.Fatalf("test setup: ID %d bytes, user %d bytes", len(longID), len(longUser))
	}
	for _, rec := range []session.Record{
		{ID: longID, UserID: longUser, Expiry: live(), Data: []byte("longest ID and user")},
		{ID: "~", UserID: "日本語 😀 " + newUser(), Expiry: live(), Data: []byte("shortest ID")},
		{ID: NewID(), UserID: newUser(), Expiry: live(), Data: bytes.Repeat([]byte{0xa5}, session.MaxDataLen)},
	} {
		s.Delete(ctx(t), rec.ID) // the fixed IDs may remain from an earlier run
		mustSave(t, s, rec)
		got := mustLoad(t, s, rec.ID)
		if got.ID != rec.ID || got.UserID != rec.UserID || !bytes.Equal(got.Data, rec.Data) {
			t.Fatalf("a record at the limits (ID %d bytes, user %d bytes, %d data bytes) came back changed", len(rec.ID), len(rec.UserID), len(rec.Data))
		}
		list, err := s.ListByUser(ctx(t), rec.UserID)
		if err != nil || !slices.Equal(ids(list), []string{rec.ID}) {
			t.Fatalf("ListByUser of a user ID of %d bytes = %v, %v", len(rec.UserID), ids(list), err)
		}
		if err := s.Delete(ctx(t), rec.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func userIndex(t *testing.T, s session.Store, _ *config) {
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

// listReadsWrites checks what revocation relies on: a record whose Save
// has returned is in the very next ListByUser of its user, from any
// goroutine, however many saves run at once.
func listReadsWrites(t *testing.T, s session.Store, _ *config) {
	const goroutines, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() {
			user := newUser()
			saved := []string{}
			for range rounds {
				rec := session.Record{ID: NewID(), UserID: user, Expiry: live(), Data: []byte("r")}
				if err := s.Save(ctx(t), rec); err != nil {
					errs <- err
					return
				}
				saved = append(saved, rec.ID)
				list, err := s.ListByUser(ctx(t), user)
				if err != nil {
					errs <- err
					return
				}
				if got := ids(list); !slices.Equal(got, sorted(slices.Clone(saved)...)) {
					errs <- fmt.Errorf("ListByUser right after the %dth Save returned lists %d records; want all %d", len(saved), len(got), len(saved))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// forgottenIndex checks the weaker promise of a store declared with
// ForgetfulIndex.
func forgottenIndex(t *testing.T, s session.Store, c *config) {
	user := newUser()
	a := session.Record{ID: NewID(), UserID: user, Expiry: live(), Data: []byte("a")}
	b := session.Record{ID: NewID(), UserID: user, Expiry: live(), Data: []byte("b")}
	mustSave(t, s, a)
	mustSave(t, s, b)
	c.forget(t, s, user)
	list, err := s.ListByUser(ctx(t), user)
	if err != nil {
		t.Fatalf("ListByUser after the index was forgotten = %v; want a (possibly short) list and no error", err)
	}
	for _, r := range list {
		if r.ID != a.ID && r.ID != b.ID {
			t.Fatalf("ListByUser after forgetting lists a record it never had: %s", short(r.ID))
		}
	}
	// The records themselves are untouched.
	a = mustLoad(t, s, a.ID)
	b = mustLoad(t, s, b.ID)
	// A Save lists the record again.
	a.Data = []byte("a2")
	mustSave(t, s, a)
	list, err = s.ListByUser(ctx(t), user)
	if err != nil || !slices.Contains(ids(list), a.ID) {
		t.Fatalf("ListByUser after a Save of a forgotten record = %v, %v; want it listed again", ids(list), err)
	}
	// Deletes and compare-and-swap still hold.
	if err := s.Delete(ctx(t), b.ID); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, b.ID)
	if err := s.Save(ctx(t), b); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save of a deleted record's version = %v; want ErrConflict", err)
	}
}

func anonymousNotIndexed(t *testing.T, s session.Store, _ *config) {
	mustSave(t, s, session.Record{ID: NewID(), Expiry: live(), Data: []byte("anon")})
	recs, err := s.ListByUser(ctx(t), "")
	if err != nil || len(recs) != 0 {
		t.Fatalf("ListByUser(\"\") = %d records, %v; want none: anonymous sessions have no index", len(recs), err)
	}
}

func largeValue(t *testing.T, s session.Store, _ *config) {
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

func binaryAndUnicode(t *testing.T, s session.Store, _ *config) {
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

func concurrentIncrements(t *testing.T, s session.Store, _ *config) {
	rec := session.Record{ID: NewID(), UserID: newUser(), Expiry: live(), Data: make([]byte, 8)}
	mustSave(t, s, rec)
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range each {
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
	if n := binary.BigEndian.Uint64(got.Data); n != writers*each {
		t.Fatalf("%d writers x %d increments ended at %d; want %d (updates were lost)", writers, each, n, writers*each)
	}
	if got.Version != writers*each+1 {
		t.Fatalf("Version = %d after %d saves", got.Version, writers*each+1)
	}
}

func concurrentDistinct(t *testing.T, s session.Store, _ *config) {
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

func deleteExpired(t *testing.T, s session.Store, _ *config) {
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

func canceledContext(t *testing.T, s session.Store, _ *config) {
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
