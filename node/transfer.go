package node

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"lanchat/node/chat"
	"lanchat/node/files"
	"lanchat/node/filewire"
	"lanchat/node/safename"
	"lanchat/node/wire"
)

// File transfer.
//
// An offer names a file by an ID, its name, size and SHA-256. A direct
// offer goes to one peer as an offer frame on a stream of fileProtocol
// (Noise authenticated both ends: no gossip, no signature of ours); a room
// offer is a signed action line of the room carrying the file field (see
// [wire.File]), so that the room's log keeps it and sync brings it to
// late joiners.
//
// The receiver pulls: once the user accepts, it opens a stream of
// fileProtocol to a holder (the offerer; for a room offer also any member
// that received the file, when the offerer cannot be reached) and asks
// for the offer's bytes from an offset, the length of what it has. The
// holder serves only what it offered (or holds), only to the peer it was
// offered to (a room offer: the room's members), from the file it opened
// when offering; it first checks that what is at the path is still that
// file, with the size and modification time of the offer, else both sides
// are told "the file changed since it was offered". The bytes follow a
// data frame raw, then the receiver checks the whole file's SHA-256,
// syncs it to disk, answers with a status frame, and only then moves the
// file into place (and syncs the download dir): a file reported received
// survives a crash.
//
// Partial data is kept in <download dir>/.lanchat-partial/<offer ID>
// (directory mode 0700); a transfer cut off resumes from the partial's
// length when the holder can be reached again (within fileResumeFor), in
// the same run or, for a room offer that history brings back, after a
// restart. A received file is linked into the download dir under its
// offered name reduced to a safe plain name ([safename.Reduce]), never
// over a file that is there: "report (1).pdf" instead.
//
// While a transfer runs its connection is protected from the connection
// manager. Every read and write of a file stream has a deadline
// (fileIdle): a peer that stalls does not hold a transfer, a slot or a
// connection for long.
const (
	fileProtocol = protocol.ID("/lanchat/file/1")
	// fileIdle bounds every read and write on a file stream, and the
	// handshake of a direct offer or decline.
	fileIdle = 10 * time.Second
	// fileDialTimeout bounds opening a file stream, the dial included.
	fileDialTimeout = 10 * time.Second
	// fileResumeFor is how long a transfer cut off keeps trying to reach a
	// holder again before it fails.
	fileResumeFor = 10 * time.Minute
	// fileRetryMin and fileRetryMax bound the wait between two tries.
	fileRetryMin = time.Second
	fileRetryMax = 10 * time.Second
	// fileProgressEvery is the most often progress events are emitted for
	// one transfer.
	fileProgressEvery = 250 * time.Millisecond
	// fileBuf is the copy buffer of both sides; a download reads up to
	// fileBufs of them ahead of its writes (see copyIn).
	fileBuf  = 256 << 10
	fileBufs = 4
	// fileSyncEvery is the window of a download's writeback (Linux): each
	// window received is handed to the disk at once, and the next waits
	// for the one before it, so the sync that makes the complete file
	// durable has at most two windows left to write.
	fileSyncEvery = 4 << 20
	// fileHolders bounds the members a download asks for a room's file in
	// one round, after the offerer.
	fileHolders = 8
	// Bounds: the offers this host serves (each holds an open file), the
	// offers made to it it remembers, those from one peer not yet
	// answered, transfers served at once (in all, to one peer) and
	// downloads at once.
	maxOutOffers     = 256
	maxInOffers      = 4096
	maxPendingPer    = 32
	maxServing       = 16
	maxServingPer    = 4
	maxDownloads     = 8
	fileSpaceReserve = 16 << 20 // left free on the disk after a download
	// DefaultMaxFileSize is the default of [Config.MaxFileSize]: 4 GiB.
	DefaultMaxFileSize = 4 << 30
	// partialDir is the hidden folder of partial files in the download dir.
	partialDir = ".lanchat-partial"
)

// Errors of file transfers, checked with [errors.Is]. Each is wrapped with
// the detail; the text after "node: " is a sentence for the user.
var (
	ErrNoOffer       = errors.New("node: no such file offer")
	ErrAmbiguousID   = errors.New("node: more than one offer has an ID starting so")
	ErrFileTooLarge  = errors.New("node: the file is larger than the limit")
	ErrNoSpace       = errors.New("node: not enough disk space")
	ErrNoDownloadDir = errors.New("node: no download directory is set")
	ErrTransferBusy  = errors.New("node: too many transfers at once")
	ErrNotAFile      = errors.New("node: not a file that can be sent")
	ErrSelfOffer     = errors.New("node: a file cannot be sent to yourself")
	ErrOfferState    = errors.New("node: that offer cannot be accepted now")
)

// transfers is a host's file transfers: the offers it serves, the offers
// made to it, and the downloads running. Safe for concurrent use.
type transfers struct {
	h     *Host
	dir   string // Config.DownloadDir
	max   int64  // Config.MaxFileSize
	auto  bool   // Config.AutoAccept
	idle  time.Duration
	space func(dir string) (int64, bool) // free bytes at dir, and whether known

	// onGet, when set (tests), is told of every get served, before it is
	// answered; onChunk before every chunk a get writes, with the bytes
	// sent so far.
	onGet   func(p peer.ID, id filewire.ID, offset int64)
	onChunk func(sent int64)
	// onReceived, when set (tests), is told when a download stops
	// receiving, before its outcome is recorded.
	onReceived func(id filewire.ID)

	mu       sync.Mutex
	out      map[filewire.ID]*outOffer // guarded by mu
	outOrder []filewire.ID             // oldest first; guarded by mu
	in       map[filewire.ID]*inOffer  // guarded by mu
	inOrder  []filewire.ID             // oldest first; guarded by mu
	last     filewire.ID               // the newest offer made to us; guarded by mu
	serving  map[peer.ID]int           // transfers served per peer; guarded by mu
	nserving int                       // guarded by mu
	active   int                       // downloads running; guarded by mu
	streams  map[network.Stream]bool   // handler streams open; guarded by mu
	closed   bool                      // guarded by mu

	tagN atomic.Uint64                 // numbers the connection manager tags (see protect)
	ctxs map[uint64]context.CancelFunc // of the contexts given out by begin; guarded by mu
	ctxN uint64                        // guarded by mu
	wg   sync.WaitGroup                // downloads, declines sent, handlers

	pruneOnce sync.Once // see prunePartials
}

// outOffer is a file this host serves: one it offered, or (holder) a copy
// of a room's offer it received.
type outOffer struct {
	id     filewire.ID
	name   string // as offered
	path   string
	f      *os.File // opened at offer time; read with ReadAt
	size   int64
	mtime  time.Time
	hash   [sha256.Size]byte
	to     peer.ID // a direct offer's recipient; "" for a room offer
	room   string  // a room offer's room name
	holder bool    // a copy received, served quietly
}

