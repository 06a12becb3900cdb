package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCallContextEndsAtItsDeadlineWhenWaitedOn(t *testing.T) {
	var c callContext
	c.start(context.Background(), 20*time.Millisecond)
	defer c.release()
	if d, ok := c.Deadline(); !ok || time.Until(d) > 20*time.Millisecond {
		t.Fatalf("Deadline = %v, %t", d, ok)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err before the deadline = %v", err)
	}
	<-c.Done() // armed now; closes at the deadline
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after Done closed = %v; want DeadlineExceeded", c.Err())
	}
}

func TestCallContextReadsNoClockUnlessAsked(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	var c callContext
	c.start(parent, time.Nanosecond)
	defer c.release()
	// A store that never waits only asks Err: no clock is read, no timer
	// armed, and the nanosecond timeout does not cut it short.
	if err := c.Err(); err != nil || c.deadline != 0 || c.timer != nil {
		t.Fatalf("Err = %v, deadline %v, timer %v; want nil, unset, none", err, c.deadline, c.timer)
	}
	// The parent's end is seen at once, without Done.
	cancel()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err after the parent ended = %v", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done is open although Err reports the parent's end")
	}
	if c.timer != nil {
		t.Fatal("a timer was armed for a context that had already ended")
	}
	// Deadline fixes the deadline on first use, from then on.
	var d callContext
	d.start(context.Background(), time.Hour)
	defer d.release()
	first, _ := d.Deadline()
	again, _ := d.Deadline()
	if !first.Equal(again) || time.Until(first) > time.Hour || time.Until(first) < 59*time.Minute {
		t.Fatalf("Deadline = %v then %v", first, again)
	}
}

func TestCallContextFollowsItsParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	var c callContext
	c.start(parent, time.Hour)
	defer c.release()
	if c.Value(ctxKey{}) != "v" {
		t.Fatal("Value does not reach the parent")
	}
	done := c.Done()
	cancel()
	<-done
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err after the parent was canceled = %v", c.Err())
	}

	// A parent deadline sooner than the timeout wins.
	soon, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	var c2 callContext
	c2.start(soon, time.Hour)
	defer c2.release()
	if d, _ := c2.Deadline(); time.Until(d) > time.Minute {
		t.Fatalf("Deadline %v ignores the parent's sooner one", d)
	}
}

func TestCallContextIsEndedByRelease(t *testing.T) {
	var c callContext
	c.start(context.Background(), time.Hour)
	done := c.Done()
	child, cancel := context.WithCancel(&c) // a store's own derived context
	defer cancel()
	c.release()
	<-done
	<-child.Done() // what the store started from it ends too
	if c.Err() == nil || c.timer != nil || c.stopParent != nil {
		t.Fatalf("after release: Err %v, timer %v", c.Err(), c.timer)
	}
	if !c.armed() {
		t.Fatal("a context whose Done was taken must not be reused")
	}
}

func TestVersion1RecordsStillLoad(t *testing.T) {
	// A session saved by an earlier release, before the authentication
	// instant existed: remember me, created and seen, an agent, one value.
	v1 := []byte{formatV1, flagRemember}
	v1 = appendUvarint(v1, 1700000000000)
	v1 = appendUvarint(v1, 1700000005000)
	v1 = appendString(v1, "agent")
	v1 = appendString(v1, "203.0.113.9")
	v1 = appendUvarint(v1, 1)
	v1 = appendString(v1, "cart")
	v1 = appendString(v1, "[1]")
	v1 = appendUvarint(v1, 0)
	st, err := decodeState(v1)
	if err != nil {
		t.Fatal(err)
	}
	if !st.remember || st.created != 1700000000000 || st.auth != st.created*1000 || string(st.agent) != "agent" {
		t.Fatalf("decoded %+v", st)
	}
	if v, ok := st.get("cart"); !ok || string(v) != "[1]" {
		t.Fatalf("value %q, %t", v, ok)
	}
	again, err := decodeState(st.encode(nil))
	if err != nil || again.auth != st.auth || len(again.values) != 1 {
		t.Fatalf("re-encoded as version 2: %+v, %v", again, err)
	}
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func TestRecentSavesAreBoundedAndExpire(t *testing.T) {
	var sh laneShard
	old := time.Now().Add(-2 * recentTTL)
	for i := range maxRecent {
		sh.remember(string(rune('a'+i%26))+strings.Repeat("x", i), recentSave{version: 1, at: old})
	}
	// Full of expired entries: they make room.
	sh.remember("fresh", recentSave{version: 2, at: time.Now()})
	if len(sh.recent) != 1 || sh.recent["fresh"].version != 2 {
		t.Fatalf("after expired entries made room: %d entries", len(sh.recent))
	}
	// Full of live entries: a new one is dropped rather than grow the map.
	for i := range maxRecent {
		sh.remember(strings.Repeat("y", i+1), recentSave{version: 3, at: time.Now()})
	}
	if len(sh.recent) > maxRecent {
		t.Fatalf("%d recent saves kept; the bound is %d", len(sh.recent), maxRecent)
	}
}

func TestBackoffEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := backoff(ctx, 7); !errors.Is(err, context.Canceled) {
		t.Fatalf("backoff with a canceled context = %v", err)
	}
	if err := backoff(context.Background(), 1); err != nil {
		t.Fatalf("the first retry waits for nothing: %v", err)
	}
	var c callContext
	c.start(context.Background(), time.Second)
	defer c.release()
	if c.String() == "" || shortID("abc") != "abc" || shortID("abcdefghij") != "abcdefgh" {
		t.Fatal("String or shortID")
	}
	for _, bad := range [][]byte{{formatTombstone, 9}, {formatTombstone, tombstoneRenewed, 3, 'a', ' ', 'b'}, {formatTombstone, tombstoneEnded, 0}} {
		if _, err := decodeTombstone(bad); err == nil {
			t.Errorf("decodeTombstone(%q) accepted it", bad)
		}
	}
}
