package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/wire"
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

// TestValidatorIgnoresNewer: the validator rejects only envelopes no
// lanchat signs, and ignores those a newer one may (so that peer scoring
// never counts an honest newer peer, or its relays, invalid).
func TestValidatorIgnoresNewer(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("alice"))
	author := testPeerID(t)
	valid := message(t, "eve", "hello")
	tests := []struct {
		name string
		data []byte
		want pubsub.ValidationResult
	}{
		{"valid", valid, pubsub.ValidationAccept},
		{"future version", rawEnvelope(3, wire.KindMessage, testRoom, "eve", "hi"), pubsub.ValidationIgnore},
		{"unknown kind", rawEnvelope(2, 99, testRoom, "eve", ""), pubsub.ValidationIgnore},
		{"longer text", rawEnvelope(2, wire.KindMessage, testRoom, "eve", strings.Repeat("A", chat.MaxTextBytes+1)), pubsub.ValidationIgnore},
		{"other nick rules", rawEnvelope(2, wire.KindMessage, testRoom, strings.Repeat("e", 3*chat.MaxNickRunes), "hi"), pubsub.ValidationIgnore},
		{"text on a heartbeat", rawEnvelope(2, wire.KindHeartbeat, testRoom, "eve", "hi"), pubsub.ValidationIgnore},
		{"version 1", append([]byte{1, 4, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0x7b, 3}, "eve bad:v1"...), pubsub.ValidationReject},
		{"truncated", []byte{2, 4, 1, 50, 0x61}, pubsub.ValidationReject},
		{"bad utf8", rawEnvelope(2, wire.KindMessage, testRoom, "eve", "bad \xff"), pubsub.ValidationReject},
		{"other room", envelope(t, wire.Envelope{Kind: wire.KindMessage, Room: "elsewhere", Sent: 1, Nick: "eve", Text: "hi"}), pubsub.ValidationReject},
		{"sealed in an open room", envelope(t, wire.Envelope{Kind: wire.KindSealed, Room: testRoom, Sealed: make([]byte, 64)}), pubsub.ValidationReject},
	}
	for i, tt := range tests {
		topic := openTopic(testRoom)
		m := &pubsub.Message{Message: &pb.Message{From: []byte(author), Data: tt.data, Topic: &topic,
			Seqno: binary.BigEndian.AppendUint64(nil, uint64(i+1))}}
		if got := a.room.validate(context.Background(), author, m); got != tt.want {
			t.Errorf("%s: validate = %v, want %v", tt.name, got, tt.want)
		}
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