// inOffer is an offer made to this host.
type inOffer struct {
	id    filewire.ID
	from  peer.ID
	nick  string // sanitised
	room  string // "" for a direct offer
	name  string // reduced to a safe name
	size  int64
	hash  [sha256.Size]byte
	state offerState
	stop  context.CancelFunc // cancels the download while one runs
	path  string             // where it was saved, once done
	// have is what its partial file holds, as of the last progress
	// event of a download: what a download still needs of the disk is
	// at most size-have.
	have int64
	// gen counts the downloads started: a download declined and accepted
	// again may still be stopping, and must leave the state to the next.
	gen uint64
}

type offerState uint8

const (
	offered offerState = iota
	receiving
	received
	stopped // failed or declined: it may be accepted again
)

func newTransfers(h *Host) *transfers {
	return &transfers{
		h: h, dir: h.cfg.DownloadDir, max: h.cfg.MaxFileSize, auto: h.cfg.AutoAccept,
		idle: fileIdle, space: diskFree,
		out: map[filewire.ID]*outOffer{}, in: map[filewire.ID]*inOffer{},
		serving: map[peer.ID]int{}, streams: map[network.Stream]bool{},
		ctxs: map[uint64]context.CancelFunc{},
	}
}

// begin returns a context for work of the transfers' own (a download, a
// decline sent) that close cancels, with its cancel, and adds one to wg
// (the caller calls wg.Done when the work ends); false once closed.
func (t *transfers) begin() (context.Context, context.CancelFunc, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, nil, false
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.ctxN++
	n := t.ctxN
	t.ctxs[n] = cancel
	t.wg.Add(1)
	return ctx, func() {
		cancel()
		t.mu.Lock()
		delete(t.ctxs, n)
		t.mu.Unlock()
	}, true
}

// close stops every download (their partial files stay, for a resume),
// resets the streams being served, waits for all of it, and closes the
// files offered. Safe to call more than once.
func (t *transfers) close() {
	t.mu.Lock()
	t.closed = true
	for s := range t.streams {
		s.Reset()
	}
	for _, cancel := range t.ctxs {
		cancel()
	}
	t.mu.Unlock()
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, o := range t.out {
		o.f.Close()
		delete(t.out, id)
	}
	t.outOrder = nil
}

// OfferFile offers the file at path to the peer with ID to, named as the
// last element of path: it reads the whole file for its hash, then sends
// the offer (dialling the peer if need be; ctx bounds it all) and returns
// the offer's ID. The peer sees a [chat.KindFileOffer] on its host
// Events; so do we, with Self and To set. Then the receiver's progress,
// and its verdict, come on our host Events as [chat.KindFileProgress],
// [chat.KindFileDone] or [chat.KindFileFailed], with Self and PeerID the
// receiver. Until then the file stays open, and must not change.
func (h *Host) OfferFile(ctx context.Context, to, path string) (string, error) {
	return h.OfferFileNamed(ctx, to, path, filepath.Base(path))
}

// OfferFileNamed is [Host.OfferFile] with the name the peer is offered
// the file under (which the peer reduces to a safe plain name).
func (h *Host) OfferFileNamed(ctx context.Context, to, path, name string) (string, error) {
	if h.isClosing() {
		return "", chat.ErrClosed
	}
	p, err := peer.Decode(to)
	if err != nil {
		return "", fmt.Errorf("offer a file: %w: %q is not a peer ID", ErrBadAddr, to)
	}
	if p == h.self {
		return "", ErrSelfOffer
	}
	o, err := h.files.prepare(ctx, path, name)
	if err != nil {
		return "", err
	}
	o.to = p
	if err := h.files.register(o); err != nil {
		o.f.Close()
		return "", err
	}
	if err := h.files.sendOffer(ctx, p, o); err != nil {
		h.files.withdraw(o.id)
		return "", err
	}
	nick, _ := h.memberNick(p)
	h.emit(chat.Event{Kind: chat.KindFileOffer, Time: time.Now(), PeerID: h.self.String(), Nick: h.currentNick(),
		To: p.String(), ToNick: nick, ID: o.id.String(), Name: safename.Reduce(o.name), Size: o.size,
		Hash: hex.EncodeToString(o.hash[:]), Self: true})
	return o.id.String(), nil
}

// OfferFile offers the file at path to the room, named as the last
// element of path: it reads the whole file for its hash, then publishes
// the offer as an action line of the room ("offers the file report.pdf
// (2.1 MB)", which is what members running an older lanchat see) and
// returns the offer's ID. The members see it as a [chat.KindFileOffer] on
// the room's Events, and so do we (Self), as for a line; members who
// join later find it in the room's history. Every member may fetch it
// while we are in the room; their progress and verdicts come on our host
// Events as for [Host.OfferFile]. Like [Room.Send] it may wait for the
// send budget.
func (r *Room) OfferFile(ctx context.Context, path string) (string, error) {
	return r.OfferFileNamed(ctx, path, filepath.Base(path))
}

// OfferFileNamed is [Room.OfferFile] with the name the file is offered
// under.
func (r *Room) OfferFileNamed(ctx context.Context, path, name string) (string, error) {
	if r.isGone() {
		return "", r.goneErr
	}
	t := r.h.files
	o, err := t.prepare(ctx, path, name)
	if err != nil {
		return "", err
	}
	o.room = r.name
	if err := t.register(o); err != nil {
		o.f.Close()
		return "", err
	}
	file := wire.File{ID: o.id, Size: o.size, Hash: o.hash, Name: o.name}
	if len(file.Name) > wire.MaxFileName {
		file.Name = safename.Reduce(file.Name)
	}
	text := fmt.Sprintf("offers the file %s (%s)", safename.Reduce(o.name), byteSize(o.size))
	err = r.h.pace(ctx, r.gone)
	if err == nil {
		r.pubMu.Lock()
		err = r.publishEnvelope(ctx, wire.KindAction, text, file)
		r.pubMu.Unlock()
	}
	if err != nil {
		t.withdraw(o.id)
		if r.isGone() {
			return "", r.goneErr
		}
		return "", fmt.Errorf("offer a file: %w", err)
	}
	return o.id.String(), nil
}

