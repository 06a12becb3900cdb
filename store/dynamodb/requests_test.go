package dynamodb_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/dynamodb"
)

// recorder is an HTTP client that notes the DynamoDB operation and the
// body of every request it carries.
type recorder struct {
	mu   sync.Mutex
	reqs []request
	rt   http.RoundTripper
}

type request struct {
	op   string // "GetItem", "PutItem", ...
	body map[string]any
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var m map[string]any
	json.Unmarshal(body, &m)
	_, op, _ := strings.Cut(req.Header.Get("X-Amz-Target"), ".")
	r.mu.Lock()
	r.reqs = append(r.reqs, request{op, m})
	r.mu.Unlock()
	return r.rt.RoundTrip(req)
}

// take returns the operations recorded since the last call.
func (r *recorder) take() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

func ops(reqs []request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.op
	}
	return out
}

// recordedStore returns a Store on a fresh table whose requests rec sees.
func recordedStore(t *testing.T) (*dynamodb.Store, *recorder) {
	t.Helper()
	_, name := newStore(t)
	rec := &recorder{rt: http.DefaultTransport}
	s, err := dynamodb.New(testCtx(t), newClient(rec), name)
	if err != nil {
		t.Fatal(err)
	}
	return s, rec
}

// The package documentation states what each call costs in requests;
// this holds the store to it, and checks that every read is strongly
// consistent and none goes to a secondary index, whose reads cannot be.
func TestRequestsPerOperation(t *testing.T) {
	s, r := recordedStore(t)
	ctx := testCtx(t)
	user := "alice-" + storetest.NewID()[:8]
	exp := time.Now().Add(time.Hour)
	step := func(name string, want []string, call func() error) {
		t.Helper()
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := r.take()
		if !slices.Equal(ops(got), want) {
			t.Errorf("%s sent %v; want %v", name, ops(got), want)
		}
		for _, req := range got {
			if _, ok := req.body["IndexName"]; ok {
				t.Errorf("%s: %s reads a secondary index", name, req.op)
			}
			switch req.op {
			case "GetItem", "Query":
				if req.body["ConsistentRead"] != true {
					t.Errorf("%s: %s is not strongly consistent", name, req.op)
				}
			case "BatchGetItem":
				for _, ka := range req.body["RequestItems"].(map[string]any) {
					if ka.(map[string]any)["ConsistentRead"] != true {
						t.Errorf("%s: BatchGetItem is not strongly consistent", name)
					}
				}
			}
		}
	}
	anon := session.Record{ID: storetest.NewID(), Expiry: exp, Data: []byte("anonymous")}
	step("an anonymous session's first Save", []string{"PutItem"}, func() error { return s.Save(ctx, anon) })
	anon.Version = 1
	step("an anonymous session's next Save", []string{"PutItem"}, func() error { return s.Save(ctx, anon) })
	step("Load", []string{"GetItem"}, func() error { _, err := s.Load(ctx, anon.ID); return err })

	login := session.Record{ID: storetest.NewID(), UserID: user, Expiry: exp, Data: []byte("signed in")}
	step("a login (a new record under a user)", []string{"UpdateItem", "PutItem", "UpdateItem"}, func() error { return s.Save(ctx, login) })
	login.Version = 1
	step("a signed-in session's next Save", []string{"UpdateItem"}, func() error { return s.Save(ctx, login) })
	login.Version = 2
	login.Expiry = login.Expiry.Add(2 * time.Hour) // past its index entry's TTL
	// dynalite does not return the item with a failed condition, so the
	// store reads it (DynamoDB would spare the GetItem).
	step("a Save that extends the session past its index entry's TTL", []string{"UpdateItem", "GetItem", "UpdateItem", "PutItem"}, func() error { return s.Save(ctx, login) })
	login.Version = 3
	step("the Save after it", []string{"UpdateItem"}, func() error { return s.Save(ctx, login) })
	step("ListByUser of a user with one session", []string{"Query", "BatchGetItem"}, func() error {
		recs, err := s.ListByUser(ctx, user)
		if err == nil && len(recs) != 1 {
			t.Errorf("ListByUser = %d records; want 1", len(recs))
		}
		return err
	})
	step("ListByUser of a user with none", []string{"Query"}, func() error { _, err := s.ListByUser(ctx, "nobody"); return err })

	tomb := session.Record{ID: login.ID, Version: 4, Expiry: time.Now().Add(time.Minute), Data: []byte{0}}
	step("a renewal's tombstone (the record leaves its user)", []string{"PutItem", "DeleteItem"}, func() error { return s.Save(ctx, tomb) })
	step("Delete of an anonymous record", []string{"DeleteItem"}, func() error { return s.Delete(ctx, tomb.ID) })
	login = session.Record{ID: storetest.NewID(), UserID: user, Expiry: exp, Data: []byte("again")}
	if err := s.Save(ctx, login); err != nil {
		t.Fatal(err)
	}
	r.take()
	step("Delete of a signed-in record", []string{"DeleteItem", "DeleteItem"}, func() error { return s.Delete(ctx, login.ID) })

	big := session.Record{ID: storetest.NewID(), Expiry: exp, Data: make([]byte, 1<<20)}
	step("a new 1 MiB record", []string{"BatchWriteItem", "PutItem"}, func() error { return s.Save(ctx, big) })
	step("Load of a 1 MiB record", []string{"GetItem", "Query", "Query"}, func() error { _, err := s.Load(ctx, big.ID); return err })
	big.Version, big.Data = 1, []byte("small again")
	step("a Save that shrinks it", []string{"PutItem", "BatchWriteItem"}, func() error { return s.Save(ctx, big) })
}
