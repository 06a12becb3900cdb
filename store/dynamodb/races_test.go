package dynamodb_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/dynamodb"
)

// The user index is a set of items in the table itself, read with
// strongly consistent Queries, rather than a global secondary index,
// which DynamoDB updates asynchronously: RevokeAll relies on ListByUser
// returning every record whose Save returned before it was called. These
// tests check that promise where it is hardest to keep: right after the
// save, while other records of the same users are created, moved and
// deleted.
func TestSavedRecordIsListedAtOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	const workers, rounds = 8, 20
	users := []string{"alice-" + storetest.NewID()[:8], "bob-" + storetest.NewID()[:8], "carol-" + storetest.NewID()[:8]}
	listed := func(user, id string) (bool, error) {
		recs, err := s.ListByUser(ctx, user)
		if err != nil {
			return false, err
		}
		for _, r := range recs {
			if r.UserID != user {
				return false, fmt.Errorf("ListByUser(%q) returned a record of %q", user, r.UserID)
			}
		}
		return slices.ContainsFunc(recs, func(r session.Record) bool { return r.ID == id }), nil
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			fail := func(format string, args ...any) {
				t.Errorf("worker %d: "+format, append([]any{w}, args...)...)
			}
			for i := range rounds {
				user := users[(w+i)%len(users)]
				// A login: a new record under a user.
				rec := session.Record{ID: storetest.NewID(), UserID: user, Expiry: time.Now().Add(time.Hour), Data: []byte("login")}
				if err := s.Save(ctx, rec); err != nil {
					fail("Save: %v", err)
					return
				}
				if ok, err := listed(user, rec.ID); err != nil || !ok {
					fail("a record saved under %q is missing from ListByUser right after its Save returned (err %v)", user, err)
					return
				}
				// A renewal: the old record is emptied and leaves the
				// user, a new one takes its place, the old one goes.
				rec.Version = 1
				tomb := rec
				tomb.UserID, tomb.Data, tomb.Expiry = "", []byte{0}, time.Now().Add(time.Minute)
				if err := s.Save(ctx, tomb); err != nil {
					fail("Save of the tombstone: %v", err)
					return
				}
				next := session.Record{ID: storetest.NewID(), UserID: user, Expiry: time.Now().Add(time.Hour), Data: []byte("renewed")}
				if err := s.Save(ctx, next); err != nil {
					fail("Save of the renewed record: %v", err)
					return
				}
				if ok, err := listed(user, next.ID); err != nil || !ok {
					fail("a renewed record is missing from ListByUser right after its Save returned (err %v)", err)
					return
				}
				if ok, err := listed(user, rec.ID); err != nil || ok {
					fail("the record a renewal emptied is still listed under %q (err %v)", user, err)
					return
				}
				if err := s.Delete(ctx, rec.ID); err != nil {
					fail("Delete: %v", err)
					return
				}
				// A record moved to another user (a login as someone
				// else without renewal) leaves one list for the other.
				other := users[(w+i+1)%len(users)]
				next.Version = 1
				next.UserID = other
				if err := s.Save(ctx, next); err != nil {
					fail("Save moving the record: %v", err)
					return
				}
				if ok, err := listed(other, next.ID); err != nil || !ok {
					fail("a record moved to %q is missing from its list right after the Save (err %v)", other, err)
					return
				}
				if ok, err := listed(user, next.ID); err != nil || ok {
					fail("a record moved away from %q is still in its list (err %v)", user, err)
					return
				}
				if err := s.Delete(ctx, next.ID); err != nil {
					fail("Delete: %v", err)
					return
				}
				if ok, err := listed(other, next.ID); err != nil || ok {
					fail("a deleted record is still listed (err %v)", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// pause returns a step hook that, the first time a save of id reaches
// step, runs f and only then lets the save go on.
func pause(id, step string, f func()) func(string, string) {
	var once sync.Once
	return func(st, got string) {
		if st == step && got == id {
			once.Do(f)
		}
	}
}

func listedIn(t *testing.T, s session.Store, user, id string) bool {
	t.Helper()
	recs, err := s.ListByUser(testCtx(t), user)
	if err != nil {
		t.Fatalf("ListByUser: %v", err)
	}
	return slices.ContainsFunc(recs, func(r session.Record) bool { return r.ID == id })
}

// A Save removes the index entry of the user a record leaves only if the
// entry still carries the nonce of the record it replaced. Here a record
// moves from alice to bob, and before the move has cleaned up alice's
// entry, a second save moves it back to alice: the late cleanup must not
// delete the entry the second save relies on.
func TestLateCleanupOfAMoveKeepsANewerEntry(t *testing.T) {
	other, name := newStore(t)
	ctx := testCtx(t)
	alice, bob := "alice-"+storetest.NewID()[:8], "bob-"+storetest.NewID()[:8]
	id := storetest.NewID()
	if err := other.Save(ctx, session.Record{ID: id, UserID: alice, Expiry: time.Now().Add(time.Hour), Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	moved := make(chan error, 1)
	mover, err := dynamodb.New(ctx, client(t), name, dynamodb.WithStep(pause(id, "record-written", func() {
		// The record now belongs to bob (version 2); alice's entry is
		// still there. Move it back to alice.
		back := session.Record{ID: id, UserID: alice, Version: 2, Expiry: time.Now().Add(time.Hour), Data: []byte("3")}
		moved <- other.Save(ctx, back)
	})))
	if err != nil {
		t.Fatal(err)
	}
	if err := mover.Save(ctx, session.Record{ID: id, UserID: bob, Version: 1, Expiry: time.Now().Add(time.Hour), Data: []byte("2")}); err != nil {
		t.Fatalf("Save moving the record to bob: %v", err)
	}
	if err := <-moved; err != nil {
		t.Fatalf("Save moving the record back to alice: %v", err)
	}
	if got, err := other.Load(ctx, id); err != nil || got.UserID != alice || got.Version != 3 {
		t.Fatalf("Load = %q version %d, %v; want alice's version 3", got.UserID, got.Version, err)
	}
	if !listedIn(t, other, alice, id) {
		t.Fatal("the record is alice's again, but the first move's late cleanup removed it from her list")
	}
	if listedIn(t, other, bob, id) {
		t.Fatal("the record left bob, but is still in his list")
	}
}

// A new record may take the ID of one that is deleted while the new
// record's save is in flight: the new save writes its index entry, the
// old record is moved onto the same entry and deleted (which removes the
// entry by the old record's nonce), and only then does the new record's
// conditional write find the ID free. The save writes its entry once
// more after the record, so the record is listed all the same.
func TestNewRecordOnAFreedIDIsListed(t *testing.T) {
	other, name := newStore(t)
	ctx := testCtx(t)
	alice := "alice-" + storetest.NewID()[:8]
	id := storetest.NewID()
	if err := other.Save(ctx, session.Record{ID: id, Expiry: time.Now().Add(time.Hour), Data: []byte("anonymous")}); err != nil {
		t.Fatal(err)
	}
	creator, err := dynamodb.New(ctx, client(t), name, dynamodb.WithStep(pause(id, "index-written", func() {
		// The old record logs in as alice, taking over the entry the
		// new save has just written, and is deleted.
		if err := other.Save(ctx, session.Record{ID: id, UserID: alice, Version: 1, Expiry: time.Now().Add(time.Hour), Data: []byte("old")}); err != nil {
			t.Errorf("Save of the old record: %v", err)
		}
		if err := other.Delete(ctx, id); err != nil {
			t.Errorf("Delete of the old record: %v", err)
		}
	})))
	if err != nil {
		t.Fatal(err)
	}
	if err := creator.Save(ctx, session.Record{ID: id, UserID: alice, Expiry: time.Now().Add(time.Hour), Data: []byte("new")}); err != nil {
		t.Fatalf("Save of the new record: %v", err)
	}
	if got, err := other.Load(ctx, id); err != nil || string(got.Data) != "new" || got.Version != 1 {
		t.Fatalf("Load = %q version %d, %v; want the new record", got.Data, got.Version, err)
	}
	if !listedIn(t, other, alice, id) {
		t.Fatal("a new record saved under alice is missing from her list")
	}
}

// A save that loses its compare-and-swap after writing its index entry
// leaves that entry behind; it must not make the loser's user list the
// record, nor stop the winner's user from listing it.
func TestLosingSaveLeavesNoVisibleEntry(t *testing.T) {
	other, name := newStore(t)
	ctx := testCtx(t)
	alice, mallory := "alice-"+storetest.NewID()[:8], "mallory-"+storetest.NewID()[:8]
	id := storetest.NewID()
	if err := other.Save(ctx, session.Record{ID: id, UserID: alice, Expiry: time.Now().Add(time.Hour), Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	loser, err := dynamodb.New(ctx, client(t), name, dynamodb.WithStep(pause(id, "index-written", func() {
		if err := other.Save(ctx, session.Record{ID: id, UserID: alice, Version: 1, Expiry: time.Now().Add(time.Hour), Data: []byte("2")}); err != nil {
			t.Errorf("winning Save: %v", err)
		}
	})))
	if err != nil {
		t.Fatal(err)
	}
	err = loser.Save(ctx, session.Record{ID: id, UserID: mallory, Version: 1, Expiry: time.Now().Add(time.Hour), Data: []byte("lost")})
	if !errors.Is(err, session.ErrConflict) {
		t.Fatalf("Save that lost the race = %v; want ErrConflict", err)
	}
	if listedIn(t, other, mallory, id) {
		t.Fatal("the user of a save that lost the race lists the record")
	}
	if !listedIn(t, other, alice, id) {
		t.Fatal("the winner's user does not list the record")
	}
}
