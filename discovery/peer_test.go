package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
)

const testID = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func okAnswer() answer {
	return answer{
		Name: testID + "._lanchat._tcp.local.",
		TXT:  []string{"id=" + testID, "v=1", "net=0123456789abcdef", "p6=4002"},
		V4:   netip.MustParseAddr("10.0.0.7"),
		V6:   netip.MustParseAddr("fd00::7"),
		Port: 4001,
	}
}

func TestParseTXT(t *testing.T) {
	for _, tc := range []struct {
		name string
		txt  []string
		want map[string]string
	}{
		{"empty", nil, map[string]string{}},
		{"pairs", []string{"id=x", "v=1"}, map[string]string{"id": "x", "v": "1"}},
		{"first key wins", []string{"id=a", "id=b"}, map[string]string{"id": "a"}},
		{"keys case-insensitive", []string{"ID=a", "id=b"}, map[string]string{"id": "a"}},
		{"value may hold =", []string{"net=a=b"}, map[string]string{"net": "a=b"}},
		{"empty value", []string{"v="}, map[string]string{"v": ""}},
		{"boolean and empty key ignored", []string{"flag", "=x", ""}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTXT(tc.txt)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseTXT(%q) = %v, %v; want %v", tc.txt, got, err, tc.want)
			}
		})
	}
	if _, err := parseTXT(make([]string, maxTXTFields+1)); !errors.Is(err, errMalformed) {
		t.Errorf("parseTXT(%d strings) error = %v, want errMalformed", maxTXTFields+1, err)
	}
}

