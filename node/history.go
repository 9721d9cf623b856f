package node

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"lanchat/node/chat"
	"lanchat/node/store"
	"lanchat/node/syncwire"
	"lanchat/node/wire"
)

// History.
//
// Every chat line a room accepts (message or action, this node's own
// included, live or fetched by sync) is kept in the host's message log
// (package [lanchat/node/store]) as it was signed: the raw pubsub message,
// so that any node can check it again, whoever hands it on. Presence
// envelopes are not kept. A line's ID is its author and sequence number
// (stable across relays), and the log holds each ID once per room: a room
// shows a line only when the log did not have it, so a line is shown
// once whichever way it came (live, from disk, by sync, or replayed
// after admission forgot its author). The display order key is the
// line's hybrid logical clock (see clock.go), bounded by maxSkew.
const (
	// historyFile is the log's file name under DataDir/<peer ID>.
	historyFile = "history.db"
	// pruneEvery is how often the log drops lines beyond its bounds.
	logPruneEvery = time.Hour
	// maxPending bounds the lines queued for the writer; beyond it add
	// writes synchronously (the disk is slower than the LAN).
	maxPending = 4096
	// commitEvery is the least time between two commits: lines that come
	// faster are committed together, one fsync for all. A line arriving
	// after a quiet spell is committed at once, and this node's own lines
	// before their echo. A crash loses at most others' lines of the last
	// commitEvery from this log (their authors still have them, and sync
	// brings them back). Each commit costs the whole machine: with one
	// per line, at 1,000 lines a second, delivery's p99 went from 1.6 to
	// 9.9 ms (BenchmarkDeliver); at 50 ms, a busy room's commits (two
	// fdatasyncs, bbolt's page copies) were 9 % of the CPU and a quarter
	// of the bytes allocated of BenchmarkSuiteLatency20.
	commitEvery = 500 * time.Millisecond
)

// history is the host's message log: the store, and a writer goroutine
// that commits the lines the rooms add in batches (one fsync for many)
// and prunes the log now and then.
type history struct {
	st   *store.Store
	temp string // a temporary directory removed at close, or ""
	log  *slog.Logger

	mu      sync.Mutex
	pending map[lineKey]bool // queued but not committed
	queue   []store.Line
	wake    chan struct{} // cap 1
	idle    *sync.Cond    // signalled when queue is empty after a commit
	busy    bool          // a commit is running

	pruneReq atomic.Bool // prune after the next commit
}

// lineKey is a line of the log: its room (topic) and ID. (A struct, not
// the two joined: a joined key is allocated on every look-up, three per
// line.)
type lineKey struct{ room, id string }

// pruneSoon asks the writer to prune after its next commit.
func (h *history) pruneSoon() {
	h.pruneReq.Store(true)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// openHistory opens the log for the host with peer ID self. With a data
// dir and a persistent identity it is DataDir/<self>/history.db;
// otherwise, or when that cannot be opened, a temporary one. notice is ""
// or a sentence for the user (the log was moved aside, or history is not
// kept).
func openHistory(cfg Config, self peer.ID, persistent bool, log *slog.Logger) (h *history, notice string, err error) {
	h = &history{log: log, pending: make(map[lineKey]bool), wake: make(chan struct{}, 1)}
	h.idle = sync.NewCond(&h.mu)
	scfg := store.Config{MaxLines: cfg.HistoryMaxLines, MaxAge: cfg.HistoryMaxAge, Logger: log}
	if cfg.DataDir != "" && persistent {
		scfg.Path = filepath.Join(cfg.DataDir, self.String(), historyFile)
		err := os.MkdirAll(filepath.Dir(scfg.Path), 0o700)
		if err == nil {
			h.st, err = store.Open(scfg)
		}
		switch {
		case errors.Is(err, store.ErrLocked):
			return nil, "", &ConfigError{Field: "DataDir",
				Reason: fmt.Sprintf("the message log %s is in use by another lanchat", scfg.Path), Err: fmt.Errorf("%w: %w", ErrConfig, err)}
		case err != nil:
			log.Warn("cannot open message log", "path", scfg.Path, "err", err)
			notice = fmt.Sprintf("cannot open the message log in %s (%s): history is kept only until lanchat exits", cfg.DataDir, reasonOf(err))
		default:
			return h, h.st.Recovered(), nil
		}
	}
	dir, err := os.MkdirTemp("", "lanchat-history-")
	if err != nil {
		return nil, "", fmt.Errorf("create temporary message log: %w", err)
	}
	scfg.Path = filepath.Join(dir, historyFile)
	if h.st, err = store.Open(scfg); err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("create temporary message log: %w", err)
	}
	h.temp = dir
	return h, notice, nil
}

