package chat

import (
	"errors"
	"strings"
	"testing"
)

func TestRoomName(t *testing.T) {
	for _, tt := range []struct {
		typed, want string
		err         error
	}{
		{"lobby", "lobby", nil},
		{"#dev", "dev", nil},
		{" #dev ", "dev", nil},
		{"開発", "開発", nil},
		{strings.Repeat("r", MaxRoomBytes), strings.Repeat("r", MaxRoomBytes), nil},
		{"", "", ErrInvalidRoom},
		{"#", "", ErrInvalidRoom},
		{"##dev", "", ErrInvalidRoom},
		{"a b", "", ErrInvalidRoom},
		{"a\tb", "", ErrInvalidRoom},
		{"a\x00b", "", ErrInvalidRoom},
		{strings.Repeat("r", MaxRoomBytes+1), "", ErrInvalidRoom},
		{"\xff", "", ErrBadUTF8},
	} {
		got, err := RoomName(tt.typed)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("RoomName(%q) = %q, %v, want %q, %v", tt.typed, got, err, tt.want, tt.err)
		}
	}
}

func TestValidText(t *testing.T) {
	for _, tt := range []struct {
		text string
		want error
	}{
		{"hi", nil},
		{strings.Repeat("x", MaxTextBytes), nil},
		{"", ErrEmptyText},
		{strings.Repeat("x", MaxTextBytes+1), ErrTooLong},
		{"\xc0", ErrBadUTF8},
	} {
		if err := ValidText(tt.text); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("ValidText(%.20q) = %v, want %v", tt.text, err, tt.want)
		}
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[EventKind]string{KindJoin: "join", KindLeave: "leave", KindNick: "nick",
		KindMessage: "message", KindNotice: "notice", KindError: "error", 0: "EventKind(0)", 99: "EventKind(99)"} {
		if got := k.String(); got != want {
			t.Errorf("EventKind(%d).String() = %q, want %q", k, got, want)
		}
	}
}
