package node

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestScoreParams: the prepared scoring parameters pass pubsub's
// validation, host-wide and for a room's topic.
func TestScoreParams(t *testing.T) {
	h := newRawHost(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithPeerScore(peerScoreParams(), peerScoreThresholds()))
	if err != nil {
		t.Fatalf("NewGossipSub(WithPeerScore) = %v", err)
	}
	tp, err := ps.Join(openTopic(testRoom))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if err := tp.SetScoreParams(roomScoreParams()); err != nil {
		t.Errorf("SetScoreParams(roomScoreParams()) = %v", err)
	}
}

// TestAdmissionThrottleOnce: an author over the flood limit is queued for
// the user's notice once, however many of its messages are dropped.
func TestAdmissionThrottleOnce(t *testing.T) {
	a := newAdmission(slog.New(slog.DiscardHandler))
	a.setLimit(1, 2)
	p, q := peer.ID("flooder"), peer.ID("other")
	for seq := range uint64(20) {
		a.screen(p, p, seq+1)
		a.hopeless(p, p)
	}
	a.screen(q, q, 1)
	if len(a.throttles) != 1 {
		t.Fatalf("%d notices queued, want 1", len(a.throttles))
	}
	if th := <-a.throttles; th.author != p || th.limit != 1 {
		t.Errorf("notice %+v, want the flooder at 1/s", th)
	}
}

// TestAdmissionForgedCannotSpend: messages checked before their signature
// (see [admission.hopeless]) that claim an honest author use up only the
// forwarder's allowance for that author, never the author's own, nor
// other forwarders'.
func TestAdmissionForgedCannotSpend(t *testing.T) {
	a := newAdmission(slog.New(slog.DiscardHandler))
	alice, forger, bob := peer.ID("alice"), peer.ID("forger"), peer.ID("bob")
	if res, _ := a.screen(alice, alice, 1); res != pubsub.ValidationAccept {
		t.Fatalf("screen(alice) = %v", res)
	}
	dropped := 0
	for range 10 * recvBurst {
		if drop, _ := a.hopeless(alice, forger); drop {
			dropped++
		}
	}
	if want := 10*recvBurst - a.pairBurst(); dropped < want-pairFactor*recvRate {
		t.Errorf("%d of the forger's messages dropped, want about %d", dropped, want)
	}
	for _, src := range []peer.ID{alice, bob} {
		if drop, _ := a.hopeless(alice, src); drop {
			t.Errorf("alice's message forwarded by %s dropped after the forger's", src)
		}
	}
	for seq := range uint64(recvBurst - 1) {
		if res, _ := a.screen(alice, alice, seq+2); res != pubsub.ValidationAccept {
			t.Fatalf("alice's message %d = %v after the forger's, want accept", seq+2, res)
		}
	}
}

// TestAdmissionSybilPrecheck: a relay forwarding messages of thousands of
// new authors has them dropped before their signature checks, beyond
// twice its introductions.
func TestAdmissionSybilPrecheck(t *testing.T) {
	a := newAdmission(slog.New(slog.DiscardHandler))
	relay := peer.ID("relay")
	passed := 0
	for i := range 5000 {
		if drop, _ := a.hopeless(peer.ID(fmt.Sprint("sybil", i)), relay); !drop {
			passed++
		}
	}
	if limit := pairFactor*introBurst + 10; passed > limit || passed < introBurst {
		t.Errorf("%d of 5000 new authors passed, want about %d", passed, pairFactor*introBurst)
	}
	// An author delivering its own message needs no introduction.
	if drop, _ := a.hopeless("newcomer", "newcomer"); drop {
		t.Error("a newcomer's own message dropped")
	}
}