// prepare opens the regular file at path, reads it for its hash and
// returns its offer under name, not yet registered.
func (t *transfers) prepare(ctx context.Context, path, name string) (*outOffer, error) {
	if name == "" || name == "." || name == string(filepath.Separator) {
		return nil, fmt.Errorf("%w: %q has no file name", ErrNotAFile, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotAFile, path, files.Cause(err))
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%w: %s is %s", ErrNotAFile, path, files.Kind(st.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	o := &outOffer{name: name, path: path, f: f, size: st.Size(), mtime: st.ModTime()}
	if _, err := rand.Read(o.id[:]); err != nil {
		f.Close()
		return nil, fmt.Errorf("offer a file: %w", err)
	}
	hs := sha256.New()
	buf := make([]byte, fileBuf)
	for off := int64(0); ; {
		if err := ctx.Err(); err != nil {
			f.Close()
			return nil, fmt.Errorf("offer a file: %w", err)
		}
		n, err := f.ReadAt(buf, off)
		hs.Write(buf[:n])
		off += int64(n)
		if errors.Is(err, io.EOF) {
			if off != o.size {
				err = errChanged
			} else {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("offer a file: read %s: %w", path, files.Cause(err))
		}
	}
	copy(o.hash[:], hs.Sum(nil))
	if o.check() != nil {
		f.Close()
		return nil, fmt.Errorf("offer a file: %s: %w", path, errChangedReading)
	}
	return o, nil
}

// errChanged is the failure of a file that changed since it was offered;
// errChangedReading of one that changed while it was read for its hash;
// errCut, on the sending side, of a transfer whose stream broke.
var (
	errChanged        = errors.New("the file changed since it was offered")
	errChangedReading = errors.New("the file changed while it was read")
	errCut            = errors.New("the transfer was cut off; it resumes if the receiver asks again")
)

// check reports errChanged unless the open file and what is at the path
// are still the file offered, with its size and modification time.
func (o *outOffer) check() error {
	st, err := o.f.Stat()
	if err != nil || st.Size() != o.size || !st.ModTime().Equal(o.mtime) {
		return errChanged
	}
	at, err := os.Stat(o.path)
	if err != nil || !os.SameFile(st, at) {
		return errChanged
	}
	return nil
}

// register adds o to the offers served. When there are as many as there
// may be it withdraws the oldest copy held for a room, else (for an offer
// of ours, not a copy) the oldest offer.
func (t *transfers) register(o *outOffer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return chat.ErrClosed
	}
	if len(t.out) >= maxOutOffers {
		i := slices.IndexFunc(t.outOrder, func(id filewire.ID) bool { return t.out[id].holder })
		switch {
		case i < 0 && o.holder:
			return fmt.Errorf("%w: %d offers served", ErrTransferBusy, len(t.out))
		case i < 0:
			i = 0
		}
		old := t.outOrder[i]
		t.outOrder = slices.Delete(t.outOrder, i, i+1)
		t.out[old].f.Close()
		delete(t.out, old)
	}
	t.out[o.id] = o
	t.outOrder = append(t.outOrder, o.id)
	return nil
}

// withdraw stops serving offer id and closes its file.
func (t *transfers) withdraw(id filewire.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.out[id]; o != nil {
		o.f.Close()
		delete(t.out, id)
		t.outOrder = slices.DeleteFunc(t.outOrder, func(x filewire.ID) bool { return x == id })
	}
}

// sendOffer delivers a direct offer to p and waits for its answer.
func (t *transfers) sendOffer(ctx context.Context, p peer.ID, o *outOffer) error {
	s, err := t.open(ctx, p)
	if err != nil {
		return fmt.Errorf("offer a file to %s: %w", p, err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(t.idle))
	f := filewire.Frame{Kind: filewire.KindOffer, ID: o.id, Name: o.name, Size: o.size, Hash: o.hash, Nick: t.h.currentNick()}
	if len(f.Name) > filewire.MaxName {
		f.Name = safename.Reduce(f.Name)
	}
	if err := filewire.Write(s, f); err != nil {
		s.Reset()
		return fmt.Errorf("offer a file to %s: %w", p, err)
	}
	if err := readStatus(bufio.NewReader(s)); err != nil {
		var se *statusError
		if !errors.As(err, &se) {
			s.Reset()
		}
		return fmt.Errorf("offer a file to %s: %w", p, err)
	}
	return nil
}

// open opens a file stream to p, dialling it if need be.
func (t *transfers) open(ctx context.Context, p peer.ID) (network.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, fileDialTimeout)
	defer cancel()
	s, err := t.h.host.NewStream(ctx, p, fileProtocol)
	if err != nil {
		return nil, unreachable(err)
	}
	return s, nil
}

// unreachable words a failure to open a stream.
func unreachable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

// statusError is a status frame that is not ok, as an error.
type statusError struct {
	code filewire.Code
	text string
}

func (e *statusError) Error() string {
	if e.text != "" {
		return e.text
	}
	switch e.code {
	case filewire.CodeUnknown:
		return "the offer is not there any more"
	case filewire.CodeRefused:
		return "the file was not offered to you"
	case filewire.CodeChanged:
		return errChanged.Error()
	case filewire.CodeBusy:
		return "the peer is busy with other transfers; try again later"
	case filewire.CodeMismatch:
		return "the file received does not match the offer's hash"
	}
	return "the transfer failed (" + e.code.String() + ")"
}

// permanent reports whether trying again cannot help.
func (e *statusError) permanent() bool {
	switch e.code {
	case filewire.CodeBusy, filewire.CodeUnknown, filewire.CodeRefused:
		return false // another holder may have it, or later
	}
	return true
}

// readStatus reads a status frame: nil for ok, else a *statusError.
func readStatus(br *bufio.Reader) error {
	f, err := filewire.Read(br)
	if err != nil {
		return err
	}
	if f.Kind != filewire.KindStatus {
		return fmt.Errorf("%w: %s frame for a status", filewire.ErrMalformed, f.Kind)
	}
	if f.Code == filewire.CodeOK {
		return nil
	}
	return &statusError{code: f.Code, text: f.Text}
}

// writeStatus writes a status frame; text may be "".
func writeStatus(w io.Writer, code filewire.Code, text string) error {
	if len(text) > filewire.MaxText {
		text = text[:filewire.MaxText]
		text = strings.ToValidUTF8(text, "")
	}
	return filewire.Write(w, filewire.Frame{Kind: filewire.KindStatus, Code: code, Text: text})
}

// handle serves one file stream a peer opened: a direct offer, a decline
// or a get. Anything else (data nobody asked for) is refused.
func (t *transfers) handle(s network.Stream) {
	p := s.Conn().RemotePeer()
	t.mu.Lock()
	if t.closed || t.h.bans.banned(p) {
		t.mu.Unlock()
		s.Reset()
		return
	}
	t.streams[s] = true
	t.wg.Add(1)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.streams, s)
		t.mu.Unlock()
		t.wg.Done()
	}()
	s.SetDeadline(time.Now().Add(t.idle))
	br := bufio.NewReaderSize(s, 4096)
	f, err := filewire.Read(br)
	if err != nil {
		t.h.log.Debug("bad file stream", "peer", p, "err", err)
		s.Reset()
		return
	}
	switch f.Kind {
	case filewire.KindOffer:
		code, text := t.offered(p, f)
		writeStatus(s, code, text)
		s.Close()
	case filewire.KindDecline:
		t.declined(p, f.ID)
		writeStatus(s, filewire.CodeOK, "")
		s.Close()
	case filewire.KindGet:
		t.serve(s, br, p, f)
	default:
		t.h.log.Debug("refused a file frame nobody asked for", "peer", p, "kind", f.Kind)
		writeStatus(s, filewire.CodeBad, "")
		s.Close() // what follows is never read
	}
}

