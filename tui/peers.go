package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"lanchat/node/chat"
)

// Naming peers: /msg and /query (and /send) take a peer as the user
// types it, and [session.resolvePeer] finds it among the peers the
// session knows: the members of every joined room (lost ones too: a
// message to them waits) and the peers of this run's direct messages.
// Typed as
//
//   - a nick: compared by [chat.Skeleton], so "Bob" and "bоb" (a
//     Cyrillic о) find bob; when several peers have such a nick, the
//     answer lists their labels to choose from;
//   - a label, nick#suffix, as the front ends show look-alike nicks
//     ("bob#3f2a"): the nick as above, of the peer whose ID ends with
//     suffix;
//   - a peer ID, known or not (a peer met in an earlier run).
//
// A leading "@" is allowed ("@bob").

// Errors of [session.resolvePeer]; their text is for the user.
var (
	errNoPeer        = errors.New("tui: no such peer")
	errAmbiguousPeer = errors.New("tui: more than one peer by that name")
	errSelfPeer      = errors.New("tui: that is this node itself")
)

// peerErr is an error of resolvePeer: the user's sentence, wrapping kind.
type peerErr struct {
	kind error
	text string
}

func (e *peerErr) Error() string { return e.text }
func (e *peerErr) Unwrap() error { return e.kind }

// knownPeer is a peer the session knows: its nick as last heard (raw)
// and the skeleton of the nick as shown.
type knownPeer struct {
	nick, skel string
}

// knownPeers returns the peers the session knows, by peer ID, without
// this node: the joined rooms' members, then the peers of direct
// messages (for those in no room).
func (s *session) knownPeers() map[string]knownPeer {
	peers := make(map[string]knownPeer)
	for _, rv := range s.rooms {
		if rv.peer != "" {
			continue
		}
		for _, mb := range rv.members {
			if mb.Self || mb.PeerID == s.info.PeerID {
				continue
			}
			if _, ok := peers[mb.PeerID]; !ok || !mb.Lost {
				peers[mb.PeerID] = knownPeer{mb.Nick, rv.skels[mb.PeerID]}
			}
		}
	}
	for id, nick := range s.dm.nicks {
		if _, ok := peers[id]; !ok && id != s.info.PeerID {
			sk, ok := s.dm.skels[id]
			if !ok {
				sk = chat.Skeleton(showNick(nick))
			}
			peers[id] = knownPeer{nick, sk}
		}
	}
	return peers
}

// resolvePeer finds the peer that name names (see the top of this file)
// and returns its peer ID and the label to show it by: its nick, with a
// peer-ID suffix when another known peer's nick looks the same. The
// errors are sentences for the user: nobody of that name, several (with
// their labels), or ourselves.
func (s *session) resolvePeer(name string) (peerID, label string, err error) {
	typed := strings.TrimPrefix(strings.TrimSpace(name), "@")
	if typed == s.info.PeerID && typed != "" {
		return "", "", &peerErr{errSelfPeer, "that is you: a direct message goes to someone else"}
	}
	peers := s.knownPeers()
	if p, ok := peers[typed]; ok {
		peers[s.info.PeerID] = knownPeer{s.nick, chat.Skeleton(showNick(s.nick))}
		return typed, labelAmong(peers, typed, p), nil
	}
	if looksLikePeerID(typed) {
		return typed, shortPeer(typed), nil
	}
	nick, suffix := typed, ""
	if i := strings.LastIndexByte(typed, '#'); i > 0 {
		nick, suffix = typed[:i], typed[i+1:]
	}
	sk := chat.Skeleton(showNick(chat.NormalizeNick(nick)))
	var ids []string
	for id, p := range peers {
		if p.skel == sk && strings.HasSuffix(clean(id), suffix) {
			ids = append(ids, id)
		}
	}
	// Labels tell the peers from each other, and from us.
	peers[s.info.PeerID] = knownPeer{s.nick, chat.Skeleton(showNick(s.nick))}
	switch len(ids) {
	case 0:
		if suffix == "" && sk != "" && sk == chat.Skeleton(showNick(s.nick)) {
			return "", "", &peerErr{errSelfPeer, "that is you: a direct message goes to someone else"}
		}
		return "", "", &peerErr{errNoPeer, "nobody called " + clean(typed) + " is here"}
	case 1:
		return ids[0], labelAmong(peers, ids[0], peers[ids[0]]), nil
	}
	labels := make([]string, len(ids))
	for i, id := range ids {
		labels[i] = labelAmong(peers, id, peers[id])
	}
	slices.Sort(labels)
	return "", "", &peerErr{errAmbiguousPeer, fmt.Sprintf("%d peers are called %s: %s — say which one (e.g. %s)",
		len(ids), clean(typed), strings.Join(labels, ", "), labels[0])}
}

// peerLabel returns how to show peer id called nick ("" for as known):
// the nick, with a peer-ID suffix when another known peer's nick, or
// ours, looks the same; the end of the peer ID when it has no nick.
func (s *session) peerLabel(id, nick string) string {
	peers := s.knownPeers()
	if id != s.info.PeerID {
		peers[s.info.PeerID] = knownPeer{s.nick, chat.Skeleton(showNick(s.nick))}
	}
	p, ok := peers[id]
	if nick != "" && (!ok || p.nick != nick) {
		p = knownPeer{nick, chat.Skeleton(showNick(nick))}
		peers[id] = p
	}
	if p.nick == "" {
		return shortPeer(id)
	}
	return labelAmong(peers, id, p)
}

// labelAmong labels peer id (p) among peers: see [roomView.label].
func labelAmong(peers map[string]knownPeer, id string, p knownPeer) string {
	var others []string
	for o, q := range peers {
		if o != id && q.skel == p.skel {
			others = append(others, o)
		}
	}
	l := clean(showNick(p.nick))
	if len(others) > 0 {
		l += "#" + suffixFor(id, others)
	}
	return l
}

// shortPeer shows a peer ID without a nick: its last 8 characters.
func shortPeer(id string) string {
	r := []rune(clean(id))
	return "…" + string(r[max(0, len(r)-8):])
}

// looksLikePeerID reports whether s could be a libp2p peer ID as text: a
// base58 multihash, "12D3KooW…" (Ed25519) or "Qm…", 46 to 64 characters.
// The node checks it for real.
func looksLikePeerID(s string) bool {
	if len(s) < 46 || len(s) > 64 || !strings.HasPrefix(s, "12D3KooW") && !strings.HasPrefix(s, "Qm") {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", r) {
			return false
		}
	}
	return true
}
