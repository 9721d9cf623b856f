package tui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"lanchat/node/chat"
)

// lineWriter formats events as lines and writes each with one Write.
type lineWriter struct {
	out  io.Writer
	mode LineMode
	buf  bytes.Buffer
	now  func() time.Time // the clock that says which day is today

	// first is the room whose plain lines have no "#room " prefix.
	first string
	// announced are the rooms the plain ready line named: our own join
	// there is not repeated. A room we leave is forgotten, so a later join
	// of it is shown.
	announced map[string]bool
	// progress paces the plain progress lines of the transfers.
	progress plainProgress
}

// newLineWriter returns a writer of mode lines to out.
func newLineWriter(out io.Writer, mode LineMode) *lineWriter {
	return &lineWriter{out: out, mode: mode, now: time.Now, announced: map[string]bool{}}
}

// Per-type JSON objects; the field order is the output order.
type (
	// jsonReady is the first line: who we are and the rooms we are in.
	jsonReady struct {
		Type        string   `json:"type"`
		Time        string   `json:"time"`
		PeerID      string   `json:"peer_id"`
		Nick        string   `json:"nick"`
		Room        string   `json:"room"`
		Rooms       []string `json:"rooms"`
		Network     string   `json:"network"`
		Fingerprint string   `json:"fingerprint"`
		Addrs       []string `json:"addrs"`
	}
	// jsonJoin says a member joined a room (ours with "self").
	jsonJoin struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		Room   string `json:"room"`
		PeerID string `json:"peer_id"`
		Nick   string `json:"nick"`
		Self   bool   `json:"self,omitempty"`
	}
	// jsonLeave says a member left a room, "reason" quit or lost.
	jsonLeave struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		Room   string `json:"room"`
		PeerID string `json:"peer_id"`
		Nick   string `json:"nick"`
		Reason string `json:"reason"`
		Self   bool   `json:"self,omitempty"`
	}
	// jsonNick says a member of a room renamed.
	jsonNick struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		Room   string `json:"room"`
		PeerID string `json:"peer_id"`
		Old    string `json:"old"`
		New    string `json:"new"`
		Self   bool   `json:"self,omitempty"`
	}
	// jsonMessage is a chat line or (with "action") a /me; "history" marks
	// one from the room's log rather than live, "mention" someone else's
	// live line that writes our nick.
	jsonMessage struct {
		Type    string `json:"type"`
		Time    string `json:"time"`
		Room    string `json:"room"`
		ID      string `json:"id"`
		PeerID  string `json:"peer_id"`
		Nick    string `json:"nick"`
		Text    string `json:"text"`
		Sent    string `json:"sent"`
		Self    bool   `json:"self"`
		Action  bool   `json:"action,omitempty"`
		History bool   `json:"history,omitempty"`
		Mention bool   `json:"mention,omitempty"`
	}
	// jsonHistory ends a batch of "count" history messages, fetched from
	// "peer_id" (absent: read from this node's own log at join).
	jsonHistory struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		Room   string `json:"room"`
		Count  int    `json:"count"`
		PeerID string `json:"peer_id,omitempty"`
	}
	// jsonDM is a direct message someone sent us.
	jsonDM struct {
		Type    string `json:"type"`
		Time    string `json:"time"`
		ID      string `json:"id"`
		PeerID  string `json:"peer_id"`
		Nick    string `json:"nick"`
		Text    string `json:"text"`
		Sent    string `json:"sent"`
		Self    bool   `json:"self"`
		History bool   `json:"history,omitempty"` // stored before this run
	}
	// jsonOwnDM is the echo of a direct message we sent, to "to".
	jsonOwnDM struct {
		Type    string `json:"type"`
		Time    string `json:"time"`
		ID      string `json:"id"`
		Self    bool   `json:"self"`
		To      string `json:"to"`
		ToNick  string `json:"to_nick"`
		Text    string `json:"text"`
		Status  string `json:"status"`
		History bool   `json:"history,omitempty"` // stored before this run
	}
	// jsonDMStatus says our direct message "id" to "to" was delivered.
	jsonDMStatus struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		ID     string `json:"id"`
		To     string `json:"to"`
		Status string `json:"status"`
	}
	// jsonText is a notice or an error, of a room or (no "room") of the host.
	jsonText struct {
		Type string `json:"type"`
		Time string `json:"time"`
		Room string `json:"room,omitempty"`
		Text string `json:"text"`
	}
	// jsonFileOffer is a file offered to us (by "peer_id"; in "room", or
	// to us alone without it), or with "self" one we offer ("to": the
	// peer, for a direct offer). "history" marks a room's offer from its
	// log. Accept it with /accept ID.
	jsonFileOffer struct {
		Type    string `json:"type"`
		Time    string `json:"time"`
		Room    string `json:"room,omitempty"`
		ID      string `json:"id"`
		PeerID  string `json:"peer_id"`
		Nick    string `json:"nick"`
		Name    string `json:"name"`
		Size    int64  `json:"size"`
		Hash    string `json:"hash"`
		Self    bool   `json:"self,omitempty"`
		To      string `json:"to,omitempty"`
		History bool   `json:"history,omitempty"`
	}
	// jsonFileProgress says transfer "id" has moved "bytes" of "size",
	// at most every 250 ms; with "self", our side of sending it to
	// "peer_id".
	jsonFileProgress struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		ID     string `json:"id"`
		Bytes  int64  `json:"bytes"`
		Size   int64  `json:"size"`
		PeerID string `json:"peer_id,omitempty"`
		Self   bool   `json:"self,omitempty"`
	}
	// jsonFileDone says transfer "id" ended verified: received to "path",
	// or with "self" received by "peer_id".
	jsonFileDone struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		ID     string `json:"id"`
		Path   string `json:"path,omitempty"`
		Hash   string `json:"hash"`
		PeerID string `json:"peer_id,omitempty"`
		Self   bool   `json:"self,omitempty"`
	}
	// jsonFileFailed says transfer "id" stopped, and why ("declined" for
	// a decline).
	jsonFileFailed struct {
		Type   string `json:"type"`
		Time   string `json:"time"`
		ID     string `json:"id"`
		Error  string `json:"error"`
		PeerID string `json:"peer_id,omitempty"`
		Self   bool   `json:"self,omitempty"`
	}
	// jsonRooms is the answer to /rooms.
	jsonRooms struct {
		Type  string     `json:"type"`
		Time  string     `json:"time"`
		Rooms []jsonRoom `json:"rooms"`
	}
	// jsonRoom is one room of /rooms: "room" is "" for a private room not joined, told apart by "id".
	jsonRoom struct {
		Room    string `json:"room"`
		ID      string `json:"id,omitempty"`
		Members int    `json:"members"`
		Joined  bool   `json:"joined"`
		Private bool   `json:"private,omitempty"`
	}
)