// offered takes a direct offer from p and tells the user, or says why
// not.
func (t *transfers) offered(p peer.ID, f filewire.Frame) (filewire.Code, string) {
	nick, ok := t.h.memberNick(p)
	if !ok {
		nick = chat.SanitizeNick(f.Nick)
	}
	in := &inOffer{id: f.ID, from: p, nick: nick, name: safename.Reduce(f.Name), size: f.Size, hash: f.Hash}
	t.mu.Lock()
	if old := t.in[f.ID]; old != nil {
		t.mu.Unlock()
		if old.from == p && old.hash == f.Hash {
			return filewire.CodeOK, "" // the same offer again
		}
		return filewire.CodeFailed, "an offer with this ID exists"
	}
	pending := 0
	for _, o := range t.in {
		if o.from == p && o.state == offered {
			pending++
		}
	}
	if pending >= maxPendingPer {
		t.mu.Unlock()
		return filewire.CodeBusy, "too many offers waiting for an answer"
	}
	t.addInLocked(in)
	t.mu.Unlock()
	t.h.log.Debug("file offered", "peer", p, "id", in.id, "size", in.size)
	t.h.emit(in.event(chat.KindFileOffer, time.Now()))
	if t.auto {
		t.autoAccept(in)
	}
	return filewire.CodeOK, ""
}

// addInLocked remembers an offer made to us, forgetting the oldest one
// not in progress when there are as many as there may be; t.mu is held.
func (t *transfers) addInLocked(in *inOffer) {
	if len(t.in) >= maxInOffers {
		for i, id := range t.inOrder {
			if o := t.in[id]; o == nil || o.state != receiving {
				delete(t.in, id)
				t.inOrder = slices.Delete(t.inOrder, i, i+1)
				break
			}
		}
	}
	t.in[in.id] = in
	t.inOrder = append(t.inOrder, in.id)
	t.last = in.id
}

// event is an event about offer in.
func (in *inOffer) event(k chat.EventKind, now time.Time) chat.Event {
	return chat.Event{Kind: k, Room: in.room, Time: now, PeerID: in.from.String(), Nick: in.nick,
		ID: in.id.String(), Name: in.name, Size: in.size, Hash: hex.EncodeToString(in.hash[:])}
}

// autoAccept starts receiving in, for Config.AutoAccept, or says why not.
func (t *transfers) autoAccept(in *inOffer) {
	if err := t.accept(in.id.String()); err != nil {
		ev := in.event(chat.KindFileFailed, time.Now())
		ev.Text = userText(err)
		t.h.emit(ev)
	}
}

