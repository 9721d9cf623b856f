package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// TXT keys. ONLY APPEND TO THIS LIST.
const (
	txtID          = "id"  // peer ID, equal to the instance name
	txtVersion     = "v"   // protocol version
	txtFingerprint = "net" // network fingerprint
	txtPort6       = "p6"  // IPv6 TCP port, when different listeners are used
)

// Limits on advertised and received fields. All are far below the 255-byte
// TXT string limit, and keep answers short enough for one small UDP packet.
const (
	maxIDLen          = 63 // one DNS label
	maxFingerprintLen = 64
	maxVersionLen     = 16
	maxTXTFields      = 32 // more is not a lanchat answer
	maxAdvertisedIPs  = 8
)

// Reasons an answer is not used. They are internal: the browser logs them at
// debug level and moves on.
var (
	errOtherService = errors.New("discovery: answer for another service")
	errMalformed    = errors.New("discovery: malformed answer")
	errNoAddress    = errors.New("discovery: answer without usable address")
)

// answer is one service instance as one response packet describes it
// (see packetAnswers), in plain values.
type answer struct {
	Name string   // "<instance>.<service>.local."
	TXT  []string // raw TXT strings
	V4   netip.Addr
	V6   netip.Addr // with zone for link-local addresses
	Port int        // SRV port
	Src  netip.Addr // source address of the packet (set by browse)
}

// txtRecords returns the TXT strings advertising cfg.
func txtRecords(cfg Config) []string {
	txt := []string{
		txtID + "=" + cfg.Instance,
		txtVersion + "=" + cfg.Version,
		txtFingerprint + "=" + cfg.Fingerprint,
	}
	if cfg.Port6 != 0 {
		txt = append(txt, txtPort6+"="+strconv.Itoa(cfg.Port6))
	}
	return txt
}

// parseTXT splits DNS-SD key=value strings. Keys are case-insensitive; the
// first occurrence of a key wins (RFC 6763 §6.4); strings without "=" are
// ignored.
func parseTXT(txt []string) (map[string]string, error) {
	if len(txt) > maxTXTFields {
		return nil, fmt.Errorf("%w: %d TXT strings", errMalformed, len(txt))
	}
	kv := make(map[string]string, len(txt))
	for _, s := range txt {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			continue
		}
		k = strings.ToLower(k)
		if _, dup := kv[k]; !dup {
			kv[k] = v
		}
	}
	return kv, nil
}

// parseAnswer turns an answer into a Peer of service. It fails with
// errOtherService for answers about other services, errMalformed for
// lanchat-looking answers with bad fields and errNoAddress when no advertised
// address is usable.
func parseAnswer(service string, a answer) (Peer, error) {
	instance, ok := instanceOf(service, a.Name)
	if !ok {
		return Peer{}, errOtherService
	}
	kv, err := parseTXT(a.TXT)
	if err != nil {
		return Peer{}, err
	}
	p := Peer{ID: kv[txtID], Version: kv[txtVersion], Fingerprint: kv[txtFingerprint]}
	if err := checkID(p.ID); err != nil {
		return Peer{}, err
	}
	if p.ID != instance {
		return Peer{}, fmt.Errorf("%w: id %q differs from instance %q", errMalformed, p.ID, instance)
	}
	if err := checkToken("version", p.Version, maxVersionLen); err != nil {
		return Peer{}, err
	}
	if err := checkToken("fingerprint", p.Fingerprint, maxFingerprintLen); err != nil {
		return Peer{}, err
	}
	port6 := 0 // no p6: the peer has no IPv6 listener
	if s, ok := kv[txtPort6]; ok {
		if port6, err = parsePort(s); err != nil {
			return Peer{}, err
		}
	}
	if a.Port < 1 || a.Port > 65535 {
		return Peer{}, fmt.Errorf("%w: port %d", errMalformed, a.Port)
	}
	if usable(a.V4) && a.V4.Is4() {
		p.Addrs = append(p.Addrs, netip.AddrPortFrom(a.V4, uint16(a.Port)))
	}
	if port6 != 0 && usable(a.V6) && a.V6.Is6() && !a.V6.Is4In6() {
		p.Addrs = append(p.Addrs, netip.AddrPortFrom(a.V6, uint16(port6)))
	}
	if len(p.Addrs) == 0 {
		return Peer{}, errNoAddress
	}
	return p, nil
}

// instanceOf returns the instance label of name if name is an instance of
// service in the local domain ("<instance>.<service>.local.", compared
// case-insensitively).
func instanceOf(service, name string) (string, bool) {
	suffix := "." + strings.Trim(service, ".") + ".local."
	if len(name) <= len(suffix) || !strings.EqualFold(name[len(name)-len(suffix):], suffix) {
		return "", false
	}
	return name[:len(name)-len(suffix)], true
}

// usable reports whether addr can be dialled by a peer on the LAN: not
// unspecified, loopback, multicast or broadcast, and link-local IPv6 only with
// a zone.
func usable(addr netip.Addr) bool {
	switch {
	case !addr.IsValid(), addr.IsUnspecified(), addr.IsLoopback(), addr.IsMulticast():
		return false
	case addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return false
	case addr.Is6() && addr.IsLinkLocalUnicast() && addr.Zone() == "":
		return false
	}
	return true
}

// checkID validates a peer ID / instance name: 1..63 ASCII letters, digits,
// '-' or '_' (libp2p peer IDs are base58 or base32, so alphanumeric).
func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%w: id of %d bytes", errMalformed, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: id %q has byte %#x", errMalformed, id, c)
		}
	}
	return nil
}

// checkToken validates a short printable ASCII field without spaces.
func checkToken(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes", errMalformed, what, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("%w: %s %q has byte %#x", errMalformed, what, s, s[i])
		}
	}
	return nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || s != strconv.Itoa(n) {
		return 0, fmt.Errorf("%w: port %q", errMalformed, s)
	}
	return n, nil
}

// advertisedIPs returns the addresses of ifi to put in A/AAAA records, or nil
// when it is down or has none. hashicorp/mdns keeps only the last A and the
// last AAAA record of an answer, so the preferred address of each family goes
// last: the primary IPv4 address, and a routable IPv6 address after any
// link-local one. Link-local IPv6 is left out when a routable one exists (an
// answer received over IPv4 carries no zone for it).
func advertisedIPs(ifi *net.Interface) ([]net.IP, error) {
	if ifi.Flags&net.FlagUp == 0 {
		return nil, nil
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
	}
	var v4, v6ll, v6 []net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		switch {
		case ip.IsLoopback(), ip.IsMulticast(), ip.IsUnspecified():
		case ip.Is4():
			v4 = append(v4, ipn.IP)
		case ip.IsLinkLocalUnicast():
			v6ll = append(v6ll, ipn.IP)
		default:
			v6 = append(v6, ipn.IP)
		}
	}
	if len(v6) > 0 {
		v6ll = nil
	}
	var ips []net.IP
	for _, group := range [][]net.IP{v4, v6ll, v6} {
		group = group[:min(len(group), maxAdvertisedIPs/2)]
		// Reverse: the kernel lists the primary address first.
		for i := len(group) - 1; i >= 0; i-- {
			ips = append(ips, group[i])
		}
	}
	return ips, nil
}
