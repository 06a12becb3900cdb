package dynamodb

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/httpstate/httpstate/session"
)

// DefaultTable is the table name the package documentation uses; New
// takes the name explicitly, so any name works.
const DefaultTable = "httpstate_sessions"

// ErrNoTable reports that the table does not exist (DynamoDB's
// ResourceNotFoundException). Create it as the package documentation
// shows, or with WithCreateTable in development.
var ErrNoTable = errors.New("dynamodb: session table does not exist")

var errLarge = fmt.Errorf("dynamodb: Data longer than %d bytes", maxChunks*chunkSize)

// Store is a session.Store on a DynamoDB table. It is safe for concurrent
// use, and any number of Stores, in any number of processes, may share
// one table. The zero value is not usable; call New.
type Store struct {
	client *ddb.Client
	table  string

	// sweepFrom is where the next DeleteExpired resumes its scan; nil
	// starts from the beginning of the table.
	sweepMu   sync.Mutex
	sweepFrom map[string]types.AttributeValue

	step func(step, id string) // test hook; see export_test.go
}

// Option configures a Store.
type Option func(*config)

type config struct {
	create bool
	step   func(step, id string)
}

// WithCreateTable makes New create the table when it does not exist, as
// the package documentation describes it (on-demand capacity, TTL on
// expires_at), and wait until it is ACTIVE; an existing table is only
// checked for the right key schema. It is meant for development, tests
// and emulators: in production, create the table with your
// infrastructure code, so that capacity, backups, encryption keys and
// deletion protection are chosen there, and give the app's role no
// permission to create tables.
//
// Emulators without the UpdateTimeToLive operation, such as dynalite, get
// a table without TTL; on such a table expired items stay until
// DeleteExpired removes them, and are invisible meanwhile.
func WithCreateTable() Option {
	return func(c *config) { c.create = true }
}