// declined takes p's decline of our direct offer id.
func (t *transfers) declined(p peer.ID, id filewire.ID) {
	t.mu.Lock()
	o := t.out[id]
	if o == nil || o.to != p {
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.withdraw(id)
	nick, _ := t.h.memberNick(p)
	t.h.emit(chat.Event{Kind: chat.KindFileFailed, Time: time.Now(), PeerID: p.String(), Nick: nick, ID: id.String(),
		Name: safename.Reduce(o.name), Size: o.size, Self: true, Text: "declined"})
}

// serve answers a get of p for offer f.ID: the bytes from f.Offset, or
// why not.
func (t *transfers) serve(s network.Stream, br *bufio.Reader, p peer.ID, f filewire.Frame) {
	if t.onGet != nil {
		t.onGet(p, f.ID, f.Offset)
	}
	t.mu.Lock()
	o := t.out[f.ID]
	t.mu.Unlock()
	code, text := filewire.CodeOK, ""
	switch {
	case o == nil:
		code = filewire.CodeUnknown
	case !t.allowed(o, p):
		code = filewire.CodeRefused
	case f.Offset > o.size:
		code, text = filewire.CodeBad, "offset beyond the end of the file"
	}
	if code == filewire.CodeOK {
		if err := o.check(); err != nil {
			code = filewire.CodeChanged
			t.withdraw(o.id)
			t.sideEvent(o, p, chat.KindFileFailed, err.Error(), 0)
		}
	}
	if code == filewire.CodeOK && !t.startServing(p) {
		code = filewire.CodeBusy
	}
	if code != filewire.CodeOK {
		t.h.log.Debug("file get refused", "peer", p, "id", f.ID, "code", code)
		writeStatus(s, code, text)
		s.Close()
		return
	}
	defer t.stopServing(p)
	defer t.protect(p, o.id)()
	t.h.log.Debug("serving a file", "peer", p, "id", o.id, "offset", f.Offset, "size", o.size)

	s.SetDeadline(time.Now().Add(t.idle))
	if err := filewire.Write(s, filewire.Frame{Kind: filewire.KindData, Offset: f.Offset, Size: o.size}); err != nil {
		s.Reset()
		return
	}
	w := &progressWriter{s: s, idle: t.idle, sent: f.Offset, before: t.onChunk}
	if !o.holder {
		w.tick = func(n int64) { t.sideEvent(o, p, chat.KindFileProgress, "", n) }
	}
	buf := make([]byte, fileBuf)
	_, err := io.CopyBuffer(w, io.NewSectionReader(o.f, f.Offset, o.size-f.Offset), buf)
	if err == nil {
		err = o.check() // changed while it was read: the receiver's hash fails
	}
	if err != nil {
		t.h.log.Debug("file transfer cut", "peer", p, "id", o.id, "sent", w.sent, "err", err)
		s.Reset()
		switch {
		case errors.Is(err, errChanged):
			t.withdraw(o.id)
			t.sideEvent(o, p, chat.KindFileFailed, err.Error(), 0)
		case w.ticked:
			// Its progress was told: so is its end (the receiver may
			// ask again, which starts anew).
			t.sideEvent(o, p, chat.KindFileFailed, errCut.Error(), 0)
		}
		return
	}
	s.CloseWrite()
	s.SetReadDeadline(time.Now().Add(t.idle))
	verdict := readStatus(br)
	s.Close()
	if o.holder {
		return
	}
	if verdict != nil {
		var se *statusError
		if !errors.As(verdict, &se) {
			verdict = errCut // the stream broke: the receiver may ask again
		}
		t.sideEvent(o, p, chat.KindFileFailed, verdict.Error(), 0)
		return
	}
	t.sideEvent(o, p, chat.KindFileDone, "", 0)
	if o.to != "" {
		t.withdraw(o.id) // a direct offer is done with
	}
}

// allowed reports whether p may fetch o: the peer a direct offer went to,
// a member of a room offer's room.
func (t *transfers) allowed(o *outOffer, p peer.ID) bool {
	if o.to != "" {
		return o.to == p
	}
	t.h.mu.Lock()
	r := t.h.rooms[o.room]
	t.h.mu.Unlock()
	return r != nil && !r.isGone() && r.inRoster(p)
}

// inRoster reports whether p is in the roster, present or lost.
func (r *Room) inRoster(p peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.roster.peers[p]
	return e != nil && !e.self
}

// protect keeps the connection to p open while a transfer of offer id
// runs, and returns what ends that. Each transfer has a tag of its own:
// the connection manager keeps a set of tags, not a count, and two
// transfers of one offer to one peer may overlap (a receiver asking again
// before the holder saw the first stream break).
func (t *transfers) protect(p peer.ID, id filewire.ID) (unprotect func()) {
	tag := fmt.Sprintf("lanchat-file-%s-%d", id, t.tagN.Add(1))
	cm := t.h.host.ConnManager()
	cm.Protect(p, tag)
	return func() { cm.Unprotect(p, tag) }
}

// startServing takes a serving slot for p, if one is free.
func (t *transfers) startServing(p peer.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nserving >= maxServing || t.serving[p] >= maxServingPer {
		return false
	}
	t.nserving++
	t.serving[p]++
	return true
}

func (t *transfers) stopServing(p peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nserving--
	if t.serving[p]--; t.serving[p] <= 0 {
		delete(t.serving, p)
	}
}

// sideEvent emits an event of the sending side of offer o, about p.
func (t *transfers) sideEvent(o *outOffer, p peer.ID, k chat.EventKind, text string, bytes int64) {
	if o.holder {
		return
	}
	nick, _ := t.h.memberNick(p)
	ev := chat.Event{Kind: k, Time: time.Now(), PeerID: p.String(), Nick: nick, ID: o.id.String(),
		Name: safename.Reduce(o.name), Size: o.size, Bytes: bytes, Text: text, Self: true}
	if k == chat.KindFileDone {
		ev.Hash = hex.EncodeToString(o.hash[:])
	}
	t.h.emit(ev)
}

// progressWriter writes to a file stream with a deadline on every write,
// counting what went out and ticking at most every fileProgressEvery.
type progressWriter struct {
	s      network.Stream
	idle   time.Duration
	sent   int64
	tick   func(sent int64)
	next   time.Time
	ticked bool // tick was called
	// before is a test hook (see transfers.onChunk).
	before func(sent int64)
}

func (w *progressWriter) Write(b []byte) (int, error) {
	if w.before != nil {
		w.before(w.sent)
	}
	w.s.SetWriteDeadline(time.Now().Add(w.idle))
	n, err := w.s.Write(b)
	w.sent += int64(n)
	if w.tick != nil {
		if now := time.Now(); now.After(w.next) {
			w.next = now.Add(fileProgressEvery)
			w.ticked = true
			w.tick(w.sent)
		}
	}
	return n, err
}

// AcceptFile accepts the offer id (a unique prefix will do; "" is the
// newest offer made to us) and starts receiving it into
// [Config.DownloadDir] in the background; progress and the outcome come
// on the host Events ([chat.KindFileProgress], [chat.KindFileDone],
// [chat.KindFileFailed]). An offer that failed or was declined may be
// accepted again: it resumes where it stopped. Errors: [ErrNoOffer],
// [ErrAmbiguousID], [ErrOfferState] (being received, or received),
// [ErrFileTooLarge] (over [Config.MaxFileSize]), [ErrNoSpace],
// [ErrNoDownloadDir], [ErrTransferBusy], [chat.ErrClosed].
func (h *Host) AcceptFile(ctx context.Context, id string) error {
	if h.isClosing() {
		return chat.ErrClosed
	}
	return h.files.accept(id)
}

// DeclineFile declines the offer id (as for [Host.AcceptFile]), or stops
// receiving it (its partial file is deleted). The offerer of a direct
// offer is told, and stops offering it. Our host Events get a
// [chat.KindFileFailed] with Text "declined".
func (h *Host) DeclineFile(ctx context.Context, id string) error {
	if h.isClosing() {
		return chat.ErrClosed
	}
	t := h.files
	t.mu.Lock()
	in, err := t.findLocked(id)
	if err != nil {
		t.mu.Unlock()
		return err
	}
	if in.state == received {
		t.mu.Unlock()
		return fmt.Errorf("%w: %s was received already", ErrOfferState, in.id)
	}
	stop := in.stop
	in.state, in.stop = stopped, nil
	t.mu.Unlock()
	if stop != nil {
		stop()
	}
	if t.dir != "" {
		os.Remove(t.partial(in.id))
	}
	ev := in.event(chat.KindFileFailed, time.Now())
	ev.Text = "declined"
	h.emit(ev)
	if in.room == "" {
		if ctx, end, ok := t.begin(); ok {
			go func() {
				defer t.wg.Done()
				defer end()
				t.sendDecline(ctx, in)
			}()
		}
	}
	return nil
}

// sendDecline tells the offerer of a direct offer that we declined it,
// without dialling.
func (t *transfers) sendDecline(ctx context.Context, in *inOffer) {
	ctx, cancel := context.WithTimeout(ctx, fileDialTimeout)
	defer cancel()
	s, err := t.h.host.NewStream(network.WithNoDial(ctx, "file decline"), in.from, fileProtocol)
	if err != nil {
		return
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	s.SetDeadline(time.Now().Add(t.idle))
	if err := filewire.Write(s, filewire.Frame{Kind: filewire.KindDecline, ID: in.id}); err != nil {
		s.Reset()
		return
	}
	readStatus(bufio.NewReader(s))
}

// findLocked returns the offer made to us whose ID is id or starts with
// it; "" is the newest. t.mu is held.
func (t *transfers) findLocked(id string) (*inOffer, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if id == "" {
		if in := t.in[t.last]; in != nil {
			return in, nil
		}
		return nil, fmt.Errorf("%w: nobody has offered you a file", ErrNoOffer)
	}
	var found *inOffer
	for _, in := range t.in {
		if strings.HasPrefix(in.id.String(), id) {
			if found != nil {
				return nil, fmt.Errorf("%w: %q", ErrAmbiguousID, id)
			}
			found = in
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoOffer, id)
	}
	return found, nil
}

// partial is the partial file of offer id.
func (t *transfers) partial(id filewire.ID) string {
	return filepath.Join(t.dir, partialDir, id.String())
}

// accept checks that offer id can be received now, and starts receiving
// it.
func (t *transfers) accept(id string) error {
	if t.dir == "" {
		return ErrNoDownloadDir
	}
	t.mu.Lock()
	in, err := t.findLocked(id)
	switch {
	case err != nil:
	case t.closed:
		err = chat.ErrClosed
	case in.state == receiving:
		err = fmt.Errorf("%w: %s is being received", ErrOfferState, in.id)
	case in.state == received:
		err = fmt.Errorf("%w: %s was received already, as %s", ErrOfferState, in.id, in.path)
	case in.size > t.max:
		err = fmt.Errorf("%w: %s is %s, the limit is %s", ErrFileTooLarge, in.name, byteSize(in.size), byteSize(t.max))
	case t.active >= maxDownloads:
		err = fmt.Errorf("%w: %d are running", ErrTransferBusy, t.active)
	}
	if err != nil {
		t.mu.Unlock()
		return err
	}
	in.state = receiving
	in.gen++
	gen := in.gen
	t.active++
	var pending int64 // the disk space the other downloads still need
	for _, o := range t.in {
		if o != in && o.state == receiving {
			pending += o.size - o.have
		}
	}
	t.mu.Unlock()
	undo := func(err error) error {
		t.mu.Lock()
		if in.gen == gen {
			in.state = stopped
		}
		t.active--
		t.mu.Unlock()
		return err
	}
	part := t.partial(in.id)
	if err := os.MkdirAll(filepath.Dir(part), 0o700); err != nil {
		return undo(fmt.Errorf("download dir %s: %w", t.dir, files.Cause(err)))
	}
	st, err := os.Lstat(filepath.Dir(part))
	if err != nil || !st.IsDir() {
		return undo(fmt.Errorf("download dir %s: %s is not a directory", t.dir, partialDir))
	}
	// Private, as made: nobody else may put a file or a link there, nor
	// swap a partial file between its check and its move into place.
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(filepath.Dir(part), 0o700); err != nil {
			return undo(fmt.Errorf("download dir %s: %s is open to others and cannot be made private: %w", t.dir, partialDir, files.Cause(err)))
		}
	}
	t.pruneOnce.Do(func() { t.prunePartials(filepath.Dir(part)) })
	var have int64
	if st, err := os.Lstat(part); err == nil && st.Mode().IsRegular() && st.Size() <= in.size {
		have = st.Size()
	}
	if free, ok := t.space(t.dir); ok && in.size-have+pending+fileSpaceReserve > free {
		if pending > 0 {
			return undo(fmt.Errorf("%w: %s needs %s, %s is free in %s and the other downloads need %s of it",
				ErrNoSpace, in.name, byteSize(in.size-have), byteSize(free), t.dir, byteSize(pending)))
		}
		return undo(fmt.Errorf("%w: %s needs %s, %s is free in %s", ErrNoSpace, in.name, byteSize(in.size-have), byteSize(free), t.dir))
	}
	t.mu.Lock()
	in.have = have
	t.mu.Unlock()
	ctx, end, ok := t.begin()
	if !ok {
		return undo(chat.ErrClosed)
	}
	t.mu.Lock()
	if in.gen != gen || in.state != receiving {
		// Declined meanwhile, before it could be stopped.
		t.active--
		t.mu.Unlock()
		end()
		t.wg.Done()
		return nil
	}
	in.stop = end
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		defer end()
		t.download(ctx, in, gen)
	}()
	return nil
}

