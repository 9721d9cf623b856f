package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"lanchat/node/roomkey"
	"lanchat/node/wire"
)

// TestReplayWindowAcrossRooms: pubsub numbers an author's messages in all
// topics with one counter, and admission keeps one replay window per
// author for all rooms. Interleaved rooms, one of them delivered late (by
// another route), are all accepted once; replays of either are ignored;
// and only a delay beyond the window looks like a replay.
func TestReplayWindowAcrossRooms(t *testing.T) {
	a := newAdmission(slog.New(slog.DiscardHandler))
	bob := peer.ID("bob")
	const start = 1_000_000
	var roomA, roomB []uint64 // bob's messages alternate between the rooms
	for s := uint64(start); s < start+200; s++ {
		if s%2 == 0 {
			roomA = append(roomA, s)
		} else {
			roomB = append(roomB, s)
		}
	}
	screen := func(seq uint64) pubsub.ValidationResult {
		res, flood := a.screen(bob, bob, seq)
		if flood {
			t.Fatalf("screen(%d): over the flood limit", seq)
		}
		return res
	}
	// Room A arrives first, all of it; room B's lines come afterwards.
	for _, seqs := range [][]uint64{roomA, roomB} {
		for _, s := range seqs {
			if res := screen(s); res != pubsub.ValidationAccept {
				t.Fatalf("screen(%d) = %v, want accept", s, res)
			}
		}
	}
	for _, s := range append(roomA[:3:3], roomB[:3]...) {
		if res := screen(s); res != pubsub.ValidationIgnore {
			t.Errorf("replay screen(%d) = %v, want ignore", s, res)
		}
	}
	// A message of a room that comes replayWindow of bob's messages late
	// (some 20 s of his fastest sending, far beyond gossip's 5 s) is
	// taken for a replay.
	top := uint64(start + 200 + replayWindow)
	if res := screen(top); res != pubsub.ValidationAccept {
		t.Fatalf("screen(%d) = %v, want accept", top, res)
	}
	if res := screen(top - replayWindow + 1); res != pubsub.ValidationAccept {
		t.Errorf("oldest in the window: %v, want accept", res)
	}
	if res := screen(top - replayWindow); res != pubsub.ValidationIgnore {
		t.Errorf("just below the window: %v, want ignore", res)
	}
}

// TestSendBudgetUnderFloodLimit: an honest host in as many rooms as it
// may join, heartbeating in each, pasting lines as fast as Send lets it,
// while a peer churns its subscriptions in every room to trigger
// re-announces, never exceeds the flood limit of its peers (one limit
// per author for all rooms), and its lines still get most of the budget.
// Simulated time (synctest): the real send budget against a real
// admission.
func TestSendBudgetUnderFloodLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &Host{sendLim: rate.NewLimiter(sendRate, sendBurst)}
		adm := newAdmission(slog.New(slog.DiscardHandler))
		const author = peer.ID("bob")
		var (
			mu      sync.Mutex
			seq     uint64
			dropped int
			sent    = map[string]int{}
		)
		deliver := func(kind string) {
			mu.Lock()
			defer mu.Unlock()
			seq++
			if res, _ := adm.screen(author, author, seq); res != pubsub.ValidationAccept {
				dropped++
			}
			sent[kind]++
		}
		hb := DefaultHeartbeatInterval
		rooms := roomLimit(hb)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		every := func(d time.Duration, f func()) {
			wg.Go(func() {
				tick := time.NewTicker(d)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						f()
					}
				}
			})
		}
		for range rooms {
			h.spend() // the join
			deliver("join")
			every(hb, func() { h.spend(); deliver("heartbeat") })
			// A re-announce as often as a churning peer can make one due.
			every(reannounceMin, func() {
				if h.spare() {
					deliver("reannounce")
				}
			})
		}
		const paste = 30 * time.Second
		lines, stopLines := context.WithTimeout(ctx, paste)
		defer stopLines()
		wg.Go(func() {
			for h.pace(lines, nil) == nil {
				deliver("line")
			}
		})
		time.Sleep(paste + 10*time.Second) // then 10 s without lines
		cancel()
		wg.Wait()

		t.Logf("%d rooms, sent %v, %d dropped", rooms, sent, dropped)
		if dropped != 0 {
			t.Errorf("peers dropped %d of the host's envelopes (sent %v)", dropped, sent)
		}
		if want := int(paste.Seconds()) * (sendRate - presenceRate); sent["line"] < want {
			t.Errorf("%d lines in %v, want at least %d", sent["line"], paste, want)
		}
		if sent["reannounce"] == 0 {
			t.Errorf("no re-announce went out once the paste was over")
		}
	})
}

