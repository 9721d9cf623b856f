package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func dm(peer string, n int, out bool, sent time.Time) DM {
	from := peer
	if out {
		from = "self"
	}
	return DM{ID: fmt.Sprintf("%s/%032x", from, n), Peer: peer, Out: out, Nick: "nick-" + peer,
		Sent: sent, Stored: sent.Add(time.Millisecond), Raw: []byte(fmt.Sprintf("signed %d", n))}
}

func dmIDs(ds []DM) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func sameDM(a, b DM) bool {
	return a.ID == b.ID && a.Peer == b.Peer && a.Out == b.Out && a.Nick == b.Nick && a.Sent.Equal(b.Sent) &&
		a.Stored.Equal(b.Stored) && a.Delivered == b.Delivered && bytes.Equal(a.Raw, b.Raw)
}

// TestDMOnce checks that a message is kept once whoever adds it how often,
// also after the file is opened again.
func TestDMOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, Config{Path: path})
	in := dm("bob", 1, false, t0)
	for i, want := range []bool{true, false} {
		if added, err := s.AddDM(in); err != nil || added != want {
			t.Fatalf("AddDM #%d = %v, %v, want %v", i+1, added, err, want)
		}
	}
	s.Close()
	s = open(t, Config{Path: path})
	if added, err := s.AddDM(in); err != nil || added {
		t.Errorf("AddDM after reopening = %v, %v, want not added", added, err)
	}
	if ok, err := s.HasDM(in.ID); err != nil || !ok {
		t.Errorf("HasDM = %v, %v, want true", ok, err)
	}
	if got, ok, err := s.GetDM(in.ID); err != nil || !ok || !sameDM(got, in) {
		t.Errorf("GetDM = %+v, %v, %v, want %+v", got, ok, err, in)
	}
	if _, ok, err := s.GetDM("bob/other"); err != nil || ok {
		t.Errorf("GetDM(unknown) = %v, %v, want none", ok, err)
	}
	if ok, err := s.HasDM("bob/other"); err != nil || ok {
		t.Errorf("HasDM(unknown) = %v, %v, want false", ok, err)
	}
	if q, err := s.QueuedDMs(""); err != nil || len(q) != 0 {
		t.Errorf("QueuedDMs = %v, %v: a received message is never queued", dmIDs(q), err)
	}
}

// TestDMQueue checks the outbox: ours are queued until delivered, each
// delivered once, listed per peer in order, and counted.
func TestDMQueue(t *testing.T) {
	s := open(t, Config{})
	b2 := dm("bob", 2, true, t0.Add(2*time.Second))
	b1 := dm("bob", 1, true, t0.Add(time.Second))
	c3 := dm("carol", 3, true, t0)
	done := dm("bob", 4, true, t0)
	done.Delivered = true
	for _, d := range []DM{b2, b1, c3, done, dm("bob", 5, false, t0)} {
		if _, err := s.AddDM(d); err != nil {
			t.Fatal(err)
		}
	}
	if q, err := s.QueuedDMs("bob"); err != nil || !slices.Equal(dmIDs(q), dmIDs([]DM{b1, b2})) || !sameDM(q[0], b1) {
		t.Errorf("QueuedDMs(bob) = %v, %v, want %v in that order", dmIDs(q), err, dmIDs([]DM{b1, b2}))
	}
	if q, err := s.QueuedDMs(""); err != nil || !slices.Equal(dmIDs(q), dmIDs([]DM{c3, b1, b2})) {
		t.Errorf("QueuedDMs() = %v, %v, want %v", dmIDs(q), err, dmIDs([]DM{c3, b1, b2}))
	}
	if n, total, err := s.QueuedDMCount("bob"); err != nil || n != 2 || total != 3 {
		t.Errorf("QueuedDMCount(bob) = %d, %d, %v, want 2, 3", n, total, err)
	}
	if n, _, err := s.QueuedDMCount("bo"); err != nil || n != 0 {
		t.Errorf("QueuedDMCount(bo) = %d, %v: a prefix of a peer ID is another peer", n, err)
	}
	changed, got, err := s.DeliveredDM("bob", b1.ID)
	want := b1
	want.Delivered = true
	if err != nil || !changed || !sameDM(got, want) {
		t.Errorf("DeliveredDM = %v, %+v, %v, want changed and the message", changed, got, err)
	}
	for _, tt := range []struct{ peer, id string }{{"bob", b1.ID}, {"carol", b2.ID}, {"bob", "nobody/1"}} {
		if changed, _, err := s.DeliveredDM(tt.peer, tt.id); err != nil || changed {
			t.Errorf("DeliveredDM(%s, %s) again or of another = %v, %v, want unchanged", tt.peer, tt.id, changed, err)
		}
	}
	if q, err := s.QueuedDMs("bob"); err != nil || !slices.Equal(dmIDs(q), []string{b2.ID}) {
		t.Errorf("QueuedDMs(bob) after delivery = %v, %v", dmIDs(q), err)
	}
	if dropped, err := s.DropDM("bob", b2.ID); err != nil || !dropped {
		t.Errorf("DropDM = %v, %v", dropped, err)
	}
	if ok, _ := s.HasDM(b2.ID); ok {
		t.Error("a dropped message is still stored")
	}
	if n, total, err := s.QueuedDMCount("bob"); err != nil || n != 0 || total != 1 {
		t.Errorf("QueuedDMCount(bob) at the end = %d, %d, %v, want 0, 1", n, total, err)
	}
}

