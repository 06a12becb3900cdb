// Package storelog is what the stores log, in one wording, and the rule
// that keeps secrets out of it: a session appears only as the first 8
// characters of its record ID (itself a hash of the session token, as
// package session logs it), and no user ID or token ever appears.
package storelog

import (
	"context"
	"log/slog"
)

// Or returns l, or slog.Default() if l is nil: the default of every
// store's WithLogger.
func Or(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// Session is the attribute that names the session stored under id.
func Session(id string) slog.Attr {
	return slog.String("session", id[:min(8, len(id))])
}

// Unlisted logs, at WARN level, that store wrote the record under id but
// could not write its user index entry, because of err: listing the
// user's sessions, and so revoking them all, misses it until its next
// save.
func Unlisted(ctx context.Context, log *slog.Logger, store, id string, err error) {
	log.LogAttrs(ctx, slog.LevelWarn, "session saved, but its user index entry could not be written: "+
		"listing and revoking the user's sessions will miss it until it is saved again",
		slog.String("store", store), Session(id), slog.Any("err", err))
}