func TestRoomLimit(t *testing.T) {
	for _, tt := range []struct {
		hb   time.Duration
		want int
	}{
		{DefaultHeartbeatInterval, maxTopicsPerPeer},
		{time.Second, 20},
		{500 * time.Millisecond, 10},
		{250 * time.Millisecond, 5},
		{10 * time.Millisecond, 1},
	} {
		if got := roomLimit(tt.hb); got != tt.want {
			t.Errorf("roomLimit(%v) = %d, want %d", tt.hb, got, tt.want)
		}
	}
	// Heartbeats take at most presenceRate per second in all rooms.
	if n := roomLimit(time.Second); float64(n)/time.Second.Seconds() > presenceRate {
		t.Errorf("%d rooms heartbeating every second exceed %d/s", n, presenceRate)
	}
}

// TestOpenEnvelope drives a room's envelope check directly: every envelope
// that is not this room's, not sealed as the room demands, or whose sealed
// content is not its author's in this room, is rejected.
func TestOpenEnvelope(t *testing.T) {
	key, err := roomkey.Derive(nil, "plans", "sesame")
	if err != nil {
		t.Fatal(err)
	}
	other, err := roomkey.Derive(nil, "plans", "other")
	if err != nil {
		t.Fatal(err)
	}
	alice, mallory := testPeerID(t), testPeerID(t)
	open := &Room{name: "lobby", wireID: "lobby"}
	private := &Room{name: "plans", wireID: key.Tag(), key: key}
	clear := func(room string, k wire.Kind) []byte {
		e := wire.Envelope{Kind: k, Room: room, Sent: 1, Nick: "alice"}
		if k.HasText() {
			e.Text = "hi"
		}
		return envelope(t, e)
	}
	sealed := func(k *roomkey.Key, outer string, inner []byte, author peer.ID, tag string) []byte {
		return envelope(t, wire.Envelope{Kind: wire.KindSealed, Room: outer,
			Sealed: k.Seal(inner, append([]byte(author), tag...))})
	}
	tag := key.Tag()
	good := sealed(key, tag, clear(tag, wire.KindMessage), alice, tag)
	tests := []struct {
		name   string
		r      *Room
		author peer.ID
		data   []byte
		want   error // nil: opens
	}{
		{"open room", open, alice, clear("lobby", wire.KindMessage), nil},
		{"open room, other room's envelope", open, alice, clear("dev", wire.KindMessage), errOtherRoom},
		{"open room, sealed", open, alice, sealed(key, "lobby", clear("lobby", wire.KindMessage), alice, "lobby"), errSealedOpen},
		{"garbage", open, alice, []byte("hello"), wire.ErrBadVersion},
		{"oversize", open, alice, rawEnvelope(2, wire.KindMessage, "lobby", "eve", strings.Repeat("x", wire.MaxSize)), wire.ErrOversize},
		{"private room", private, alice, good, nil},
		{"private room, clear", private, alice, clear(tag, wire.KindMessage), errNotSealed},
		{"private room, re-signed by another", private, mallory, good, roomkey.ErrOpen},
		{"private room, other key", private, alice, sealed(other, tag, clear(tag, wire.KindMessage), alice, tag), roomkey.ErrOpen},
		{"private room, other room's tag", private, alice, sealed(key, other.Tag(), clear(tag, wire.KindMessage), alice, tag), errOtherRoom},
		{"private room, inner of another room", private, alice, sealed(key, tag, clear("lobby", wire.KindMessage), alice, tag), errBadInner},
		{"private room, sealed in sealed", private, alice, sealed(key, tag, good, alice, tag), errBadInner},
		{"private room, inner garbage", private, alice, sealed(key, tag, []byte("hello"), alice, tag), wire.ErrBadVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := tt.r.open(tt.author, tt.data)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("open = %v, want it to open", err)
			case tt.want == nil && (env.Kind != wire.KindMessage || env.Room != tt.r.wireID || env.Text != "hi"):
				t.Errorf("open = %+v", env)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("open = %+v, %v; want %v", env, err, tt.want)
			}
		})
	}
}