// New returns a Store on the named table, reached through client. Without
// WithCreateTable it does no I/O: a missing table shows up as an error
// wrapping ErrNoTable from every method. The client stays the caller's,
// with its credentials, region, endpoint and retry policy; the Store holds
// nothing that needs closing.
func New(ctx context.Context, client *ddb.Client, table string, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("dynamodb: New: nil client")
	}
	if err := checkTableName(table); err != nil {
		return nil, err
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	s := &Store{client: client, table: table, step: c.step}
	if c.create {
		if err := s.createTable(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkTableName applies DynamoDB's naming rule, so that a typo is
// reported by New rather than by the first request.
func checkTableName(name string) error {
	ok := len(name) >= 3 && len(name) <= 255
	for _, c := range []byte(name) {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.')
	}
	if !ok {
		return fmt.Errorf("dynamodb: table name %q: want 3 to 255 letters, digits, '_', '-' or '.'", name)
	}
	return nil
}

func (s *Store) hook(step, id string) {
	if s.step != nil {
		s.step(step, id)
	}
}

// Load implements session.Store. It is one strongly consistent GetItem,
// plus, for a record whose Data is kept in chunks, a strongly consistent
// Query of one page per MB.
func (s *Store) Load(ctx context.Context, id string) (session.Record, error) {
	if !session.ValidID(id) {
		// No item can have this ID.
		if err := ctx.Err(); err != nil {
			return session.Record{}, s.fail(ctx, "load", err)
		}
		return session.Record{}, session.ErrNotFound
	}
	st, found, err := s.load(ctx, id)
	if err != nil {
		return session.Record{}, s.fail(ctx, "load", err)
	}
	if !found {
		return session.Record{}, session.ErrNotFound
	}
	return st.rec, nil
}

// maxRereads bounds how often load reads a record again because the
// chunks it named were replaced meanwhile; each reread means another
// Save won in between.
const maxRereads = 32

// load reads the live record under id with its Data, found = false if
// there is none.
func (s *Store) load(ctx context.Context, id string) (stored, bool, error) {
	item, err := s.getItem(ctx, id)
	if err != nil {
		return stored{}, false, err
	}
	return s.complete(ctx, id, item)
}

// getItem reads the record item under id with a strongly consistent
// read; nil if there is none.
func (s *Store) getItem(ctx context.Context, id string) (map[string]types.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      &s.table,
		Key:            recordKey(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// complete decodes a record item read with a strongly consistent read and
// fetches its chunks. When the chunks are gone, a Save replaced the
// record after it was read: complete reads it again.
func (s *Store) complete(ctx context.Context, id string, item map[string]types.AttributeValue) (stored, bool, error) {
	for range maxRereads {
		if item == nil {
			return stored{}, false, nil
		}
		st, err := decodeRecord(id, item)
		if err != nil {
			return st, false, err
		}
		if !st.live(time.Now()) {
			return st, false, nil
		}
		if st.chunkSet == nil {
			return st, true, nil
		}
		st.rec.Data, err = s.readChunks(ctx, id, st.chunkSet, st.chunkCount)
		if err == nil {
			return st, true, nil
		}
		if !errors.Is(err, errChunksGone) {
			return st, false, err
		}
		if item, err = s.getItem(ctx, id); err != nil {
			return st, false, err
		}
		if next, err := decodeRecord(id, item); err == nil && next.rec.Version == st.rec.Version && bytes.Equal(next.chunkSet, st.chunkSet) {
			// Nothing replaced the record: its chunks are missing.
			return st, false, fmt.Errorf("%w: record names chunk set %x, whose chunks are missing", errCorrupt, st.chunkSet)
		}
	}
	return stored{}, false, fmt.Errorf("dynamodb: record replaced %d times while its chunks were read", maxRereads)
}

var errChunksGone = errors.New("dynamodb: chunk set replaced")

// readChunks returns the Data kept in the chunk set, or errChunksGone if
// any chunk is missing.
func (s *Store) readChunks(ctx context.Context, id string, set []byte, count int) ([]byte, error) {
	prefix := append([]byte{prefixChunk}, set...)
	p := ddb.NewQueryPaginator(s.client, &ddb.QueryInput{
		TableName:              &s.table,
		ConsistentRead:         aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :set)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":  recordKey(id)[attrPK],
			":set": bin(prefix),
		},
	})
	var data []byte
	next := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, item := range page.Items {
			sk, _ := getB(item, attrSK)
			part, ok := getB(item, attrData)
			if !ok || !bytes.Equal(sk, chunkSK(set, next)) {
				return nil, errChunksGone
			}
			data = append(data, part...)
			next++
		}
	}
	if next != count {
		return nil, errChunksGone
	}
	return data, nil
}

// Save implements session.Store. See "Consistency" and "Costs" in the
// package documentation for the writes each kind of save makes.
func (s *Store) Save(ctx context.Context, rec session.Record) error {
	now := time.Now()
	if err := session.CheckRecord(rec, now); err != nil {
		return fmt.Errorf("dynamodb: save: %w", err)
	}
	if rec.Version == math.MaxUint64 {
		// Version+1 cannot be stored, so no stored version equals it.
		return session.ErrConflict
	}
	w := write{rec: rec, now: now, ttl: ttlOf(rec.Expiry)}
	if recordOverhead(rec.ID, rec.UserID)+len(rec.Data) > maxItemSize {
		w.chunks = split(rec.Data)
		if len(w.chunks) > maxChunks {
			return errLarge
		}
		w.chunkSet = nonce()
		if err := s.putChunks(ctx, w); err != nil {
			return s.fail(ctx, "save", err)
		}
	}
	var err error
	switch {
	case rec.UserID != "" && rec.Version > 0:
		err = s.saveInPlace(ctx, w)
		if errors.Is(err, errReplace) {
			err = s.saveReplacing(ctx, w)
		}
	default:
		err = s.saveReplacing(ctx, w)
	}
	if errors.Is(err, session.ErrConflict) {
		if w.chunks != nil {
			// Nothing refers to the chunks written for the losing save.
			// (After any other error the record may have been written,
			// so they stay; TTL or DeleteExpired removes them if not.)
			s.deleteChunks(ctx, rec.ID, w.chunkSet, len(w.chunks))
		}
		return err
	}
	if err != nil {
		return s.fail(ctx, "save", err)
	}
	return nil
}

// write is one Save in progress.
type write struct {
	rec      session.Record
	now      time.Time
	ttl      int64
	chunks   [][]byte // nil: Data inline
	chunkSet []byte
}

func nonce() []byte {
	b := make([]byte, nonceLen)
	rand.Read(b)
	return b
}

// errReplace sends a save from saveInPlace to saveReplacing.
var errReplace = errors.New("dynamodb: the record's user or index entry changes")

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// saveInPlace is the save of a record whose user stays the same and whose
// index entry already outlives the new expiry, the common case of a
// signed-in request: one UpdateItem, which leaves the index entry and the
// record's note of it alone. If the condition fails for another reason
// than a stale version it returns errReplace.
func (s *Store) saveInPlace(ctx context.Context, w write) error {
	rec := w.rec
	set := "SET rec_version = :next, expires_ms = :exp, expires_at = :ttl, "
	values := map[string]types.AttributeValue{
		":next": unum(rec.Version + 1),
		":exp":  num(rec.Expiry.UnixMilli()),
		":ttl":  num(w.ttl),
		":v":    unum(rec.Version),
		":now":  num(w.now.UnixMilli()),
		":user": bin([]byte(rec.UserID)),
		":need": num(w.ttl),
	}
	if w.chunks == nil {
		set += "rec_data = :data REMOVE chunk_set, chunk_count"
		values[":data"] = bin(rec.Data)
	} else {
		set += "chunk_set = :set, chunk_count = :count REMOVE rec_data"
		values[":set"] = bin(w.chunkSet)
		values[":count"] = num(len(w.chunks))
	}
	out, err := s.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       recordKey(rec.ID),
		UpdateExpression:          &set,
		ConditionExpression:       aws.String("rec_version = :v AND expires_ms > :now AND user_id = :user AND index_expires_at >= :need"),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllOld, // the old chunk set, if any
		// To tell which part of the condition failed without another
		// read. Emulators may ignore it; then the item is read below.
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		item := ccf.Item
		if len(item) == 0 {
			if item, err = s.getItem(ctx, rec.ID); err != nil {
				return err
			}
		}
		if item == nil {
			return session.ErrConflict
		}
		st, err := decodeRecord(rec.ID, item)
		if err != nil {
			return err
		}
		if !st.live(w.now) || st.rec.Version != rec.Version {
			return session.ErrConflict
		}
		return errReplace
	}
	if err != nil {
		return err
	}
	_, _, oldSet, oldCount := decodeOld(out.Attributes)
	s.dropChunks(ctx, rec.ID, oldSet, oldCount, w.chunkSet)
	return nil
}

// saveReplacing writes the whole record item, for a new record, an
// anonymous one, or one whose user changes or whose index entry needs a
// longer TTL. For a record with a user it first writes the index entry
// under a fresh nonce, so that a record is never stored under a user
// without its entry; afterwards it removes the entry of the user the
// record left, if the nonce there is still the one the record held.
func (s *Store) saveReplacing(ctx context.Context, w write) error {
	rec := w.rec
	item := recordKey(rec.ID)
	item[attrUser] = bin([]byte(rec.UserID))
	item[attrVersion] = unum(rec.Version + 1)
	item[attrExpiresMS] = num(rec.Expiry.UnixMilli())
	item[attrTTL] = num(w.ttl)
	if w.chunks == nil {
		item[attrData] = bin(rec.Data)
	} else {
		item[attrChunkSet] = bin(w.chunkSet)
		item[attrChunkCount] = num(len(w.chunks))
	}
	var n []byte
	var idxTTL int64
	if rec.UserID != "" {
		n, idxTTL = nonce(), indexTTL(rec.Expiry, w.now)
		if err := s.putIndex(ctx, rec.UserID, rec.ID, n, idxTTL); err != nil {
			return err
		}
		s.hook("index-written", rec.ID)
		item[attrNonce] = bin(n)
		item[attrIndexTTL] = num(idxTTL)
	}
	in := &ddb.PutItemInput{
		TableName:    &s.table,
		Item:         item,
		ReturnValues: types.ReturnValueAllOld,
	}
	if rec.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk) OR expires_ms <= :now")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":now": num(w.now.UnixMilli())}
	} else {
		in.ConditionExpression = aws.String("rec_version = :v AND expires_ms > :now")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":v":   unum(rec.Version),
			":now": num(w.now.UnixMilli()),
		}
	}
	out, err := s.client.PutItem(ctx, in)
	if isConditionFailed(err) {
		// The index entry written above stays: it may now carry the
		// nonce of the record that won, which no one else will rewrite.
		return session.ErrConflict
	}
	if err != nil {
		return err
	}
	s.hook("record-written", rec.ID)
	if rec.Version == 0 && rec.UserID != "" {
		// A new record may reuse the ID of one deleted after the entry
		// above was written, and that Delete may have removed the
		// entry by the old record's nonce; writing it again closes the
		// gap. Its error is returned: the caller, not having the save
		// confirmed, will not hand out the session.
		if err := s.putIndex(ctx, rec.UserID, rec.ID, n, idxTTL); err != nil {
			return err
		}
	}
	oldUser, oldNonce, oldSet, oldCount := decodeOld(out.Attributes)
	if oldUser != "" && oldUser != rec.UserID {
		s.deleteIndex(ctx, oldUser, rec.ID, oldNonce)
	}
	s.dropChunks(ctx, rec.ID, oldSet, oldCount, w.chunkSet)
	return nil
}

