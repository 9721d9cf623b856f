package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"lanchat/node/chat"
)

// errNoPeer and errAmbiguousPeer are what [session.resolvePeer] fails with.
var (
	errNoPeer        = errors.New("no such member")
	errAmbiguousPeer = errors.New("more than one member looks like")
)

// resolvePeer finds the peer a command names: an exact peer ID, a label
// as the screen shows it ("bob", or "bob#3f2a" when nicks look alike), or
// a nick that looks like exactly one member's (the same
// [chat.Skeleton]), among the members of the joined rooms, ourselves left
// out. It returns the peer ID and the label to show.
func (s *session) resolvePeer(name string) (peerID, label string, err error) {
	name = strings.TrimSpace(name)
	skel := chat.Skeleton(showNick(name))
	alike := map[string]string{} // peer ID → label
	for _, rv := range s.rooms {
		for _, mb := range rv.members {
			switch {
			case mb.Self:
			case mb.PeerID == name || rv.labels[mb.PeerID] == name:
				return mb.PeerID, rv.labels[mb.PeerID], nil
			case chat.Skeleton(showNick(mb.Nick)) == skel:
				alike[mb.PeerID] = rv.labels[mb.PeerID]
			}
		}
	}
	switch len(alike) {
	case 0:
		return "", "", fmt.Errorf("%w called %s in your rooms", errNoPeer, Sanitize(name))
	case 1:
		for id, l := range alike {
			return id, l, nil
		}
	}
	labels := make([]string, 0, len(alike))
	for _, l := range alike {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	return "", "", fmt.Errorf("%w %s: name one of %s, or its peer ID (/who lists them)", errAmbiguousPeer, Sanitize(name), strings.Join(labels, ", "))
}