// marksOf is a markBook of fixed marks: the authors heard in an earlier
// run.
type marksOf map[peer.ID]uint64

func (m marksOf) mark(p peer.ID) (uint64, bool) {
	s, ok := m[p]
	return s, ok
}

// TestNewcomerAllowance: an author never heard before, introduced by a
// relay, starts with newcomerBurst of its flood allowance and earns the
// rest at the flood limit's rate; one with a mark (heard in an earlier
// run: every member at this node's restart), or delivering its own
// message, starts with the whole burst. An honest newcomer joining a few
// rooms and pasting a paragraph loses nothing. Simulated time (synctest).
func TestNewcomerAllowance(t *testing.T) {
	// accepted counts the messages of p relayed by "relay" accepted out
	// of n sent at once, from sequence number *seq on.
	accepted := func(a *admission, p peer.ID, seq *uint64, n int) int {
		got := 0
		for range n {
			*seq++
			if res, _ := a.screen(p, "relay", *seq); res == pubsub.ValidationAccept {
				got++
			}
		}
		return got
	}
	t.Run("made up", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := newAdmission(slog.New(slog.DiscardHandler))
			var seq uint64
			if got := accepted(a, "sybil", &seq, recvBurst); got != newcomerBurst || got > recvBurst/8 {
				t.Errorf("a newcomer's burst: %d accepted, want %d, a small part of the burst %d", got, newcomerBurst, recvBurst)
			}
			time.Sleep(time.Second)
			if got := accepted(a, "sybil", &seq, recvBurst); got != recvRate {
				t.Errorf("a second later: %d accepted, want %d", got, recvRate)
			}
			time.Sleep(time.Duration(recvBurst/recvRate) * time.Second)
			if got := accepted(a, "sybil", &seq, 2*recvBurst); got != recvBurst {
				t.Errorf("after %d s: %d accepted, want the whole burst %d", recvBurst/recvRate, got, recvBurst)
			}
		})
	})
	t.Run("known", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := newAdmission(slog.New(slog.DiscardHandler))
			a.marks = marksOf{"bob": 1000}
			seq := uint64(1000)
			if got := accepted(a, "bob", &seq, sendBurst); got != sendBurst {
				t.Errorf("a known author's paste at our restart: %d of %d accepted", got, sendBurst)
			}
			// Forgotten by the table, not by admission: its mark comes
			// from forgot, and the whole burst with it.
			a.prune(time.Now().Add(replayMemory))
			if a.authors["bob"] != nil {
				t.Fatal("bob not forgotten")
			}
			a.marks = nil
			if got := accepted(a, "bob", &seq, sendBurst); got != sendBurst {
				t.Errorf("after the table forgot him: %d of %d accepted", got, sendBurst)
			}
		})
	})
	t.Run("delivering its own", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := newAdmission(slog.New(slog.DiscardHandler))
			got := 0
			for seq := range uint64(sendBurst) {
				if res, _ := a.screen("dave", "dave", seq+1); res == pubsub.ValidationAccept {
					got++
				}
			}
			if got != sendBurst {
				t.Errorf("a paste of a member connected to us: %d of %d accepted", got, sendBurst)
			}
			// Its first message relayed, then its own: no newcomer. So
			// too when its own copy only reaches hopeless (pubsub
			// validates the first copy, here the relayed one).
			for _, direct := range []func(p peer.ID, seq uint64){
				func(p peer.ID, seq uint64) { a.screen(p, p, seq) },
				func(p peer.ID, seq uint64) { a.hopeless(p, p) },
			} {
				p := peer.ID(fmt.Sprint("erin", len(a.authors)))
				var seq uint64
				if got := accepted(a, p, &seq, 1); got != 1 {
					t.Fatalf("%s's first message, relayed, dropped", p)
				}
				direct(p, seq)
				if got := accepted(a, p, &seq, sendBurst); got != sendBurst {
					t.Errorf("a paste of a member connected to us, first heard relayed: %d of %d accepted", got, sendBurst)
				}
			}
			// Connected to us, its first message relayed: no newcomer.
			a.addrOf = func(peer.ID) netip.Addr { return netip.MustParseAddr("10.0.0.7") }
			var seq uint64
			if got := accepted(a, "frank", &seq, sendBurst); got != sendBurst {
				t.Errorf("a paste of a member connected to us, heard relayed: %d of %d accepted", got, sendBurst)
			}
		})
	})
	t.Run("honest newcomer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := newAdmission(slog.New(slog.DiscardHandler))
			var seq uint64
			const rooms, paragraph = 5, 30
			if got := accepted(a, "carol", &seq, 2*rooms+paragraph); got != 2*rooms+paragraph {
				t.Errorf("a join and a heartbeat in %d rooms and %d lines: %d accepted", rooms, paragraph, got)
			}
			// Then a line a second, and a second paragraph a minute on.
			for range 60 {
				time.Sleep(time.Second)
				if got := accepted(a, "carol", &seq, 1); got != 1 {
					t.Fatal("a line a second dropped")
				}
			}
			if got := accepted(a, "carol", &seq, sendBurst); got != sendBurst {
				t.Errorf("a paste of %d a minute later: %d accepted", sendBurst, got)
			}
		})
	})
}