// putIndex writes the index entry of user's record id with nonce n, and
// raises its TTL to ttl unless it is already later: an entry's TTL never
// falls below that of any record saved under it.
func (s *Store) putIndex(ctx context.Context, user, id string, n []byte, ttl int64) error {
	_, err := s.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 indexKey(user, id),
		UpdateExpression:    aws.String("SET index_nonce = :n, expires_at = :ttl"),
		ConditionExpression: aws.String("attribute_not_exists(pk) OR expires_at <= :ttl"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n":   bin(n),
			":ttl": num(ttl),
		},
	})
	if !isConditionFailed(err) {
		return err
	}
	// The entry lives longer already. if_not_exists covers an entry
	// deleted in between, which must not come back without a TTL.
	_, err = s.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:        &s.table,
		Key:              indexKey(user, id),
		UpdateExpression: aws.String("SET index_nonce = :n, expires_at = if_not_exists(expires_at, :ttl)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n":   bin(n),
			":ttl": num(ttl),
		},
	})
	return err
}

// deleteIndex removes user's index entry for id if its nonce is still n,
// the nonce of the record that has just been deleted or moved away: any
// other nonce belongs to a later save, which may still need the entry.
// It is best effort: an entry left behind is skipped by ListByUser and
// removed at its TTL.
func (s *Store) deleteIndex(ctx context.Context, user, id string, n []byte) {
	if len(n) == 0 {
		return
	}
	s.client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:                 &s.table,
		Key:                       indexKey(user, id),
		ConditionExpression:       aws.String("index_nonce = :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": bin(n)},
	})
}

