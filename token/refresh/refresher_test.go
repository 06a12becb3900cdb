package refresh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/internal/testclock"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
	"github.com/httpstate/httpstate/token"
)

func TestRefresherMemory(t *testing.T) {
	testRefresher(t, func(t *testing.T) session.Store {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// testRefresher runs the refresh-token suite against stores made by
// newStore, each isolated from the others (its own table, key prefix or
// database), so the subtests run in parallel.
func testRefresher(t *testing.T, newStore func(t *testing.T) session.Store) {
	for _, c := range []struct {
		name string
		run  func(*testing.T, session.Store)
	}{
		{"IssueGivesAWorkingPair", refreshIssue},
		{"RefreshRotatesAndKeepsClaims", refreshRotates},
		{"ReusedTokenRevokesTheFamily", refreshReuse},
		{"RetryWithinTheGraceWindowGetsAFreshPairOfTheSameFamily", refreshGraceRetry},
		{"ReplayAfterTheGraceWindowRevokesTheFamily", refreshReplayAfterWindow},
		{"GraceRetriesDoNotExtendTheWindow", refreshGraceNotExtended},
		{"OlderSecretRevokesWithinTheWindow", refreshOlderWithinWindow},
		{"StrictRuleRevokesARetry", refreshStrictRule},
		{"RetryAfterASaveThatFailedAfterWriting", refreshRetryAfterAmbiguousSave},
		{"LostAnswerToASaveIsResolvedByReading", refreshRecoversLostAnswer},
		{"RetryAfterASaveThatFailedBeforeWriting", refreshRetryAfterFailedSave},
		{"IssueResolvesALostAnswer", refreshIssueRecovers},
		{"TwoConcurrentRefreshesBothGetAPairAndOnlyTheLaterStaysCurrent", refreshRaceOfTwo},
		{"TwoConcurrentRefreshesUnderTheStrictRuleRevokeTheFamily", refreshRaceOfTwoStrict},
		{"ManyConcurrentRefreshesLeaveExactlyOneCurrentToken", refreshRaceOfMany},
		{"WrongSecretDoesNotRevoke", refreshWrongSecret},
		{"MalformedTokensAreInvalid", refreshMalformed},
		{"StoreKeepsOnlyHashes", refreshOnlyHashes},
		{"RevokeTokenEndsTheFamily", refreshRevokeToken},
		{"RevokeChecksTheOwner", refreshRevokeFamily},
		{"RevokeAllEndsEveryFamilyOfTheUser", refreshRevokeAll},
		{"LifetimeAndIdleTimeoutEndFamilies", refreshLifetime},
		{"TokensBeyondTheReuseWindowAreMerelyInvalid", refreshWindow},
		{"StoreOutageIsNotInvalid", refreshOutage},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newStore(t))
		})
	}
}

type fakeClock = testclock.Clock

const (
	testIssuer   = "https://issuer.test"
	testAudience = "https://api.test"
)

// setup is a Refresher, a Families over the same store, a Verifier for
// the access tokens, and the clock of the first two. Access tokens are
// issued and verified on the real clock.
type setup struct {
	*Refresher
	families *Families
	verifier *token.Verifier
	clock    *fakeClock
	store    session.Store
}

