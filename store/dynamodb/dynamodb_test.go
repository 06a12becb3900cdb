package dynamodb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/dynamodb"
)

func TestConformance(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) session.Store {
		s, _ := newStore(t)
		return s
	})
}

// scanAll returns every item of the table, keys and TTL attribute only.
func scanAll(t *testing.T, table string) []map[string]types.AttributeValue {
	t.Helper()
	p := ddb.NewScanPaginator(client(t), &ddb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)})
	var items []map[string]types.AttributeValue
	for p.HasMorePages() {
		page, err := p.NextPage(testCtx(t))
		if err != nil {
			t.Fatalf("scanning %s: %v", table, err)
		}
		items = append(items, page.Items...)
	}
	return items
}

// kinds counts the table's items by kind: records, chunks and index
// entries (see "Items" in the package documentation).
func kinds(t *testing.T, table string) (records, chunks, entries int) {
	t.Helper()
	for _, item := range scanAll(t, table) {
		pk := item["pk"].(*types.AttributeValueMemberB).Value
		sk := item["sk"].(*types.AttributeValueMemberB).Value
		switch {
		case pk[0] == 'u':
			entries++
		case sk[0] == 'c':
			chunks++
		default:
			records++
		}
	}
	return records, chunks, entries
}

func TestMissingTableIsErrNoTable(t *testing.T) {
	name := tableName(t)
	s, err := dynamodb.New(testCtx(t), client(t), name)
	if err != nil {
		t.Fatalf("New without WithCreateTable = %v; want nil: it must not touch the server", err)
	}
	ctx := testCtx(t)
	rec := session.Record{ID: storetest.NewID(), UserID: "u", Expiry: time.Now().Add(time.Hour)}
	_, loadErr := s.Load(ctx, rec.ID)
	_, listErr := s.ListByUser(ctx, "u")
	_, sweepErr := s.DeleteExpired(ctx, 10)
	for op, err := range map[string]error{
		"Load": loadErr, "Save": s.Save(ctx, rec), "Delete": s.Delete(ctx, rec.ID),
		"ListByUser": listErr, "DeleteExpired": sweepErr,
	} {
		if !errors.Is(err, dynamodb.ErrNoTable) || errors.Is(err, session.ErrNotFound) {
			t.Errorf("%s without the table = %v; want ErrNoTable", op, err)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s error %q does not name the table", op, err)
		}
	}
	// Once the table exists, the same store works.
	if _, err := dynamodb.New(ctx, client(t), name, dynamodb.WithCreateTable()); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, rec); err != nil {
		t.Fatalf("Save after the table was created: %v", err)
	}
	if _, err := s.Load(ctx, rec.ID); err != nil {
		t.Fatalf("Load after the table was created: %v", err)
	}
}

