package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/httpstate/httpstate/session"
)

// Each script touches exactly one key, so it runs in Redis Cluster whatever
// slots a record and its user's index hash to. Times are unix
// milliseconds.
//
// The record scripts read the header laid out in codec.go with GETRANGE:
// bytes 0-20 are format, version (1-8), expiry (9-16) and user length
// (17-20); the user ID follows from byte 21. Lua strings are 1-based. The
// scripts are written for speed rather than elegance (no tables, no
// closures, one GETRANGE in the common case): Redis runs them on its only
// thread, and every microsecond there is one no other client gets.
//
// Redis's own clock (its key TTLs, TIME in the index scripts) only ever
// removes things skewMillis after the caller's clock says they expired,
// so that a Redis clock ahead of the app's by up to session.MaxClockSkew
// never removes a record, or its index entry, that the app still counts
// as live.

// skewMillis is session.MaxClockSkew in milliseconds.
const skewMillis = int64(session.MaxClockSkew / 1e6)

// withSkew puts skewMillis into a script's text in place of SKEW.
func withSkew(src string) string {
	return strings.ReplaceAll(src, "SKEW", strconv.FormatInt(skewMillis, 10))
}

// casScript is Save's compare-and-swap.
//
//	KEYS[1]  the record key
//	ARGV[1]  the version the caller loaded, 8 bytes big endian
//	ARGV[2]  the new value
//	ARGV[3]  when the key expires, decimal: the record's expiry plus
//	         skewMillis
//	ARGV[4]  its user ID
//	ARGV[5]  the caller's current time, decimal
//
// The stored version counts as zero when there is no record or its expiry
// is not after ARGV[5]: the caller's clock, which its Load also judged
// expiry by, so that a record Load reported absent can be created anew.
// If the stored version is not ARGV[1] it changes nothing and returns an
// array: 0, and the stored value if the record is live, so that the
// caller can retry without loading it.
// Otherwise it writes the value with its TTL and returns the user ID the
// record had before if that was another, non-empty one, whose index entry
// the caller must remove, or else 1. It reads the header and as many bytes
// of user ID as the new one has, which is all it needs unless the user
// changed.
var casScript = newScript(`
local user, zero = ARGV[4], '\0\0\0\0\0\0\0\0'
local h = redis.call('GETRANGE', KEYS[1], 0, 20 + #user)
local old = ''
local live = false
if #h > 0 then
  if #h < 21 or string.byte(h, 1) ~= 1 then
    return redis.error_reply('ERR httpstate: corrupt record')
  end
  local exp = 0
  for i = 10, 17 do exp = exp * 256 + string.byte(h, i) end
  live = exp > tonumber(ARGV[5])
  if live then
    if string.sub(h, 2, 9) ~= ARGV[1] then return {0, redis.call('GET', KEYS[1])} end
    local n = 0
    for i = 18, 21 do n = n * 256 + string.byte(h, i) end
    if n == #user then
      if string.sub(h, 22) ~= user then old = string.sub(h, 22) end
    elseif n > 0 then
      old = redis.call('GETRANGE', KEYS[1], 21, 20 + n)
    end
  end
end
if not live and ARGV[1] ~= zero then return {0} end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
if old == '' then return 1 end
return old
`)

// deleteScript is Delete.
//
//	KEYS[1]  the record key
//
// It deletes the record and returns its user ID, or 1 if there was no
// record or it was anonymous. A value the store cannot parse is deleted
// too: Delete means the session must end.
var deleteScript = newScript(`
local h = redis.call('GETRANGE', KEYS[1], 0, 20)
local user = ''
if #h == 21 and string.byte(h, 1) == 1 then
  local n = 0
  for i = 18, 21 do n = n * 256 + string.byte(h, i) end
  if n > 0 then user = redis.call('GETRANGE', KEYS[1], 21, 20 + n) end
end
redis.call('DEL', KEYS[1])
if user == '' then return 1 end
return user
`)

// indexScript adds an entry to a user's index. The index is a sorted set
// of record IDs scored by expiry: entries of records that expired are
// trimmed on every call, and the key's own TTL follows the largest expiry
// in it, so an index never outlives its user's last session. Expiry here
// is judged by Redis's clock (TIME), the clock that expires the record
// keys, less skewMillis.
//
//	KEYS[1]  the user's index key
//	ARGV[1]  a record ID
//	ARGV[2]  the record's expiry, decimal: the entry's score, which it
//	         raises but never lowers (see Store.Save)
var indexScript = newScript(withSkew(`
local t = redis.call('TIME')
t = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - SKEW
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', t))
if tonumber(ARGV[2]) > t then
  redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
end
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then
  redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', tonumber(top[2]) + SKEW))
end
return 1
`))

// listScript trims a user's index of expired entries, judged as in
// indexScript, and returns the IDs left.
//
//	KEYS[1]  the user's index key
var listScript = newScript(withSkew(`
local t = redis.call('TIME')
t = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - SKEW
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', t))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`))

// script is a Lua script run with EVALSHA, falling back to EVAL when the
// server does not have it cached (after a restart, a failover, SCRIPT
// FLUSH, or on a cluster node that never ran it). rueidis.Lua does the
// same for one call; Save needs two scripts in one pipeline.
type script struct{ src, sha string }

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

// call is one run of a script on one key.
type call struct {
	script *script
	key    string
	args   []string
}

func (s *Store) evalsha(c call) rueidis.Completed {
	return s.client.B().Evalsha().Sha1(c.script.sha).Numkeys(1).Key(c.key).Arg(c.args...).Build()
}

func (s *Store) eval(c call) rueidis.Completed {
	return s.client.B().Eval().Script(c.script.src).Numkeys(1).Key(c.key).Arg(c.args...).Build()
}

// run runs one script.
func (s *Store) run(ctx context.Context, c call) rueidis.RedisResult {
	r := s.client.Do(ctx, s.evalsha(c))
	if noScript(r) {
		r = s.client.Do(ctx, s.eval(c))
	}
	return r
}

// runBoth runs two scripts in one pipeline: one round trip, or two
// parallel ones when the keys live on different cluster nodes. Redis
// answers NOSCRIPT without running anything, so sending the script itself
// afterwards is safe even for the compare-and-swap.
func (s *Store) runBoth(ctx context.Context, a, b call) (ra, rb rueidis.RedisResult) {
	rs := s.client.DoMulti(ctx, s.evalsha(a), s.evalsha(b))
	ra, rb = rs[0], rs[1]
	if noScript(ra) {
		ra = s.client.Do(ctx, s.eval(a))
	}
	if noScript(rb) {
		rb = s.client.Do(ctx, s.eval(b))
	}
	return ra, rb
}

func noScript(r rueidis.RedisResult) bool {
	e, ok := rueidis.IsRedisErr(r.Error())
	return ok && e.IsNoScript()
}
