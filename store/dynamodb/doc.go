// Package dynamodb is a session.Store on an Amazon DynamoDB table, through
// the AWS SDK for Go v2. It is a module of its own
// (github.com/httpstate/httpstate/store/dynamodb), so the SDK never enters
// the dependency graph of apps that do not use it.
//
// Choose it for apps on AWS Lambda, Fargate or ECS that want sessions
// without a database server to run: the table scales with traffic, costs
// nothing while idle, and is reached with the role the app already has.
// Deletes and revocations are durable once they return, and the
// compare-and-swap in Save never lets a slow request bring a deleted
// session back.
//
//	cfg, err := config.LoadDefaultConfig(ctx) // region and credentials as usual
//	store, err := dynamodb.New(ctx, awsdynamodb.NewFromConfig(cfg), "httpstate_sessions")
//
// New does no I/O: the table must exist (or pass WithCreateTable in
// development). The Store holds no connection of its own, so it has no
// Close; the client's HTTP connections are the client's.
//
// # The table
//
// Create the table with your infrastructure code or with these commands,
// changing the name as you like. The key schema and the TTL attribute are
// what the store needs; capacity mode, encryption, backups and deletion
// protection are yours to choose:
//
//	aws dynamodb create-table --table-name httpstate_sessions \
//		--attribute-definitions AttributeName=pk,AttributeType=B AttributeName=sk,AttributeType=B \
//		--key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
//		--billing-mode PAY_PER_REQUEST
//	aws dynamodb update-time-to-live --table-name httpstate_sessions \
//		--time-to-live-specification Enabled=true,AttributeName=expires_at
//
// The table has no secondary index (see Consistency for why). The app's
// role needs dynamodb:GetItem, PutItem, UpdateItem, DeleteItem, Query,
// BatchGetItem and BatchWriteItem on it, and dynamodb:Scan if it calls
// DeleteExpired. WithCreateTable also needs CreateTable, DescribeTable,
// DescribeTimeToLive and UpdateTimeToLive; a missing table is reported as
// an error wrapping ErrNoTable.
//
// # Items
//
// One table holds three kinds of item, all with binary keys:
//
//   - a record: pk "s" followed by the session ID, sk "r". It holds the
//     user ID, the version, the expiry in milliseconds, the Data (or the
//     name and count of its chunks), and the nonce and TTL of its user's
//     index entry.
//   - a chunk: pk as the record's, sk "c" followed by an 8-byte chunk set
//     and a 2-byte index. A record whose Data does not fit in one item
//     (DynamoDB's limit is 400 KB) keeps it in chunks of about 398 KiB,
//     written before the record that names them and never changed after,
//     so a reader sees either the old value or the new one.
//   - an index entry: pk "u" followed by the SHA-256 of the user ID, sk the
//     session ID. It lists one of the user's sessions; hashing keeps the
//     key short whatever the user ID and keeps user IDs (often email
//     addresses) out of keys.
//
// Every item carries expires_at, the TTL attribute, in Unix seconds. It is
// an hour later than the expiry the store judges by, because TTL deletes by
// AWS's clock and an app whose clock runs behind must not see a session
// vanish early.
//
// # Consistency
//
// Every read is strongly consistent and every write is conditional on
// what the caller loaded: Save is a PutItem or UpdateItem whose condition
// is "the stored version is the loaded one and the record has not
// expired", or for a new record "there is no record or it has expired";
// when it fails, Save returns session.ErrConflict and has changed nothing
// that any call can see. Load and every other method judge expiry
// themselves, by the clock of the process that calls them (the store's
// current time in the sense of session.Record.Expiry), because TTL
// deletes expired items late (typically within a few days).
//
// ListByUser must return every record whose Save returned before it was
// called: session.Manager.RevokeAll relies on it to sign a user out
// everywhere. A global secondary index on the user ID cannot promise that:
// DynamoDB updates it asynchronously and it only serves eventually
// consistent reads, so a session created or renewed a moment ago could be
// missed by the revocation and survive it. The user index is therefore
// kept as items in the table itself, read with a strongly consistent
// Query, and the store never lets a record belong to a user without its
// index entry:
//
//   - a Save that gives a record a user writes the index entry first, under
//     a fresh random nonce that the record then records; a Save cut off in
//     between leaves at most an entry without a record, which ListByUser
//     skips;
//   - a Save that moves a record to another user (or to none), and a
//     Delete, remove the old entry only if it still holds the nonce of the
//     record they replaced; any other nonce belongs to a later save, which
//     may still need the entry;
//   - a new record writes its entry once more after the record, because an
//     older record under the same ID may have been deleted in between,
//     taking the entry with it;
//   - an entry's TTL is never lower than that of any record it lists.
//
// ListByUser then reads the listed records with a strongly consistent
// BatchGetItem and keeps those that are live and still belong to the
// user. These steps are what DynamoDB's transactions would otherwise
// buy; transactions cost twice the write units, and the emulators used
// for testing (dynalite) do not have them.
//
// # Costs
//
// With on-demand capacity (PAY_PER_REQUEST) DynamoDB bills read request
// units (one per strongly consistent read of up to 4 KB) and write request
// units (one per write of up to 1 KB, counting the whole item, also when
// its condition fails). The store's calls, for a session of up to 1 KB:
//
//	Load                                        1 GetItem                      1 read unit
//	Save of an anonymous session                1 PutItem                      1 write unit
//	Save of a signed-in session (the common     1 UpdateItem                   1 write unit
//	  case: same user, index entry still long
//	  enough)
//	Save of a new signed-in session (a login)   3 writes                       3 write units
//	Save that extends a session past its        1 UpdateItem (fails),          3 write units
//	  index entry's TTL (about once per           2 writes
//	  session lifetime: an entry lives for
//	  twice the session's remaining lifetime)
//	Save that leaves a user (a renewal's        1 PutItem, 1 DeleteItem        2 write units
//	  tombstone, a logout that keeps data)
//	Delete                                      1 or 2 DeleteItem              1 or 2 write units
//	ListByUser                                  1 Query, 1 BatchGetItem        1 read unit per 4 KB of
//	                                              per 100 sessions             entries, 1 per session
//
// A Save whose condition fails learns why from the item DynamoDB returns
// with the failure; emulators that do not return it (dynalite) cost one
// GetItem more. Larger sessions cost one write unit per KB and one read unit per 4 KB,
// in one item up to 400 KB and in chunks beyond. So a site whose requests
// each load and save a small signed-in session pays for one read and one
// write unit per request; requests that only read pay the read. TTL
// deletions are free. DeleteExpired scans, and pays for reading, the whole
// table; with TTL enabled it is not needed. Provisioned capacity with auto
// scaling costs less for steady traffic, but a burst beyond it throttles
// requests (the SDK retries them, then the call fails and the Manager
// answers 503), so on-demand suits session traffic, which follows users.
//
// # Deadlines
//
// Every method passes its context to the SDK, which honours it while
// connecting, while waiting for DynamoDB and between retries: when the
// context is done the method returns an error wrapping ctx.Err(). An
// unreachable endpoint is therefore an error, never a hang and never
// session.ErrNotFound, as long as callers set deadlines (the Manager's
// StoreTimeout does). The SDK's retryer retries throttled and failed
// requests (three attempts by default) within the same deadline.
//
// # What it cannot do
//
//   - Global tables, in their usual multi-region eventual consistency:
//     replication between regions is asynchronous and concurrent writes
//     in two regions are settled by last writer wins, which defeats the
//     compare-and-swap and lets a revoked session come back in the other
//     region. Use a table in one region.
//   - DAX: its item cache serves eventually consistent reads; the store
//     reads strongly consistently and gains nothing from it.
//   - Big sessions cheaply: every Save writes the whole Data, at one write
//     unit per KB, and a session over 400 KB is written and read in
//     several requests. (Data beyond the contract's session.MaxDataLen is
//     kept too, in more chunks.)
//
// # Emulators
//
// The store's tests run against dynalite, which keeps DynamoDB's API,
// limits and error messages, but has no TTL and no transactions, and
// serves every read consistently, so it cannot show an eventually
// consistent read missing a write; that the store makes none is checked
// on the requests it sends. Point the client at an emulator with its
// BaseEndpoint; with WithCreateTable on one without TTL, expired items
// stay until DeleteExpired removes them.
package dynamodb