// TestIntroductionsPerAddress: relays connected from one address share
// its introductions, addrFactor times one relay's, and so do authors that
// deliver their own messages from it; another address has its own. The
// user is told once about the address.
func TestIntroductionsPerAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(slog.New(slog.DiscardHandler))
		one, two := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		a.addrOf = func(p peer.ID) netip.Addr {
			if strings.HasPrefix(string(p), "other") {
				return two
			}
			return one
		}
		// introduce has relay introduce n new authors, and counts those
		// admitted (screen) and those dropped before their signature
		// check would be (hopeless).
		n := 0
		introduce := func(relay peer.ID, k int) (admitted, early int) {
			for range k {
				n++
				p := peer.ID(fmt.Sprint("sybil", n))
				if drop, _ := a.hopeless(p, relay); drop {
					early++
					continue
				}
				if res, _ := a.screen(p, relay, 1); res == pubsub.ValidationAccept {
					admitted++
				}
			}
			return admitted, early
		}
		const relays, each = 8, introBurst - 56
		total := 0
		for r := range relays {
			got, _ := introduce(peer.ID(fmt.Sprint("relay", r)), each)
			total += got
		}
		if want := addrFactor * introBurst; total != want {
			t.Errorf("%d relays at one address introduced %d authors, want %d (of %d)", relays, total, want, relays*each)
		}
		if got, early := introduce("relay0", 10); got != 0 || early != 10 {
			t.Errorf("then %d more admitted, %d dropped before the check; want 0 and 10", got, early)
		}
		if res, _ := a.screen("selfie", "selfie", 1); res == pubsub.ValidationAccept {
			t.Error("an author delivering its own message admitted from the address out of introductions")
		}
		// Another address: only the per-relay bound.
		if got, _ := introduce("other-relay", introBurst+10); got != introBurst {
			t.Errorf("a relay at another address introduced %d, want %d", got, introBurst)
		}
		if res, _ := a.screen("other-selfie", "other-selfie", 1); res != pubsub.ValidationAccept {
			t.Error("an author delivering its own message from another address refused")
		}
		time.Sleep(time.Second)
		if got, _ := introduce("relay7", 2*addrFactor*introRate); got != addrFactor*introRate {
			t.Errorf("a second later: %d introduced, want %d", got, addrFactor*introRate)
		}
		var addrs, intros []throttle
		for len(a.throttles) > 0 {
			switch th := <-a.throttles; th.kind {
			case throttleAddr:
				addrs = append(addrs, th)
			case throttleIntro:
				intros = append(intros, th)
			}
		}
		if len(addrs) != 1 || addrs[0].addr != one {
			t.Errorf("address notices %+v, want one for %v", addrs, one)
		}
		if len(intros) != 1 || intros[0].author != "other-relay" {
			t.Errorf("relay notices %+v, want one for other-relay", intros)
		}
		// All back after a while: forgotten.
		time.Sleep(time.Duration(introBurst/introRate+1) * time.Second)
		a.prune(time.Now())
		if len(a.byAddr) != 0 {
			t.Errorf("%d addresses remembered once their allowances are back", len(a.byAddr))
		}
	})
}

