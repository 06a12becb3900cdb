package dynamodb_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
)

// IDs reach the store from requests (a device list posts one back to
// revoke it) and user IDs from the app, so any string within the
// contract's limits must be stored and found intact, and anything else
// refused by Save with ErrInvalid and absent everywhere else, never a
// server error that a caller would take for an outage.
func FuzzAnyIDAndUser(f *testing.F) {
	f.Add("mjKdK1pX0DnGQ1sL7vH2cWq8nT4bZ5yR3eA6uJ9kF0o", "alice")
	f.Add("", "")
	f.Add("a\x00b", "u")
	f.Add("id", "\xff\xfe")
	f.Add("'; DROP TABLE x; --", `"quoted" \ back`)
	f.Add("日本語 😀", "ユーザー\u202e")
	f.Add("pk", ":pk #n")
	s, _ := newStore(f)
	f.Fuzz(func(t *testing.T, id, user string) {
		ctx := testCtx(t)
		rec := session.Record{ID: id, UserID: user, Expiry: time.Now().Add(time.Hour), Data: []byte(id)}
		err := s.Save(ctx, rec)
		switch {
		case !session.ValidID(id) || !session.ValidUserID(user):
			if !errors.Is(err, session.ErrInvalid) {
				t.Fatalf("Save of an ID or user ID outside the contract's limits = %v; want ErrInvalid", err)
			}
			if _, err := s.Load(ctx, id); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("Load of an ID Save refuses = %v; want ErrNotFound", err)
			}
			if list, err := s.ListByUser(ctx, user); err != nil || len(list) != 0 {
				t.Fatalf("ListByUser of a user ID Save refuses = %d records, %v; want none", len(list), err)
			}
		case err != nil:
			t.Fatalf("Save: %v", err)
		default:
			got, err := s.Load(ctx, id)
			if err != nil || got.ID != id || got.UserID != user || !bytes.Equal(got.Data, []byte(id)) {
				t.Fatalf("Load after Save = %+v, %v", got, err)
			}
			list, err := s.ListByUser(ctx, user)
			if err != nil {
				t.Fatalf("ListByUser: %v", err)
			}
			if found := slices.ContainsFunc(list, func(r session.Record) bool { return r.ID == id }); found != (user != "") {
				t.Fatalf("ListByUser(%q) lists the record: %v; want %v", user, found, user != "")
			}
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Load(ctx, id); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Load after Delete = %v; want ErrNotFound", err)
		}
	})
}
