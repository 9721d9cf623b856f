package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// The browser sends its own queries rather than hashicorp/mdns's
// QueryContext: that one merges every response about one instance name
// into a single entry, later records overwriting earlier ones, and hands
// it out once. Anyone on the LAN can answer for any instance name, so
// whoever answered last for a peer ID decided the address reported for it
// — an attacker without the key could hide a peer behind a dead address
// in every round. Here each response packet is read on its own, and
// every answer in it is reported as it came: the caller sees the real
// peer's answer beside the forged one and can try both.

// mDNS group addresses.
var (
	mdnsGroup4 = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
	mdnsGroup6 = netip.MustParseAddr("ff02::fb")
)

// Bounds of one query.
const (
	// maxPacket is the largest response read; mDNS packets over UDP are
	// at most 9000 bytes (RFC 6762 §17).
	maxPacket = 9000
	// packetQueue is how many packets wait for the query loop; more are
	// dropped (an answer is repeated next round).
	packetQueue = 256
	// maxSourceAnswers bounds the answers kept from one source address in
	// one query. A lanchat node gives one (a few if several run on one
	// machine); without this bound one responder could fill the query's
	// answers with made-up instances and crowd the real peers out.
	maxSourceAnswers = 64
)

// packet is one UDP datagram received by the browser.
type packet struct {
	data []byte
	src  *net.UDPAddr
}

// errQueryV6 wraps a failure to send the IPv6 query: the IPv4 query went
// out and its answers are returned.
var errQueryV6 = errors.New("discovery: IPv6 query not sent")

// browse sends one DNS-SD PTR query for service in the local domain on
// ifi, over IPv4 when v4 and IPv6 when v6, and returns the answers that
// arrive within timeout (or until ctx is done), at most maxAnswers, and at
// most maxSourceAnswers from one source address: one per instance per
// response packet, in arrival order. It fails when no query can be sent;
// when the IPv4 one went out and only the IPv6 one could not, it returns
// the answers with an error wrapping errQueryV6. It leaves no goroutine
// behind.
func browse(ctx context.Context, service string, ifi *net.Interface, v4, v6 bool, timeout time.Duration, maxAnswers int, log *slog.Logger) ([]answer, error) {
	q := new(dns.Msg)
	q.SetQuestion(strings.Trim(service, ".")+".local.", dns.TypePTR)
	q.RecursionDesired = false
	query, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("discovery: pack query: %w", err)
	}

	var conns []*net.UDPConn
	var c4, c6 *net.UDPConn
	if v4 {
		c4, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
		if err != nil {
			return nil, fmt.Errorf("discovery: open IPv4 query socket: %w", err)
		}
		if ifi != nil {
			if err := ipv4.NewPacketConn(c4).SetMulticastInterface(ifi); err != nil {
				c4.Close()
				return nil, fmt.Errorf("discovery: query on %s: %w", ifi.Name, err)
			}
		}
		conns = append(conns, c4)
	}
	var err6 error
	if v6 {
		c6, err6 = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified})
		if err6 == nil && ifi != nil {
			if err6 = ipv6.NewPacketConn(c6).SetMulticastInterface(ifi); err6 != nil {
				c6.Close()
			}
		}
		if err6 != nil {
			c6 = nil
		} else {
			conns = append(conns, c6)
		}
	}
	if len(conns) == 0 {
		if err6 == nil {
			err6 = errors.New("no address family to query")
		}
		return nil, fmt.Errorf("discovery: send query: %w", err6)
	}

	packets := make(chan packet, packetQueue)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { readPackets(c, packets) })
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()

	if c4 != nil {
		if _, err := c4.WriteToUDP(query, mdnsGroup4); err != nil {
			return nil, fmt.Errorf("discovery: send query: %w", err)
		}
	}
	if c6 != nil {
		zone := ""
		if ifi != nil {
			zone = ifi.Name
		}
		_, err6 = c6.WriteToUDP(query, &net.UDPAddr{IP: mdnsGroup6.AsSlice(), Port: 5353, Zone: zone})
	}
	if c4 == nil && err6 != nil {
		return nil, fmt.Errorf("discovery: send query: %w", err6)
	}

	var out []answer
	dropped, crowded := 0, 0
	perSource := map[netip.Addr]int{}
	var crowders []netip.Addr // sources of the answers dropped by maxSourceAnswers, a few
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return out, v6Failed(err6)
		case <-timer.C:
			if crowded > 0 {
				log.Warn("mdns answers dropped: too many from one address", "dropped", crowded, "from", crowders)
			}
			if dropped > 0 {
				log.Warn("mdns answers dropped: too many in one query", "dropped", dropped, "kept", len(out))
			}
			return out, v6Failed(err6)
		case p := <-packets:
			var m dns.Msg
			if err := m.Unpack(p.data); err != nil || !m.Response || m.Opcode != dns.OpcodeQuery || m.Rcode != 0 {
				continue
			}
			src, _ := netip.AddrFromSlice(p.src.IP)
			src = src.Unmap()
			for _, a := range packetAnswers(&m, p.src) {
				switch {
				case perSource[src] >= maxSourceAnswers:
					crowded++
					if len(crowders) < 4 && !slices.Contains(crowders, src) {
						crowders = append(crowders, src)
					}
				case len(out) >= maxAnswers:
					dropped++
				default:
					perSource[src]++
					a.Src = src
					out = append(out, a)
				}
			}
		}
	}
}

