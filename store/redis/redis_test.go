package redis_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/session/storetest"
	"github.com/httpstate/httpstate/store/redis"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	client := standalone(t)
	storetest.TestStore(t, func(t *testing.T) session.Store { return newStore(t, client) })
}

// In a cluster a record and its user's index hash to different slots,
// usually on different nodes: the suite checks that the index still
// behaves.
func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	client := cluster(t)
	storetest.TestStore(t, func(t *testing.T) session.Store { return newStore(t, client) })
}

// With client-side caching the contract still holds within one process:
// the store reads its own writes, and a lost compare-and-swap reloads
// fresh data. (The caching code is the same for every kind of client.)
func TestConformanceClientCache(t *testing.T) {
	t.Parallel()
	client := standalone(t)
	storetest.TestStore(t, func(t *testing.T) session.Store {
		return newStore(t, client, redis.WithClientCache(time.Minute))
	})
}

func TestConformanceSentinel(t *testing.T) {
	t.Parallel()
	primary := startServer(t, "Ready to accept connections")
	sentinel := startSentinel(t, "primary", primary.addr)
	s, err := redis.Open(ctx(t), rueidis.ClientOption{
		InitAddress: []string{sentinel},
		Sentinel:    rueidis.SentinelOption{MasterSet: "primary"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// The server is the test's own: no prefix needed, and none deleted.
	storetest.TestStore(t, func(t *testing.T) session.Store { return s })
}

func TestNewRejectsBadArguments(t *testing.T) {
	if _, err := redis.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := redis.New(standalone(t), redis.WithClientCache(-time.Second)); err == nil {
		t.Error("New with a negative cache TTL succeeded")
	}
}

// expireTime returns the PEXPIRETIME of key: -2 if it does not exist,
// -1 if it has no TTL.
func expireTime(t *testing.T, client rueidis.Client, key string) int64 {
	t.Helper()
	ms, err := client.Do(ctx(t), client.B().Pexpiretime().Key(key).Build()).AsInt64()
	if err != nil {
		t.Fatalf("PEXPIRETIME: %v", err)
	}
	return ms
}

func zscore(t *testing.T, client rueidis.Client, key, member string) (int64, bool) {
	t.Helper()
	f, err := client.Do(ctx(t), client.B().Zscore().Key(key).Member(member).Build()).AsFloat64()
	if rueidis.IsRedisNil(err) {
		return 0, false
	}
	if err != nil {
		t.Fatalf("ZSCORE: %v", err)
	}
	return int64(f), true
}

// The layout is documented in the package comment; operators rely on it
// to inspect and revoke sessions with redis-cli.
func TestKeyLayout(t *testing.T) {
	client := standalone(t)
	prefix := newPrefix(t, client)
	s, err := redis.New(client, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	rec := session.Record{ID: storetest.NewID(), UserID: "alice", Expiry: exp, Data: []byte("d")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	recordKey, indexKey := prefix+"s:"+rec.ID, prefix+"u:alice"
	// Keys outlive the Expiry by MaxClockSkew, so that a Redis clock ahead
	// of the app's never removes a record the app counts as live.
	skew := session.MaxClockSkew.Milliseconds()
	if got := expireTime(t, client, recordKey); got != exp.UnixMilli()+skew {
		t.Errorf("record key %q expires at %d; want the record's expiry plus MaxClockSkew, %d", recordKey, got, exp.UnixMilli()+skew)
	}
	if score, ok := zscore(t, client, indexKey, rec.ID); !ok || score != exp.UnixMilli() {
		t.Errorf("index %q scores the record %d (present %v); want its expiry %d", indexKey, score, ok, exp.UnixMilli())
	}
	if got := expireTime(t, client, indexKey); got != exp.UnixMilli()+skew {
		t.Errorf("index key expires at %d; want its latest entry's expiry plus MaxClockSkew, %d", got, exp.UnixMilli()+skew)
	}
	// A later expiry lengthens the index's life; an earlier one for
	// another record does not shorten it.
	later := exp.Add(time.Hour)
	rec.Version, rec.Expiry = 1, later
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	other := session.Record{ID: storetest.NewID(), UserID: "alice", Expiry: exp, Data: []byte("o")}
	if err := s.Save(ctx(t), other); err != nil {
		t.Fatal(err)
	}
	if got := expireTime(t, client, indexKey); got != later.UnixMilli()+skew {
		t.Errorf("index key expires at %d; want %d", got, later.UnixMilli()+skew)
	}
	if score, _ := zscore(t, client, indexKey, rec.ID); score != later.UnixMilli() {
		t.Errorf("extended record scored %d; want %d", score, later.UnixMilli())
	}
}

// Every index write trims the entries that expired, by Redis's clock, more
// than MaxClockSkew ago, and keeps those that expired more recently: an
// app server whose clock lags Redis's may still count them as live.
func TestIndexTrimsExpiredEntriesOnWrite(t *testing.T) {
	client := cluster(t)
	prefix := newPrefix(t, client)
	s, err := redis.New(client, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	user := "user-" + storetest.NewID()[:8]
	index := prefix + "u:" + user
	long, recent := storetest.NewID(), storetest.NewID()
	for id, expired := range map[string]time.Duration{long: time.Minute, recent: session.MaxClockSkew / 2} {
		score := float64(time.Now().Add(-expired).UnixMilli())
		if err := client.Do(ctx(t), client.B().Zadd().Key(index).ScoreMember().ScoreMember(score, id).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	rec := session.Record{ID: storetest.NewID(), UserID: user, Expiry: live()}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	members, err := client.Do(ctx(t), client.B().Zrange().Key(index).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sorted(members), sorted([]string{recent, rec.ID})) {
		t.Fatalf("index holds %d entries after a save; want the live record's and the one expired within MaxClockSkew", len(members))
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

// Strays are index entries whose record is gone or belongs to another
// user: what an interrupted Delete or a lost compare-and-swap leaves.
func TestListByUserSkipsAndDropsStrays(t *testing.T) {
	client := cluster(t)
	prefix := newPrefix(t, client)
	s, err := redis.New(client, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := "alice-"+storetest.NewID()[:8], "bob-"+storetest.NewID()[:8]
	mine := session.Record{ID: storetest.NewID(), UserID: alice, Expiry: live(), Data: []byte("a")}
	theirs := session.Record{ID: storetest.NewID(), UserID: bob, Expiry: live(), Data: []byte("b")}
	for _, r := range []session.Record{mine, theirs} {
		if err := s.Save(ctx(t), r); err != nil {
			t.Fatal(err)
		}
	}
	ghost := storetest.NewID()
	score := strconv.FormatInt(live().UnixMilli(), 10)
	index := prefix + "u:" + alice
	for _, id := range []string{ghost, theirs.ID} {
		if err := client.Do(ctx(t), client.B().Zadd().Key(index).ScoreMember().ScoreMember(mustFloat(score), id).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.ListByUser(ctx(t), alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != mine.ID {
		t.Fatalf("ListByUser returned %d records; want only alice's own", len(recs))
	}
	for _, id := range []string{ghost, theirs.ID} {
		if _, ok := zscore(t, client, index, id); ok {
			t.Errorf("stray entry %s is still in the index after ListByUser", id[:8])
		}
	}
	if _, ok := zscore(t, client, index, mine.ID); !ok {
		t.Error("ListByUser dropped the user's own entry")
	}
}

func mustFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return f
}

func TestCorruptRecordIsAnErrorNotAbsence(t *testing.T) {
	client := standalone(t)
	prefix := newPrefix(t, client)
	s, err := redis.New(client, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{
		"foreign string": "not a session",
		"short header":   "\x01\x00\x00",
		"version zero":   "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00",
	} {
		t.Run(name, func(t *testing.T) {
			id := storetest.NewID()
			if err := client.Do(ctx(t), client.B().Set().Key(prefix+"s:"+id).Value(value).Build()).Error(); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(ctx(t), id)
			wantOutage(t, "Load", err)
			if name != "version zero" {
				// The script checks only what it reads: the format
				// byte and the header's length.
				wantOutage(t, "Save", s.Save(ctx(t), session.Record{ID: id, Expiry: live()}))
			}
			if err := s.Delete(ctx(t), id); err != nil {
				t.Fatalf("Delete of a corrupt record = %v; want nil", err)
			}
			if _, err := s.Load(ctx(t), id); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("Load after Delete = %v; want ErrNotFound", err)
			}
		})
	}
}

func TestCloseLeavesAGivenClientOpen(t *testing.T) {
	client := standalone(t)
	s := newStore(t, client)
	s.Close()
	s.Close()
	if err := client.Do(ctx(t), client.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("client unusable after Store.Close: %v", err)
	}
}

func TestOpenOwnsItsClient(t *testing.T) {
	standalone(t)
	s, err := redis.Open(ctx(t), rueidis.ClientOption{InitAddress: []string{testenv.RedisAddr}},
		redis.WithKeyPrefix(newPrefix(t, standalone(t))))
	if err != nil {
		t.Fatal(err)
	}
	rec := session.Record{ID: storetest.NewID(), Expiry: live(), Data: []byte("x")}
	if err := s.Save(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx(t), rec.ID); err != nil || string(got.Data) != "x" {
		t.Fatalf("Load = %q, %v", got.Data, err)
	}
	s.Close()
	s.Close()
	_, err = s.Load(ctx(t), rec.ID)
	wantOutage(t, "Load after Close", err)
}

// failingIndex is a client on which every command on a user index key
// fails, as when the cluster node holding the index is down while the
// record's is up.
type failingIndex struct {
	rueidis.Client
	indexKeys string // the prefix of index keys
}

func (c failingIndex) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	for _, arg := range cmd.Commands() {
		if strings.HasPrefix(arg, c.indexKeys) {
			return c.Client.Do(ctx, c.Client.B().Eval().Script("return redis.error_reply('ERR injected: index node down')").Numkeys(0).Build())
		}
	}
	return c.Client.Do(ctx, cmd)
}

func (c failingIndex) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	out := make([]rueidis.RedisResult, len(cmds))
	for i, cmd := range cmds {
		out[i] = c.Do(ctx, cmd)
	}
	return out
}

// A Save that wrote its record but could not index it must say so: it
// returns an error (the outcome is ambiguous to the caller, who reloads
// and finds the write), and logs that listing and revoking the user's
// sessions will miss it, naming the session only by a short prefix.
func TestRecordWrittenButNotIndexedIsLoggedAndAnError(t *testing.T) {
	client := standalone(t)
	prefix := newPrefix(t, client)
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := redis.New(failingIndex{client, prefix + "u:"}, redis.WithKeyPrefix(prefix), redis.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	user := "carol-" + storetest.NewID()[:8]
	rec := session.Record{ID: storetest.NewID(), UserID: user, Expiry: live(), Data: []byte("x")}
	err = s.Save(ctx(t), rec)
	wantOutage(t, "Save with the index unreachable", err)
	if got, err := s.Load(ctx(t), rec.ID); err != nil || got.Version != 1 {
		t.Fatalf("Load after the ambiguous Save = version %d, %v; want the written version 1", got.Version, err)
	}
	line := logs.String()
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "session="+rec.ID[:8]+" ") {
		t.Fatalf("logged %q; want a WARN line naming the session by its first 8 characters", line)
	}
	if strings.Contains(line, rec.ID) || strings.Contains(line, user) {
		t.Fatalf("logged %q, which holds the record ID or the user ID", line)
	}
}
