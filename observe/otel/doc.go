// Package otelobserve turns httpstate's telemetry events (package observe)
// into OpenTelemetry spans and metrics. It lives in a module of its own,
// github.com/httpstate/httpstate/observe/otel, so that the httpstate module
// itself never depends on OpenTelemetry.
//
// Make one Observer with New and give it to every option that takes an
// observe.Observer: session.Options.Observer, token.VerifierOptions.Observer,
// token.RemoteKeySetOptions.Observer, refresh.Options.Observer and the cookie
// codecs'.
//
// # Spans
//
// An event that times an operation (its Start is set) becomes a span that
// starts at Start and ends Duration later, a child of the span in the
// context the event came with; for a request, that is the context the
// session middleware or token.Bearer was given, so the spans nest under the
// request's server span. The timed operations and their span names:
//
//	session.store.load, .save, .delete, .list, .delete_expired  one call to the session.Store (kind Client)
//	session.save        the save of one request's session, compare-and-swap retries included
//	session.revoke      one Manager.Revoke or RevokeAll, its store calls as siblings
//	token.verify        the verification of one access token
//	token.refresh       the exchange of one refresh token
//	token.jwks_fetch    one fetch of a remote JWKS (kind Client)
//
// httpstate reports an operation when it ends, so a span cannot be the
// parent of spans that ended before it did: the store calls of a save are
// the save span's siblings under the request's span, and the save span's
// start and end enclose them on the timeline. A timed event of a kind not
// listed here (a later version of httpstate may time more) becomes a span
// named for its Kind.
//
// An event that times nothing (a login, a lapsed token, a
// read-modify-write conflict, a cookie decode) becomes a span event, named
// for its Kind (session.login, session.lapsed, ...), on the span in its
// context, if that span is recording; it never starts a span of its own.
//
// Calls made outside any request, such as RevokeAll from an administrative
// job, report with the context they were given: start a span around the
// call, or its store calls become root spans of their own.
//
// A span's status is Error when the event's Outcome is observe.Error: the
// operation could not be carried out (the store failed, the JWKS could not
// be fetched). Every other outcome (a rejected token, a compare-and-swap
// conflict, a session ended by another request, refresh-token reuse)
// leaves the status unset: the operation did its job, and its answer is in
// the httpstate.outcome and httpstate.reason attributes.
//
// # Metrics
//
// Durations are in seconds, counts are of the unit in braces:
//
//	httpstate.session.store.duration     histogram, s           store calls, by operation and outcome
//	httpstate.session.save.duration      histogram, s           session saves, by outcome
//	httpstate.session.save.attempts      histogram, {attempt}   store saves tried per session save, by outcome
//	httpstate.session.lapsed             counter, {request}     requests with a token naming no live session, by reason
//	httpstate.session.logins             counter, {login}
//	httpstate.session.logouts            counter, {logout}
//	httpstate.session.renewals           counter, {renewal}
//	httpstate.session.revocations        counter, {call}        Revoke (operation "one") and RevokeAll ("all") calls, by outcome
//	httpstate.session.revoked            counter, {session}     sessions those calls ended, by operation and outcome
//	httpstate.session.ended_concurrently counter, {request}     requests whose session another request ended
//	httpstate.session.read_conflicts     counter, {conflict}    read-modify-write conflicts, by outcome
//	httpstate.token.verify.duration      histogram, s           access-token verifications, by outcome and reason
//	httpstate.token.refresh.duration     histogram, s           refresh-token exchanges, by outcome and reason
//	httpstate.token.jwks_fetch.duration  histogram, s           JWKS fetches, by outcome and reason
//	httpstate.cookie.decodes             counter, {decode}      cookie decodes, by operation, outcome and reason
//	httpstate.events                     counter, {event}       events of kinds this package does not know, by kind, operation, outcome and reason
//
// A histogram's count is the number of operations: compare-and-swap
// conflicts are the store saves with outcome "conflict", refresh-token
// reuse is the refreshes with outcome "reused", failed verifications are
// the verifications with outcome "rejected", by reason.
//
// # Attributes
//
// Metric data points carry only the event's closed vocabularies, each when
// the event sets it: httpstate.operation (Event.Op), httpstate.outcome
// (Event.Outcome) and httpstate.reason (Event.Reason); httpstate.kind
// (Event.Kind) only on httpstate.events. Spans and span events carry the
// same, and the counts: httpstate.save.attempts on a save,
// httpstate.revoke.sessions on a revocation, httpstate.attempts on an event
// of a kind this package does not know.
//
// The session key of a read-modify-write conflict (Event.Key) is the
// httpstate.session.key attribute of the session.read_conflict span event,
// and never a metric attribute. A key is named by the application's code,
// never by a client, but code may build names from data ("draft:" plus a
// document ID): a span attribute costs one string on one trace, while every
// distinct value of a metric attribute is a time series that the metrics
// backend keeps, and multiplies with every other attribute. Give keys fixed
// names, not names built from a user ID or other personal data, since the
// key does appear on traces.
//
// Event.Err appears nowhere: not as an attribute, not as a span event, not
// in a span's status description, which names the operation and its reason
// instead ("token.jwks_fetch failed: unreachable"). The error's text comes
// from a store driver or an HTTP client that this package does not
// control: it may name a database server, user or DSN, and a driver that
// echoes the command it failed on would put the session's store ID, its
// handle, into the trace. Log Err where it is produced (session.Options.Logger
// already does), or from an observe.Observer of your own.
//
// # What never appears
//
// No session token, handle or store ID, user ID, access or refresh token,
// family ID, subject, cookie value or session value: package observe keeps
// them out of every Event, and this package adds nothing but the event's
// own fields.
//
// # Cost
//
// Observe creates at most one span, records one or two measurements and
// reuses the attribute set of each combination of operation, outcome and
// reason it has seen. Whether it blocks depends on the providers: with the
// SDK's batching span processor (sdktrace.WithBatcher) it does not, with
// its synchronous one (sdktrace.WithSyncer, meant for tests) it waits for
// the exporter.
package otelobserve
