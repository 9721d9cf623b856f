package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Remembered peers.
//
// The lanchat peers a host was connected to are remembered in its data
// dir, DataDir/<peer ID>/peers.json beside the message log, and offered to
// its Dialer at start: a node restarted on a network where multicast does
// not work (any more), or across a router, finds its room again from any
// one of them that is still there, and peer exchange does the rest. While
// the host is connected to no lanchat peer, they are offered again every
// rememberRetry (the Dialer's backoff spaces out the dials of each).
//
// It is a small JSON file of its own rather than a bucket of the message
// log: it is rewritten whole (written to a temporary file, synced and
// renamed, mode 0600), read once, holds no chat, and a user can read it
// or delete it to forget every peer without touching the history. Only a
// host whose message log is kept in DataDir has one (not an ephemeral
// identity, whose log is temporary).
//
// A peer is remembered with where it answered and where it said it
// listens (see exchange.go for which addresses), at most
// maxRememberedAddrs, and when it was last connected; at most
// maxRemembered peers, the one seen longest ago making room, and none
// not seen for rememberFor. Changes are written rememberSaveDelay after
// they happen, and at Close (which also notes every peer still connected
// as seen then).
const (
	peersFile          = "peers.json"
	peersFileVersion   = 1
	maxRemembered      = 256
	maxRememberedAddrs = 8
	rememberFor        = 30 * 24 * time.Hour
	rememberSaveDelay  = 5 * time.Second
	rememberRetry      = 30 * time.Second
	// maxPeersFile bounds what is read of the file (256 peers of 8
	// addresses take ~60 KiB).
	maxPeersFile = 1 << 20
)

// peerBook is a host's remembered peers. Safe for concurrent use.
type peerBook struct {
	path    string // "" = nothing is kept
	log     *slog.Logger
	changed chan struct{} // cap 1

	mu    sync.Mutex
	peers map[peer.ID]*remembered // guarded by mu
	dirty bool                    // guarded by mu
}

// remembered is one remembered peer.
type remembered struct {
	addrs []netip.AddrPort // best first
	seen  time.Time
}

// peersFileJSON is the file's form.
type peersFileJSON struct {
	Version int        `json:"version"`
	Peers   []peerJSON `json:"peers"`
}

type peerJSON struct {
	ID    string           `json:"id"`
	Addrs []netip.AddrPort `json:"addrs"`
	Seen  time.Time        `json:"seen"`
}

// newPeerBook returns the book kept in dir (DataDir/<peer ID>), or one
// that keeps nothing when dir is "".
func newPeerBook(dir string, log *slog.Logger) *peerBook {
	b := &peerBook{log: log, changed: make(chan struct{}, 1), peers: make(map[peer.ID]*remembered)}
	if dir != "" {
		b.path = filepath.Join(dir, peersFile)
	}
	return b
}

// load reads the file, if any, keeping what is valid and seen within
// rememberFor of now. A file that cannot be read is logged and replaced
// at the next save.
func (b *peerBook) load(now time.Time) {
	if b.path == "" {
		return
	}
	data, err := readSmallFile(b.path, maxPeersFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var f peersFileJSON
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err == nil && f.Version != peersFileVersion {
		err = fmt.Errorf("version %d, want %d", f.Version, peersFileVersion)
	}
	if err != nil {
		b.log.Warn("cannot read the remembered peers; starting afresh", "path", b.path, "err", err)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range f.Peers {
		id, err := peer.Decode(e.ID)
		if err != nil || now.Sub(e.Seen) > rememberFor || e.Seen.After(now.Add(time.Hour)) {
			continue
		}
		var addrs []netip.AddrPort
		for _, ap := range e.Addrs {
			// Loopback addresses were kept only for peers on this machine.
			if dialable(ap, true) && !slices.Contains(addrs, ap) && len(addrs) < maxRememberedAddrs {
				addrs = append(addrs, ap)
			}
		}
		if len(addrs) > 0 {
			b.putLocked(id, &remembered{addrs: addrs, seen: e.Seen})
		}
	}
}

// readSmallFile reads at most limit bytes of the regular file at path;
// a bigger file is an error.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("bigger than %d bytes", limit)
	}
	return data, err
}

// putLocked adds or replaces p, making room if the book is full. b.mu is
// held.
func (b *peerBook) putLocked(p peer.ID, r *remembered) {
	if _, ok := b.peers[p]; !ok && len(b.peers) >= maxRemembered {
		var first peer.ID
		for q, o := range b.peers {
			if first == "" || o.seen.Before(b.peers[first].seen) {
				first = q
			}
		}
		delete(b.peers, first)
	}
	b.peers[p] = r
}

