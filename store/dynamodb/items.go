package dynamodb

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/httpstate/httpstate/session"
)

// The table holds three kinds of item, told apart by the first byte of
// their keys (see "Items" in the package documentation):
//
//	record       pk "s"+ID             sk "r"
//	chunk        pk "s"+ID             sk "c"+chunk set (8 bytes)+index (2 bytes)
//	index entry  pk "u"+SHA-256(user)  sk ID
//
// Every attribute name other than the keys contains an underscore, so
// none can be one of DynamoDB's reserved words and expressions can name
// them directly.
const (
	attrPK         = "pk"
	attrSK         = "sk"
	attrUser       = "user_id"
	attrVersion    = "rec_version"
	attrExpiresMS  = "expires_ms"
	attrTTL        = "expires_at" // the table's TTL attribute, Unix seconds
	attrData       = "rec_data"
	attrChunkSet   = "chunk_set"
	attrChunkCount = "chunk_count"
	attrNonce      = "index_nonce"
	attrIndexTTL   = "index_expires_at"

	prefixRecord = 's'
	prefixIndex  = 'u'
	skRecord     = 'r'
	prefixChunk  = 'c'
)

// Limits that follow from DynamoDB's.
const (
	// maxItemSize is DynamoDB's item size limit, which counts attribute
	// names as well as values.
	maxItemSize = 400 << 10

	// chunkSize is the Data carried by one chunk item, leaving room for
	// its keys (at most 1 + session.MaxIDLen + 11 bytes) and attribute
	// names.
	chunkSize = maxItemSize - 2<<10

	// maxChunks is how many chunks a two-byte index can number.
	maxChunks = 1 << 16

	// numberSize bounds the size DynamoDB counts for one of the store's
	// numbers (at most 20 digits: one byte per two digits, plus one).
	numberSize = 21

	// nonceLen is the length of index nonces and chunk set IDs.
	nonceLen = 8
)

// skew is added to every expiry that DynamoDB's TTL acts on: TTL deletes
// by AWS's clock, the store judges liveness by the app's, and an app
// whose clock runs behind must not see an item vanish while it still
// counts as live.
const skew = time.Hour

// An index entry's sort key is the record ID, and DynamoDB's sort keys
// hold at most 1024 bytes; the contract's IDs are far shorter.
const _ = uint(1024 - session.MaxIDLen)

var errCorrupt = errors.New("dynamodb: malformed item")

func recordKey(id string) map[string]types.AttributeValue {
	pk := make([]byte, 1+len(id))
	pk[0] = prefixRecord
	copy(pk[1:], id)
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberB{Value: pk},
		attrSK: &types.AttributeValueMemberB{Value: []byte{skRecord}},
	}
}

// indexPK is the partition of a user's index entries. Hashing bounds the
// key's length whatever the user ID, and keeps user IDs (often email
// addresses) out of keys, which appear in CloudWatch Contributor Insights
// and in logs of throttled requests.
func indexPK(user string) []byte {
	sum := sha256.Sum256([]byte(user))
	return append([]byte{prefixIndex}, sum[:]...)
}

func indexKey(user, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberB{Value: indexPK(user)},
		attrSK: &types.AttributeValueMemberB{Value: []byte(id)},
	}
}

func chunkSK(set []byte, i int) []byte {
	sk := make([]byte, 0, 1+nonceLen+2)
	sk = append(sk, prefixChunk)
	sk = append(sk, set...)
	return binary.BigEndian.AppendUint16(sk, uint16(i))
}

func chunkKey(id string, set []byte, i int) map[string]types.AttributeValue {
	k := recordKey(id)
	k[attrSK] = &types.AttributeValueMemberB{Value: chunkSK(set, i)}
	return k
}

func bin(b []byte) types.AttributeValue {
	if b == nil {
		b = []byte{}
	}
	return &types.AttributeValueMemberB{Value: b}
}

func num[T int64 | int](n T) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(int64(n), 10)}
}