// jsonType is the JSON "type" of an event kind. The names are the JSON
// format's: [chat.EventKind] has no JSON meaning of its own.
func jsonType(k chat.EventKind) string {
	switch k {
	case chat.KindJoin:
		return "join"
	case chat.KindLeave:
		return "leave"
	case chat.KindNick:
		return "nick"
	case chat.KindMessage:
		return "message"
	case chat.KindNotice:
		return "notice"
	case chat.KindError:
		return "error"
	case chat.KindHistory:
		return "history"
	case chat.KindDM:
		return "dm"
	case chat.KindDMStatus:
		return "dm_status"
	case chat.KindFileOffer:
		return "file_offer"
	case chat.KindFileProgress:
		return "file_progress"
	case chat.KindFileDone:
		return "file_done"
	case chat.KindFileFailed:
		return "file_failed"
	}
	return "notice" // a kind added later is at least readable text
}

// fmtJSONTime formats t for the JSON mode; the zero time means now. RFC
// 3339 has four-digit years only, and a peer's clock (a message's "sent")
// can say anything: a time before the year 0000 is written as its first
// millisecond, one after 9999 as its last.
func fmtJSONTime(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	t = t.UTC()
	switch {
	case t.Before(jsonTimeMin):
		t = jsonTimeMin
	case t.After(jsonTimeMax):
		t = jsonTimeMax
	}
	return t.Format(jsonTime)
}

