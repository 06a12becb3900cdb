// Package redis is a session.Store on Redis, through
// github.com/redis/rueidis: the store to choose when several app servers
// share sessions and speed matters. Load is one GET, or no round trip at
// all with client-side caching (WithClientCache); Save is one round trip.
//
// It needs Redis 6.2 or later, or a compatible server such as Valkey, with
// Lua scripting allowed. It works with a standalone server, with Sentinel
// and with Redis Cluster, through any rueidis.Client (New) or a client it
// opens and owns (Open). Automatic pipelining, rueidis's default, stays
// on: concurrent calls share connections and round trips.
//
//	// A standalone server, or a cluster discovered from some of its nodes:
//	store, err := redis.Open(ctx, rueidis.ClientOption{
//		InitAddress: []string{"10.0.0.1:6379", "10.0.0.2:6379"},
//	})
//
//	// The primary that Sentinel names "sessions", followed across
//	// failovers:
//	store, err := redis.Open(ctx, rueidis.ClientOption{
//		InitAddress: []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"},
//		Sentinel:    rueidis.SentinelOption{MasterSet: "sessions"},
//	})
//
// Set Username, Password and TLSConfig in the ClientOption as your
// deployment requires.
//
// # Keys
//
// Every key starts with a prefix, DefaultKeyPrefix unless WithKeyPrefix
// sets another.
//
//	prefix+"s:"+ID      a string: the record (a 21-byte header of version,
//	                    expiry and user ID length, then the user ID and
//	                    the data), expiring session.MaxClockSkew after the
//	                    record's Expiry
//	prefix+"u:"+UserID  a sorted set: the IDs of the user's records, each
//	                    scored by its Expiry in unix milliseconds, expiring
//	                    session.MaxClockSkew after the latest of them
//
// So an operator can list a user's sessions with
// ZRANGE httpstate:u:alice 0 -1, and end one with DEL httpstate:s:<ID>.
// Anonymous records (empty UserID) have no index entry.
//
// # Consistency
//
// Save is a compare-and-swap in one Lua script on the record key: it reads
// the stored version (zero when there is no record or its expiry has
// passed), writes the record with its TTL only if that is the version the
// caller loaded, and reports whether the record belonged to another user
// before. The check and the write are atomic, so a slow writer can never
// bring back a deleted session, and concurrent read-modify-write loops
// lose no update.
//
// The user index cannot be part of that script: in Redis Cluster a record
// and its user's index hash to different slots, and one script may only
// touch keys of one slot. (Putting a record under a hash tag of its user
// is no way out: the user changes at login, and Load has only the ID.) So
// the index is maintained next to the records, not atomically with them:
//
//   - Save sends a second script, which adds the record's ID to its
//     user's index or raises its score, in the same pipeline as the
//     compare-and-swap, before knowing whether the swap wins. A losing Save
//     may thus leave an entry naming a record that is not that user's.
//     When the swap wins and the record belonged to another user, Save
//     then removes the entry from that user's index.
//   - Delete removes the record, then its entry.
//   - ListByUser reads the index, loads every record it names, and returns
//     only those that are live and still the user's; it removes the other
//     entries as it goes.
//   - Index scores are only ever raised, so an entry cannot expire before
//     its record, and every index write also trims the entries whose
//     score has passed, and sets the index key to expire with its last
//     entry: indexes never grow without bound, and nothing needs sweeping.
//
// The outcome: ListByUser never returns a record of another user or an
// expired one, and once Save returns nil the record is in its user's
// index. An entry is removed only after its record stopped being the
// user's, and every removal reads the record again afterwards and puts
// the entry back if the record has become the user's again in between, so
// no interleaving of concurrent saves leaves a live record out of the
// index for good. During that instant, a ListByUser running concurrently
// with such a race can miss the record. The same holds in every
// deployment, standalone included: there is one code path.
//
// # Expiry and clocks
//
// Two clocks judge Expiry, each in its own place:
//
//   - The app's clock, the calling process's, judges records. Load and
//     ListByUser treat a record whose Expiry has passed by it as absent.
//     Save refuses an Expiry that is not after it (session.ErrInvalid),
//     and passes it to the compare-and-swap script (in ARGV), which counts
//     a record expired by it as absent, so that a record one app server's
//     Load reported absent can be created anew by that server.
//   - Redis's clock removes what has expired: record and index keys by
//     their TTLs (SET with PXAT, PEXPIREAT), and index entries, which
//     every index write and ListByUser trim by Redis's TIME.
//
// Redis's clock removes a record key, an index entry or an index key only
// session.MaxClockSkew after the Expiry, so that as long as the clocks of
// the app servers and of Redis agree within that bound, as the contract
// requires, Redis never removes what an app server still counts as live;
// meanwhile the expiry in the record's header hides it. Expiry is kept to
// the millisecond, rounded down. DeleteExpired has nothing to do and
// returns 0, nil.
//
// # Logging
//
// The store logs one thing, at WARN level, through WithLogger (default
// slog.Default()): a live record missing from its user's index, because
// Redis failed between writing the record and writing its entry (see
// Consistency), or between removing an entry in a race and putting it
// back. ListByUser, and so Manager.RevokeAll, misses that session until
// its next Save; a Save that ends so also returns an error. The message
// names the session by the first 8 characters of its record ID, itself a
// hash of the token.
//
// # Deadlines
//
// Every call honours its context: rueidis abandons a command whose
// context is done, and a call on a dead or unresponsive server returns an
// error (never ErrNotFound) when the context ends, if not sooner. Open
// returns when the client has connected or ctx is done. Give every request
// a deadline: without one, a call on a server that stopped answering
// waits for rueidis to notice (its ConnWriteTimeout, 10s by default).
//
// One step ignores ctx on purpose: once Save has written a record, or
// Delete removed one, the index maintenance that follows runs to its end
// even if ctx is done meanwhile, bounded by one second, so that a request
// canceled halfway cannot leave a session that ListByUser, and so
// revocation, does not see.
//
// # What Redis cannot promise
//
//   - Durability: Redis keeps data in memory. Without persistence every
//     session is lost on restart. With RDB snapshots the writes since the
//     last snapshot are lost; with appendonly yes and appendfsync everysec,
//     up to a second of them.
//   - Failover: replication is asynchronous, so a Sentinel or Cluster
//     failover can lose writes the old primary had acknowledged, a Delete
//     among them: a session revoked just before a failover can come back.
//     If that matters, re-check revocations against your user database
//     (for instance a per-user credential generation) or use a store with
//     synchronous durability (store/postgres, store/mysql).
//   - Eviction: with a maxmemory limit, set maxmemory-policy noeviction.
//     The volatile-* and allkeys-* policies evict session records (logging
//     users out) and user indexes (hiding sessions from revocation until
//     they are saved again).
//   - Access control: records hold the session data as the Manager
//     encoded it, so anyone who can read Redis can read them; record IDs
//     are SHA-256 hashes of the session tokens, so reading the keys does
//     not let anyone act as a user. Anyone who can write to Redis,
//     however, can log in as any user, by storing a record under the hash
//     of a token of their own. Require a password or an ACL user, bind
//     Redis to a private network, and use TLS on networks you do not
//     trust.
//
// # Cost
//
// Load: one GET, or none when cached. Save: one round trip carrying one
// script, or two for a record with a user (in a cluster, two parallel
// round trips, to the record's node and to the index's), plus two round
// trips when the record changes users. Delete: one round trip, three for
// a record with a user. ListByUser: two round trips, plus two more when it
// finds stale entries. Redis does the work of a Save in Lua, a few
// microseconds more than a plain SET.
package redis
