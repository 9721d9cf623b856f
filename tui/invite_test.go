package tui

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"lanchat/node/chat"
)

// invHost is a fakeHost that makes invitations.
type invHost struct {
	*fakeHost
	err error

	mu    sync.Mutex
	asked []bool
}

func (h *invHost) Invite(withKey bool) (string, error) {
	h.mu.Lock()
	h.asked = append(h.asked, withKey)
	h.mu.Unlock()
	if h.err != nil {
		return "", h.err
	}
	if withKey {
		return "lanchat-secret:aaaa", nil
	}
	return "lanchat:bbbb", nil
}

func TestInviteCommand(t *testing.T) {
	for _, tc := range []struct {
		name, network, input string
		err                  error
		want                 []string
		asked                []bool
	}{
		{name: "private", network: chat.NetworkPrivate, input: "/invite\n", asked: []bool{false}, want: []string{
			"* invitation for someone on another subnet (they run lanchat --key PASSPHRASE --join-invite LINE; /invite key puts the key in it): lanchat:bbbb"}},
		{name: "with the key", network: chat.NetworkPrivate, input: "/invite KEY\n", asked: []bool{true}, want: []string{
			"* secret invitation: it holds the network key, so whoever has it can join and read every open room; " +
				"give it only to those you would tell the passphrase (they run lanchat --join-invite LINE): lanchat-secret:aaaa"}},
		{name: "open", network: chat.NetworkOpen, input: "/invite\n", asked: []bool{false}, want: []string{
			"* invitation for someone on another subnet (they run lanchat --join-invite LINE): lanchat:bbbb"}},
		{name: "open with the key", network: chat.NetworkOpen, input: "/invite key\n", asked: []bool{true}, want: []string{
			"* the network is open: there is no key to put in the invitation",
			"* invitation for someone on another subnet (they run lanchat --join-invite LINE): lanchat-secret:aaaa"}},
		{name: "bad argument", network: chat.NetworkPrivate, input: "/invite everyone\n", want: []string{
			"! usage: /invite [key] (key: the line holds the network key)"}},
		{name: "failure", network: chat.NetworkPrivate, input: "/invite\n", err: errors.New("no address to invite to"), asked: []bool{false},
			want: []string{"! cannot make an invitation: no address to invite to"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			room := newFakeRoom(tc.network)
			h := &invHost{fakeHost: room.host, err: tc.err}
			var out strings.Builder
			if err := runLines(context.Background(), h, []Room{room}, strings.NewReader(tc.input), &out, Plain, noSettle); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")[1:] // after the ready line
			if tc.network == chat.NetworkOpen {
				lines = lines[1:] // and the open network's warning
			}
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("output:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
			if len(h.asked) != len(tc.asked) || len(h.asked) > 0 && h.asked[0] != tc.asked[0] {
				t.Errorf("Invite asked %v, want %v", h.asked, tc.asked)
			}
		})
	}
	// A host that makes none says so.
	room := newFakeRoom(chat.NetworkPrivate)
	var out strings.Builder
	if err := runLines(context.Background(), room.host, []Room{room}, strings.NewReader("/invite\n"), &out, Plain, noSettle); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "! cannot make an invitation: ") {
		t.Errorf("output %q, want a refusal", out.String())
	}
}