func TestDMInvalid(t *testing.T) {
	good := dm("bob", 1, true, t0)
	for name, f := range map[string]func(*DM){
		"no id":       func(d *DM) { d.ID = "" },
		"no peer":     func(d *DM) { d.Peer = "" },
		"NUL in peer": func(d *DM) { d.Peer = "b\x00b" },
		"long nick":   func(d *DM) { d.Nick = string(make([]byte, MaxNickLen+1)) },
		"zero stored": func(d *DM) { d.Stored = time.Time{} },
	} {
		d := good
		f(&d)
		if _, err := open(t, Config{}).AddDM(d); !errors.Is(err, ErrInvalidDM) {
			t.Errorf("%s: AddDM = %v, want ErrInvalidDM", name, err)
		}
	}
}

// TestPruneDMs checks the bounds: queued messages older than the queue's
// age expire (and are returned), others go by age and then count, and
// queued ones never go for the count.
func TestPruneDMs(t *testing.T) {
	s := open(t, Config{})
	now := t0.Add(100 * 24 * time.Hour)
	stale := dm("bob", 1, true, now.Add(-8*24*time.Hour))
	fresh := dm("bob", 2, true, now.Add(-time.Hour))
	old := dm("carol", 3, false, now.Add(-40*24*time.Hour))
	var recent []DM
	for i := range 5 {
		recent = append(recent, dm("carol", 10+i, false, now.Add(-time.Duration(5-i)*time.Minute)))
	}
	for _, d := range append([]DM{stale, fresh, old}, recent...) {
		if _, err := s.AddDM(d); err != nil {
			t.Fatal(err)
		}
	}
	expired, removed, err := s.PruneDMs(now, 30*24*time.Hour, 7*24*time.Hour, 3)
	if err != nil || !slices.Equal(dmIDs(expired), []string{stale.ID}) || removed != 3 {
		t.Fatalf("PruneDMs = %v, %d, %v, want %s expired and 3 removed (the old one, then 2 beyond 3)", dmIDs(expired), removed, err, stale.ID)
	}
	for _, d := range append([]DM{fresh}, recent[2:]...) {
		if ok, _ := s.HasDM(d.ID); !ok {
			t.Errorf("%s was dropped", d.ID)
		}
	}
	for _, d := range append([]DM{stale, old}, recent[:2]...) {
		if ok, _ := s.HasDM(d.ID); ok {
			t.Errorf("%s was kept", d.ID)
		}
	}
	if q, _ := s.QueuedDMs(""); !slices.Equal(dmIDs(q), []string{fresh.ID}) {
		t.Errorf("QueuedDMs after prune = %v, want %s", dmIDs(q), fresh.ID)
	}
}

// TestDMDamagedSkipped checks that a value that does not decode is
// skipped, not a panic.
func TestDMDamagedSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, Config{Path: path})
	a, b := dm("bob", 1, true, t0), dm("bob", 2, true, t0.Add(time.Second))
	for _, d := range []DM{a, b} {
		if _, err := s.AddDM(d); err != nil {
			t.Fatal(err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDMs).Bucket(bucketLog).Put(lineKey(a.Stored, a.ID), []byte{1, 9, 9})
	})
	if err != nil {
		t.Fatal(err)
	}
	if q, err := s.QueuedDMs("bob"); err != nil || !slices.Equal(dmIDs(q), []string{b.ID}) {
		t.Errorf("QueuedDMs = %v, %v, want only the undamaged %s", dmIDs(q), err, b.ID)
	}
}

func TestDMRecordRoundTrip(t *testing.T) {
	d := dm("bob", 7, true, t0)
	d.Delivered = true
	got, err := decodeDM(encodeDM(d))
	if err != nil || !sameDM(got, d) {
		t.Fatalf("decodeDM(encodeDM(%+v)) = %+v, %v", d, got, err)
	}
	enc := encodeDM(d)
	for _, bad := range [][]byte{enc[:len(enc)-1], append(enc, 0), {2}, append([]byte{1, 4}, enc[2:]...)} {
		if _, err := decodeDM(bad); !errors.Is(err, errRecord) {
			t.Errorf("decodeDM(%x) = %v, want errRecord", bad, err)
		}
	}
}

// TestRecentDMs: the newest messages with every peer, oldest first, also
// after reopening.
func TestRecentDMs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, Config{Path: path})
	if got, err := s.RecentDMs(10); err != nil || len(got) != 0 {
		t.Fatalf("RecentDMs of an empty store = %v, %v", dmIDs(got), err)
	}
	var want []string
	for i := range 5 {
		d := dm([]string{"bob", "carol"}[i%2], i, i%3 == 0, t0.Add(time.Duration(i)*time.Second))
		if _, err := s.AddDM(d); err != nil {
			t.Fatal(err)
		}
		want = append(want, d.ID)
	}
	s.Close()
	s = open(t, Config{Path: path})
	if got, err := s.RecentDMs(3); err != nil || !slices.Equal(dmIDs(got), want[2:]) {
		t.Errorf("RecentDMs(3) = %v, %v, want %v", dmIDs(got), err, want[2:])
	}
	if got, err := s.RecentDMs(10); err != nil || !slices.Equal(dmIDs(got), want) {
		t.Errorf("RecentDMs(10) = %v, %v, want %v", dmIDs(got), err, want)
	}
}
