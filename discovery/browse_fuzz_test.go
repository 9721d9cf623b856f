package discovery

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// FuzzPacket feeds arbitrary datagrams to what browse does with one
// received on the mDNS socket: unpack, collect the instances, parse each.
// Nothing may panic; every answer it returns was described by an SRV and
// a TXT record of the packet.
func FuzzPacket(f *testing.F) {
	const name = "12D3KooWExample._lanchat._tcp.local."
	m := new(dns.Msg)
	m.Response = true
	hdr := func(n string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: n, Rrtype: t, Class: dns.ClassINET, Ttl: 120}
	}
	m.Answer = []dns.RR{&dns.PTR{Hdr: hdr("_lanchat._tcp.local.", dns.TypePTR), Ptr: name}}
	m.Extra = []dns.RR{
		&dns.SRV{Hdr: hdr(name, dns.TypeSRV), Target: "host.local.", Port: 4001},
		&dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: []string{"v=2", "k=abcd"}},
		&dns.A{Hdr: hdr("host.local.", dns.TypeA), A: net.IPv4(10, 0, 0, 5)},
		&dns.AAAA{Hdr: hdr("host.local.", dns.TypeAAAA), AAAA: net.ParseIP("fe80::1")},
	}
	b, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	src := &net.UDPAddr{IP: net.ParseIP("fe80::2"), Port: 5353, Zone: "eth0"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m dns.Msg
		if err := m.Unpack(data); err != nil {
			return
		}
		answers := packetAnswers(&m, src)
		if len(answers) > len(m.Answer)+len(m.Extra) {
			t.Fatalf("%d answers from %d records", len(answers), len(m.Answer)+len(m.Extra))
		}
		for _, a := range answers {
			_, _ = parseAnswer(DefaultService, a)
		}
	})
}
