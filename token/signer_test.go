package token

import (
	"context"
	"crypto"
	"errors"
	"io"
	"sync/atomic"
	"testing"
)

// wrappedSigner is a crypto.Signer that is none of the standard library's
// key types, as a KMS or HSM client would be. It counts its calls, can
// make them wait for a gate, and can sign with another key than the one
// it publishes.
type wrappedSigner struct {
	key      crypto.Signer // publishes its public half, and signs
	signWith crypto.Signer // if set, signs instead of key
	calls    atomic.Int32
	started  chan struct{} // if set, receives a value as each Sign starts
	gate     chan struct{} // if set, each Sign waits for it to close
}

func wrapSigner(k crypto.Signer) *wrappedSigner { return &wrappedSigner{key: k} }

func (w *wrappedSigner) Public() crypto.PublicKey { return w.key.Public() }

func (w *wrappedSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	w.calls.Add(1)
	if w.started != nil {
		w.started <- struct{}{}
	}
	if w.gate != nil {
		<-w.gate
	}
	if w.signWith != nil {
		return w.signWith.Sign(rand, digest, opts)
	}
	return w.key.Sign(rand, digest, opts)
}

// publicOnly is a Signer with a given public key that cannot sign.
type publicOnly struct{ pub crypto.PublicKey }

func (p publicOnly) Public() crypto.PublicKey { return p.pub }
func (publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("cannot sign")
}

func TestKeyFromAnySignerSignsThroughIt(t *testing.T) {
	for _, k := range []testKey{edKey(t), ecKey(t), rsaKey(t, 1)} {
		t.Run(string(k.alg), func(t *testing.T) {
			w := wrapSigner(k.priv.(crypto.Signer))
			key, err := NewKey(w)
			if err != nil {
				t.Fatal(err)
			}
			if key.Algorithm() != k.alg || key.ID() != k.ID() {
				t.Errorf("key from a Signer: %s %s; want %s %s (the same thumbprint as the key itself)", key.Algorithm(), key.ID(), k.alg, k.ID())
			}
			ks := NewKeySet(key)
			for i := range 3 {
				tok, err := newIssuer(ks).Issue(t.Context(), "user-1", nil)
				if err != nil {
					t.Fatal(err)
				}
				if int(w.calls.Load()) != i+1 {
					t.Fatalf("%d tokens issued with %d calls to the Signer", i+1, w.calls.Load())
				}
				c, err := newVerifier(ks, k.alg).Verify(t.Context(), tok)
				if err != nil || c.Subject != "user-1" {
					t.Fatalf("Verify = %+v, %v", c, err)
				}
			}
		})
	}
}

func TestSignerAnsweringForAnotherKeyFailsAtIssue(t *testing.T) {
	for _, c := range []struct{ pub, signer testKey }{
		{edKey(t), edKey(t)},
		{ecKey(t), ecKey(t)},
		{rsaKey(t, 0), rsaKey(t, 1)},
	} {
		w := wrapSigner(c.pub.priv.(crypto.Signer))
		w.signWith = c.signer.priv.(crypto.Signer)
		key, err := NewKey(w)
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := newIssuer(NewKeySet(key)).Issue(t.Context(), "u", nil); err == nil || tok != "" {
			t.Errorf("%s: Issue = %q, %v; want an error, since no verifier would accept the signature", c.pub.alg, tok, err)
		}
	}
	key, err := NewKey(publicOnly{edKey(t).priv.(crypto.Signer).Public()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newIssuer(NewKeySet(key)).Issue(t.Context(), "u", nil); err == nil {
		t.Error("Issue with a Signer that fails succeeded")
	}
}

func TestIssueStopsWaitingForASignerWhenItsContextIsDone(t *testing.T) {
	w := wrapSigner(edKey(t).priv.(crypto.Signer))
	w.started = make(chan struct{}, 1)
	w.gate = make(chan struct{})
	key, err := NewKey(w)
	if err != nil {
		t.Fatal(err)
	}
	is := newIssuer(NewKeySet(key))
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := is.Issue(ctx, "u", nil)
		errc <- err
	}()
	<-w.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Issue with a blocked Signer and a canceled context: %v; want context.Canceled", err)
	}
	close(w.gate) // the abandoned call returns, and its goroutine ends

	// A context that is done before Issue does not reach the Signer at
	// all, nor an in-process key.
	calls := w.calls.Load()
	if _, err := is.Issue(ctx, "u", nil); !errors.Is(err, context.Canceled) || w.calls.Load() != calls {
		t.Errorf("Issue with a done context: %v, %d Signer calls", err, w.calls.Load()-calls)
	}
	if _, err := newIssuer(NewKeySet(edKey(t).Key)).Issue(ctx, "u", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Issue with a done context and an in-process key: %v", err)
	}
}