func TestParseAnswer(t *testing.T) {
	with := func(f func(*answer)) answer { a := okAnswer(); f(&a); return a }
	full := Peer{ID: testID, Version: "1", Fingerprint: "0123456789abcdef",
		Addrs: []netip.AddrPort{ap("10.0.0.7:4001"), ap("[fd00::7]:4002")}}
	for _, tc := range []struct {
		name    string
		a       answer
		want    Peer
		wantErr error
	}{
		{"ok", okAnswer(), full, nil},
		{"service name case-insensitive", with(func(a *answer) { a.Name = testID + "._LanChat._TCP.Local." }), full, nil},
		{"v4 only without p6", with(func(a *answer) { a.TXT = a.TXT[:3] }),
			Peer{ID: testID, Version: "1", Fingerprint: "0123456789abcdef", Addrs: []netip.AddrPort{ap("10.0.0.7:4001")}}, nil},
		{"v6 only", with(func(a *answer) { a.V4 = netip.Addr{} }),
			Peer{ID: testID, Version: "1", Fingerprint: "0123456789abcdef", Addrs: []netip.AddrPort{ap("[fd00::7]:4002")}}, nil},
		{"zoned link-local v6 kept", with(func(a *answer) { a.V4 = netip.Addr{}; a.V6 = netip.MustParseAddr("fe80::7%eth0") }),
			Peer{ID: testID, Version: "1", Fingerprint: "0123456789abcdef", Addrs: []netip.AddrPort{ap("[fe80::7%eth0]:4002")}}, nil},
		{"unknown fields ignored", with(func(a *answer) { a.TXT = append(a.TXT, "future=1", "x") }), full, nil},

		{"other service", with(func(a *answer) { a.Name = "printer._ipp._tcp.local." }), Peer{}, errOtherService},
		{"other domain", with(func(a *answer) { a.Name = testID + "._lanchat._tcp.example." }), Peer{}, errOtherService},
		{"bare service name", with(func(a *answer) { a.Name = "._lanchat._tcp.local." }), Peer{}, errOtherService},
		{"id differs from instance", with(func(a *answer) { a.TXT[0] = "id=someoneelse" }), Peer{}, errMalformed},
		{"missing id", with(func(a *answer) { a.TXT = a.TXT[1:] }), Peer{}, errMalformed},
		{"instance with dots", with(func(a *answer) { a.Name = "a.b._lanchat._tcp.local."; a.TXT[0] = "id=a.b" }), Peer{}, errMalformed},
		{"id too long", with(func(a *answer) {
			id := strings.Repeat("a", 64)
			a.Name = id + "._lanchat._tcp.local."
			a.TXT[0] = "id=" + id
		}), Peer{}, errMalformed},
		{"missing fingerprint", with(func(a *answer) { a.TXT[2] = "nett=x" }), Peer{}, errMalformed},
		{"fingerprint with control byte", with(func(a *answer) { a.TXT[2] = "net=ab\x1b[2J" }), Peer{}, errMalformed},
		{"fingerprint with space", with(func(a *answer) { a.TXT[2] = "net=a b" }), Peer{}, errMalformed},
		{"fingerprint too long", with(func(a *answer) { a.TXT[2] = "net=" + strings.Repeat("f", 65) }), Peer{}, errMalformed},
		{"missing version", with(func(a *answer) { a.TXT[1] = "w=1" }), Peer{}, errMalformed},
		{"p6 zero", with(func(a *answer) { a.TXT[3] = "p6=0" }), Peer{}, errMalformed},
		{"p6 too big", with(func(a *answer) { a.TXT[3] = "p6=65536" }), Peer{}, errMalformed},
		{"p6 with sign", with(func(a *answer) { a.TXT[3] = "p6=+4002" }), Peer{}, errMalformed},
		{"p6 leading zero", with(func(a *answer) { a.TXT[3] = "p6=04002" }), Peer{}, errMalformed},
		{"port zero", with(func(a *answer) { a.Port = 0 }), Peer{}, errMalformed},
		{"port too big", with(func(a *answer) { a.Port = 70000 }), Peer{}, errMalformed},
		{"loopback only", with(func(a *answer) {
			a.V4 = netip.MustParseAddr("127.0.0.1")
			a.V6 = netip.MustParseAddr("::1")
		}), Peer{}, errNoAddress},
		{"unspecified and multicast", with(func(a *answer) {
			a.V4 = netip.MustParseAddr("0.0.0.0")
			a.V6 = netip.MustParseAddr("ff02::fb")
		}), Peer{}, errNoAddress},
		{"broadcast", with(func(a *answer) { a.V4 = netip.MustParseAddr("255.255.255.255"); a.TXT = a.TXT[:3] }), Peer{}, errNoAddress},
		{"link-local v6 without zone", with(func(a *answer) { a.V4 = netip.Addr{}; a.V6 = netip.MustParseAddr("fe80::7") }), Peer{}, errNoAddress},
		{"v4-mapped in AAAA", with(func(a *answer) { a.V4 = netip.Addr{}; a.V6 = netip.MustParseAddr("::ffff:10.0.0.7") }), Peer{}, errNoAddress},
		{"no address", with(func(a *answer) { a.V4, a.V6 = netip.Addr{}, netip.Addr{} }), Peer{}, errNoAddress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAnswer(DefaultService, tc.a)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("parseAnswer(%+v) error = %v, want %v", tc.a, err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseAnswer(%+v) = %+v, want %+v", tc.a, got, tc.want)
			}
		})
	}
}