func TestWithCreateTableOnAnExistingTable(t *testing.T) {
	s, name := newStore(t)
	ctx := testCtx(t)
	rec := session.Record{ID: storetest.NewID(), Expiry: time.Now().Add(time.Hour), Data: []byte("kept")}
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// Instances starting together all succeed, and find what is there.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s2, err := dynamodb.New(ctx, client(t), name, dynamodb.WithCreateTable())
			if err != nil {
				t.Errorf("New(WithCreateTable) on an existing table: %v", err)
				return
			}
			if got, err := s2.Load(ctx, rec.ID); err != nil || string(got.Data) != "kept" {
				t.Errorf("Load through a second store = %q, %v", got.Data, err)
			}
		})
	}
	wg.Wait()

	// A table of the same name made for something else is refused.
	foreign := tableName(t)
	_, err := client(t).CreateTable(ctx, &ddb.CreateTableInput{
		TableName:            &foreign,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dynamodb.New(ctx, client(t), foreign, dynamodb.WithCreateTable()); err == nil || !strings.Contains(err.Error(), "key schema") {
		t.Fatalf("New(WithCreateTable) on a table with another key schema = %v; want it refused", err)
	}
}

func TestNewRejectsBadTableNames(t *testing.T) {
	for _, name := range []string{"", "ab", "sessions table", "sessions;", "séssions", strings.Repeat("s", 256)} {
		if _, err := dynamodb.New(context.Background(), sharedClient, name); err == nil {
			t.Errorf("New(%q) = nil error; want the name rejected", name)
		}
	}
	if _, err := dynamodb.New(context.Background(), nil, "sessions"); err == nil {
		t.Error("New with a nil client = nil error")
	}
}

// DynamoDB refuses items over 400 KB, so Data that does not fit in the
// record item goes to chunk items written before it. A reader must never
// see half of one value and half of another, and replaced or deleted
// chunks must not pile up.
func TestLargeDataIsChunkedAndNeverTorn(t *testing.T) {
	s, name := newStore(t)
	ctx := testCtx(t)
	const size = 600 << 10 // two chunks
	value := func(b byte) []byte { return bytes.Repeat([]byte{b}, size) }
	rec := session.Record{ID: storetest.NewID(), UserID: "big-" + storetest.NewID()[:8], Expiry: time.Now().Add(time.Hour), Data: value('a')}
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := s.Load(ctx, rec.ID)
				if err != nil {
					t.Errorf("Load during saves: %v", err)
					return
				}
				if len(got.Data) != size || bytes.Count(got.Data, got.Data[:1]) != len(got.Data) {
					t.Errorf("Load during saves returned a torn value: %d bytes starting %q", len(got.Data), got.Data[:1])
					return
				}
			}
		})
	}
	for i := range 6 {
		rec.Version = uint64(i + 1)
		rec.Data = value(byte('b' + i))
		if err := s.Save(ctx, rec); err != nil {
			t.Fatalf("Save %d: %v", i, err)
		}
	}
	close(stop)
	readers.Wait()
	if records, chunks, _ := kinds(t, name); records != 1 || chunks != 2 {
		t.Errorf("after 7 saves of a 600 KiB value the table holds %d records and %d chunks; want 1 and 2", records, chunks)
	}
	list, err := s.ListByUser(ctx, rec.UserID)
	if err != nil || len(list) != 1 || !bytes.Equal(list[0].Data, rec.Data) {
		t.Fatalf("ListByUser of a chunked record = %d records, %v", len(list), err)
	}
	// A conflicting save's chunks are removed too.
	stale := rec
	stale.Version = 1
	if err := s.Save(ctx, stale); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("stale Save = %v; want ErrConflict", err)
	}
	if _, chunks, _ := kinds(t, name); chunks != 2 {
		t.Errorf("a conflicting save of a large value left %d chunks; want the record's 2", chunks)
	}
	// Shrinking a signed-in session in place drops its chunks.
	rec.Version++
	rec.Data = []byte("small again")
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, rec.ID); err != nil || string(got.Data) != "small again" {
		t.Fatalf("Load after shrinking = %q, %v", got.Data, err)
	}
	if _, chunks, _ := kinds(t, name); chunks != 0 {
		t.Errorf("a save that made the value small left %d chunks", chunks)
	}
	rec.Version++
	rec.Data = value('z')
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if records, chunks, entries := kinds(t, name); records+chunks+entries != 0 {
		t.Errorf("after Delete the table holds %d records, %d chunks, %d index entries; want none", records, chunks, entries)
	}
}

// A Save cut off between its writes (here by its context, as by a
// timeout or a crash) may or may not have stored the record, but never
// stores it under a user without the index entry that lists it.
func TestSaveCutOffMidwayNeverLeavesAnUnlistedRecord(t *testing.T) {
	_, name := newStore(t)
	for _, step := range []string{"index-written", "record-written"} {
		t.Run(step, func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			id := storetest.NewID()
			s, err := dynamodb.New(ctx, client(t), name, dynamodb.WithStep(pause(id, step, cancel)))
			if err != nil {
				t.Fatal(err)
			}
			user := "cut-" + storetest.NewID()[:8]
			err = s.Save(ctx, session.Record{ID: id, UserID: user, Expiry: time.Now().Add(time.Hour), Data: []byte("x")})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Save canceled at %s = %v; want context.Canceled", step, err)
			}
			_, loadErr := s.Load(testCtx(t), id)
			stored := loadErr == nil
			if loadErr != nil && !errors.Is(loadErr, session.ErrNotFound) {
				t.Fatal(loadErr)
			}
			if stored != (step == "record-written") {
				t.Fatalf("record stored = %v after a save cut off at %s", stored, step)
			}
			if stored && !listedIn(t, s, user, id) {
				t.Fatal("a record stored under a user by a save cut off midway is missing from the user's list")
			}
		})
	}
}

