package tui

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"lanchat/node/chat"
)

// slowEchoRoom is an [echoRoom] whose Send refuses the text "bad".
type slowEchoRoom struct{ *echoRoom }

func (r slowEchoRoom) Send(ctx context.Context, text string) error {
	if text == "bad" {
		return r.record("send "+text, errors.New("no route"))
	}
	return r.echoRoom.Send(ctx, text)
}

// TestLinesOutputOrder checks that what RunLines answers itself (a
// command's reply, an error) comes after the echoes of the lines typed
// before it, though the echoes come back later than the reply is ready;
// and that an echo that never comes holds the output back once, for the
// echo wait, not after every line.
func TestLinesOutputOrder(t *testing.T) {
	const alone = "* nobody else is here yet — it will be delivered when someone joins"
	tests := []struct {
		name     string
		input    string
		delay    time.Duration // the k-th echo comes k*delay after the k-th send; -1: never
		want     []string      // plain output after the ready line
		wantTime time.Duration
	}{
		{"who after two lines", "a\nb\n/who\n", 50 * time.Millisecond,
			[]string{"[14:03] <alice> a", alone, "[14:03] <alice> b", "* 1 in lobby: alice (you)"}, 100 * time.Millisecond},
		{"unknown command", "a\n/bogus\n", 50 * time.Millisecond,
			[]string{"[14:03] <alice> a", alone, "! unknown command /bogus, nothing was sent (try /help; start a line with // to send it as text)"},
			50 * time.Millisecond},
		{"too long", "a\n" + strings.Repeat("x", MaxLineBytes+1) + "\n", 50 * time.Millisecond,
			[]string{"[14:03] <alice> a", alone, "! message too long (max 4096 bytes)"}, 50 * time.Millisecond},
		{"failed send", "a\nbad\n", 50 * time.Millisecond,
			[]string{"[14:03] <alice> a", alone, "! message not sent: no route"}, 50 * time.Millisecond},
		{"lines between are not held", "a\nb\nc\n", 50 * time.Millisecond,
			[]string{"[14:03] <alice> a", alone, "[14:03] <alice> b", "[14:03] <alice> c"}, 150 * time.Millisecond},
		{"echo never comes: one wait", "a\n/who\n/key\n", -1,
			[]string{"* 1 in lobby: alice (you)",
				"* private network, key fingerprint 1a2b3c4d: everyone in the room shows the same one, compare it out loud"},
			2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				room := slowEchoRoom{&echoRoom{fakeRoom: newFakeRoom("private"), delay: tt.delay}}
				room.members = []chat.Member{{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}}
				out := &lineSink{t: t, lines: make(chan string, 100)}
				start := time.Now()
				err := runLines(context.Background(), room.host, []Room{room}, strings.NewReader(tt.input), out, Plain, lineTimes{echo: 2 * time.Second})
				if err != nil {
					t.Fatalf("RunLines = %v", err)
				}
				if got := time.Since(start); got != tt.wantTime {
					t.Errorf("RunLines took %v, want %v", got, tt.wantTime)
				}
				close(out.lines)
				var got []string
				for l := range out.lines {
					got = append(got, l)
				}
				if got, want := got[1:], tt.want; !slices.Equal(got, want) {
					t.Errorf("input %.40q: output\n%q\nwant\n%q", tt.input, got, want)
				}
				room.wg.Wait()
			})
		})
	}
}

// TestLinesOutputOrderJSON is the same in JSON: the /who notice comes
// after the two "message" echoes.
func TestLinesOutputOrderJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		room := &echoRoom{fakeRoom: newFakeRoom("private"), delay: 50 * time.Millisecond}
		room.members = []chat.Member{{PeerID: "12D3KooWSelf", Nick: "alice", Self: true}}
		out := &lineSink{t: t, lines: make(chan string, 100)}
		if err := runLines(context.Background(), room.host, []Room{room}, strings.NewReader("a\nb\n/who\n"), out, JSON, lineTimes{echo: 2 * time.Second}); err != nil {
			t.Fatalf("RunLines = %v", err)
		}
		close(out.lines)
		var got []string
		for l := range out.lines {
			var m struct{ Type, Text string }
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("output %q: %v", l, err)
			}
			got = append(got, m.Type+" "+m.Text)
		}
		want := []string{"ready ", "message a", "notice " + nobodyText, "message b", "notice 1 in lobby: alice (you)"}
		if !slices.Equal(got, want) {
			t.Errorf("output\n%q\nwant\n%q", got, want)
		}
		room.wg.Wait()
	})
}