// TestAddrTableBounded: the table of addresses stays bounded, and an
// address out of introductions is not the one forgotten to make room.
func TestAddrTableBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(slog.New(slog.DiscardHandler))
		// Peer "i/j" connects from address i.
		a.addrOf = func(p peer.ID) netip.Addr {
			var i int
			fmt.Sscanf(string(p), "%d/", &i)
			return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}
		// Authors that deliver their own messages from address 0 use up
		// its introductions; then one author from each of many others.
		for j := range addrFactor * introBurst {
			p := peer.ID(fmt.Sprint("0/", j))
			a.screen(p, p, 1)
		}
		for i := 1; i < 2*maxAddrs; i++ {
			p := peer.ID(fmt.Sprint(i, "/0"))
			a.screen(p, p, 1)
		}
		if len(a.byAddr) > maxAddrs {
			t.Errorf("%d addresses remembered, want at most %d", len(a.byAddr), maxAddrs)
		}
		if res, _ := a.screen("0/new", "0/new", 1); res == pubsub.ValidationAccept {
			t.Error("the address out of introductions was forgotten: a new author from it admitted")
		}
	})
}

// TestIntroduceFetched: the new authors of lines fetched by sync use up
// the serving peer's introductions; authors known (in the table, or by
// a mark) and the peer's own lines do not. Those taken in are in the
// table, so their live messages cost no introduction again, and start
// as newcomers. The user is told once about the peer.
func TestIntroduceFetched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(slog.New(slog.DiscardHandler))
		a.marks = marksOf{"marked": 5}
		a.screen("live", "live", 1)
		authors := []peer.ID{"server", "live", "marked"}
		for i := range introBurst + 44 {
			authors = append(authors, peer.ID(fmt.Sprint("new", i)))
		}
		refused := a.introduce("server", authors)
		if len(refused) != 44 {
			t.Errorf("%d authors refused, want 44", len(refused))
		}
		for _, p := range authors[:3+introBurst] {
			if refused[p] {
				t.Errorf("%s refused; the first %d new ones were due", p, introBurst)
			}
		}
		if refused := a.introduce("server", authors); len(refused) != 44 {
			t.Errorf("again at once: %d refused, want the same 44", len(refused))
		}
		// new0 came by sync: its live line, relayed by the server now out
		// of introductions, is admitted, as a newcomer.
		var seq uint64
		got := 0
		for range recvBurst {
			seq++
			if res, _ := a.screen("new0", "server", seq); res == pubsub.ValidationAccept {
				got++
			}
		}
		if got != newcomerBurst {
			t.Errorf("new0's live messages: %d accepted, want a newcomer's %d", got, newcomerBurst)
		}
		if res, _ := a.screen("new-live", "server", 1); res == pubsub.ValidationAccept {
			t.Error("a new author relayed live by the server admitted, its introductions used up by sync")
		}
		time.Sleep(time.Second)
		if refused := a.introduce("server", authors); len(refused) != 44-introRate {
			t.Errorf("a second later: %d refused, want %d", len(refused), 44-introRate)
		}
		kinds := map[throttleKind]int{}
		for len(a.throttles) > 0 {
			th := <-a.throttles
			kinds[th.kind]++
			if th.kind == throttleSync && th.author != "server" {
				t.Errorf("sync notice for %s, want the server", th.author)
			}
		}
		if kinds[throttleSync] != 1 {
			t.Errorf("%d notices about the server's history, want 1 (all: %v)", kinds[throttleSync], kinds)
		}
	})
}