func newSetup(t *testing.T, store session.Store, opts Options) *setup {
	t.Helper()
	key, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	ks := token.NewKeySet(key)
	is, err := token.NewIssuer(ks, token.IssuerOptions{Issuer: testIssuer, Audience: []string{testAudience}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(ks, token.VerifierOptions{Algorithms: []token.Algorithm{token.EdDSA}, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(store, is, opts)
	if err != nil {
		t.Fatal(err)
	}
	fams, err := NewFamilies(store)
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New(time.Now())
	r.now, fams.now = clock.Now, clock.Now
	return &setup{Refresher: r, families: fams, verifier: v, clock: clock, store: store}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newUser() string { return "user-" + b64(randomBytes(6)) }

func (s *setup) issue(t *testing.T, user string) Pair {
	t.Helper()
	p, err := s.Issue(t.Context(), user, map[string]any{"scope": "orders:read", "tenant": 42})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *setup) refresh(t *testing.T, p Pair) Pair {
	t.Helper()
	next, err := s.Refresh(t.Context(), p.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if next.RefreshToken == p.RefreshToken || next.RefreshToken[:secretLen] != p.RefreshToken[:secretLen] {
		t.Fatalf("Refresh returned %s… for %s…; want a new token of the same family", next.RefreshToken[:50], p.RefreshToken[:50])
	}
	return next
}

func (s *setup) wantRefreshErr(t *testing.T, tok string, want error, reused bool) {
	t.Helper()
	p, err := s.Refresh(t.Context(), tok)
	if !errors.Is(err, want) || p != (Pair{}) {
		t.Fatalf("Refresh = %+v, %v; want %v", p, err, want)
	}
	if errors.Is(err, ErrReused) != reused {
		t.Fatalf("Refresh error %v: reused %v, want %v", err, !reused, reused)
	}
}

// current reads the family of p from the store and reports whether p's
// refresh token is its current one.
func (s *setup) current(t *testing.T, p Pair) bool {
	t.Helper()
	id, hash, ok := parseToken(p.RefreshToken)
	if !ok {
		t.Fatalf("malformed refresh token %q", p.RefreshToken)
	}
	rec, err := s.store.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("loading the family: %v", err)
	}
	f, err := decodeFamily(rec.Data)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(f.Current, hash[:])
}

// wantOneFamily checks that user has exactly one live family, refreshed
// rotations times.
func (s *setup) wantOneFamily(t *testing.T, user string, rotations int) {
	t.Helper()
	fams, err := s.families.List(t.Context(), user)
	if err != nil || len(fams) != 1 || fams[0].Rotations != rotations {
		t.Fatalf("Families.List = %+v, %v; want one family with %d rotations", fams, err, rotations)
	}
}

func refreshIssue(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	user := newUser()
	p := s.issue(t, user)
	if p.TokenType != "Bearer" || p.ExpiresIn != int(token.DefaultTTL/time.Second) || len(p.RefreshToken) != 87 {
		t.Errorf("pair = %+v", p)
	}
	c, err := s.verifier.Verify(t.Context(), p.AccessToken)
	if err != nil || c.Subject != user || !c.HasScope("orders:read") {
		t.Fatalf("access token: %+v, %v", c, err)
	}
	j, err := json.Marshal(p)
	if err != nil || !strings.Contains(string(j), `"access_token":`) || !strings.Contains(string(j), `"refresh_token":`) {
		t.Errorf("JSON %s, %v", j, err)
	}
	fams, err := s.families.List(t.Context(), user)
	if err != nil || len(fams) != 1 || fams[0].UserID != user || !strings.HasPrefix(p.RefreshToken, fams[0].ID+".") {
		t.Fatalf("Families.List = %+v, %v", fams, err)
	}
	if want := s.clock.Now().Add(DefaultLifetime); fams[0].Expires.Sub(want).Abs() > time.Millisecond {
		t.Errorf("family expires %v, want %v", fams[0].Expires, want)
	}
	if _, err := s.Issue(t.Context(), "", nil); err == nil {
		t.Error("Issue with an empty subject succeeded")
	}
	if _, err := s.Issue(t.Context(), user, map[string]any{"sub": "admin"}); err == nil {
		t.Error("Issue with a registered claim in extra succeeded")
	}
}

func refreshRotates(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	user := newUser()
	p := s.issue(t, user)
	seen := map[string]bool{p.RefreshToken: true}
	for range 5 {
		s.clock.Advance(time.Minute)
		p = s.refresh(t, p)
		if seen[p.RefreshToken] {
			t.Fatal("Refresh returned a refresh token seen before")
		}
		seen[p.RefreshToken] = true
		c, err := s.verifier.Verify(t.Context(), p.AccessToken)
		if err != nil || c.Subject != user || c.Extra["tenant"] != json.Number("42") || !c.HasScope("orders:read") {
			t.Fatalf("refreshed access token: %+v, %v", c, err)
		}
	}
	fams, err := s.families.List(t.Context(), user)
	if err != nil || len(fams) != 1 || fams[0].Rotations != 5 || !fams[0].LastUsed.Equal(s.clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("Families.List = %+v, %v", fams, err)
	}
}

func refreshReuse(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	user := newUser()
	p1 := s.issue(t, user)
	p2 := s.refresh(t, p1)
	p3 := s.refresh(t, p2)
	other := s.issue(t, user) // another device of the same user

	// p1 is two rotations old: whoever presents it holds a stolen or
	// replayed copy, grace window or not.
	_, err := s.Refresh(t.Context(), p1.RefreshToken)
	if !errors.Is(err, ErrReused) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("reuse: %v; want ErrReused saying the family was revoked", err)
	}
	// The whole family is gone, including the token the thief or the
	// client would use next.
	s.wantRefreshErr(t, p3.RefreshToken, ErrInvalid, false)
	s.wantRefreshErr(t, p2.RefreshToken, ErrInvalid, false)
	// Other families of the user are untouched.
	s.refresh(t, other)
}

// A client whose refresh response was lost presents its token again.
func refreshGraceRetry(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	user := newUser()
	p1 := s.issue(t, user)
	lost := s.refresh(t, p1) // the client never sees this pair
	s.clock.Advance(DefaultGrace - time.Millisecond)
	retry := s.refresh(t, p1)
	if c, err := s.verifier.Verify(t.Context(), retry.AccessToken); err != nil || c.Subject != user {
		t.Fatalf("the retry's access token: %+v, %v", c, err)
	}
	// Still one family, with exactly one current token: the retry's.
	s.wantOneFamily(t, user, 2)
	if !s.current(t, retry) || s.current(t, lost) {
		t.Fatal("after a grace exchange, the retry's token must be the one current token")
	}
	next := s.refresh(t, retry)
	// The superseded token is reuse: whoever holds it kept a token the
	// server withdrew.
	s.wantRefreshErr(t, lost.RefreshToken, ErrReused, true)
	s.wantRefreshErr(t, next.RefreshToken, ErrInvalid, false)
}

func refreshReplayAfterWindow(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{Grace: 10 * time.Second})
	p1 := s.issue(t, newUser())
	p2 := s.refresh(t, p1)
	s.clock.Advance(10 * time.Second)
	s.wantRefreshErr(t, p1.RefreshToken, ErrReused, true)
	s.wantRefreshErr(t, p2.RefreshToken, ErrInvalid, false)
}

func refreshGraceNotExtended(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	user := newUser()
	p1 := s.issue(t, user)
	s.refresh(t, p1)
	s.clock.Advance(DefaultGrace / 2)
	retry := s.refresh(t, p1)
	s.clock.Advance(DefaultGrace / 2)
	// The window runs from the rotation, not from the latest retry.
	s.wantRefreshErr(t, p1.RefreshToken, ErrReused, true)
	s.wantRefreshErr(t, retry.RefreshToken, ErrInvalid, false)
}

func refreshOlderWithinWindow(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	p1 := s.issue(t, newUser())
	p2 := s.refresh(t, p1)
	p3 := s.refresh(t, p2)
	// Only the secret the latest rotation exchanged (p2's) is eligible.
	s.wantRefreshErr(t, p1.RefreshToken, ErrReused, true)
	s.wantRefreshErr(t, p3.RefreshToken, ErrInvalid, false)
}

func refreshStrictRule(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{Grace: -1})
	p1 := s.issue(t, newUser())
	p2 := s.refresh(t, p1)
	s.wantRefreshErr(t, p1.RefreshToken, ErrReused, true)
	s.wantRefreshErr(t, p2.RefreshToken, ErrInvalid, false)
}

// flakyStore passes every call to the store it wraps, except the saves it
// is told to fail: after writing (a reply lost after the server committed)
// or before. With dropLoads, a failed save also makes loads fail until
// heal, as when the connection dropped.
type flakyStore struct {
	session.Store
	mu         sync.Mutex
	failSaves  int  // how many of the next saves fail
	writeFirst bool // whether a failing save writes first
	dropLoads  bool // whether a failing save makes loads fail
	down       bool
}

var errLostReply = errors.New("connection reset by peer")

func (s *flakyStore) Save(ctx context.Context, rec session.Record) error {
	s.mu.Lock()
	fail := s.failSaves > 0
	if fail {
		s.failSaves--
		s.down = s.dropLoads
	}
	write := s.writeFirst
	s.mu.Unlock()
	if !fail {
		return s.Store.Save(ctx, rec)
	}
	if write {
		if err := s.Store.Save(ctx, rec); err != nil {
			return err
		}
	}
	return errLostReply
}

func (s *flakyStore) Load(ctx context.Context, id string) (session.Record, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return session.Record{}, errLostReply
	}
	return s.Store.Load(ctx, id)
}

// failNextSave makes the next save fail, after writing if writeFirst, and
// makes loads fail from then on if dropLoads.
func (s *flakyStore) failNextSave(writeFirst, dropLoads bool) {
	s.mu.Lock()
	s.failSaves, s.writeFirst, s.dropLoads = 1, writeFirst, dropLoads
	s.mu.Unlock()
}

func (s *flakyStore) heal() {
	s.mu.Lock()
	s.down = false
	s.mu.Unlock()
}

func refreshRetryAfterAmbiguousSave(t *testing.T, store session.Store) {
	flaky := &flakyStore{Store: store}
	s := newSetup(t, flaky, Options{})
	user := newUser()
	p1 := s.issue(t, user)
	flaky.failNextSave(true, true)

	// The save is written, but its reply is lost and the family cannot be
	// read back: the client gets an error and cannot know what happened.
	_, err := s.Refresh(t.Context(), p1.RefreshToken)
	if !errors.Is(err, errLostReply) || errors.Is(err, ErrInvalid) {
		t.Fatalf("Refresh with a lost reply: %v; want the store's error, not ErrInvalid", err)
	}
	flaky.heal()
	if s.current(t, p1) {
		t.Fatal("the flaky store did not write the rotation; the test proves nothing")
	}

	// The documented answer: retry the same token. It was exchanged, so
	// this is a grace exchange; the family survives with one current
	// token, the retry's.
	s.clock.Advance(5 * time.Second)
	retry := s.refresh(t, p1)
	if !s.current(t, retry) {
		t.Fatal("the retry's token is not the family's current token")
	}
	s.wantOneFamily(t, user, 2)
	// A second retry (the first retry's response lost too) also works,
	// and supersedes the first retry's pair.
	again := s.refresh(t, p1)
	if !s.current(t, again) || s.current(t, retry) {
		t.Fatal("the second retry's token is not the one current token")
	}
	next := s.refresh(t, again)

	// After the window, the same token is a replay and revokes the family.
	s.clock.Advance(DefaultGrace)
	s.wantRefreshErr(t, p1.RefreshToken, ErrReused, true)
	s.wantRefreshErr(t, next.RefreshToken, ErrInvalid, false)
}

func refreshRecoversLostAnswer(t *testing.T, store session.Store) {
	flaky := &flakyStore{Store: store}
	s := newSetup(t, flaky, Options{})
	user := newUser()
	p1 := s.issue(t, user)
	flaky.failNextSave(true, false)
	// The reply is lost but the family can be read: Refresh finds its own
	// save written and returns its pair, which is current.
	p2 := s.refresh(t, p1)
	if !s.current(t, p2) {
		t.Fatal("the recovered pair is not current")
	}
	s.wantOneFamily(t, user, 1)
	s.refresh(t, p2)
}

func refreshRetryAfterFailedSave(t *testing.T, store session.Store) {
	flaky := &flakyStore{Store: store}
	s := newSetup(t, flaky, Options{})
	user := newUser()
	p1 := s.issue(t, user)
	flaky.failNextSave(false, true)
	if _, err := s.Refresh(t.Context(), p1.RefreshToken); !errors.Is(err, errLostReply) || errors.Is(err, ErrInvalid) {
		t.Fatalf("Refresh with a failed save: %v", err)
	}
	flaky.heal()
	if !s.current(t, p1) {
		t.Fatal("the failed save changed the family")
	}
	// Nothing was written: the retry is a plain rotation.
	p2 := s.refresh(t, p1)
	s.wantOneFamily(t, user, 1)
	s.refresh(t, p2)

	// A failed save whose family can be read back is tried again within
	// the same call.
	p3 := s.issue(t, user)
	flaky.failNextSave(false, false)
	if p4 := s.refresh(t, p3); !s.current(t, p4) {
		t.Fatal("the pair of the save tried again is not current")
	}
}

func refreshIssueRecovers(t *testing.T, store session.Store) {
	flaky := &flakyStore{Store: store}
	s := newSetup(t, flaky, Options{})
	user := newUser()
	flaky.failNextSave(true, false)
	p := s.issue(t, user)
	if !s.current(t, p) {
		t.Fatal("Issue returned a pair that is not current")
	}
	s.refresh(t, p)

	flaky.failNextSave(false, false)
	if _, err := s.Issue(t.Context(), user, nil); !errors.Is(err, errLostReply) {
		t.Fatalf("Issue with a save that wrote nothing: %v", err)
	}
}

// raceStore lets the first two Loads through and holds every Save until
// both have happened, so two refreshes of one token are sure to load the
// same version of the family before either saves.
type raceStore struct {
	session.Store
	loads atomic.Int32
	both  chan struct{}
}

func (s *raceStore) Load(ctx context.Context, id string) (session.Record, error) {
	rec, err := s.Store.Load(ctx, id)
	if s.loads.Add(1) == 2 {
		close(s.both)
	}
	return rec, err
}

func (s *raceStore) Save(ctx context.Context, rec session.Record) error {
	select {
	case <-s.both:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.Save(ctx, rec)
}

// raceOfTwo refreshes p twice at once, with s's issuer and clock, through
// a raceStore over store.
func raceOfTwo(t *testing.T, s *setup, store session.Store, opts Options, p Pair) ([2]Pair, [2]error) {
	racing, err := New(&raceStore{Store: store, both: make(chan struct{})}, s.issuer, opts)
	if err != nil {
		t.Fatal(err)
	}
	racing.now = s.clock.Now
	var wg sync.WaitGroup
	var pairs [2]Pair
	var errs [2]error
	for i := range 2 {
		wg.Go(func() { pairs[i], errs[i] = racing.Refresh(t.Context(), p.RefreshToken) })
	}
	wg.Wait()
	return pairs, errs
}

func refreshRaceOfTwo(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	user := newUser()
	p := s.issue(t, user)
	pairs, errs := raceOfTwo(t, s, store, Options{}, p)
	// Both get a pair: one rotated the family, the other lost the
	// compare-and-swap and made a grace exchange.
	for i := range 2 {
		if errs[i] != nil || pairs[i].RefreshToken == "" {
			t.Fatalf("refresh %d of 2: %+v, %v; want a pair", i, pairs[i], errs[i])
		}
		if _, err := s.verifier.Verify(t.Context(), pairs[i].AccessToken); err != nil {
			t.Errorf("access token %d: %v", i, err)
		}
	}
	s.wantOneFamily(t, user, 2)
	later, earlier := pairs[0], pairs[1]
	if !s.current(t, later) {
		later, earlier = earlier, later
	}
	if !s.current(t, later) || s.current(t, earlier) {
		t.Fatal("want exactly one of the two refresh tokens current")
	}
	// The later one works; the earlier one was superseded, and presenting
	// it revokes the family.
	next := s.refresh(t, later)
	s.wantRefreshErr(t, earlier.RefreshToken, ErrReused, true)
	s.wantRefreshErr(t, next.RefreshToken, ErrInvalid, false)
}

func refreshRaceOfTwoStrict(t *testing.T, store session.Store) {
	strict := Options{Grace: -1}
	s := newSetup(t, store, strict)
	p := s.issue(t, newUser())
	pairs, errs := raceOfTwo(t, s, store, strict, p)
	won, lost := 0, 1
	if errs[0] != nil {
		won, lost = 1, 0
	}
	if errs[won] != nil || pairs[won].RefreshToken == "" {
		t.Fatalf("no refresh won: %v, %v", errs[0], errs[1])
	}
	// The loser's compare-and-swap failed; reloading, it found its token
	// already exchanged, and without a grace window that is reuse.
	if !errors.Is(errs[lost], ErrReused) || pairs[lost] != (Pair{}) {
		t.Fatalf("loser got %+v, %v; want ErrReused", pairs[lost], errs[lost])
	}
	s.wantRefreshErr(t, pairs[won].RefreshToken, ErrInvalid, false)
	// The winner's access token stays valid until it expires: access
	// tokens are stateless, which is why they are short-lived.
	if _, err := s.verifier.Verify(t.Context(), pairs[won].AccessToken); err != nil {
		t.Errorf("winner's access token: %v", err)
	}
}

func refreshRaceOfMany(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	user := newUser()
	p := s.issue(t, user)
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var pairs []Pair
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			got, err := s.Refresh(t.Context(), p.RefreshToken)
			switch {
			case err == nil:
				mu.Lock()
				pairs = append(pairs, got)
				mu.Unlock()
			case errors.Is(err, ErrInvalid):
				// Neither reuse nor anything else that rejects the token:
				// all of these are exchanges of one token within the
				// window.
				t.Errorf("concurrent refresh: %v; want a pair or a conflict to retry", err)
			case !errors.Is(err, session.ErrConflict):
				t.Errorf("concurrent refresh: %v; want a pair or a conflict to retry", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(pairs) == 0 {
		t.Fatalf("none of %d concurrent refreshes got a pair", n)
	}
	current := 0
	var cur Pair
	for _, q := range pairs {
		if s.current(t, q) {
			current++
			cur = q
		}
	}
	if current != 1 {
		t.Fatalf("%d of the %d pairs returned are current; want exactly 1", current, len(pairs))
	}
	s.wantOneFamily(t, user, len(pairs))
	s.refresh(t, cur)
}

func refreshWrongSecret(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	p := s.issue(t, newUser())
	family, _, _ := strings.Cut(p.RefreshToken, ".")
	forged := family + "." + b64(randomBytes(32))
	// Family IDs are not secret: knowing one must not let anyone log the
	// user out.
	s.wantRefreshErr(t, forged, ErrInvalid, false)
	if err := s.families.RevokeToken(t.Context(), forged); !errors.Is(err, ErrInvalid) {
		t.Errorf("RevokeToken with a wrong secret: %v; want ErrInvalid", err)
	}
	s.refresh(t, p)
}

func refreshMalformed(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	p := s.issue(t, newUser())
	tok := p.RefreshToken
	family, secret, _ := strings.Cut(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(secret)
	for name, bad := range map[string]string{
		"empty":                    "",
		"secret only":              secret,
		"family only":              family,
		"extra byte":               tok + "A",
		"padded":                   family + "." + base64.URLEncoding.EncodeToString(raw),
		"standard base64 alphabet": family + "." + "+" + secret[1:],
		"non-canonical encoding":   tok[:len(tok)-1] + string(tok[len(tok)-1]^1),
		"wrong separator":          family + ":" + secret,
		"access token":             p.AccessToken,
		"unknown family":           b64(randomBytes(32)) + "." + secret,
	} {
		if _, err := s.Refresh(t.Context(), bad); !errors.Is(err, ErrInvalid) || errors.Is(err, ErrReused) {
			t.Errorf("%s: %v; want ErrInvalid", name, err)
		}
	}
	s.refresh(t, p)
}

func refreshOnlyHashes(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	p := s.issue(t, newUser())
	p = s.refresh(t, p)
	family, secret, _ := strings.Cut(p.RefreshToken, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(secret)
	rec, err := store.Load(t.Context(), family)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rec.Data, []byte(secret)) || bytes.Contains(rec.Data, raw) || strings.Contains(rec.ID, secret) {
		t.Fatalf("the store holds the refresh secret: %s", rec.Data)
	}
}

func refreshRevokeToken(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	user := newUser()
	p := s.issue(t, user)
	if err := s.families.RevokeToken(t.Context(), p.RefreshToken); err != nil {
		t.Fatal(err)
	}
	s.wantRefreshErr(t, p.RefreshToken, ErrInvalid, false)
	if err := s.families.RevokeToken(t.Context(), p.RefreshToken); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := s.families.RevokeToken(t.Context(), "nonsense"); !errors.Is(err, ErrInvalid) {
		t.Errorf("RevokeToken(malformed): %v", err)
	}
	// Signing out with a token that stopped working still works.
	p1 := s.issue(t, user)
	s.refresh(t, s.refresh(t, p1))
	if err := s.families.RevokeToken(t.Context(), p1.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if fams, err := s.families.List(t.Context(), user); err != nil || len(fams) != 0 {
		t.Errorf("Families.List after sign-out = %+v, %v", fams, err)
	}
}

func refreshRevokeFamily(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	alice, mallory := newUser(), newUser()
	p := s.issue(t, alice)
	family, _, _ := strings.Cut(p.RefreshToken, ".")
	if err := s.families.Revoke(t.Context(), mallory, family); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("another user's family: %v; want session.ErrNotFound", err)
	}
	s.refresh(t, p)
	if err := s.families.Revoke(t.Context(), alice, family); err != nil {
		t.Fatal(err)
	}
	if err := s.families.Revoke(t.Context(), alice, family); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("revoked family: %v; want session.ErrNotFound", err)
	}
	if fams, err := s.families.List(t.Context(), alice); err != nil || len(fams) != 0 {
		t.Errorf("Families.List = %+v, %v", fams, err)
	}
}

func refreshRevokeAll(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	alice, bob := newUser(), newUser()
	var pairs []Pair
	for range 3 {
		pairs = append(pairs, s.issue(t, alice))
	}
	bobs := s.issue(t, bob)
	if fams, err := s.families.List(t.Context(), alice); err != nil || len(fams) != 3 {
		t.Fatalf("Families.List = %d, %v", len(fams), err)
	}
	n, err := s.families.RevokeAll(t.Context(), alice)
	if err != nil || n != 3 {
		t.Fatalf("RevokeAll = %d, %v; want 3", n, err)
	}
	for _, p := range pairs {
		s.wantRefreshErr(t, p.RefreshToken, ErrInvalid, false)
	}
	s.refresh(t, bobs)
	if _, err := s.families.RevokeAll(t.Context(), ""); err == nil {
		t.Error("RevokeAll with an empty user succeeded")
	}
}

func refreshLifetime(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{Lifetime: 3 * time.Hour, IdleTimeout: time.Hour})
	user := newUser()

	// Refreshing within the idle timeout keeps the family alive...
	p := s.issue(t, user)
	for range 2 {
		s.clock.Advance(50 * time.Minute)
		p = s.refresh(t, p)
	}
	// ...until it is idle for longer than that.
	s.clock.Advance(61 * time.Minute)
	s.wantRefreshErr(t, p.RefreshToken, ErrInvalid, false)

	// However often it is used, a family ends at its absolute lifetime.
	p = s.issue(t, user)
	for range 3 {
		s.clock.Advance(59 * time.Minute)
		p = s.refresh(t, p)
	}
	s.clock.Advance(4 * time.Minute)
	s.wantRefreshErr(t, p.RefreshToken, ErrInvalid, false)
	if fams, err := s.families.List(t.Context(), user); err != nil || len(fams) != 0 {
		t.Errorf("Families.List lists ended families: %+v, %v", fams, err)
	}
}

func refreshWindow(t *testing.T, store session.Store) {
	s := newSetup(t, store, Options{})
	first := s.issue(t, newUser())
	p := first
	for range maxPrevious + 1 {
		p = s.refresh(t, p)
	}
	// The first secret has left the window: it grants nothing, but no
	// longer proves reuse either.
	s.wantRefreshErr(t, first.RefreshToken, ErrInvalid, false)
	s.refresh(t, p)
}

type failingStore struct{ session.Store }

var errOutage = errors.New("connection refused")

func (failingStore) Load(context.Context, string) (session.Record, error) {
	return session.Record{}, errOutage
}

func refreshOutage(t *testing.T, store session.Store) {
	s := newSetup(t, failingStore{store}, Options{})
	good := newSetup(t, store, Options{})
	p := good.issue(t, newUser())
	_, err := s.Refresh(t.Context(), p.RefreshToken)
	if !errors.Is(err, errOutage) || errors.Is(err, ErrInvalid) {
		t.Fatalf("Refresh during an outage: %v; want the store's error, not ErrInvalid", err)
	}
	good.refresh(t, p)
}

func TestNewChecksItsOptionsOnce(t *testing.T) {
	key, _ := token.GenerateKey(token.EdDSA)
	is, err := token.NewIssuer(token.NewKeySet(key), token.IssuerOptions{Issuer: testIssuer, Audience: []string{testAudience}})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	defer store.Close()
	for name, c := range map[string]struct {
		store  session.Store
		issuer *token.Issuer
		opts   Options
	}{
		"no store":          {nil, is, Options{}},
		"no issuer":         {store, nil, Options{}},
		"negative lifetime": {store, is, Options{Lifetime: -time.Hour}},
		"negative idle":     {store, is, Options{IdleTimeout: -time.Hour}},
		"grace of an hour":  {store, is, Options{Grace: time.Hour}},
	} {
		if r, err := New(c.store, c.issuer, c.opts); err == nil || r != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, r, err)
		}
	}
	if _, err := NewFamilies(nil); err == nil {
		t.Error("NewFamilies(nil) succeeded")
	}
	var zero Refresher
	if _, err := zero.Refresh(t.Context(), "x"); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("zero Refresher: %v; want a configuration error", err)
	}
	var zeroF Families
	if _, err := zeroF.List(t.Context(), "u"); err == nil {
		t.Error("zero Families listed")
	}
}
