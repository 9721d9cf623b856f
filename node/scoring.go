package node

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
	"lanchat/node/wire"
)

// certainlyBad reports whether an envelope that failed to open with err
// (see [Room.open]), data being its bytes, is one no lanchat signs, so
// that the validator may reject it (and peer scoring penalise the peer
// that delivered it): bytes that are not fields (empty, a field longer
// than what is left), invalid UTF-8 in the text or room, an empty text,
// an envelope of another room (or a room field that is no room name), a
// clear one in a private room or a sealed one in an open room, a box that
// does not open, or holds nothing, a sealed envelope or another room's.
// What a newer lanchat may sign is not: a later version (any first byte
// above 2), an unknown kind, a longer envelope or text, other nick rules,
// a field a kind may carry later, or a field encoded otherwise
// (wire.ErrMalformed covers those). Those are ignored, so that an honest
// newer peer, and an honest peer forwarding its envelopes, is never
// counted invalid. An older version (0 or 1) is certainly bad: protocol 1
// has its own topics. What is rejected is a contract: see below.
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

// Gossipsub peer scoring is on, for one thing: a peer that delivers
// messages no lanchat signs is graylisted, its RPCs dropped unread, so
// that a key holder signing junk costs us a map look-up per RPC instead
// of a signature check and a validation each. Everything else that
// scoring can do is off: the only term is P4, the count of invalid
// messages a peer delivered, squared and negated; honest peers' scores are
// 0, and stay 0 (TestScoringNeverPenalisesHonest).
//
// What counts as invalid (pubsub v0.19, score.go RejectMessage and
// DuplicateMessage), charged to the peer that delivered the message:
// a message our validator rejects, and every copy of it delivered while
// it was being validated or afterwards (same message ID, which with
// [pubsubID] means the same message); a bad or missing signature; a
// message of ours that we did not publish here. What does not count: what
// the validator ignores (floods, replays, too many new authors, what a
// newer lanchat may send: see [certainlyBad]), messages dropped before
// validation (a full validation queue, [Host.inspect]), messages of
// topics we are not in.
//
// The graylist is checked once per RPC, before its messages are
// validated: a peer sending invalid messages an RPC at a time is
// graylisted as its count passes 9, and its later RPCs are dropped
// unread, so the count stops there (14 sent so: 9 counted); it is
// graylisted until the next decay (within scoreEvery, 2 s), then two
// messages get through: about one a second in the long run. All those of
// one RPC are counted.
//
// The contract that makes this safe: a relay forwards only what its own
// validator accepted, and a lanchat of protocol 2 accepts every message
// another one does not reject. So the set of envelopes the validator
// rejects may only shrink: a case may move from Reject to Ignore in any
// release, never from Ignore to Reject without a new protocol version
// (new topics); and a Reject depends on the message and its topic only,
// never on what a node has heard. TestRejectContract holds the table.
// (lanchat has had no release before scoring was enabled, so no older
// peer rejects less.)
//
// The parameters, and why:
//
//	parameter                        value      why
//	P4 InvalidMessageDeliveries      -1, decay  a peer's score is -(invalid count)²
//	                                 0.81 / 2 s (0.9 a second)
//	GossipThreshold                  -10        4 invalid: no gossip to or from it
//	PublishThreshold                 -50        8 invalid: not even our own messages
//	GraylistThreshold                -80        9 invalid: its RPCs are dropped unread
//	DecayInterval / DecayToZero      2 s / 0.01 the count loses 10 % a second, 19 % at
//	                                            each decay, so a peer stays graylisted
//	                                            for ln(n/√80)/ln(1/0.9) s after n invalid
//	                                            messages, rounded up to a decay: until
//	                                            the next decay after 9, 8 s after 20, 24 s
//	                                            after 100; and any
//	                                            count keeps it out of our mesh (a
//	                                            negative score is pruned at each
//	                                            heartbeat) until it decays to zero, 44 s
//	                                            after one invalid message
//	RetainScore                      10 min     a peer that disconnects keeps its count,
//	                                            frozen, for 10 min (pubsub retains only
//	                                            scores ≤ 0): reconnecting does not clear
//	                                            it. forgers.go's ban is 10 min too
//	TopicWeight (per room)           1          every room counts alike
//	TopicScoreCap                    0          no positive term is on: nothing to cap
//	AppSpecificScore/Weight          0 / 1      no application score (validation wants one)
//	IPColocationFactorWeight         0          a LAN room shares subnets, NAT on a VM
//	                                            host, loopback in tests: colocation is
//	                                            normal here
//	BehaviourPenaltyWeight           0          P7 counts broken IHAVE promises: a loaded
//	                                            honest peer answers IWANT late, and a
//	                                            message Host.inspect drops counts as one
//	P1 TimeInMesh weight/quantum/cap 0 / 1 s/ 0 off: no bonus for time in the mesh (the
//	                                            quantum must be set even when off)
//	P2 FirstMessageDeliveries        0          off: no bonus, so none offsets P4
//	P3 MeshMessageDeliveries         0          off: a quiet room (for hours) must not
//	                                            penalise its mesh peers for silence
//	P3b MeshFailurePenalty           0          off, follows P3
//	AcceptPXThreshold                100        peer exchange is off; never accept PX
//	OpportunisticGraftThreshold      0          honest scores are 0: never graft for score
//
// A graylisted peer's subscriptions are still tracked (pubsub reads them
// before the score), and [Host.inspect] still sees its RPCs first. A
// forger that sends its bad signatures an RPC at a time is graylisted
// after 9, before forgers.go cuts it off (after forgeryBurst, 20): from
// then on its RPCs are dropped before any signature check, which is what
// the cut-off is for, but it is neither disconnected nor banned, and the
// user is not told. One that sends them in bulk (or is not scored, below)
// is cut off as before.
//
// What scoring does not do: it scores only peers we have a gossipsub
// stream to (pubsub creates a peer's record when its stream from us
// opens), so a peer that refuses ours is never graylisted, and admission,
// the pair limit and forgers.go remain the defence against it. A restarted
// node can be handed its own messages of the previous run back by IWANT
// (pubsub answers IWANT without looking at the author) in the few seconds
// they stay in a peer's message cache, and counts each one against that
// peer: a brief penalty, a graylisting only after 9 of them.