func unum(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

// ttlOf is the TTL attribute for an expiry: whole seconds, rounded up,
// plus skew.
func ttlOf(exp time.Time) int64 {
	ms := exp.UnixMilli()
	return (ms+999)/1000 + int64(skew/time.Second)
}

// indexTTL is the TTL an index entry gets when a Save writes it: the
// record's own TTL plus the record's remaining lifetime, so that a
// session extended by every request needs its entry refreshed only about
// once per lifetime (see "Costs" in the package documentation).
func indexTTL(exp, now time.Time) int64 {
	return ttlOf(exp) + int64(exp.Sub(now)/time.Second) + 1
}

// stored is a record item as read back, with what the store keeps beside
// the session.Record.
type stored struct {
	rec        session.Record
	expiresMS  int64
	chunkSet   []byte // nil when Data is inline
	chunkCount int
	nonce      []byte // the index entry's nonce, for a record with a user
	indexTTL   int64
}

func (st stored) live(now time.Time) bool { return st.expiresMS > now.UnixMilli() }

// decodeRecord reads a record item. It never panics on a malformed item:
// the table may have been written by something else.
func decodeRecord(id string, item map[string]types.AttributeValue) (stored, error) {
	st := stored{rec: session.Record{ID: id}}
	user, ok := getB(item, attrUser)
	if !ok {
		return st, fmt.Errorf("%w: record without %s", errCorrupt, attrUser)
	}
	st.rec.UserID = string(user)
	n, ok := item[attrVersion].(*types.AttributeValueMemberN)
	if !ok {
		return st, fmt.Errorf("%w: %s missing or not a number", errCorrupt, attrVersion)
	}
	v, err := strconv.ParseUint(n.Value, 10, 64)
	if err != nil || v == 0 {
		return st, fmt.Errorf("%w: record version %q", errCorrupt, n.Value)
	}
	st.rec.Version = v
	if st.expiresMS, err = getN(item, attrExpiresMS); err != nil {
		return st, err
	}
	st.rec.Expiry = time.UnixMilli(st.expiresMS)
	if set, ok := getB(item, attrChunkSet); ok {
		n, err := getN(item, attrChunkCount)
		if err != nil {
			return st, err
		}
		if len(set) != nonceLen || n < 1 || n > maxChunks {
			return st, fmt.Errorf("%w: chunk set of %d bytes, %d chunks", errCorrupt, len(set), n)
		}
		st.chunkSet, st.chunkCount = set, int(n)
	} else if st.rec.Data, ok = getB(item, attrData); !ok {
		return st, fmt.Errorf("%w: record without data", errCorrupt)
	}
	st.nonce, _ = getB(item, attrNonce)
	if _, ok := item[attrIndexTTL]; ok {
		if st.indexTTL, err = getN(item, attrIndexTTL); err != nil {
			return st, err
		}
	}
	return st, nil
}

// decodeOld reads the item a write replaced (ReturnValues ALL_OLD or
// UPDATED_OLD) for cleaning up after it; anything missing or malformed
// means there is nothing to clean.
func decodeOld(item map[string]types.AttributeValue) (user string, nonce, chunkSet []byte, chunkCount int) {
	if u, ok := getB(item, attrUser); ok {
		user = string(u)
	}
	nonce, _ = getB(item, attrNonce)
	if set, ok := getB(item, attrChunkSet); ok && len(set) == nonceLen {
		if n, err := getN(item, attrChunkCount); err == nil && n >= 1 && n <= maxChunks {
			chunkSet, chunkCount = set, int(n)
		}
	}
	return user, nonce, chunkSet, chunkCount
}

func getB(item map[string]types.AttributeValue, name string) ([]byte, bool) {
	b, ok := item[name].(*types.AttributeValueMemberB)
	if !ok {
		return nil, false
	}
	return b.Value, true
}

func getN(item map[string]types.AttributeValue, name string) (int64, error) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("%w: %s missing or not a number", errCorrupt, name)
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s = %q", errCorrupt, name, n.Value)
	}
	return v, nil
}

// recordOverhead is an upper bound of the size DynamoDB counts for a
// record item less its Data.
func recordOverhead(id, user string) int {
	return len(attrPK) + 1 + len(id) + len(attrSK) + 1 +
		len(attrUser) + len(user) +
		len(attrVersion) + len(attrExpiresMS) + len(attrTTL) + len(attrIndexTTL) + 4*numberSize +
		len(attrNonce) + nonceLen +
		len(attrChunkSet) + nonceLen + len(attrChunkCount) + numberSize +
		len(attrData)
}

// split cuts data into chunks of at most chunkSize bytes, sharing its
// backing array.
func split(data []byte) [][]byte {
	var out [][]byte
	for len(data) > chunkSize {
		out = append(out, data[:chunkSize:chunkSize])
		data = data[chunkSize:]
	}
	return append(out, data)
}