// The first and the last millisecond that RFC 3339 can write.
var (
	jsonTimeMin = time.Date(0, time.January, 1, 0, 0, 0, 0, time.UTC)
	jsonTimeMax = time.Date(9999, time.December, 31, 23, 59, 59, int(999*time.Millisecond), time.UTC)
)

// ready writes the first line: who we are and the rooms of s.
func (w *lineWriter) ready(s *session) error {
	info := s.info
	w.first = s.first
	names := make([]string, 0, len(s.rooms))
	for _, rv := range s.rooms {
		names = append(names, rv.name)
		w.announced[rv.name] = true
	}
	if w.mode == JSON {
		addrs := info.Addrs
		if addrs == nil {
			addrs = []string{}
		}
		cur := ""
		if s.cur != nil {
			cur = s.cur.name
		}
		return w.writeJSON(jsonReady{"ready", fmtJSONTime(time.Time{}), info.PeerID, info.Nick,
			cur, names, info.Network, info.Fingerprint, addrs})
	}
	var network string
	if info.Network == chat.NetworkPrivate {
		network = "private network, key fingerprint " + Sanitize(info.Fingerprint)
	} else {
		network = "open network"
	}
	var line string
	switch len(names) {
	case 0:
		line = fmt.Sprintf("* lanchat: started as %s (%s), in no room: join one with /join NAME", Sanitize(info.Nick), network)
	case 1:
		line = fmt.Sprintf("* lanchat: joined room %s as %s (%s)", Sanitize(names[0]), Sanitize(info.Nick), network)
	default:
		for i := range names {
			names[i] = Sanitize(names[i])
		}
		line = fmt.Sprintf("* lanchat: joined rooms %s as %s (%s)", strings.Join(names, ", "), Sanitize(info.Nick), network)
	}
	if err := w.writePlain(line); err != nil {
		return err
	}
	// Where others can reach us with --peer when multicast is blocked.
	var addrs []string
	for _, a := range info.Addrs {
		if !strings.HasPrefix(a, "/ip4/127.") && !strings.HasPrefix(a, "/ip6/::1/") {
			addrs = append(addrs, Sanitize(a))
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	return w.writePlain("* reachable at " + strings.Join(addrs, " "))
}

// notice writes a local notice about room ("" for none).
func (w *lineWriter) notice(room, text string) error {
	return w.event(chat.Event{Kind: chat.KindNotice, Room: room, Time: time.Now(), Text: text})
}

// fail writes a local error line about room ("" for none).
func (w *lineWriter) fail(room, text string) error {
	return w.event(chat.Event{Kind: chat.KindError, Room: room, Time: time.Now(), Text: text})
}

// rooms writes the answer to /rooms.
func (w *lineWriter) rooms(rooms []chat.RoomInfo) error {
	if w.mode != JSON {
		return w.notice("", roomsText(rooms))
	}
	list := make([]jsonRoom, 0, len(rooms))
	for _, r := range rooms {
		list = append(list, jsonRoom{r.Name, r.ID, r.Members, r.Joined, r.Private})
	}
	return w.writeJSON(jsonRooms{"rooms", fmtJSONTime(time.Time{}), list})
}

// event writes one event as one line, with no roster to label nicks by
// (see [lineWriter.roomEvent]).
func (w *lineWriter) event(ev chat.Event) error { return w.roomEvent(nil, ev, false) }

// roomEvent writes one event of room rv (nil: none) as one line. Plain
// mode shows nicks as rv labels them ([roomView.label]: "bob#3f2a" when
// another member's nick looks the same), skips our own join in a room the
// ready line named, and the end of an empty history batch. JSON mode keeps
// nicks as they are, and marks a message with "mention" when mention is
// set ([session.mentioned]).
func (w *lineWriter) roomEvent(rv *roomView, ev chat.Event, mention bool) error {
	if w.mode == JSON {
		if ev.Kind == chat.KindMessage {
			return w.writeMessage(messageOf(ev, mention))
		}
		return w.writeJSON(jsonEvent(ev, mention))
	}
	if ev.Self && ev.Kind == chat.KindJoin && w.announced[ev.Room] {
		return nil
	}
	if ev.Self && ev.Kind == chat.KindLeave {
		delete(w.announced, ev.Room)
	}
	if ev.Kind == chat.KindHistory && ev.Count <= 0 {
		return nil // an empty batch: nothing came before it
	}
	line := plainEvent(ev, rv, w.now())
	if isFileKind(ev.Kind) {
		if ev.Kind == chat.KindFileProgress {
			line = w.progress.line(ev, rv, w.now())
		} else {
			w.progress.end(ev)
			line = plainFile(ev, rv, w.now())
		}
		if line == "" {
			return nil
		}
	}
	if ev.Room != "" && ev.Room != w.first {
		line = "#" + Sanitize(ev.Room) + " " + line
	}
	return w.writePlain(line)
}

// dmEvent writes a direct message event as one line: in plain mode the
// peer is shown as label (see [session.peerLabel]).
func (w *lineWriter) dmEvent(ev chat.Event, label string) error {
	if w.mode == JSON {
		return w.writeJSON(jsonEvent(ev, false))
	}
	return w.writePlain(plainDM(ev, label, w.now()))
}

// jsonEvent returns the JSON object for ev; mention applies to a message.
func jsonEvent(ev chat.Event, mention bool) any {
	t := fmtJSONTime(ev.Time)
	typ := jsonType(ev.Kind)
	switch ev.Kind {
	case chat.KindJoin:
		return jsonJoin{typ, t, ev.Room, ev.PeerID, ev.Nick, ev.Self}
	case chat.KindLeave:
		return jsonLeave{typ, t, ev.Room, ev.PeerID, ev.Nick, ev.Reason, ev.Self}
	case chat.KindNick:
		return jsonNick{typ, t, ev.Room, ev.PeerID, ev.OldNick, ev.Nick, ev.Self}
	case chat.KindMessage:
		return messageOf(ev, mention)
	case chat.KindHistory:
		return jsonHistory{typ, t, ev.Room, ev.Count, ev.PeerID}
	case chat.KindDM:
		if ev.Self {
			return jsonOwnDM{typ, t, ev.ID, true, ev.To, ev.ToNick, ev.Text, ev.Status, ev.History}
		}
		return jsonDM{typ, t, ev.ID, ev.PeerID, ev.Nick, ev.Text, fmtJSONTime(ev.Sent), false, ev.History}
	case chat.KindDMStatus:
		return jsonDMStatus{typ, t, ev.ID, ev.To, ev.Status}
	case chat.KindFileOffer:
		return jsonFileOffer{typ, t, ev.Room, ev.ID, ev.PeerID, ev.Nick, ev.Name, ev.Size, ev.Hash, ev.Self, ev.To, ev.History}
	case chat.KindFileProgress:
		return jsonFileProgress{typ, t, ev.ID, ev.Bytes, ev.Size, selfPeer(ev), ev.Self}
	case chat.KindFileDone:
		return jsonFileDone{typ, t, ev.ID, ev.Path, ev.Hash, selfPeer(ev), ev.Self}
	case chat.KindFileFailed:
		return jsonFileFailed{typ, t, ev.ID, ev.Text, selfPeer(ev), ev.Self}
	default: // notice, error and any kind added later
		return jsonText{typ, t, ev.Room, ev.Text}
	}
}

// messageOf returns the JSON object of a message event; mention marks it.
func messageOf(ev chat.Event, mention bool) jsonMessage {
	return jsonMessage{jsonType(ev.Kind), fmtJSONTime(ev.Time), ev.Room, ev.ID, ev.PeerID, ev.Nick, ev.Text,
		fmtJSONTime(ev.Sent), ev.Self, ev.Action, ev.History, mention}
}

// selfPeer is the "peer_id" of a transfer event: the receiver, on our
// side of sending; none on the receiving side, whose offer named the peer.
func selfPeer(ev chat.Event) string {
	if ev.Self {
		return ev.PeerID
	}
	return ""
}

// plainEvent returns the plain line for ev, without the newline and the room
// prefix; now tells which day is today. Every string from the event is
// sanitised, and nicks are shown as room rv (nil: none) labels them. A
// live chat line shows the time it arrived; one from the log (History) the
// time it was sent, with the date when that is not today.
func plainEvent(ev chat.Event, rv *roomView, now time.Time) string {
	nick := rv.label(ev.PeerID, ev.Nick)
	switch ev.Kind {
	case chat.KindMessage:
		t := ev.Time
		if ev.History && !ev.Sent.IsZero() {
			t = ev.Sent
		}
		if t.IsZero() {
			t = now
		}
		stamp := t.Format("15:04")
		if ev.History {
			stamp = historyTime(t, now)
		}
		if ev.Action {
			return fmt.Sprintf("[%s] * %s %s", stamp, nick, Sanitize(ev.Text))
		}
		return fmt.Sprintf("[%s] <%s> %s", stamp, nick, Sanitize(ev.Text))
	case chat.KindHistory:
		return historyText(ev.Count)
	case chat.KindDM, chat.KindDMStatus:
		return plainDM(ev, dmLabel(ev, rv), now)
	case chat.KindJoin:
		return "* " + nick + " joined"
	case chat.KindLeave:
		reason := ev.Reason
		if reason == "" {
			reason = chat.ReasonQuit
		}
		return "* " + nick + " left (" + Sanitize(reason) + ")"
	case chat.KindNick:
		return "* " + rv.label(ev.PeerID, ev.OldNick) + " is now known as " + nick
	case chat.KindError:
		return "! " + Sanitize(ev.Text)
	default: // notice and any kind added later
		return "* " + Sanitize(ev.Text)
	}
}

// writeJSON writes v as one JSON line. HTML escaping is off: "<" stays "<".
func (w *lineWriter) writeJSON(v any) error {
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("tui: encode event: %w", err)
	}
	return w.flush()
}

// writeMessage writes m as one JSON line, as writeJSON does, without
// reflection: it is the line every receiver prints for every chat line,
// on the way from one lanchat's stdin to the others' stdout (issue 9,
// target 3), and encoding/json took 3.5 µs of CPU for it, several times
// that on a process woken from idle. TestMessageJSON checks that the
// bytes are encoding/json's.
func (w *lineWriter) writeMessage(m jsonMessage) error {
	w.buf.Reset()
	w.buf.Write(appendMessageJSON(w.buf.AvailableBuffer(), m))
	return w.flush()
}

// appendMessageJSON appends m to b as encoding/json encodes it with HTML
// escaping off, and a newline.
func appendMessageJSON(b []byte, m jsonMessage) []byte {
	for _, f := range [...]struct{ key, value string }{
		{`{"type":`, m.Type}, {`,"time":`, m.Time}, {`,"room":`, m.Room}, {`,"id":`, m.ID},
		{`,"peer_id":`, m.PeerID}, {`,"nick":`, m.Nick}, {`,"text":`, m.Text}, {`,"sent":`, m.Sent},
	} {
		b = appendJSONString(append(b, f.key...), f.value)
	}
	b = strconv.AppendBool(append(b, `,"self":`...), m.Self)
	if m.Action {
		b = append(b, `,"action":true`...)
	}
	if m.History {
		b = append(b, `,"history":true`...)
	}
	if m.Mention {
		b = append(b, `,"mention":true`...)
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it with HTML escaping off: the quote, the backslash, control characters,
// U+2028 and U+2029; an invalid UTF-8 byte becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// writePlain writes s plus a newline.
func (w *lineWriter) writePlain(s string) error {
	w.buf.Reset()
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	w.buf.WriteString(s)
	w.buf.WriteByte('\n')
	return w.flush()
}

// flush writes the buffered line with one Write.
func (w *lineWriter) flush() error {
	if _, err := w.out.Write(w.buf.Bytes()); err != nil {
		return fmt.Errorf("tui: write output: %w", err)
	}
	return nil
}