// TestThrottleNoticesBounded: made-up identities each over its flood
// limit get maxNamed notices that name them, then one that says there
// are more; each is told once.
func TestThrottleNoticesBounded(t *testing.T) {
	a := newAdmission(slog.New(slog.DiscardHandler))
	a.setLimit(1, 1)
	for i := range 3 * maxNamed {
		p := peer.ID(fmt.Sprint("sybil", i))
		for seq := range uint64(5) {
			a.screen(p, p, seq+1)
			a.hopeless(p, p)
		}
	}
	named, more := 0, 0
	for len(a.throttles) > 0 {
		if th := <-a.throttles; th.more {
			more++
			if th.author != "" || !strings.Contains(th.text(), "not named") {
				t.Errorf("the notice of more names %q: %q", th.author, th.text())
			}
		} else {
			named++
		}
	}
	if named != maxNamed || more != 1 {
		t.Errorf("%d notices naming an author and %d of more, want %d and 1", named, more, maxNamed)
	}
}

// TestPendingCopies: copies of a line that arrive while its first copy
// waits for its signature check are dropped unchecked if they are that
// copy byte for byte; a copy that differs (a forged signature) never
// stands for the genuine one, whichever comes first, and a peer that
// delivered a forgery is trusted to stand for nobody's copies after.
func TestPendingCopies(t *testing.T) {
	a := startNode(t, testConfig("alice"))
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	topic := openTopic(testRoom)
	line := func(seq uint64, text string) *pb.Message {
		return signedWith(t, key, topic, seq, message(t, "mallory", text))
	}
	forge := func(m *pb.Message) *pb.Message {
		f := proto.Clone(m).(*pb.Message)
		f.Signature[0] ^= 1
		return f
	}
	shown := func(text string) int { return a.count(isMessage(text)) }
	dropped := func() int {
		a.adm.pending.mu.Lock()
		defer a.adm.pending.mu.Unlock()
		return a.adm.pending.dropped
	}

	// Three copies in one RPC: the first waits, the other two are dropped.
	m := line(1, "three copies")
	inject(t, a, nil, m, proto.Clone(m).(*pb.Message), proto.Clone(m).(*pb.Message))
	a.wait(5*time.Second, "the line sent thrice", isMessage("three copies"))
	if n := dropped(); n != 2 {
		t.Errorf("%d copies dropped unchecked, want 2", n)
	}

	// A forged copy first, then the genuine one, and a forged copy behind
	// it, in one RPC (inspected before any is checked): the genuine one is
	// shown, once.
	g := line(2, "forged first")
	forger := newRawHost(t, nil)
	connectRaw(t, forger, a)
	injectRPCs(t, forger, a, [][]*pb.Message{{forge(g), g, forge(g)}})
	a.wait(5*time.Second, "the genuine line behind a forged copy", isMessage("forged first"))
	if n := shown("forged first"); n != 1 {
		t.Errorf("the line shown %d times, want 1", n)
	}

	// The forger is charged: its copies stand for none. Its exact copies
	// are checked each (and found duplicates), not dropped.
	before := dropped()
	h := line(3, "from the forger")
	injectRPCs(t, forger, a, [][]*pb.Message{{h, proto.Clone(h).(*pb.Message)}})
	a.wait(5*time.Second, "the forger's relay of a good line", isMessage("from the forger"))
	if n := dropped() - before; n != 0 {
		t.Errorf("%d copies of the forger's dropped unchecked, want 0", n)
	}
}