// saw notes that p, a lanchat peer, was connected at now with addrs
// (best first).
func (b *peerBook) saw(p peer.ID, addrs []netip.AddrPort, now time.Time) {
	if b.path == "" || len(addrs) == 0 {
		return
	}
	b.mu.Lock()
	old := b.peers[p]
	r := &remembered{addrs: slices.Clone(addrs[:min(len(addrs), maxRememberedAddrs)]), seen: now}
	if old != nil {
		r.addrs = mergeAddrs(addrs, old.addrs, maxRememberedAddrs)
	}
	b.putLocked(p, r)
	b.dirty = true
	b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// offers returns the remembered peers as sightings, seen last first,
// leaving out skip.
func (b *peerBook) offers(skip func(peer.ID) bool) []sighting {
	b.mu.Lock()
	defer b.mu.Unlock()
	type entry struct {
		id peer.ID
		r  *remembered
	}
	all := make([]entry, 0, len(b.peers))
	for id, r := range b.peers {
		if !skip(id) {
			all = append(all, entry{id, r})
		}
	}
	slices.SortFunc(all, func(x, y entry) int { return cmp.Or(y.r.seen.Compare(x.r.seen), cmp.Compare(x.id, y.id)) })
	out := make([]sighting, 0, len(all))
	for _, e := range all {
		out = append(out, sighting{id: e.id.String(), version: ProtocolVersion, addrs: slices.Clone(e.r.addrs)})
	}
	return out
}

// save writes the book if it changed, first noting the peers of connected
// as seen at now and forgetting those not seen for rememberFor. The file
// is replaced atomically, mode 0600.
func (b *peerBook) save(now time.Time, connected []peer.ID) error {
	if b.path == "" {
		return nil
	}
	b.mu.Lock()
	for _, p := range connected {
		if r := b.peers[p]; r != nil {
			r.seen, b.dirty = now, true
		}
	}
	for p, r := range b.peers {
		if now.Sub(r.seen) > rememberFor {
			delete(b.peers, p)
			b.dirty = true
		}
	}
	if !b.dirty {
		b.mu.Unlock()
		return nil
	}
	f := peersFileJSON{Version: peersFileVersion, Peers: make([]peerJSON, 0, len(b.peers))}
	for p, r := range b.peers {
		f.Peers = append(f.Peers, peerJSON{ID: p.String(), Addrs: slices.Clone(r.addrs), Seen: r.seen.UTC().Round(time.Second)})
	}
	b.dirty = false
	b.mu.Unlock()
	slices.SortFunc(f.Peers, func(x, y peerJSON) int { return cmp.Or(y.Seen.Compare(x.Seen), cmp.Compare(x.ID, y.ID)) })
	data, err := json.MarshalIndent(f, "", "\t")
	if err == nil {
		err = writeFileAtomic(b.path, append(data, '\n'))
	}
	if err != nil {
		b.mu.Lock()
		b.dirty = true
		b.mu.Unlock()
		return fmt.Errorf("remember peers: %w", err)
	}
	return nil
}

// writeFileAtomic replaces the file at path with data, mode 0600: it
// writes a temporary file beside it, syncs it and renames it over path,
// so a reader (or a crash) never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if e := tmp.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return err
}

// rememberLoop offers the remembered peers to the Dialer at start and,
// while no lanchat peer is connected, every rememberRetry; and writes the
// book rememberSaveDelay after it changes. It runs until ctx is done.
func (h *Host) rememberLoop(ctx context.Context) {
	defer h.wg.Done()
	offer := func() {
		h.dialer.offer(h.book.offers(func(p peer.ID) bool { return p == h.self || h.connected(p) }))
	}
	offer()
	retry := time.NewTicker(rememberRetry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			if len(h.x.connectedPeers()) == 0 {
				offer()
			}
		case <-h.book.changed:
			t := time.NewTimer(rememberSaveDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return // Close saves
			case <-t.C:
			}
			if err := h.book.save(time.Now(), h.x.connectedPeers()); err != nil {
				h.log.Warn("cannot write the remembered peers", "err", err)
			}
		}
	}
}

// Reconnect is for a network connection that was down and is back (local
// discovery's [lanchat/discovery.LinkWatcher]): the dials tried while it
// was down failed and backed off (up to 30 s), and those in flight hang.
// It forgets the backoffs, cancels those dials and dials again, at once,
// every peer the Dialer saw lately and every remembered one that is not
// connected. Connections that lived through the cut are kept: while the
// machine's own link was down its sends failed locally, which TCP retries
// every half second without backing off, so they resume by themselves
// (measured: the cut host hears the room again 0.4-0.7 s after the cable
// is back; closing them and dialling anew took 3 s, the peers' gossipsub
// staying on the old connection until it wrote to it). Safe to call from
// any goroutine; it does not block.
func (h *Host) Reconnect() {
	if h.isClosing() {
		return
	}
	h.dialer.redialAll(h.book.offers(func(p peer.ID) bool { return p == h.self || h.connected(p) }))
}

// forgetBackoffs makes every peer ready to be dialled at once (see
// [Host.Reconnect]); dials in flight keep their count.
func (h *Host) forgetBackoffs() {
	h.dialMu.Lock()
	defer h.dialMu.Unlock()
	for _, b := range h.backoffs {
		b.delay, b.next, b.tried = 0, time.Time{}, nil
	}
}