// prunePartials removes the partial files in dir that no offer can
// bring back: those untouched for longer than the log keeps a line (a
// room's offer that old is in no history; a direct offer is not kept
// across restarts at all). Without it, every download that failed for
// good would keep its partial file, up to [Config.MaxFileSize], for
// ever. Once a run, at the first accept.
func (t *transfers) prunePartials(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	before := time.Now().Add(-t.h.cfg.HistoryMaxAge)
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if _, err := filewire.ParseID(e.Name()); err != nil {
			continue // not a partial file
		}
		if st, err := e.Info(); err == nil && st.ModTime().Before(before) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// download receives in until it is verified and in place, it fails, or
// ctx is done, and says which on the host Events; gen is its in.gen.
func (t *transfers) download(ctx context.Context, in *inOffer, gen uint64) {
	path, err := t.receive(ctx, in)
	if t.onReceived != nil {
		t.onReceived(in.id)
	}
	t.mu.Lock()
	t.active--
	// Declined meanwhile (it said so), and maybe accepted again: the
	// offer's state is the next download's.
	cancelled := in.gen != gen || in.state != receiving
	if !cancelled {
		in.stop = nil
	}
	switch {
	case cancelled:
	case err == nil:
		in.state, in.path = received, path
	default:
		in.state = stopped
	}
	t.mu.Unlock()
	switch {
	case cancelled, ctx.Err() != nil && err != nil:
		return // declined, or the host closes: the partial file stays
	case err != nil:
		t.h.log.Debug("file transfer failed", "id", in.id, "err", err)
		ev := in.event(chat.KindFileFailed, time.Now())
		ev.Text = userText(err)
		t.h.emit(ev)
		return
	}
	t.h.log.Debug("file received", "id", in.id, "size", in.size)
	ev := in.event(chat.KindFileDone, time.Now())
	ev.Path = path
	t.h.emit(ev)
	if in.room != "" {
		t.hold(in, path)
	}
}

// userText is err for the user: without the package prefix.
func userText(err error) string {
	return strings.TrimPrefix(err.Error(), "node: ")
}

// receive fetches in into its partial file from the holders, resuming
// after a cut as long as one can be reached within fileResumeFor, checks
// its hash and moves it into place; it returns where.
func (t *transfers) receive(ctx context.Context, in *inOffer) (string, error) {
	part := t.partial(in.id)
	// Never through a link: a mismatch truncates the partial file.
	if st, err := os.Lstat(part); err == nil && !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w: the partial file %s is %s", errLocal, part, files.Kind(st.Mode()))
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		return "", fmt.Errorf("partial file: %w", files.Cause(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("partial file: %w", files.Cause(err))
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w: the partial file %s is %s", errLocal, part, files.Kind(st.Mode()))
	}
	have := st.Size()
	if have > in.size {
		if err := f.Truncate(0); err != nil {
			return "", fmt.Errorf("partial file: %w", files.Cause(err))
		}
		have = 0
	}
	hs := sha256.New()
	if _, err := io.Copy(hs, io.NewSectionReader(f, 0, have)); err != nil {
		return "", fmt.Errorf("partial file: %w", files.Cause(err))
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return "", fmt.Errorf("partial file: %w", files.Cause(err))
	}
	d := &fetchState{f: f, hs: hs, have: have, inherited: have > 0}
	retry := fileRetryMin
	lastProgress := time.Now()
	told := false
	for d.have < in.size || !d.verified {
		before := d.have
		err := t.fetchRound(ctx, in, d)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if errors.Is(err, errMismatch) && (d.inherited || len(d.others) > 0) {
			// Not all of it came from the offerer in this download: start
			// again, without the members who sent some.
			t.h.log.Debug("file hash mismatch: starting again", "id", in.id, "others", len(d.others), "inherited", d.inherited)
			if err := d.restart(); err != nil {
				return "", fmt.Errorf("%w: %s: %w", errLocal, in.name, files.Cause(err))
			}
			continue
		}
		var se *statusError
		if errors.As(err, &se) && se.permanent() || errors.Is(err, errMismatch) || errors.Is(err, errLocal) {
			if errors.Is(err, errMismatch) {
				f.Truncate(0)
				f.Close()
				os.Remove(part)
			}
			return "", err
		}
		if d.have > before {
			lastProgress, retry = time.Now(), fileRetryMin
		}
		if time.Since(lastProgress) > fileResumeFor {
			return "", fmt.Errorf("gave up after %s without reaching anyone who has the file: %w", fileResumeFor, err)
		}
		if !told {
			told = true
			t.h.emit(chat.Event{Kind: chat.KindNotice, Time: time.Now(), Text: fmt.Sprintf(
				"the transfer of %s stopped (%s); it resumes when %s can be reached", in.name, userText(err), in.nick)})
		}
		t.h.log.Debug("file transfer paused", "id", in.id, "have", d.have, "err", err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(retry):
		}
		retry = min(2*retry, fileRetryMax)
	}
	// The data was synced before the holder was told (fetchFrom); place
	// syncs the download dir for the file's name.
	return t.place(f, part, in.name)
}

// Failures of a download that trying again cannot mend.
var (
	errMismatch = errors.New("the file received does not match the offer's hash; it was deleted")
	errLocal    = errors.New("node: cannot write the file")
)

// fetchState is a download's progress: the partial file, the hash of what
// it holds, and how much that is.
type fetchState struct {
	f        *os.File
	hs       hash.Hash
	have     int64
	verified bool
	next     time.Time // the next progress event
	// synced and prev: the partial file is handed to writeback up to
	// synced, and on disk up to prev (see writeback).
	synced, prev int64
	// inherited: the partial file held bytes when the download began;
	// others: the members other than the offerer that sent bytes it
	// holds; bad: those not to ask (they sent bytes of a file that did
	// not match the hash).
	inherited   bool
	others, bad map[peer.ID]bool
}

// restart empties the partial file, and marks those who sent some of it,
// other than the offerer, as not to be asked again.
func (d *fetchState) restart() error {
	for p := range d.others {
		if d.bad == nil {
			d.bad = map[peer.ID]bool{}
		}
		d.bad[p] = true
	}
	d.others, d.inherited = nil, false
	d.have, d.synced, d.prev, d.verified = 0, 0, 0, false
	d.hs.Reset()
	if err := d.f.Truncate(0); err != nil {
		return err
	}
	_, err := d.f.Seek(0, io.SeekStart)
	return err
}

// fetchRound asks the offerer, then (for a room offer) other members, for
// the rest of the file. It returns nil once the file is complete and
// verified, the error of the most telling failure otherwise.
func (t *transfers) fetchRound(ctx context.Context, in *inOffer, d *fetchState) error {
	var firstErr error
	for _, p := range t.holders(in, d.bad) {
		err := t.fetchFrom(ctx, in, p, d)
		if err == nil {
			return nil
		}
		var se *statusError
		if errors.As(err, &se) && se.permanent() || errors.Is(err, errMismatch) || errors.Is(err, errLocal) || ctx.Err() != nil {
			return err
		}
		if firstErr == nil {
			firstErr = err // the offerer's, first: the most telling
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%w: nobody has the file", ErrUnreachable)
	}
	return firstErr
}

// holders lists whom to ask for in: its offerer, then for a room offer
// up to fileHolders other members, connected ones first, none of bad.
func (t *transfers) holders(in *inOffer, bad map[peer.ID]bool) []peer.ID {
	out := []peer.ID{in.from}
	if in.room == "" {
		return out
	}
	t.h.mu.Lock()
	r := t.h.rooms[in.room]
	t.h.mu.Unlock()
	if r == nil {
		return out
	}
	r.mu.Lock()
	var others []peer.ID
	for p, e := range r.roster.peers {
		if !e.self && p != in.from && !e.lost && !bad[p] {
			others = append(others, p)
		}
	}
	r.mu.Unlock()
	net := t.h.host.Network()
	slices.SortFunc(others, func(a, b peer.ID) int {
		ca, cb := net.Connectedness(a) == network.Connected, net.Connectedness(b) == network.Connected
		switch {
		case ca && !cb:
			return -1
		case cb && !ca:
			return 1
		}
		return strings.Compare(string(a), string(b))
	})
	return append(out, others[:min(len(others), fileHolders)]...)
}

// fetchFrom asks p for the rest of in and writes it to the partial file;
// once all is there it checks the hash and tells p the verdict.
func (t *transfers) fetchFrom(ctx context.Context, in *inOffer, p peer.ID, d *fetchState) error {
	s, err := t.open(ctx, p)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	defer t.protect(p, in.id)()
	s.SetDeadline(time.Now().Add(t.idle))
	if err := filewire.Write(s, filewire.Frame{Kind: filewire.KindGet, ID: in.id, Offset: d.have}); err != nil {
		s.Reset()
		return err
	}
	br := bufio.NewReaderSize(s, 64<<10)
	f, err := filewire.Read(br)
	if err != nil {
		s.Reset()
		return t.cut(s, err)
	}
	switch {
	case f.Kind == filewire.KindStatus:
		s.Close()
		if f.Code == filewire.CodeOK {
			return fmt.Errorf("%w: an ok status for a get", filewire.ErrMalformed)
		}
		return &statusError{code: f.Code, text: f.Text}
	case f.Kind != filewire.KindData || f.Offset != d.have || f.Size != in.size:
		s.Reset()
		return fmt.Errorf("%w: %s frame (offset %d, size %d) for a get from %d of %d", filewire.ErrMalformed, f.Kind, f.Offset, f.Size, d.have, in.size)
	}
	if err := t.copyIn(s, br, in, p, d); err != nil {
		return err
	}
	var sum [sha256.Size]byte
	copy(sum[:], d.hs.Sum(nil))
	s.SetDeadline(time.Now().Add(t.idle))
	if sum != in.hash {
		writeStatus(s, filewire.CodeMismatch, "")
		s.Close()
		return errMismatch
	}
	// On disk before the holder is told (a direct offer's holder then
	// forgets it) and before it is moved into place.
	if err := datasync(d.f); err != nil {
		writeStatus(s, filewire.CodeFailed, "the receiver could not write the file")
		s.Close()
		return fmt.Errorf("%w: %s: %w", errLocal, in.name, files.Cause(err))
	}
	d.verified = true
	writeStatus(s, filewire.CodeOK, "")
	s.Close()
	return nil
}

// copyIn copies the data of a get from p, the rest of in, from the
// stream to the partial file, hashing it. The stream is read and hashed
// on a goroutine of its own, fileBufs buffers ahead of the writes: the
// window the sender sees then stays open while this one writes to disk
// (and waits for writeback), and the hash runs beside the writes rather
// than between them. It returns once all is written, or the error that
// stopped it (the stream reset); the hash then covers what was written,
// except after a write failure, which ends the download (errLocal).
func (t *transfers) copyIn(s network.Stream, br *bufio.Reader, in *inOffer, p peer.ID, d *fetchState) error {
	type chunk struct {
		b   []byte
		err error
	}
	free := make(chan []byte, fileBufs)
	full := make(chan chunk, fileBufs) // never full: it holds at most the buffers
	quit := make(chan struct{})
	for range fileBufs {
		free <- make([]byte, fileBuf)
	}
	go func() {
		defer close(full)
		for left := in.size - d.have; left > 0; {
			var b []byte
			select {
			case b = <-free:
			case <-quit:
				return
			}
			s.SetReadDeadline(time.Now().Add(t.idle))
			n, err := io.ReadFull(br, b[:min(int64(len(b)), left)])
			d.hs.Write(b[:n])
			left -= int64(n)
			full <- chunk{b[:n], err}
			if err != nil {
				return
			}
		}
	}()
	stop := func() {
		close(quit)
		s.Reset()
		for range full { // until the reader is gone: it holds d.hs
		}
	}
	for c := range full {
		if n := len(c.b); n > 0 {
			if p != in.from && !d.others[p] {
				if d.others == nil {
					d.others = map[peer.ID]bool{}
				}
				d.others[p] = true
			}
			if _, werr := d.f.Write(c.b); werr != nil {
				stop()
				return fmt.Errorf("%w: %s: %w", errLocal, in.name, files.Cause(werr))
			}
			d.have += int64(n)
			if d.have-d.synced >= fileSyncEvery {
				writeback(d.f, d.prev, d.synced, d.have-d.synced)
				d.prev, d.synced = d.synced, d.have
			}
			if now := time.Now(); now.After(d.next) {
				d.next = now.Add(fileProgressEvery)
				t.mu.Lock()
				in.have = d.have
				t.mu.Unlock()
				ev := in.event(chat.KindFileProgress, now)
				ev.Bytes = d.have
				t.h.emit(ev)
			}
		}
		if c.err != nil {
			stop()
			return t.cut(s, c.err)
		}
		free <- c.b[:cap(c.b)]
	}
	return nil
}

// cut handles a stream to a holder that broke or stalled: a stall of
// fileIdle means the connection is most likely dead (a cable pulled), and
// a new stream would go over it again, so it is closed; a redial follows.
func (t *transfers) cut(s network.Stream, err error) error {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		s.Conn().Close()
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

// place moves the verified partial file into the download dir under
// name, or "name (1)" and so on when that is taken, never over a file that
// is there, and returns the path.
func (t *transfers) place(f *os.File, part, name string) (string, error) {
	f.Chmod(0o644)
	for n := range 1000 {
		dst := filepath.Join(t.dir, safename.Variant(name, n))
		err := os.Link(part, dst)
		if err == nil {
			os.Remove(part)
			syncDir(t.dir)
			return dst, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		// No hard links here (FAT, some network file systems): take the
		// name first, then rename over our own empty file.
		claim, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", errLocal, dst, files.Cause(err))
		}
		claim.Close()
		if err := os.Rename(part, dst); err != nil {
			os.Remove(dst)
			return "", fmt.Errorf("%w: %s: %w", errLocal, dst, files.Cause(err))
		}
		syncDir(t.dir)
		return dst, nil
	}
	return "", fmt.Errorf("%w: too many files named like %s in %s", errLocal, name, t.dir)
}

// syncDir commits the names in dir to disk, where a directory can be
// synced (not on Windows: there the file's own sync is what there is).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// hold serves the received copy of a room's offer to the room's members,
// quietly: a member who comes later can fetch it from us when the offerer
// is gone.
func (t *transfers) hold(in *inOffer, path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	st, err := f.Stat()
	if err != nil || st.Size() != in.size {
		f.Close()
		return
	}
	o := &outOffer{id: in.id, name: in.name, path: path, f: f, size: in.size, mtime: st.ModTime(),
		hash: in.hash, room: in.room, holder: true}
	t.mu.Lock()
	_, mine := t.out[in.id]
	t.mu.Unlock()
	if mine || t.register(o) != nil {
		f.Close()
	}
}

// lineEvent is the event of a chat line of room r: for a line that offers
// a file, a [chat.KindFileOffer] instead of ev, and the offer is noted so
// that it can be accepted (a live one at once with Config.AutoAccept).
func (t *transfers) lineEvent(r *Room, rec Record, ev chat.Event) chat.Event {
	file := rec.Envelope.File
	if t == nil || file.IsZero() || ev.Kind != chat.KindMessage {
		return ev
	}
	in := &inOffer{id: file.ID, from: rec.Author, nick: ev.Nick, room: r.name,
		name: safename.Reduce(file.Name), size: file.Size, hash: file.Hash}
	ev.Kind = chat.KindFileOffer
	ev.Text, ev.Action = "", false
	ev.Name, ev.Size, ev.Hash = in.name, in.size, hex.EncodeToString(in.hash[:])
	ev.ID = in.id.String()
	if rec.Author == t.h.self {
		return ev
	}
	t.mu.Lock()
	old := t.in[in.id]
	fresh := old == nil && !t.closed
	if fresh {
		t.addInLocked(in)
	}
	t.mu.Unlock()
	if old != nil && (old.from != in.from || old.hash != in.hash) {
		// Another peer's offer with the same ID: the first one stands.
		ev.Kind, ev.Text = chat.KindNotice, fmt.Sprintf("%s's offer of %s reuses the ID of another offer: ignored", ev.Nick, in.name)
		ev.ID, ev.Name, ev.Size, ev.Hash = "", "", 0, ""
		return ev
	}
	if fresh && t.auto && !ev.History {
		t.autoAccept(in)
	}
	return ev
}

// memberNick returns p's nick in the first joined room (by name) that
// lists it, and whether one does.
func (h *Host) memberNick(p peer.ID) (string, bool) {
	h.mu.Lock()
	rooms := h.joinedLocked()
	h.mu.Unlock()
	slices.SortFunc(rooms, func(a, b *Room) int { return strings.Compare(a.name, b.name) })
	for _, r := range rooms {
		r.mu.Lock()
		e := r.roster.peers[p]
		nick := ""
		if e != nil {
			nick = e.nick
		}
		r.mu.Unlock()
		if e != nil {
			return nick, true
		}
	}
	return "", false
}

// byteSize says n bytes for people: "512 B", "2.1 MB", "4.0 GiB" is
// written in decimal units ("4.3 GB").
func byteSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
