package otelobserve_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/httpstate/httpstate/store/memory"
	"github.com/httpstate/httpstate/token"
	"github.com/httpstate/httpstate/token/refresh"
)

// TestTokenSpansAndMetrics verifies a valid and a forged access token through
// token.Bearer, an access token against a JWKS that cannot be fetched, and
// exchanges refresh tokens up to a reuse, and checks the spans and metrics.
func TestTokenSpansAndMetrics(t *testing.T) {
	tm := newTelemetry(t)
	const subject = "subject-3f9a6d1e"
	key, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	keys := token.NewKeySet(key)
	issuer, err := token.NewIssuer(keys, token.IssuerOptions{Issuer: "https://auth.example.com", Audience: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := token.NewVerifier(keys, token.VerifierOptions{
		Algorithms: []token.Algorithm{token.EdDSA}, Issuer: "https://auth.example.com", Audience: "api", Observer: tm,
	})
	if err != nil {
		t.Fatal(err)
	}
	tracer := tm.tracer()
	api := (&token.Bearer{Verifier: verifier}).Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	call := func(step, tok string) int {
		t.Helper()
		ctx, span := tracer.Start(context.Background(), "step "+step, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		r := httptest.NewRequestWithContext(ctx, "GET", "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		return w.Code
	}

	tok, err := issuer.Issue(t.Context(), subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	// Another base64url letter in the middle: still canonical, no longer
	// the signature.
	if sig[len(sig)/2] == 'A' {
		sig[len(sig)/2] = 'B'
	} else {
		sig[len(sig)/2] = 'A'
	}
	forged := parts[0] + "." + parts[1] + "." + string(sig)
	if code := call("valid", tok); code != http.StatusOK {
		t.Fatalf("valid token: %d", code)
	}
	if code := call("forged", forged); code != http.StatusUnauthorized {
		t.Fatalf("forged token: %d", code)
	}

	// Keys from a JWKS URL where nothing listens.
	remote, err := token.NewRemoteKeySet("http://127.0.0.1:1/jwks", token.RemoteKeySetOptions{Observer: tm})
	if err != nil {
		t.Fatal(err)
	}
	unreachable, err := token.NewVerifier(remote, token.VerifierOptions{
		Algorithms: []token.Algorithm{token.EdDSA}, Issuer: "https://auth.example.com", Audience: "api", Observer: tm,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tracer.Start(context.Background(), "step jwks")
	if _, err := unreachable.Verify(ctx, tok); err == nil || errors.Is(err, token.ErrInvalid) {
		t.Fatalf("Verify with unreachable keys: %v; want an error that is not ErrInvalid", err)
	}
	span.End()

	// Refresh tokens: a rotation, a retry within the grace window, and a
	// token presented again two rotations later.
	store := memory.New()
	defer store.Close()
	refresher, err := refresh.New(store, issuer, refresh.Options{Observer: tm})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span = tracer.Start(context.Background(), "step refresh")
	first, err := refresher.Issue(ctx, subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := refresher.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := refresher.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	third, err := refresher.Refresh(ctx, retry.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresher.Refresh(ctx, first.RefreshToken); !errors.Is(err, refresh.ErrReused) {
		t.Fatalf("reuse: %v; want ErrReused", err)
	}
	span.End()

	step := func(name string) sdktrace.ReadOnlySpan { return tm.one("step " + name) }
	childrenOf := func(parent sdktrace.ReadOnlySpan, name string) []string {
		var out []string
		for _, s := range tm.named(name) {
			if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
				continue
			}
			if s.StartTime().Before(parent.StartTime()) || s.EndTime().Before(s.StartTime()) || s.EndTime().After(parent.EndTime()) {
				t.Errorf("%s [%v, %v] is not inside %s [%v, %v]", name, s.StartTime(), s.EndTime(), parent.Name(), parent.StartTime(), parent.EndTime())
			}
			desc := s.Status().Code.String()
			if s.Status().Description != "" {
				desc += " " + s.Status().Description
			}
			out = append(out, strings.TrimSpace(attrsOf(s.Attributes())+" "+desc+" "+s.SpanKind().String()))
		}
		slices.Sort(out)
		return out
	}
	want := map[[2]string][]string{
		{"valid", "token.verify"}:  {"httpstate.outcome=ok Unset internal"},
		{"forged", "token.verify"}: {"httpstate.outcome=rejected httpstate.reason=signature Unset internal"},
		{"jwks", "token.jwks_fetch"}: {
			"httpstate.outcome=error httpstate.reason=unreachable Error token.jwks_fetch failed: unreachable client",
		},
		{"jwks", "token.verify"}: {"httpstate.outcome=error Error token.verify failed internal"},
		{"refresh", "token.refresh"}: {
			"httpstate.outcome=ok Unset internal",
			"httpstate.outcome=ok Unset internal",
			"httpstate.outcome=ok httpstate.reason=grace Unset internal",
			"httpstate.outcome=reused Unset internal",
		},
	}
	for k, w := range want {
		if got := childrenOf(step(k[0]), k[1]); !slices.Equal(got, w) {
			t.Errorf("%s spans under step %s: %q; want %q", k[1], k[0], got, w)
		}
	}

	metrics := tm.metrics()
	wantCounts := map[string]string{
		"httpstate.token.verify.duration":     "map[httpstate.outcome=error:1 httpstate.outcome=ok:1 httpstate.outcome=rejected httpstate.reason=signature:1]",
		"httpstate.token.jwks_fetch.duration": "map[httpstate.outcome=error httpstate.reason=unreachable:1]",
		"httpstate.token.refresh.duration":    "map[httpstate.outcome=ok:2 httpstate.outcome=ok httpstate.reason=grace:1 httpstate.outcome=reused:1]",
	}
	for name, w := range wantCounts {
		m, found := metrics[name]
		if !found {
			t.Errorf("no metric %s", name)
			continue
		}
		if got := fmt.Sprint(counts(t, m)); got != w {
			t.Errorf("%s: %s; want %s", name, got, w)
		}
		if m.Unit != "s" {
			t.Errorf("%s in %q; want s", name, m.Unit)
		}
	}

	secrets := []string{subject, key.ID(), "127.0.0.1"}
	for _, tok := range []string{tok, forged, first.AccessToken, first.RefreshToken, second.AccessToken, second.RefreshToken,
		retry.AccessToken, retry.RefreshToken, third.AccessToken, third.RefreshToken} {
		for part := range strings.SplitSeq(tok, ".") {
			if len(part) >= 16 {
				secrets = append(secrets, part)
			}
		}
		secrets = append(secrets, tok)
	}
	tm.checkNoSecrets(func(s sdktrace.ReadOnlySpan) bool { return strings.HasPrefix(s.Name(), "step ") }, secrets...)
}
