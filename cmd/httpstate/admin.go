package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
	"github.com/httpstate/httpstate/cmd/httpstate/internal/useragent"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/token/refresh"
)

// stores are the two stores a command works on: the sessions, and the API
// refresh token families serve keeps beside them.
type stores struct {
	loc      storeurl.Location
	sessions session.Store
	tokens   session.Store
	manager  *session.Manager
	families *refresh.Families
	close    func()
}

func openStores(ctx context.Context, rawURL string) (*stores, error) {
	loc, err := storeurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	sessions, c1, err := storeurl.Open(ctx, rawURL)
	if errors.Is(err, fs.ErrNotExist) {
		// Only serve creates an SQLite file: a mistyped path must not
		// read as an empty store.
		return nil, fmt.Errorf("%w (only 'httpstate serve' creates a new database)", err)
	}
	if err != nil {
		return nil, err
	}
	tokens, c2, err := storeurl.Open(ctx, rawURL, storeurl.Namespace(tokensNamespace))
	if err != nil {
		c1.Close()
		return nil, err
	}
	// The Manager decodes records with the library's default timeouts,
	// which serve uses too.
	m, err := session.New(sessions, session.Options{})
	if err != nil {
		c1.Close()
		c2.Close()
		return nil, err
	}
	families, err := refresh.NewFamilies(tokens)
	if err != nil {
		c1.Close()
		c2.Close()
		return nil, err
	}
	return &stores{loc: loc, sessions: sessions, tokens: tokens, manager: m, families: families, close: func() { c1.Close(); c2.Close() }}, nil
}

