package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// responder answers mDNS queries that arrive on one interface with the
// records of its zone (a hashicorp/mdns service holding that interface's
// addresses), by unicast to the asker, as hashicorp/mdns's Server does.
//
// It is not hashicorp/mdns's Server because that one cannot keep to one
// interface: its sockets are bound to the wildcard address with
// SO_REUSEADDR, and Linux hands a multicast datagram to every such socket
// of the group (IP_MULTICAST_ALL) whatever interface it arrived on. With
// one Server per interface, a query from LAN B would be answered by the
// Server of LAN A too, with LAN A's addresses: the machine would tell
// each LAN of the other. Here each datagram's arrival interface is read
// (IP_PKTINFO / IPV6_RECVPKTINFO) and only the responder of that
// interface answers, with that interface's addresses, out of that
// interface (TestTwoLANs fails without both); on Linux
// IP_MULTICAST_ALL is also turned off, so that the other responders are
// not even woken.
type responder struct {
	ifi  *net.Interface
	zone mdns.Zone
	log  *slog.Logger
	c4   *ipv4.PacketConn // nil when IPv4 could not be joined
	c6   *ipv6.PacketConn // nil when IPv6 could not be joined
	wg   sync.WaitGroup
}

// startResponder joins the mDNS groups on ifi and answers from zone until
// Close. Like hashicorp/mdns, it fails only when neither IPv4 nor IPv6
// works.
func startResponder(ifi *net.Interface, zone mdns.Zone, log *slog.Logger) (*responder, error) {
	r := &responder{ifi: ifi, zone: zone, log: log}
	var err4, err6 error
	r.c4, err4 = listen4(ifi)
	r.c6, err6 = listen6(ifi)
	if r.c4 == nil && r.c6 == nil {
		return nil, fmt.Errorf("no multicast listener on %s: %w; %w", ifi.Name, err4, err6)
	}
	if r.c4 != nil {
		r.wg.Go(r.serve4)
	}
	if r.c6 != nil {
		r.wg.Go(r.serve6)
	}
	return r, nil
}

func listen4(ifi *net.Interface) (*ipv4.PacketConn, error) {
	// A multicast listen address makes net bind the wildcard address with
	// SO_REUSEADDR, beside other responders of this machine.
	c, err := net.ListenPacket("udp4", "224.0.0.251:5353")
	if err != nil {
		return nil, err
	}
	p := ipv4.NewPacketConn(c)
	if err := p.JoinGroup(ifi, mdnsGroup4); err != nil {
		c.Close()
		return nil, fmt.Errorf("join %v: %w", mdnsGroup4.IP, err)
	}
	if err := p.SetControlMessage(ipv4.FlagInterface, true); err != nil {
		c.Close()
		return nil, err
	}
	onlyJoined(c, false)
	return p, nil
}

func listen6(ifi *net.Interface) (*ipv6.PacketConn, error) {
	c, err := net.ListenPacket("udp6", "[ff02::fb]:5353")
	if err != nil {
		return nil, err
	}
	p := ipv6.NewPacketConn(c)
	if err := p.JoinGroup(ifi, &net.UDPAddr{IP: mdnsGroup6.AsSlice()}); err != nil {
		c.Close()
		return nil, fmt.Errorf("join %v: %w", mdnsGroup6, err)
	}
	if err := p.SetControlMessage(ipv6.FlagInterface, true); err != nil {
		c.Close()
		return nil, err
	}
	onlyJoined(c, true)
	return p, nil
}

// Close stops answering and waits for the readers.
func (r *responder) Close() {
	if r.c4 != nil {
		r.c4.Close()
	}
	if r.c6 != nil {
		r.c6.Close()
	}
	r.wg.Wait()
}

func (r *responder) serve4() {
	buf := make([]byte, maxPacket)
	for {
		n, cm, src, err := r.c4.ReadFrom(buf)
		if err != nil {
			if isClosed(err) {
				return
			}
			continue
		}
		if cm == nil || cm.IfIndex != r.ifi.Index {
			continue // another interface's query: its responder answers
		}
		for _, resp := range r.answer(buf[:n]) {
			if _, err := r.c4.WriteTo(resp, &ipv4.ControlMessage{IfIndex: r.ifi.Index}, src); err != nil {
				r.log.Debug("mdns answer not sent", "iface", r.ifi.Name, "to", src, "err", err)
			}
		}
	}
}

func (r *responder) serve6() {
	buf := make([]byte, maxPacket)
	for {
		n, cm, src, err := r.c6.ReadFrom(buf)
		if err != nil {
			if isClosed(err) {
				return
			}
			continue
		}
		if cm == nil || cm.IfIndex != r.ifi.Index {
			continue
		}
		for _, resp := range r.answer(buf[:n]) {
			if _, err := r.c6.WriteTo(resp, &ipv6.ControlMessage{IfIndex: r.ifi.Index}, src); err != nil {
				r.log.Debug("mdns answer not sent", "iface", r.ifi.Name, "to", src, "err", err)
			}
		}
	}
}

// answer returns the packed responses to the query in packet, none when
// there is nothing to answer. It follows hashicorp/mdns's Server (RFC 6762
// §18): only standard, untruncated queries are answered, always by
// unicast to the asker; the records asked for with the QU bit go in a
// response of their own that carries the query's ID, the others in one
// with ID 0.
func (r *responder) answer(packet []byte) [][]byte {
	var q dns.Msg
	if err := q.Unpack(packet); err != nil || q.Response || q.Opcode != dns.OpcodeQuery || q.Rcode != 0 || q.Truncated {
		return nil
	}
	var multi, uni []dns.RR
	for _, question := range q.Question {
		recs := r.zone.Records(question)
		if question.Qclass&(1<<15) != 0 {
			uni = append(uni, recs...)
		} else {
			multi = append(multi, recs...)
		}
	}
	var out [][]byte
	for _, a := range []struct {
		id  uint16
		rrs []dns.RR
	}{{0, multi}, {q.Id, uni}} {
		if len(a.rrs) == 0 {
			continue
		}
		m := &dns.Msg{
			MsgHdr:   dns.MsgHdr{Id: a.id, Response: true, Opcode: dns.OpcodeQuery, Authoritative: true},
			Compress: true,
			Answer:   a.rrs,
		}
		b, err := m.Pack()
		if err != nil {
			r.log.Debug("mdns answer not packed", "iface", r.ifi.Name, "err", err)
			continue
		}
		out = append(out, b)
	}
	return out
}

// isClosed reports whether err is the error of a closed socket.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