// putChunks writes the chunk items of w before the record that will name
// them.
func (s *Store) putChunks(ctx context.Context, w write) error {
	reqs := make([]types.WriteRequest, len(w.chunks))
	for i, c := range w.chunks {
		item := chunkKey(w.rec.ID, w.chunkSet, i)
		item[attrData] = bin(c)
		item[attrTTL] = num(w.ttl)
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
	}
	return s.batchWrite(ctx, reqs)
}

// dropChunks deletes the chunk set a write replaced, unless it is keep.
// Best effort: a chunk set left behind is removed at its TTL.
func (s *Store) dropChunks(ctx context.Context, id string, set []byte, count int, keep []byte) {
	if set != nil && !bytes.Equal(set, keep) {
		s.deleteChunks(ctx, id, set, count)
	}
}

func (s *Store) deleteChunks(ctx context.Context, id string, set []byte, count int) error {
	reqs := make([]types.WriteRequest, count)
	for i := range reqs {
		reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: chunkKey(id, set, i)}}
	}
	return s.batchWrite(ctx, reqs)
}

// batchWrite sends reqs in BatchWriteItem calls of at most 25, sending
// again what DynamoDB left unprocessed.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		n := min(len(reqs), 25)
		pending := map[string][]types.WriteRequest{s.table: reqs[:n]}
		reqs = reqs[n:]
		for attempt := 0; len(pending[s.table]) > 0; attempt++ {
			if attempt > 0 {
				if err := backoff(ctx, attempt); err != nil {
					return err
				}
			}
			out, err := s.client.BatchWriteItem(ctx, &ddb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return err
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// backoff waits before sending again what a batch call left unprocessed,
// as DynamoDB asks: exponentially, from 10ms up to one second.
func backoff(ctx context.Context, attempt int) error {
	d := min(10*time.Millisecond<<min(attempt, 7), time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Delete implements session.Store: one DeleteItem, then the removal of
// the record's index entry and of any chunks it had.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !session.ValidID(id) {
		if err := ctx.Err(); err != nil {
			return s.fail(ctx, "delete", err)
		}
		return nil
	}
	out, err := s.client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:    &s.table,
		Key:          recordKey(id),
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return s.fail(ctx, "delete", err)
	}
	s.cleanUp(ctx, id, out.Attributes)
	return nil
}

// cleanUp removes the index entry and the chunks of a record item that
// has just been deleted.
func (s *Store) cleanUp(ctx context.Context, id string, old map[string]types.AttributeValue) {
	user, n, set, count := decodeOld(old)
	if user != "" {
		s.deleteIndex(ctx, user, id, n)
	}
	s.dropChunks(ctx, id, set, count, nil)
}

// ListByUser implements session.Store: a strongly consistent Query of the
// user's index entries, then a strongly consistent BatchGetItem of their
// records, keeping those that are live and still belong to the user.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]session.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.fail(ctx, "list by user", err)
	}
	out := []session.Record{}
	if userID == "" || !session.ValidUserID(userID) {
		// Anonymous records have no index entries, and no record has a
		// user ID that Save refuses.
		return out, nil
	}
	ids, err := s.indexedIDs(ctx, userID)
	if err != nil {
		return nil, s.fail(ctx, "list by user", err)
	}
	for len(ids) > 0 {
		n := min(len(ids), 100)
		items, err := s.batchGet(ctx, ids[:n])
		if err != nil {
			return nil, s.fail(ctx, "list by user", err)
		}
		ids = ids[n:]
		for id, item := range items {
			st, found, err := s.complete(ctx, id, item)
			if err != nil {
				return nil, s.fail(ctx, "list by user", err)
			}
			if found && st.rec.UserID == userID {
				out = append(out, st.rec)
			}
		}
	}
	return out, nil
}