// response packs the records a hashicorp/mdns responder for (id, port,
// ips) sends for the PTR query of the service, and unpacks them as the
// browser does.
func response(t *testing.T, id string, port int, ips []net.IP, txt []string) *dns.Msg {
	t.Helper()
	zone, err := mdns.NewMDNSService(id, DefaultService, "local.", id+".local.", port, ips, txt)
	if err != nil {
		t.Fatal(err)
	}
	m := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true},
		Answer: zone.Records(dns.Question{Name: DefaultService + ".local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET})}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var out dns.Msg
	if err := out.Unpack(b); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestPacketAnswers: each response packet is read on its own, so a forged
// answer for a peer ID sits beside the real one instead of overwriting it
// (hashicorp/mdns's client merges them by name, the last record winning).
func TestPacketAnswers(t *testing.T) {
	txt := []string{"id=" + testID, "v=2", "net=open", "p6=4002"}
	real := response(t, testID, 4001, []net.IP{net.ParseIP("10.0.0.2"), net.ParseIP("fe80::2")}, txt)
	forged := response(t, testID, 9, []net.IP{net.ParseIP("10.0.0.66")}, txt)
	src := &net.UDPAddr{IP: net.ParseIP("fe80::9"), Port: 5353, Zone: "eth0"}
	var got []Peer
	for _, m := range []*dns.Msg{forged, real, forged} {
		for _, a := range packetAnswers(m, src) {
			p, err := parseAnswer(DefaultService, a)
			if err != nil {
				t.Fatalf("parseAnswer(%+v) = %v", a, err)
			}
			got = append(got, p)
		}
	}
	want := []Peer{
		{ID: testID, Version: "2", Fingerprint: "open", Addrs: []netip.AddrPort{ap("10.0.0.66:9")}},
		{ID: testID, Version: "2", Fingerprint: "open", Addrs: []netip.AddrPort{ap("10.0.0.2:4001"), ap("[fe80::2%eth0]:4002")}},
		{ID: testID, Version: "2", Fingerprint: "open", Addrs: []netip.AddrPort{ap("10.0.0.66:9")}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("peers of three packets = %+v, want %+v", got, want)
	}

	// Two instances in one packet, host names matched case-insensitively;
	// an instance without TXT is not an answer.
	two := response(t, "a", 1, []net.IP{net.ParseIP("10.0.0.1")}, []string{"id=a"})
	b := response(t, "b", 2, []net.IP{net.ParseIP("10.0.0.3")}, []string{"id=b"})
	two.Answer = append(two.Answer, b.Answer...)
	for _, rr := range two.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.Equal(net.ParseIP("10.0.0.3")) {
			a.Hdr.Name = "B.LOCAL."
		}
	}
	c := response(t, "c", 3, []net.IP{net.ParseIP("10.0.0.4")}, nil)
	for _, rr := range c.Answer {
		if _, ok := rr.(*dns.TXT); !ok {
			two.Answer = append(two.Answer, rr)
		}
	}
	ans := packetAnswers(two, nil)
	wantAns := []answer{
		{Name: "a." + DefaultService + ".local.", TXT: []string{"id=a"}, Port: 1, V4: netip.MustParseAddr("10.0.0.1")},
		{Name: "b." + DefaultService + ".local.", TXT: []string{"id=b"}, Port: 2, V4: netip.MustParseAddr("10.0.0.3")},
	}
	if !reflect.DeepEqual(ans, wantAns) {
		t.Errorf("packetAnswers = %+v, want %+v", ans, wantAns)
	}
}

// TestTXTRecordsExactBytes pins what we advertise.
func TestTXTRecordsExactBytes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Instance, cfg.Port, cfg.Fingerprint = "abc", 4001, "0123456789abcdef"
	want := []string{"id=abc", "v=1", "net=0123456789abcdef"}
	if got := txtRecords(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("txtRecords = %q, want %q", got, want)
	}
	cfg.Port6 = 4002
	want = append(want, "p6=4002")
	if got := txtRecords(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("txtRecords with Port6 = %q, want %q", got, want)
	}
}

// recorder is a Handler that records calls.
type recorder struct {
	found   []Peer
	foreign []int
}

func (r *recorder) Found(p Peer)      { r.found = append(r.found, p) }
func (r *recorder) Foreign(count int) { r.foreign = append(r.foreign, count) }

func TestHandleFilters(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Instance, cfg.Port, cfg.Fingerprint = "self", 4001, "mine"
	peerAnswer := func(id, fp string) answer {
		return answer{
			Name: id + "._lanchat._tcp.local.",
			TXT:  []string{"id=" + id, "v=1", "net=" + fp},
			V4:   netip.MustParseAddr("10.0.0.9"),
			Port: 4001,
		}
	}
	rec := &recorder{}
	r := &runner{s: &Service{cfg: cfg, log: slog.New(slog.DiscardHandler)}, h: rec, foreign: map[string]struct{}{}}
	rounds := [][]answer{
		{
			peerAnswer("self", "mine"),      // ourselves: skipped
			peerAnswer("friend", "mine"),    // Found
			peerAnswer("friend", "mine"),    // Found again (every sighting)
			peerAnswer("stranger", "other"), // counted
			peerAnswer("stranger", "other"), // same stranger: not counted again
			{Name: "printer._ipp._tcp.local.", TXT: []string{"id=printer"}, Port: 631}, // other service
			peerAnswer("bad id", "mine"), // malformed
		},
		{peerAnswer("alien", "third"), peerAnswer("ufo", "fourth"), peerAnswer("stranger", "other")},
		{peerAnswer("alien", "third")}, // nobody new: no Foreign call
	}
	for _, round := range rounds {
		for _, a := range round {
			r.handle(a)
		}
		r.reportForeign()
	}
	if len(rec.found) != 2 || rec.found[0].ID != "friend" || rec.found[1].ID != "friend" {
		t.Errorf("Found calls = %+v, want friend twice", rec.found)
	}
	if !reflect.DeepEqual(rec.foreign, []int{1, 3}) {
		t.Errorf("Foreign calls = %v, want [1 3] (once per round that grew the count)", rec.foreign)
	}
}

// TestQuietFirst: the answers of a source that gave many in one query
// (a flood of made-up instances) come after those of quiet sources,
// each group in arrival order.
func TestQuietFirst(t *testing.T) {
	flood, real, other := netip.MustParseAddr("10.0.0.66"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::3")
	var in []answer
	for i := range 5 {
		in = append(in, answer{Name: fmt.Sprint("fake", i), Src: flood})
	}
	in = append(in, answer{Name: "real", Src: real}, answer{Name: "fake5", Src: flood},
		answer{Name: "other", Src: other}, answer{Name: "other2", Src: other})
	var got []string
	for _, a := range quietFirst(in) {
		got = append(got, a.Name)
	}
	want := []string{"real", "other", "other2", "fake0", "fake1", "fake2", "fake3", "fake4", "fake5"}
	if !slices.Equal(got, want) {
		t.Errorf("quietFirst order = %q, want %q", got, want)
	}
	if in[0].Name != "fake0" {
		t.Errorf("quietFirst changed its input")
	}
}

func FuzzParseAnswer(f *testing.F) {
	seed := func(a answer) {
		v6, zone := []byte(nil), a.V6.Zone()
		if a.V6.IsValid() {
			s := a.V6.As16()
			v6 = s[:]
		}
		var v4 []byte
		if a.V4.IsValid() {
			s := a.V4.As4()
			v4 = s[:]
		}
		f.Add(a.Name, strings.Join(a.TXT, "\n"), v4, v6, zone, a.Port)
	}
	seed(okAnswer())
	a := okAnswer()
	a.V6 = netip.MustParseAddr("fe80::1%eth0")
	seed(a)
	a.TXT = []string{"ID=" + testID, "id=x", "v=", "net=\xff"}
	seed(a)
	seed(answer{Name: "._lanchat._tcp.local.", Port: 1})

	f.Fuzz(func(t *testing.T, name, txt string, v4, v6 []byte, zone string, port int) {
		in := answer{Name: name, TXT: strings.Split(txt, "\n"), Port: port}
		if ip, ok := netip.AddrFromSlice(v4); ok {
			in.V4 = ip
		}
		if ip, ok := netip.AddrFromSlice(v6); ok {
			in.V6 = ip.WithZone(zone)
		}
		p, err := parseAnswer(DefaultService, in)
		if err != nil {
			if p.ID != "" || p.Addrs != nil {
				t.Fatalf("parseAnswer returned %+v with error %v", p, err)
			}
			return
		}
		if checkID(p.ID) != nil || checkToken("", p.Fingerprint, maxFingerprintLen) != nil ||
			checkToken("", p.Version, maxVersionLen) != nil || len(p.Addrs) == 0 || len(p.Addrs) > 2 {
			t.Fatalf("parseAnswer accepted invalid peer %+v", p)
		}
		// Round trip: advertising p gives an answer that parses to p.
		cfg := Config{Instance: p.ID, Version: p.Version, Fingerprint: p.Fingerprint}
		back := answer{Name: p.ID + "." + DefaultService + ".local."}
		for _, a := range p.Addrs {
			if !usable(a.Addr()) || a.Port() == 0 {
				t.Fatalf("parseAnswer accepted unusable address %v", a)
			}
			if a.Addr().Is4() {
				back.V4, back.Port = a.Addr(), int(a.Port())
			} else {
				back.V6, cfg.Port6 = a.Addr(), int(a.Port())
			}
		}
		if back.Port == 0 {
			back.Port = in.Port
		}
		back.TXT = txtRecords(cfg)
		again, err := parseAnswer(DefaultService, back)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip of %+v = %+v, %v", p, again, err)
		}
	})
}
