package node

import (
	"regexp"
	"strings"
	"sync"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"lanchat/node/chat"
)

// Topic names. An open room is "lanchat/2/room/<name>", a private room
// "lanchat/2/private/<tag>" (the tag of its key: its name never goes on
// the wire).
const (
	topicPrefix        = "lanchat/" + ProtocolVersion + "/"
	openTopicPrefix    = topicPrefix + "room/"
	privateTopicPrefix = topicPrefix + "private/"
	// oldTopicPrefix is the topic prefix of lanchat protocol 1, which
	// this version cannot talk to.
	oldTopicPrefix = "lanchat/1/room/"
)

// Subscription filter limits.
const (
	// maxTopicsPerPeer bounds the topics of ours (the naming scheme's)
	// one peer may be tracked in: a peer announcing a million topics must
	// not grow pubsub's tables, nor ours, without bound.
	maxTopicsPerPeer = 32
	// maxTopicsSeen bounds the distinct topics tracked for all peers;
	// the topics of our own rooms are tracked beyond it (peers could
	// otherwise fill the table with made-up rooms and cut us off from
	// our own).
	maxTopicsSeen = 4096
	// maxOldPeers bounds the peers remembered as running protocol 1.
	maxOldPeers = 256
)

// privateTag matches a private room's tag ([roomkey.Key.Tag]).
var privateTag = regexp.MustCompile(`^[0-9a-f]{32}$`)

func openTopic(name string) string   { return openTopicPrefix + name }
func privateTopic(tag string) string { return privateTopicPrefix + tag }

// parseTopic reports whether topic is of our naming scheme, and the room's
// wire ID it names: an open room's name, or a private room's tag.
func parseTopic(topic string) (id string, private, ok bool) {
	if tag, found := strings.CutPrefix(topic, privateTopicPrefix); found {
		return tag, true, privateTag.MatchString(tag)
	}
	if name, found := strings.CutPrefix(topic, openTopicPrefix); found {
		return name, false, chat.ValidRoom(name) == nil
	}
	return "", false, false
}

// topicFilter is the host's pubsub subscription filter. It lets pubsub
// track only topics of our naming scheme, at most maxTopicsPerPeer of
// them per peer, and maxTopicsSeen in all besides those of our own rooms;
// and remembers which topics peers are in, for [Host.Rooms]. It also
// notices peers that run protocol 1.
//
// pubsub calls it from its event loop: it must not call pubsub, nor block.
// It never returns an error: pubsub would drop the whole RPC, messages
// included. It forgets a peer when the peer's last connection closes (as
// a network notifiee; pubsub forgets the peer's subscriptions then too).
type topicFilter struct {
	// old is called, without blocking, the first time a peer is seen in a
	// topic of protocol 1.
	old func(peer.ID)

	mu     sync.Mutex
	peers  map[peer.ID]map[string]bool // topics each peer is tracked in
	topics map[string]int              // peers tracked per topic
	own    map[string]bool             // topics of our rooms
	olds   map[peer.ID]bool
}

func newTopicFilter(old func(peer.ID)) *topicFilter {
	return &topicFilter{
		old:    old,
		peers:  make(map[peer.ID]map[string]bool),
		topics: make(map[string]int),
		own:    make(map[string]bool),
		olds:   make(map[peer.ID]bool),
	}
}

// CanSubscribe reports whether topic is of our naming scheme. pubsub asks
// it for our own joins too.
func (f *topicFilter) CanSubscribe(topic string) bool {
	_, _, ok := parseTopic(topic)
	return ok
}

// FilterIncomingSubscriptions keeps, in order, the subscriptions of from
// that pubsub should track: to topics of our scheme, while from is in fewer
// than maxTopicsPerPeer, and to a topic nobody is tracked in only while
// fewer than maxTopicsSeen are (unless it is one of our rooms'); and its
// unsubscriptions from topics it is tracked in. It never fails.
func (f *topicFilter) FilterIncomingSubscriptions(from peer.ID, subs []*pb.RPC_SubOpts) ([]*pb.RPC_SubOpts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := subs[:0:0]
	old := false
	for _, s := range subs {
		topic := s.GetTopicid()
		if !f.CanSubscribe(topic) {
			old = old || strings.HasPrefix(topic, oldTopicPrefix) && s.GetSubscribe()
			continue
		}
		mine := f.peers[from]
		switch {
		case s.GetSubscribe() && mine[topic]:
			out = append(out, s) // again: pubsub takes it as a no-op
		case s.GetSubscribe():
			if len(mine) >= maxTopicsPerPeer || f.topics[topic] == 0 && len(f.topics) >= maxTopicsSeen && !f.own[topic] {
				continue
			}
			if mine == nil {
				mine = make(map[string]bool)
				f.peers[from] = mine
			}
			mine[topic] = true
			f.topics[topic]++
			out = append(out, s)
		case mine[topic]:
			f.dropLocked(from, topic)
			out = append(out, s)
		}
	}
	if old && !f.olds[from] && len(f.olds) < maxOldPeers {
		f.olds[from] = true
		f.old(from)
	}
	return out, nil
}

// join makes topic one of our rooms' (see maxTopicsSeen); a room calls it
// before it joins the topic.
func (f *topicFilter) join(topic string) {
	f.mu.Lock()
	f.own[topic] = true
	f.mu.Unlock()
}

// part undoes join, when the room is gone.
func (f *topicFilter) part(topic string) {
	f.mu.Lock()
	delete(f.own, topic)
	f.mu.Unlock()
}

// dropLocked stops tracking p in topic; f.mu is held.
func (f *topicFilter) dropLocked(p peer.ID, topic string) {
	mine := f.peers[p]
	delete(mine, topic)
	if len(mine) == 0 {
		delete(f.peers, p)
	}
	if f.topics[topic]--; f.topics[topic] <= 0 {
		delete(f.topics, topic)
	}
}

// forget stops tracking p in any topic.
func (f *topicFilter) forget(p peer.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for topic := range f.peers[p] {
		f.dropLocked(p, topic)
	}
	delete(f.olds, p)
}

// seen returns the topics at least one peer is tracked in.
func (f *topicFilter) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.topics))
	for t := range f.topics {
		out = append(out, t)
	}
	return out
}

// notifiee returns the network notifiee that makes f forget a peer whose
// last connection closed.
func (f *topicFilter) notifiee() network.Notifiee {
	return &network.NotifyBundle{
		DisconnectedF: func(n network.Network, c network.Conn) {
			if p := c.RemotePeer(); n.Connectedness(p) != network.Connected {
				f.forget(p)
			}
		},
	}
}