// indexedIDs returns the IDs in user's index entries.
func (s *Store) indexedIDs(ctx context.Context, user string) ([]string, error) {
	p := ddb.NewQueryPaginator(s.client, &ddb.QueryInput{
		TableName:                 &s.table,
		ConsistentRead:            aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": bin(indexPK(user))},
		ProjectionExpression:      aws.String("sk"),
	})
	var ids []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, item := range page.Items {
			if sk, ok := getB(item, attrSK); ok && session.ValidID(string(sk)) {
				ids = append(ids, string(sk))
			}
		}
	}
	return ids, nil
}

// batchGet reads the record items of ids (at most 100) with strongly
// consistent reads, sending again the keys DynamoDB left unprocessed. IDs
// without a record are missing from the result.
func (s *Store) batchGet(ctx context.Context, ids []string) (map[string]map[string]types.AttributeValue, error) {
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = recordKey(id)
	}
	found := make(map[string]map[string]types.AttributeValue, len(ids))
	pending := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for attempt := 0; len(pending[s.table].Keys) > 0; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		out, err := s.client.BatchGetItem(ctx, &ddb.BatchGetItemInput{RequestItems: pending})
		if err != nil {
			return nil, err
		}
		for _, item := range out.Responses[s.table] {
			if pk, ok := getB(item, attrPK); ok && len(pk) > 1 {
				found[string(pk[1:])] = item
			}
		}
		pending = out.UnprocessedKeys
	}
	return found, nil
}

