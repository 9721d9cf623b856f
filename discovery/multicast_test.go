package discovery

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// TestCheckMulticast: an interface that cannot carry mDNS (loopback, or
// no multicast) is an error that says so and names --iface, not "down":
// waiting would not help. No packet is sent.
func TestCheckMulticast(t *testing.T) {
	for _, tt := range []struct {
		ifi net.Interface
		ok  bool
	}{
		{net.Interface{Name: "lo", Flags: net.FlagUp | net.FlagLoopback}, false},
		{net.Interface{Name: "lo", Flags: net.FlagUp | net.FlagLoopback | net.FlagMulticast}, false},
		{net.Interface{Name: "tun0", Flags: net.FlagUp | net.FlagPointToPoint}, false},
		{net.Interface{Name: "eth0", Flags: net.FlagUp | net.FlagBroadcast | net.FlagMulticast}, true},
		{net.Interface{Name: "eth1", Flags: net.FlagBroadcast | net.FlagMulticast}, true}, // down: transient, not this
	} {
		err := checkMulticast(&tt.ifi)
		if (err == nil) != tt.ok {
			t.Errorf("checkMulticast(%s, %v) = %v, want ok %v", tt.ifi.Name, tt.ifi.Flags, err, tt.ok)
			continue
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrNoMulticast) || transient(err) {
			t.Errorf("checkMulticast(%s) = %v: want ErrNoMulticast, not transient", tt.ifi.Name, err)
		}
		if msg := err.Error(); !strings.Contains(msg, tt.ifi.Name) || !strings.Contains(msg, "--iface") || strings.Contains(msg, "down") {
			t.Errorf("checkMulticast(%s) = %q: want the name and --iface, not \"down\"", tt.ifi.Name, msg)
		}
	}
}