// v6Failed wraps a failure of the IPv6 query, if any, in errQueryV6.
func v6Failed(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", errQueryV6, err)
}

// readPackets sends each datagram received on c to out, dropping it when
// out is full, until c is closed or fails.
func readPackets(c *net.UDPConn, out chan<- packet) {
	buf := make([]byte, maxPacket)
	for {
		n, src, err := c.ReadFromUDP(buf)
		if err != nil {
			return // closed, or broken: the query goes on with the other socket
		}
		select {
		case out <- packet{data: append([]byte(nil), buf[:n]...), src: src}:
		default:
		}
	}
}

// packetAnswers returns the service instances that one response packet
// describes completely (SRV and TXT; addresses from the A and AAAA
// records of the SRV target in the same packet), in the order of their
// first record. Like hashicorp/mdns, it keeps the last A and the last
// AAAA record of a host name (see advertisedIPs) and takes the zone of a
// link-local IPv6 address from the packet's source.
func packetAnswers(m *dns.Msg, src *net.UDPAddr) []answer {
	type instance struct {
		name         string
		target       string
		port         int
		txt          []string
		srv, haveTXT bool
	}
	var order []*instance
	byName := map[string]*instance{}
	get := func(name string) *instance {
		k := strings.ToLower(name)
		if i := byName[k]; i != nil {
			return i
		}
		i := &instance{name: name}
		byName[k] = i
		order = append(order, i)
		return i
	}
	v4 := map[string]netip.Addr{}
	v6 := map[string]netip.Addr{}
	zone := ""
	if src != nil {
		zone = src.Zone
	}
	for _, rr := range append(m.Answer, m.Extra...) {
		switch rr := rr.(type) {
		case *dns.PTR:
			get(rr.Ptr)
		case *dns.SRV:
			i := get(rr.Hdr.Name)
			i.target, i.port, i.srv = rr.Target, int(rr.Port), true
		case *dns.TXT:
			i := get(rr.Hdr.Name)
			i.txt, i.haveTXT = append([]string(nil), rr.Txt...), true
		case *dns.A:
			if ip, ok := netip.AddrFromSlice(rr.A); ok {
				v4[strings.ToLower(rr.Hdr.Name)] = ip.Unmap()
			}
		case *dns.AAAA:
			if ip, ok := netip.AddrFromSlice(rr.AAAA); ok {
				if ip.IsLinkLocalUnicast() {
					ip = ip.WithZone(zone)
				}
				v6[strings.ToLower(rr.Hdr.Name)] = ip
			}
		}
	}
	var out []answer
	for _, i := range order {
		if !i.srv || !i.haveTXT {
			continue
		}
		host := strings.ToLower(i.target)
		out = append(out, answer{Name: i.name, TXT: i.txt, Port: i.port, V4: v4[host], V6: v6[host]})
	}
	return out
}
