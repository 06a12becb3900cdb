package dynamodb

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A record item is read back from a table that something else may also
// write to, by hand or by a bug: whatever it holds, decoding it is an
// error or a record that keeps the store's invariants, never a panic.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte("alice"), "3", "1767225600000", []byte("data"), false, []byte(nil), "0", []byte("nonce123"), "1767229200")
	f.Add([]byte(""), "1", "1", []byte(nil), true, []byte("chunkset"), "3", []byte(nil), "")
	f.Add([]byte("u"), "-1", "x", []byte{}, true, []byte("short"), "99999999", []byte{}, "1e3")
	f.Fuzz(func(t *testing.T, user []byte, version, expires string, data []byte, chunked bool, set []byte, count string, nonce []byte, indexTTL string) {
		item := map[string]types.AttributeValue{
			attrUser:      &types.AttributeValueMemberB{Value: user},
			attrVersion:   &types.AttributeValueMemberN{Value: version},
			attrExpiresMS: &types.AttributeValueMemberN{Value: expires},
			attrNonce:     &types.AttributeValueMemberB{Value: nonce},
		}
		if chunked {
			item[attrChunkSet] = &types.AttributeValueMemberB{Value: set}
			item[attrChunkCount] = &types.AttributeValueMemberN{Value: count}
		} else {
			item[attrData] = &types.AttributeValueMemberB{Value: data}
		}
		if indexTTL != "" {
			item[attrIndexTTL] = &types.AttributeValueMemberN{Value: indexTTL}
		}
		st, err := decodeRecord("id", item)
		decodeOld(item)
		if err != nil {
			return
		}
		if st.rec.ID != "id" || st.rec.UserID != string(user) || st.rec.Version == 0 {
			t.Fatalf("decoded %+v", st.rec)
		}
		if st.chunkSet != nil {
			if !chunked || len(st.chunkSet) != nonceLen || st.chunkCount < 1 || st.chunkCount > maxChunks {
				t.Fatalf("decoded chunk set %x of %d chunks", st.chunkSet, st.chunkCount)
			}
		} else if chunked || !bytes.Equal(st.rec.Data, data) {
			t.Fatalf("decoded Data %q from %q (chunked %v)", st.rec.Data, data, chunked)
		}
	})
}
