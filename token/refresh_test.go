package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/memory"
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
		{"TwoConcurrentRefreshesExactlyOneWins", refreshRaceOfTwo},
		{"ManyConcurrentRefreshesExactlyOneWins", refreshRaceOfMany},
		{"WrongSecretDoesNotRevoke", refreshWrongSecret},
		{"MalformedTokensAreInvalid", refreshMalformed},
		{"StoreKeepsOnlyHashes", refreshOnlyHashes},
		{"RevokeEndsTheFamily", refreshRevoke},
		{"RevokeFamilyChecksTheOwner", refreshRevokeFamily},
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

type refreshSetup struct {
	*Refresher
	verifier *Verifier
	clock    *fakeClock
}

func newRefreshSetup(t *testing.T, store session.Store) *refreshSetup {
	ks := NewKeySet(edKey(t).Key)
	clock := &fakeClock{now: time.Now()}
	is := newIssuer(ks)
	is.now = clock.Now
	v := newVerifier(ks, EdDSA)
	v.now = clock.Now
	return &refreshSetup{Refresher: &Refresher{Store: store, Issuer: is, now: clock.Now}, verifier: v, clock: clock}
}

func newUser() string { return "user-" + b64(randomBytes(6)) }

func (s *refreshSetup) issue(t *testing.T, user string) Pair {
	t.Helper()
	p, err := s.Issue(t.Context(), user, map[string]any{"scope": "orders:read", "tenant": 42})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *refreshSetup) refresh(t *testing.T, p Pair) Pair {
	t.Helper()
	next, err := s.Refresh(t.Context(), p.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return next
}

func (s *refreshSetup) wantRefreshErr(t *testing.T, tok string, want error, reused bool) {
	t.Helper()
	p, err := s.Refresh(t.Context(), tok)
	if !errors.Is(err, want) || p != (Pair{}) {
		t.Fatalf("Refresh = %+v, %v; want %v", p, err, want)
	}
	if errors.Is(err, ErrReused) != reused {
		t.Fatalf("Refresh error %v: reused %v, want %v", err, !reused, reused)
	}
}

func refreshIssue(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
	user := newUser()
	p := s.issue(t, user)
	if p.TokenType != "Bearer" || p.ExpiresIn != int(DefaultTTL/time.Second) || len(p.RefreshToken) != 87 {
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
	fams, err := s.Families(t.Context(), user)
	if err != nil || len(fams) != 1 || fams[0].UserID != user || !strings.HasPrefix(p.RefreshToken, fams[0].ID+".") {
		t.Fatalf("Families = %+v, %v", fams, err)
	}
	if want := s.clock.Now().Add(DefaultRefreshLifetime); fams[0].Expires.Sub(want).Abs() > time.Millisecond {
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
	s := newRefreshSetup(t, store)
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
	fams, err := s.Families(t.Context(), user)
	if err != nil || len(fams) != 1 || fams[0].Rotations != 5 || !fams[0].LastUsed.Equal(s.clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("Families = %+v, %v", fams, err)
	}
}

func refreshReuse(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
	user := newUser()
	p1 := s.issue(t, user)
	p2 := s.refresh(t, p1)
	p3 := s.refresh(t, p2)
	other := s.issue(t, user) // another device of the same user

	// p1 is two rotations old: whoever presents it holds a stolen or
	// replayed copy.
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

func refreshRaceOfTwo(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
	p := s.issue(t, newUser())
	racing := *s.Refresher
	racing.Store = &raceStore{Store: store, both: make(chan struct{})}

	var wg sync.WaitGroup
	var pairs [2]Pair
	var errs [2]error
	for i := range 2 {
		wg.Go(func() { pairs[i], errs[i] = racing.Refresh(t.Context(), p.RefreshToken) })
	}
	wg.Wait()
	won, lost := 0, 1
	if errs[0] != nil {
		won, lost = 1, 0
	}
	if errs[won] != nil || pairs[won].RefreshToken == "" {
		t.Fatalf("no refresh won: %v, %v", errs[0], errs[1])
	}
	// The loser's compare-and-swap failed; reloading, it found its token
	// already exchanged. That is reuse: the family is revoked.
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
	s := newRefreshSetup(t, store)
	p := s.issue(t, newUser())
	const n = 8
	var wg sync.WaitGroup
	var wins atomic.Int32
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, err := s.Refresh(t.Context(), p.RefreshToken)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, ErrInvalid):
				t.Errorf("loser: %v; want ErrInvalid", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d concurrent refreshes of one token won; want exactly 1", wins.Load(), n)
	}
}

func refreshWrongSecret(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
	p := s.issue(t, newUser())
	family, _, _ := strings.Cut(p.RefreshToken, ".")
	forged := family + "." + b64(randomBytes(32))
	// Family IDs are not secret: knowing one must not let anyone log the
	// user out.
	s.wantRefreshErr(t, forged, ErrInvalid, false)
	if err := s.Revoke(t.Context(), forged); !errors.Is(err, ErrInvalid) {
		t.Errorf("Revoke with a wrong secret: %v; want ErrInvalid", err)
	}
	s.refresh(t, p)
}

func refreshMalformed(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
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
	s := newRefreshSetup(t, store)
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

func refreshRevoke(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
	user := newUser()
	p := s.issue(t, user)
	if err := s.Revoke(t.Context(), p.RefreshToken); err != nil {
		t.Fatal(err)
	}
	s.wantRefreshErr(t, p.RefreshToken, ErrInvalid, false)
	if err := s.Revoke(t.Context(), p.RefreshToken); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := s.Revoke(t.Context(), "nonsense"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Revoke(malformed): %v", err)
	}
	// Signing out with a token that was already exchanged still works.
	p1 := s.issue(t, user)
	s.refresh(t, p1)
	if err := s.Revoke(t.Context(), p1.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if fams, err := s.Families(t.Context(), user); err != nil || len(fams) != 0 {
		t.Errorf("Families after sign-out = %+v, %v", fams, err)
	}
}

func refreshRevokeFamily(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
	alice, mallory := newUser(), newUser()
	p := s.issue(t, alice)
	family, _, _ := strings.Cut(p.RefreshToken, ".")
	if err := s.RevokeFamily(t.Context(), mallory, family); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("another user's family: %v; want session.ErrNotFound", err)
	}
	s.refresh(t, p)
	if err := s.RevokeFamily(t.Context(), alice, family); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeFamily(t.Context(), alice, family); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("revoked family: %v; want session.ErrNotFound", err)
	}
	if fams, err := s.Families(t.Context(), alice); err != nil || len(fams) != 0 {
		t.Errorf("Families = %+v, %v", fams, err)
	}
}

func refreshRevokeAll(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
	alice, bob := newUser(), newUser()
	var pairs []Pair
	for range 3 {
		pairs = append(pairs, s.issue(t, alice))
	}
	bobs := s.issue(t, bob)
	if fams, err := s.Families(t.Context(), alice); err != nil || len(fams) != 3 {
		t.Fatalf("Families = %d, %v", len(fams), err)
	}
	n, err := s.RevokeAll(t.Context(), alice)
	if err != nil || n != 3 {
		t.Fatalf("RevokeAll = %d, %v; want 3", n, err)
	}
	for _, p := range pairs {
		s.wantRefreshErr(t, p.RefreshToken, ErrInvalid, false)
	}
	s.refresh(t, bobs)
	if _, err := s.RevokeAll(t.Context(), ""); err == nil {
		t.Error("RevokeAll with an empty user succeeded")
	}
}

func refreshLifetime(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
	s.Lifetime = 3 * time.Hour
	s.IdleTimeout = time.Hour
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
	if fams, err := s.Families(t.Context(), user); err != nil || len(fams) != 0 {
		t.Errorf("Families lists ended families: %+v, %v", fams, err)
	}
}

func refreshWindow(t *testing.T, store session.Store) {
	s := newRefreshSetup(t, store)
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
	s := newRefreshSetup(t, store)
	p := s.issue(t, newUser())
	s.Store = failingStore{store}
	_, err := s.Refresh(t.Context(), p.RefreshToken)
	if !errors.Is(err, errOutage) || errors.Is(err, ErrInvalid) {
		t.Fatalf("Refresh during an outage: %v; want the store's error, not ErrInvalid", err)
	}
	s.Store = store
	s.refresh(t, p)
}