// pubsubID is pubsub's message ID: the author and sequence number, as by
// default, then the first 16 bytes of the SHA-256 of the topic (its
// length, then its bytes) and the data. With the default ID a key holder
// could sign, under one sequence number, an envelope we reject and a valid
// one, hand us the first and an honest relay the second: the relay's copy
// would be a copy of the invalid message, charged to the relay
// (TestScoringEquivocation). With what the validator sees in the ID, two
// messages of one ID are judged alike; honest messages never share an
// author and sequence number, so none merge. Peers agree on it: gossip
// (IHAVE, IWANT) names messages by it.
func pubsubID(m *pb.Message) string {
	h := sha256.New()
	h.Write(binary.AppendUvarint(nil, uint64(len(m.GetTopic()))))
	h.Write([]byte(m.GetTopic()))
	h.Write(m.GetData())
	return string(m.GetFrom()) + string(m.GetSeqno()) + string(h.Sum(nil)[:16])
}

// scoreEvery is pubsub's score decay interval, at which the scores
// change, and so how often pubsub hands them to [scoreWatch]. pubsub runs
// both in one goroutine, on two tickers started together, so they share
// a wake-up: 2 s rather than pubsub's default 1 s halves that wake-up of
// an idle node (in a 10-node room, about 5 of 27 thread wake-ups a
// second). The decay per second is kept (see invalidDecay): only the
// moment a graylisting ends moves, to the next even second.
const scoreEvery = 2 * time.Second

// invalidDecay is P4's decay at each scoreEvery: 0.9², 0.9 a second
// (TestScoreParams checks it against scoreEvery).
const invalidDecay = 0.81

// scoreWatch takes pubsub's peer scores every scoreEvery (in a goroutine
// of pubsub's, one per snapshot): it logs a peer falling below the
// graylist threshold, with a warning the first time, and keeps the last
// snapshot, which tests wait on.
type scoreWatch struct {
	log *slog.Logger

	mu      sync.Mutex
	last    map[peer.ID]*pubsub.PeerScoreSnapshot
	taken   int              // snapshots taken
	changed chan struct{}    // closed and replaced at each snapshot
	gray    map[peer.ID]bool // graylisted in the last snapshot
	warned  map[peer.ID]bool // warned about once; at most maxWarned
}

func newScoreWatch(log *slog.Logger) *scoreWatch {
	return &scoreWatch{log: log, changed: make(chan struct{}), gray: make(map[peer.ID]bool), warned: make(map[peer.ID]bool)}
}

// inspect is pubsub's ExtendedPeerScoreInspectFn.
func (w *scoreWatch) inspect(scores map[peer.ID]*pubsub.PeerScoreSnapshot) {
	limit := peerScoreThresholds().GraylistThreshold
	w.mu.Lock()
	defer w.mu.Unlock()
	gray := make(map[peer.ID]bool)
	for p, s := range scores {
		if s.Score >= limit {
			continue
		}
		gray[p] = true
		if w.gray[p] {
			continue
		}
		if !w.warned[p] && len(w.warned) < maxWarned {
			w.warned[p] = true
			w.log.Warn("peer delivers messages no lanchat sends; graylisted: its messages are dropped for a while", "peer", p, "score", s.Score)
		} else {
			w.log.Debug("peer graylisted", "peer", p, "score", s.Score)
		}
	}
	w.gray = gray
	w.last = scores
	w.taken++
	close(w.changed)
	w.changed = make(chan struct{})
}

// snapshot returns the last scores, how many snapshots were taken, and a
// channel closed at the next one.
func (w *scoreWatch) snapshot() (map[peer.ID]*pubsub.PeerScoreSnapshot, int, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.taken, w.changed
}

// peerScoreParams are the host-wide score parameters; each room's topic
// gets [roomScoreParams] when it is joined. See above for the values.
func peerScoreParams() *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:                   map[string]*pubsub.TopicScoreParams{},
		TopicScoreCap:            0,
		AppSpecificScore:         func(peer.ID) float64 { return 0 },
		AppSpecificWeight:        1,
		IPColocationFactorWeight: 0,
		BehaviourPenaltyWeight:   0,
		DecayInterval:            scoreEvery,
		DecayToZero:              0.01,
		RetainScore:              10 * time.Minute,
	}
}

// peerScoreThresholds are the score thresholds; see above.
func peerScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             -10,
		PublishThreshold:            -50,
		GraylistThreshold:           -80,
		AcceptPXThreshold:           100,
		OpportunisticGraftThreshold: 0,
	}
}

// roomScoreParams are the score parameters of one room's topic: P4 only.
// Without them pubsub counts nothing in the topic.
func roomScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshQuantum:              time.Second,
		InvalidMessageDeliveriesWeight: -1,
		InvalidMessageDeliveriesDecay:  invalidDecay,
	}
}