// DeleteExpired implements session.Store. With TTL enabled on the table
// (see the package documentation), DynamoDB deletes expired items by
// itself, without charge, and DeleteExpired is not needed. Without TTL
// (some emulators) it is the way to remove them: it scans the table,
// deleting expired records with their index entries and chunks, and
// index entries and chunks whose own TTL has passed. A scan reads the
// whole table, and is billed for it; the next call resumes where one
// that stopped at its limit left off.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	s.sweepMu.Lock()
	from := s.sweepFrom
	s.sweepMu.Unlock()
	now := time.Now()
	removed := 0
	for {
		page, err := s.client.Scan(ctx, &ddb.ScanInput{
			TableName:            &s.table,
			ExclusiveStartKey:    from,
			FilterExpression:     aws.String("expires_at < :sec OR expires_ms <= :ms"),
			ProjectionExpression: aws.String("pk, sk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":sec": num(now.Unix()),
				":ms":  num(now.UnixMilli()),
			},
		})
		if err != nil {
			return removed, s.fail(ctx, "delete expired", err)
		}
		for _, key := range page.Items {
			pk, _ := getB(key, attrPK)
			sk, _ := getB(key, attrSK)
			if len(pk) < 2 || len(sk) == 0 {
				continue
			}
			isRecord := pk[0] == prefixRecord && len(sk) == 1 && sk[0] == skRecord
			if isRecord && limit > 0 && removed == limit {
				s.sweepMu.Lock()
				s.sweepFrom = from
				s.sweepMu.Unlock()
				return removed, nil
			}
			ok, err := s.deleteExpiredItem(ctx, key, isRecord, now)
			if err != nil {
				return removed, s.fail(ctx, "delete expired", err)
			}
			if ok && isRecord {
				removed++
			}
			from = key
		}
		from = page.LastEvaluatedKey
		if from == nil {
			break
		}
	}
	s.sweepMu.Lock()
	s.sweepFrom = nil
	s.sweepMu.Unlock()
	return removed, nil
}

// deleteExpiredItem deletes the item under key if it is still expired
// when DynamoDB carries out the deletion, and reports whether it did.
func (s *Store) deleteExpiredItem(ctx context.Context, key map[string]types.AttributeValue, isRecord bool, now time.Time) (bool, error) {
	in := &ddb.DeleteItemInput{TableName: &s.table, Key: key}
	if isRecord {
		in.ConditionExpression = aws.String("expires_ms <= :ms")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":ms": num(now.UnixMilli())}
		in.ReturnValues = types.ReturnValueAllOld
	} else {
		in.ConditionExpression = aws.String("expires_at < :sec")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":sec": num(now.Unix())}
	}
	out, err := s.client.DeleteItem(ctx, in)
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if isRecord {
		pk, _ := getB(key, attrPK)
		s.cleanUp(ctx, string(pk[1:]), out.Attributes)
	}
	return true, nil
}

// fail wraps err for the operation op. A missing table becomes
// ErrNoTable, and when ctx is done the result wraps ctx.Err() even if the
// SDK's error does not, so that callers can always tell a timeout from an
// outage.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return fmt.Errorf("dynamodb: %s: %w: %s (create it as the package documentation shows): %w", op, ErrNoTable, s.table, err)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("dynamodb: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("dynamodb: %s: %w", op, err)
}
