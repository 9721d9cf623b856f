package tui

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"lanchat/node/chat"
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
	rooms := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		var v struct {
			Type, Time, Nick, Room, Network, Fingerprint, Reason, Old, New, ID, Text, Sent string
			PeerID                                                                         string `json:"peer_id"`
			Addrs                                                                          []string
			Rooms                                                                          json.RawMessage
			Self, Action, History, Mention                                                 bool
			Count                                                                          int
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("README line %s: %v", line, err)
			continue
		}
		seen[v.Type] = true
		if v.Type == "message" && v.History {
			seen["history message"] = true
		}
		if v.Type == "message" && v.Mention {
			seen["mention"] = true
		}
		if v.Room != "" {
			rooms[v.Room] = true
		}
		parse := func(s string) time.Time {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Errorf("README line %s: time %q: %v", line, s, err)
			}
			return tm
		}
		var out bytes.Buffer
		w := newLineWriter(&out, JSON)
		ev := chat.Event{Room: v.Room, Time: parse(v.Time), PeerID: v.PeerID, Nick: v.Nick, Self: v.Self}
		switch v.Type {
		case "ready":
			var names []string
			if err := json.Unmarshal(v.Rooms, &names); err != nil {
				t.Errorf("README ready line %s: rooms: %v", line, err)
			}
			s := &session{info: chat.Info{PeerID: v.PeerID, Nick: v.Nick, Network: v.Network, Fingerprint: v.Fingerprint, Addrs: v.Addrs}}
			for _, n := range names {
				rv := &roomView{name: n}
				s.rooms = append(s.rooms, rv)
				if n == v.Room {
					s.cur = rv
				}
			}
			err = w.ready(s)
		case "rooms":
			var list []struct {
				Room, ID        string
				Members         int
				Joined, Private bool
			}
			if err := json.Unmarshal(v.Rooms, &list); err != nil {
				t.Errorf("README rooms line %s: %v", line, err)
			}
			var infos []chat.RoomInfo
			for _, r := range list {
				infos = append(infos, chat.RoomInfo{Name: r.Room, ID: r.ID, Members: r.Members, Joined: r.Joined, Private: r.Private})
			}
			err = w.rooms(infos)
		case "join":
			ev.Kind = chat.KindJoin
		case "leave":
			ev.Kind, ev.Reason = chat.KindLeave, v.Reason
		case "nick":
			ev.Kind, ev.OldNick, ev.Nick = chat.KindNick, v.Old, v.New
		case "message":
			ev.Kind, ev.ID, ev.Text, ev.Sent, ev.Action, ev.History = chat.KindMessage, v.ID, v.Text, parse(v.Sent), v.Action, v.History
		case "history":
			ev.Kind, ev.Count = chat.KindHistory, v.Count
		case "notice":
			ev.Kind, ev.Text = chat.KindNotice, v.Text
		case "error":
			ev.Kind, ev.Text = chat.KindError, v.Text
		default:
			t.Errorf("README line %s: unknown type %q", line, v.Type)
			continue
		}
		if ev.Kind != 0 {
			err = w.roomEvent(nil, ev, v.Mention)
		}
		if err != nil {
			t.Fatal(err)
		}
		got := strings.TrimSuffix(out.String(), "\n")
		if v.Type == "ready" || v.Type == "rooms" { // their time is now
			got = jsonTimeRE.ReplaceAllString(got, `"time":"`+v.Time+`"`)
		}
		if got != line {
			t.Errorf("README:\n%s\nthe code writes:\n%s", line, got)
		}
	}
	for _, typ := range []string{"ready", "join", "leave", "nick", "message", "notice", "rooms", "history", "history message", "mention"} {
		if !seen[typ] {
			t.Errorf("the README's JSON example has no %q line", typ)
		}
	}
	if len(rooms) < 2 {
		t.Errorf("the README's JSON example shows %d rooms, want events of two at least", len(rooms))
	}
}
