package tui

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"lanchat/node"
)

// TestReadmeJSON checks the README's JSON example against the code: each
// example line, fed back through the JSON line writer as the event it
// describes, must come out byte for byte the same (field names, order and
// formats).
func TestReadmeJSON(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```json\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README has no ```json block")
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		var v struct {
			Type, Time, Nick, Room, Network, Fingerprint, Reason, Old, New, ID, Text, Sent string
			PeerID                                                                         string `json:"peer_id"`
			Addrs                                                                          []string
			Self, Action                                                                   bool
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("README line %s: %v", line, err)
			continue
		}
		seen[v.Type] = true
		parse := func(s string) time.Time {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Errorf("README line %s: time %q: %v", line, s, err)
			}
			return tm
		}
		var out bytes.Buffer
		w := &lineWriter{out: &out, mode: JSON}
		ev := node.Event{Type: node.EventType(v.Type), Time: parse(v.Time), PeerID: v.PeerID, Nick: v.Nick, Self: v.Self}
		switch ev.Type {
		case "ready":
			err = w.ready(node.Info{PeerID: v.PeerID, Nick: v.Nick, Room: v.Room, Network: v.Network, Fingerprint: v.Fingerprint, Addrs: v.Addrs})
		case node.EventLeave:
			ev.Reason = v.Reason
		case node.EventNick:
			ev.OldNick, ev.Nick = v.Old, v.New
		case node.EventMessage:
			ev.ID, ev.Text, ev.Sent, ev.Action = v.ID, v.Text, parse(v.Sent), v.Action
		case node.EventNotice, node.EventError:
			ev.Text = v.Text
		}
		if ev.Type != "ready" {
			err = w.event(ev)
		}
		if err != nil {
			t.Fatal(err)
		}
		got := strings.TrimSuffix(out.String(), "\n")
		if ev.Type == "ready" { // the ready line's time is now
			got = jsonTimeRE.ReplaceAllString(got, `"time":"`+v.Time+`"`)
		}
		if got != line {
			t.Errorf("README:\n%s\nthe code writes:\n%s", line, got)
		}
	}
	for _, typ := range []string{"ready", "join", "leave", "nick", "message", "notice"} {
		if !seen[typ] {
			t.Errorf("the README's JSON example has no %q line", typ)
		}
	}
}