// Index entries and records carry the TTL attribute DynamoDB deletes by;
// an entry must outlive every record it lists, whatever the order of
// saves, so that TTL never unlists a live session.
func TestIndexEntryOutlivesItsRecord(t *testing.T) {
	s, name := newStore(t)
	ctx := testCtx(t)
	user := "ttl-" + storetest.NewID()[:8]
	rec := session.Record{ID: storetest.NewID(), UserID: user, Expiry: time.Now().Add(30 * time.Minute), Data: []byte("x")}
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// A session extended by every request, well past its first TTL.
	for i := range 12 {
		rec.Version++
		rec.Expiry = rec.Expiry.Add(10 * time.Minute)
		if err := s.Save(ctx, rec); err != nil {
			t.Fatalf("Save %d: %v", i, err)
		}
		var recordTTL, entryTTL int64
		for _, item := range scanAll(t, name) {
			ttl, err := ttlOf(item)
			if err != nil {
				t.Fatal(err)
			}
			if item["pk"].(*types.AttributeValueMemberB).Value[0] == 'u' {
				entryTTL = ttl
			} else {
				recordTTL = ttl
			}
		}
		if recordTTL < rec.Expiry.Unix() {
			t.Fatalf("the record's TTL %d is before its expiry %d", recordTTL, rec.Expiry.Unix())
		}
		if entryTTL < recordTTL {
			t.Fatalf("after %d extensions the index entry's TTL %d is before its record's %d", i+1, entryTTL, recordTTL)
		}
	}
}

func ttlOf(item map[string]types.AttributeValue) (int64, error) {
	n, ok := item["expires_at"].(*types.AttributeValueMemberN)
	if !ok {
		return 0, errors.New("item without expires_at")
	}
	var v int64
	_, err := fmt.Sscan(n.Value, &v)
	return v, err
}