// reasonOf returns err's innermost message, for a sentence.
func reasonOf(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), "store: ")
}

// known reports whether the log has the line id of room, committed or
// queued.
func (h *history) known(room, id string) bool {
	h.mu.Lock()
	q := h.pending[lineKey{room, id}]
	h.mu.Unlock()
	if q {
		return true
	}
	ok, err := h.st.Has(room, id)
	if err != nil {
		h.log.Warn("cannot read message log", "err", err)
	}
	return ok
}

// mark returns the highest sequence number accepted from author in an
// earlier run or before admission forgot it, if heard within
// store.MarkAge (admission's markBook).
func (h *history) mark(author peer.ID) (uint64, bool) {
	m, ok, err := h.st.Mark(author.String())
	// Validation may outlive the log by a moment at shutdown: a closed
	// log is not worth a warning per message.
	if err != nil && !errors.Is(err, store.ErrClosed) {
		h.log.Warn("cannot read message log", "err", err)
	}
	if !ok || time.Since(m.Heard) > store.MarkAge {
		return 0, false
	}
	return m.Seqno, true
}

// saveMarks stores admission's marks (see [admission.takeMarks]).
func (h *history) saveMarks(marks map[string]store.Mark) {
	if err := h.st.SaveMarks(marks); err != nil {
		h.log.Warn("cannot write message log", "err", err)
	}
}

// add queues l for the writer unless the log has it, and reports whether
// it was new (and can be kept). A room calls it from its presence
// goroutine only, so two adds of one line never race.
func (h *history) add(l store.Line) bool {
	return !h.known(l.Room, l.ID) && h.put(l)
}

// put queues l, which the caller found the log lacks, for the writer, and
// reports whether it can be kept.
func (h *history) put(l store.Line) bool {
	if err := l.Validate(); err != nil {
		// Never shown: a line that cannot be kept would be shown again by
		// every pull.
		h.log.Warn("dropping a line that cannot be logged", "id", l.ID, "err", err)
		return false
	}
	h.mu.Lock()
	h.pending[lineKey{l.Room, l.ID}] = true
	h.queue = append(h.queue, l)
	full := len(h.queue) >= maxPending
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	if full {
		h.commit() // back-pressure: the writer falls behind
	}
	return true
}

// commit writes the queued lines in one transaction.
func (h *history) commit() {
	h.mu.Lock()
	for h.busy {
		h.idle.Wait()
	}
	batch := h.queue
	h.queue = nil
	h.busy = len(batch) > 0
	h.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if _, err := h.st.AppendBatch(batch); err != nil {
		h.log.Warn("cannot write message log", "lines", len(batch), "err", err)
	}
	h.mu.Lock()
	for _, l := range batch {
		delete(h.pending, lineKey{l.Room, l.ID})
	}
	h.busy = false
	h.idle.Broadcast()
	h.mu.Unlock()
}

// flush waits until every line added so far is committed.
func (h *history) flush() {
	h.mu.Lock()
	for h.busy || len(h.queue) > 0 {
		h.mu.Unlock()
		h.commit()
		h.mu.Lock()
	}
	h.mu.Unlock()
}

// writeLoop commits what the rooms add and prunes the log, until ctx is
// done; then it commits what is left.
func (h *history) writeLoop(ctx context.Context) {
	h.prune(time.Now())
	tick := time.NewTicker(logPruneEvery)
	defer tick.Stop()
	pause := time.NewTimer(0)
	defer pause.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			h.flush()
			return
		case <-h.wake:
			if wait := commitEvery - time.Since(last); wait > 0 {
				pause.Reset(wait)
				select {
				case <-ctx.Done():
					h.flush()
					return
				case <-pause.C:
				}
			}
			last = time.Now()
			h.commit()
			if h.pruneReq.Swap(false) {
				h.prune(last)
			}
		case now := <-tick.C:
			h.prune(now)
		}
	}
}

func (h *history) prune(now time.Time) {
	if n, err := h.st.Prune(now); err != nil {
		h.log.Warn("cannot prune message log", "err", err)
	} else if n > 0 {
		h.log.Info("pruned message log", "lines", n)
	}
}

// close commits what is queued and closes the store; a temporary log is
// removed.
func (h *history) close() error {
	h.flush()
	err := h.st.Close()
	if h.temp != "" {
		os.RemoveAll(h.temp)
	}
	return err
}