// entry is one live session or API client, as list prints it.
type entry struct {
	Handle     string    `json:"handle"`
	Kind       string    `json:"kind"` // "browser" or "api"
	User       string    `json:"user"`
	Created    time.Time `json:"created"`
	LastSeen   time.Time `json:"last_seen"`
	Expires    time.Time `json:"expires"`
	Remembered bool      `json:"remembered,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
	Browser    string    `json:"browser,omitempty"` // the user agent as the shop's device list describes it
	IP         string    `json:"ip,omitempty"`
	Refreshes  int       `json:"refreshes,omitempty"`
}

func (s *stores) entries(ctx context.Context, user string) ([]entry, error) {
	devices, err := s.manager.Devices(ctx, user)
	if err != nil {
		return nil, err
	}
	families, err := s.families.List(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(devices)+len(families))
	for _, d := range devices {
		out = append(out, entry{
			Handle: d.Handle, Kind: "browser", User: d.UserID, Created: d.Created, LastSeen: d.LastSeen,
			Expires: d.Expires, Remembered: d.Remembered, UserAgent: d.UserAgent, Browser: useragent.Describe(d.UserAgent), IP: d.IP,
		})
	}
	for _, f := range families {
		out = append(out, entry{
			Handle: f.ID, Kind: "api", User: f.UserID, Created: f.Created, LastSeen: f.LastUsed,
			Expires: f.Expires, Refreshes: f.Rotations,
		})
	}
	slices.SortFunc(out, func(a, b entry) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.Handle, b.Handle))
	})
	return out, nil
}

// handlePrefixLen is how much of a handle list prints: enough to tell a
// user's sessions apart and to pass to revoke with --user.
const handlePrefixLen = 12

func sessionsList(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("sessions list")
	storeURL := storeFlag(fs)
	user := fs.String("user", "", "the user whose sessions to list (required)")
	asJSON := fs.Bool("json", false, "print JSON, with full handles")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *user == "" {
		return usagef(fs.Name(), "sessions list needs --user")
	}
	st, err := openStores(ctx, *storeURL)
	if err != nil {
		return err
	}
	defer st.close()
	list, err := st.entries(ctx, *user)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(stdout, "No live sessions for user %q.\n", *user)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HANDLE\tKIND\tCREATED\tLAST SEEN\tENDS\tREMEMBERED\tIP\tBROWSER")
	for _, e := range list {
		remembered, ip, ua := "no", clip(orDash(e.IP), 45), e.Browser
		if e.Remembered {
			remembered = "yes"
		}
		if e.Kind == "api" {
			remembered, ua = "-", fmt.Sprintf("(API client, %s)", plural(e.Refreshes, "refresh", "refreshes"))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			e.Handle[:min(len(e.Handle), handlePrefixLen)], e.Kind, timestamp(e.Created), timestamp(e.LastSeen),
			timestamp(e.Expires), remembered, ip, clip(ua, 60))
	}
	return tw.Flush()
}

func sessionsRevoke(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("sessions revoke")
	storeURL := storeFlag(fs)
	user := fs.String("user", "", "revoke this user's sessions (all of them, without --handle)")
	handle := fs.String("handle", "", "revoke only the session with this handle (or handle prefix, with --user)")
	// parse refuses --handle "": read as "no handle", it would revoke
	// every session of the user.
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *user == "" && *handle == "":
		return usagef(fs.Name(), "sessions revoke needs --user, --handle, or both")
	case *user == "" && len(*handle) != fullHandleLen:
		return usagef(fs.Name(), "--handle without --user must be a full %d-character handle (see 'sessions list --json'); with --user, a prefix will do", fullHandleLen)
	}
	st, err := openStores(ctx, *storeURL)
	if err != nil {
		return err
	}
	defer st.close()

	if *handle == "" {
		n, err := st.manager.RevokeAll(ctx, *user, "")
		if err != nil {
			return err
		}
		m, err := st.families.RevokeAll(ctx, *user)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Revoked %s and %s of user %q.\n", plural(n, "browser session", "browser sessions"), plural(m, "API client", "API clients"), *user)
		return nil
	}
	if *user == "" {
		return revokeHandle(ctx, st, *handle, stdout)
	}
	return revokeUserHandle(ctx, st, *user, *handle, stdout)
}

// fullHandleLen is the length of a session's handle: base64url SHA-256.
const fullHandleLen = 43

// errNoSuchSession reports a handle that names no live session.
var errNoSuchSession = errors.New("no live session with that handle")

// revokeHandle deletes the record with a full handle, whoever owns it:
// a browser session, or else an API client's token family.
func revokeHandle(ctx context.Context, st *stores, handle string, stdout io.Writer) error {
	for _, s := range []struct {
		store session.Store
		kind  string
	}{{st.sessions, "browser session"}, {st.tokens, "API client"}} {
		rec, err := s.store.Load(ctx, handle)
		if errors.Is(err, session.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.store.Delete(ctx, handle); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Revoked %s %s… of user %q.\n", s.kind, handle[:handlePrefixLen], rec.UserID)
		return nil
	}
	return errNoSuchSession
}

// revokeUserHandle revokes the one session or API client of user whose
// handle starts with prefix.
func revokeUserHandle(ctx context.Context, st *stores, user, prefix string, stdout io.Writer) error {
	list, err := st.entries(ctx, user)
	if err != nil {
		return err
	}
	var match []entry
	for _, e := range list {
		if strings.HasPrefix(e.Handle, prefix) {
			match = append(match, e)
		}
	}
	switch {
	case len(match) == 0:
		return fmt.Errorf("%w of user %q", errNoSuchSession, user)
	case len(match) > 1:
		return fmt.Errorf("%d sessions of user %q start with %q; give more of the handle", len(match), user, prefix)
	}
	e := match[0]
	if e.Kind == "api" {
		err = st.families.Revoke(ctx, user, e.Handle)
	} else {
		err = st.manager.Revoke(ctx, user, e.Handle)
	}
	if errors.Is(err, session.ErrNotFound) {
		return fmt.Errorf("%w of user %q (it ended meanwhile)", errNoSuchSession, user)
	}
	if err != nil {
		return err
	}
	kind := "browser session"
	if e.Kind == "api" {
		kind = "API client"
	}
	fmt.Fprintf(stdout, "Revoked %s %s… of user %q.\n", kind, e.Handle[:min(len(e.Handle), handlePrefixLen)], user)
	return nil
}

// progressEvery is the least time between two progress lines of gc.
var progressEvery = time.Second

func gc(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gc")
	storeURL := storeFlag(fs)
	batch := fs.Int("batch", 1000, "records to delete per call")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *batch <= 0 {
		return usagef(fs.Name(), "--batch must be positive")
	}
	st, err := openStores(ctx, *storeURL)
	if err != nil {
		return err
	}
	defer st.close()
	var totals [2]int
	for i, s := range []struct {
		store session.Store
		what  string
	}{{st.sessions, "expired sessions"}, {st.tokens, "expired API token families"}} {
		last := time.Now()
		for {
			n, err := s.store.DeleteExpired(ctx, *batch)
			totals[i] += n
			if err != nil {
				return fmt.Errorf("gc: %d %s deleted, then: %w", totals[i], s.what, err)
			}
			if n == 0 {
				break
			}
			if time.Since(last) >= progressEvery {
				fmt.Fprintf(stderr, "gc: %d %s deleted so far…\n", totals[i], s.what)
				last = time.Now()
			}
		}
	}
	fmt.Fprintf(stdout, "Deleted %s and %s.\n", plural(totals[0], "expired session", "expired sessions"), plural(totals[1], "expired API token family", "expired API token families"))
	if st.loc.Kind == storeurl.Redis || st.loc.Kind == storeurl.Memcached {
		fmt.Fprintf(stdout, "(%s expires records by itself; there is never anything for gc to delete.)\n", st.loc.Kind)
	}
	return nil
}

// pingSamples is how many reads stats times.
const pingSamples = 5

func stats(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("stats")
	storeURL := storeFlag(fs)
	user := fs.String("user", "", "also count this user's live sessions")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	st, err := openStores(ctx, *storeURL)
	if err != nil {
		return err
	}
	defer st.close()
	var rtts []time.Duration
	for range pingSamples {
		d, err := storeurl.Ping(ctx, st.sessions)
		if err != nil {
			return fmt.Errorf("store stopped answering: %w", err)
		}
		rtts = append(rtts, d)
	}
	slices.Sort(rtts)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "store:\t%s\n", st.loc.Redacted)
	fmt.Fprintf(tw, "kind:\t%s\n", st.loc.Kind)
	fmt.Fprintf(tw, "reachable:\tyes\n")
	fmt.Fprintf(tw, "read latency:\tmedian %s, max %s over %d reads\n", rtts[len(rtts)/2].Round(time.Microsecond), rtts[len(rtts)-1].Round(time.Microsecond), len(rtts))
	if l, ok := st.sessions.(interface{ Len() int }); ok {
		fmt.Fprintf(tw, "records:\t%d (this process's own memory; no other process can see it)\n", l.Len())
	} else {
		fmt.Fprintf(tw, "records:\tnot countable through the Store interface; ask the database\n")
	}
	if *user != "" {
		list, err := st.entries(ctx, *user)
		if err != nil {
			return err
		}
		browsers := 0
		for _, e := range list {
			if e.Kind == "browser" {
				browsers++
			}
		}
		fmt.Fprintf(tw, "user %s:\t%s, %s\n", *user, plural(browsers, "browser session", "browser sessions"), plural(len(list)-browsers, "API client", "API clients"))
	}
	return tw.Flush()
}

// plural writes a count with the noun that agrees with it.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clip shortens s to n runes for a table cell, and drops control
// characters a client could have put in its User-Agent to mess with an
// operator's terminal.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