// Without TTL on the table (dynalite has none), DeleteExpired is what
// removes expired items: records with their index entries and chunks,
// and leftovers whose own TTL has passed.
func TestDeleteExpiredRemovesEveryKindOfItem(t *testing.T) {
	s, name := newStore(t)
	ctx := testCtx(t)
	user := "sweep-" + storetest.NewID()[:8]
	soon := time.Now().Add(1100 * time.Millisecond)
	for i := range 5 {
		data := []byte("small")
		if i == 0 {
			data = make([]byte, 500<<10) // two chunks
		}
		if err := s.Save(ctx, session.Record{ID: storetest.NewID(), UserID: user, Expiry: soon, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	keep := session.Record{ID: storetest.NewID(), UserID: user, Expiry: time.Now().Add(time.Hour), Data: []byte("live")}
	if err := s.Save(ctx, keep); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(soon) + 20*time.Millisecond) // expiry is defined by the clock
	total := 0
	for {
		n, err := s.DeleteExpired(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n > 2 {
			t.Fatalf("DeleteExpired(2) = %d", n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 5 {
		t.Fatalf("DeleteExpired removed %d records in all; want 5", total)
	}
	if records, chunks, entries := kinds(t, name); records != 1 || chunks != 0 || entries != 1 {
		t.Fatalf("after DeleteExpired the table holds %d records, %d chunks, %d index entries; want only the live record and its entry", records, chunks, entries)
	}
	if got, err := s.Load(ctx, keep.ID); err != nil || string(got.Data) != "live" {
		t.Fatalf("the live record after DeleteExpired: %q, %v", got.Data, err)
	}
}

// silentServer accepts connections and never answers, like a server
// behind a firewall that drops packets or one that is stuck.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUnreachableServerIsAPromptErrorNeverNotFound(t *testing.T) {
	const deadline = 300 * time.Millisecond
	const prompt = 5 * time.Second // generous: the point is "not a hang"
	for _, server := range []struct{ name, addr string }{
		{"silent", silentServer(t)},
		{"closed port", closedPort(t)},
	} {
		t.Run(server.name, func(t *testing.T) {
			c := ddb.New(ddb.Options{
				Region:       "us-east-1",
				BaseEndpoint: aws.String("http://" + server.addr),
				Credentials:  sharedClient.Options().Credentials,
			})
			check := func(op string, call func(ctx context.Context) error) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				start := time.Now()
				err := call(ctx)
				if took := time.Since(start); took > prompt {
					t.Errorf("%s took %v with a %v deadline", op, took, deadline)
				}
				if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrConflict) {
					t.Errorf("%s against a %s server = %v; want an error that is neither ErrNotFound nor ErrConflict", op, server.name, err)
				}
				if server.name == "silent" && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s against a silent server = %v; want it to wrap context.DeadlineExceeded", op, err)
				}
			}
			check("New(WithCreateTable)", func(ctx context.Context) error {
				_, err := dynamodb.New(ctx, c, "sessions", dynamodb.WithCreateTable())
				return err
			})
			s, err := dynamodb.New(context.Background(), c, "sessions")
			if err != nil {
				t.Fatalf("New = %v; want nil: it must not touch the network", err)
			}
			rec := session.Record{ID: storetest.NewID(), UserID: "u", Expiry: time.Now().Add(time.Hour)}
			check("Load", func(ctx context.Context) error { _, err := s.Load(ctx, rec.ID); return err })
			check("Save", func(ctx context.Context) error { return s.Save(ctx, rec) })
			check("Delete", func(ctx context.Context) error { return s.Delete(ctx, rec.ID) })
			check("ListByUser", func(ctx context.Context) error { _, err := s.ListByUser(ctx, "u"); return err })
			check("DeleteExpired", func(ctx context.Context) error { _, err := s.DeleteExpired(ctx, 0); return err })
		})
	}
}

// ListByUser reads records in BatchGetItem calls of at most 100 keys, and
// DynamoDB answers a call whose items are too large in parts, leaving
// the rest as unprocessed keys to ask for again (dynalite after about
// 1.4 MB, DynamoDB after 16 MB); every record must come back all the same.
func TestListByUserOfManySessionsAndLargeOnes(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	user := "many-" + storetest.NewID()[:8]
	want := map[string][]byte{}
	// IDs starting with "-" sort first, so the large records all fall in
	// the first batch, which is then too large for one answer.
	save := func(data []byte) {
		t.Helper()
		id := storetest.NewID()
		if len(data) > 1000 {
			id = "-" + id
		}
		rec := session.Record{ID: id, UserID: user, Expiry: time.Now().Add(time.Hour), Data: data}
		if err := s.Save(ctx, rec); err != nil {
			t.Fatal(err)
		}
		want[rec.ID] = data
	}
	for i := range 230 {
		save(fmt.Appendf(nil, "session %d", i))
	}
	for i := range 8 {
		save(bytes.Repeat([]byte{byte('A' + i)}, 300<<10)) // inline, 2.4 MB in all
	}
	save(bytes.Repeat([]byte("chunked"), 100<<10)) // 700 KB, two chunks
	list, err := s.ListByUser(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("ListByUser = %d records; want %d", len(list), len(want))
	}
	for _, r := range list {
		if !bytes.Equal(r.Data, want[r.ID]) {
			t.Fatalf("ListByUser returned record %.8s with %d bytes of data; want %d", r.ID, len(r.Data), len(want[r.ID]))
		}
	}
}