// syncID is a line's ID in sync: the first 16 bytes of SHA-256 of its
// message ID.
func syncID(id string) [syncwire.IDSize]byte {
	sum := sha256.Sum256([]byte(id))
	return [syncwire.IDSize]byte(sum[:syncwire.IDSize])
}

// errNotLine: a logged or fetched record that is not a chat line of the
// room.
var errNotLine = errors.New("node: not a chat line of this room")

// parseRaw decodes raw, a signed pubsub message as stored, into the record
// of a chat line of r: of r's topic, with a sequence number, its envelope
// a message or action of r (opened, for a private room). With verify it
// also checks the signature, as pubsub does (for lines from peers; the
// log's own lines were checked when they arrived).
func (r *Room) parseRaw(raw []byte, verify bool) (Record, error) {
	var m pb.Message
	if err := proto.Unmarshal(raw, &m); err != nil {
		return Record{}, fmt.Errorf("%w: %w", errNotLine, err)
	}
	if m.GetTopic() != r.topicName {
		return Record{}, fmt.Errorf("%w: topic %q", errNotLine, m.GetTopic())
	}
	if len(m.GetFrom()) > maxAuthorBytes {
		return Record{}, fmt.Errorf("%w: author of %d bytes", errNotLine, len(m.GetFrom()))
	}
	from, err := peer.IDFromBytes(m.GetFrom())
	if err != nil {
		return Record{}, fmt.Errorf("%w: author: %w", errNotLine, err)
	}
	s := m.GetSeqno()
	if len(s) != 8 {
		return Record{}, fmt.Errorf("%w: %w", errNotLine, errNoSeqno)
	}
	if verify {
		// Only the form pubsub's encoder writes (as every log stores it):
		// protobuf would accept junk before a field's last copy, under a
		// valid signature, and the log would keep and pass it on.
		if !bytes.Equal(rawMessage(&m), raw) {
			return Record{}, fmt.Errorf("%w: not in canonical form", errNotLine)
		}
		if err := verifySignature(&m, from); err != nil {
			return Record{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
		}
	}
	env, err := r.open(from, m.GetData())
	if err != nil {
		return Record{}, fmt.Errorf("%w: %w", errNotLine, err)
	}
	if !env.Kind.HasText() {
		return Record{}, fmt.Errorf("%w: %s", errNotLine, env.Kind)
	}
	return Record{ID: r.h.names.messageID(from, s), Author: from, Seqno: binary.BigEndian.Uint64(s),
		Room: r.name, Envelope: env, Raw: raw}, nil
}

// line is rec as the log keeps it, with display order key order (unix
// ms); its Order is the signed one, which sync reconciles.
func (r *Room) line(rec Record, order int64) store.Line {
	return store.Line{Room: r.topicName, ID: rec.ID, Author: authorName(rec), Seqno: rec.Seqno,
		Sent: time.UnixMilli(order), Order: time.UnixMilli(rec.Envelope.Order()), Received: rec.Received, Raw: rec.Raw}
}

// historyEvent is the message event of a line from the log.
func (r *Room) historyEvent(rec Record, order int64, now time.Time) chat.Event {
	env := rec.Envelope
	ev := chat.Event{Kind: chat.KindMessage, Room: r.name, Time: now, PeerID: authorName(rec),
		Nick: chat.SanitizeNick(env.Nick), ID: rec.ID, Text: env.Text, Action: env.Kind == wire.KindAction,
		Sent: time.UnixMilli(env.Sent), Order: time.UnixMilli(order), History: true, Self: rec.Author == r.h.self}
	return r.h.files.lineEvent(r, rec, ev) // a file offer's line
}

// ordered is a history line with its order key, for sorting a batch.
type ordered struct {
	rec   Record
	order int64
}

func sortBatch(b []ordered) {
	slices.SortFunc(b, func(x, y ordered) int {
		return cmp.Or(cmp.Compare(x.order, y.order), strings.Compare(x.rec.ID, y.rec.ID))
	})
}

// diskHistory returns the room's newest HistoryShow lines from the log as
// history events, in display order.
func (r *Room) diskHistory(now time.Time) []chat.Event {
	lines, err := r.h.hist.st.Recent(r.topicName, r.h.cfg.HistoryShow)
	if err != nil {
		r.log.Warn("cannot read message log", "err", err)
		return nil
	}
	evs := make([]chat.Event, 0, len(lines))
	for _, l := range lines {
		rec, err := r.parseRaw(l.Raw, false)
		if err != nil {
			r.log.Warn("skipping a logged line", "id", l.ID, "err", err)
			continue
		}
		evs = append(evs, r.historyEvent(rec, l.Sent.UnixMilli(), now))
	}
	return evs
}
