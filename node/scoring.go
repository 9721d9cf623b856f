package node

import (
	"errors"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// certainlyBad reports whether an envelope that failed to open with err
// (see [Room.open]), data being its bytes, is one no lanchat signs, so
// that the validator may reject it (and, with peer scoring, the peer that
// delivered it be penalised): bytes that are not fields (truncated, a
// bad length), invalid UTF-8, an envelope of another room, a clear one in
// a private room or a sealed one in an open room, a box that does not
// open. What a newer lanchat may sign is not: a later version, an unknown
// kind, a longer envelope or text, other nick rules, a field a kind may
// carry later (wire.ErrMalformed covers that). Those are ignored, so that
// an honest newer peer, and an honest peer forwarding its envelopes, is
// never counted invalid. An older version (1) is certainly bad: protocol
// 1 has its own topics.
func certainlyBad(data []byte, err error) bool {
	if len(data) > 0 && data[0] < wire.Version {
		return true
	}
	switch {
	case errors.Is(err, wire.ErrBadVersion), errors.Is(err, wire.ErrUnknownKind),
		errors.Is(err, wire.ErrOversize), errors.Is(err, chat.ErrTooLong),
		errors.Is(err, chat.ErrInvalidNick), errors.Is(err, wire.ErrMalformed):
		return false
	}
	return true
}

// Gossipsub peer scoring: prepared, NOT enabled. [peerScoreParams],
// [peerScoreThresholds] and [roomScoreParams] are a parameter set for a
// small LAN room that passes pubsub v0.19's validation (TestScoreParams);
// enabling it takes pubsub.WithPeerScore in Start and
// topic.SetScoreParams(roomScoreParams()) right after ps.Join in
// Host.newRoom (room params are per topic, and rooms are joined at run
// time; without them the invalid-message counter P4 counts nothing).
//
// Why it is off: what it would add over what lanchat does itself is small,
// and the risk is graylisting honest peers. Floods, replays and made-up
// authors are ignored by admission, before the signature check too (see
// [Host.inspect]); a peer forwarding bad signatures is cut off (forgers.go).
// What P4 adds is graylisting a key holder that signs envelopes we reject,
// and those are already bounded by the pair limit before the signature
// check (see [admission.hopeless]). The risk: P4 charges the peer that
// delivered an invalid message, which for a relayed one is an honest relay.
// That is safe only if every envelope rejected here is one that every
// older lanchat of protocol 2 rejects too (else an attacker has an old
// honest relay forward envelopes only we reject, and we graylist the
// relay). The validator now ignores, rather than rejects, what a newer
// lanchat may send (see [certainlyBad]); but whether every check left as
// a reject (the author length limit, say) was in every older release has
// not been checked. Enable it once it has.
//
// The parameters, and why:
//
//	parameter                        value      why
//	TopicScoreCap                    0          no positive term is on: nothing to cap
//	AppSpecificScore/Weight          0 / 1      no application score (required by validation)
//	IPColocationFactorWeight         0          a LAN room shares subnets, loopback in tests,
//	                                            NAT on a VM host: colocation is normal here
//	BehaviourPenaltyWeight           0          a loaded honest peer breaks IHAVE promises
//	                                            (its IWANT replies are late): not a fault
//	DecayInterval / DecayToZero      1 s / 0.01 pubsub's defaults
//	RetainScore                      10 min     a graylisted peer that reconnects keeps its
//	                                            score (the forgers' ban is 10 min too)
//	TopicWeight (per room)           1          every room counts alike
//	P1 TimeInMesh weight/quantum/cap 0 / 1 s/ 0 off: no bonus for time in the mesh (the
//	                                            quantum must be set even when off)
//	P2 FirstMessageDeliveries        0          off: a quiet room earns nobody a bonus, and
//	                                            no bonus offsets P4
//	P3 MeshMessageDeliveries         0          off: a quiet topic (a chat room for hours)
//	                                            must not penalise mesh peers for silence
//	P3b MeshFailurePenalty           0          off, follows P3
//	P4 InvalidMessageDeliveries      -1, decay  a peer's score is -(invalid count)²: 4 invalid
//	                                 0.9 / s    messages reach the gossip threshold (-10), 8 the
//	                                            publish threshold (-50), 9 the graylist (-80);
//	                                            the count loses 10 % a second, so 100 invalid
//	                                            messages graylist a peer for ~23 s after the
//	                                            last, 9 for about a second
//	GossipThreshold                  -10        no gossip to or from a peer that sent 4 invalid
//	PublishThreshold                 -50        no flood publish to it after 8
//	GraylistThreshold                -80        its RPCs dropped after 9
//	AcceptPXThreshold                100        peer exchange is off; never accept PX
//	OpportunisticGraftThreshold      0          all honest scores are 0: never graft for score
func peerScoreParams() *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:                   map[string]*pubsub.TopicScoreParams{},
		TopicScoreCap:            0,
		AppSpecificScore:         func(peer.ID) float64 { return 0 },
		AppSpecificWeight:        1,
		IPColocationFactorWeight: 0,
		BehaviourPenaltyWeight:   0,
		DecayInterval:            time.Second,
		DecayToZero:              0.01,
		RetainScore:              10 * time.Minute,
	}
}

// peerScoreThresholds goes with [peerScoreParams].
func peerScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             -10,
		PublishThreshold:            -50,
		GraylistThreshold:           -80,
		AcceptPXThreshold:           100,
		OpportunisticGraftThreshold: 0,
	}
}

// roomScoreParams are the score parameters of one room's topic; see
// [peerScoreParams].
func roomScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshQuantum:              time.Second,
		InvalidMessageDeliveriesWeight: -1,
		InvalidMessageDeliveriesDecay:  0.9,
	}
}
