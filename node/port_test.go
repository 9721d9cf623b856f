package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listenReusePort listens on addr with SO_REUSEPORT set, as libp2p's TCP
// transport does by default (and lanchat before issue 10).
func listenReusePort(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp4", addr)
}

// TestListenPortInUse: a fixed listen port that another process holds is
// an error of Start naming the address, never a port shared at random.
func TestListenPortInUse(t *testing.T) {
	t.Parallel()
	a := startHost(t, testConfig("alice"))
	port := a.Info().Port
	taken := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)

	// A's own socket does not let another one share the port.
	if l, err := listenReusePort(fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		l.Close()
		t.Errorf("a SO_REUSEPORT listener could share the port of a running host")
	}

	// A port held by an SO_REUSEPORT listener (an older lanchat).
	other, err := listenReusePort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	shared := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", other.Addr().(*net.TCPAddr).Port)

	for _, tc := range []struct {
		name   string
		listen []string
		bad    string // the address the error names
	}{
		{"same address", []string{taken}, taken},
		{"one of two", []string{"/ip4/127.0.0.1/tcp/0", taken}, taken},
		{"held with SO_REUSEPORT", []string{shared}, shared},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("bob")
			cfg.ListenAddrs = tc.listen
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			h, err := Start(ctx, cfg)
			if err == nil {
				h.Close()
				t.Fatalf("Start(ListenAddrs %q) = nil, want an error: the port is taken", tc.listen)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != "ListenAddrs" {
				t.Fatalf("Start(ListenAddrs %q) = %v, want a ConfigError of field ListenAddrs", tc.listen, err)
			}
			if !errors.Is(err, ErrConfig) || !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("Start(ListenAddrs %q) = %v, want it to wrap ErrConfig and EADDRINUSE", tc.listen, err)
			}
			if !strings.Contains(ce.Reason, fmt.Sprintf("%q", tc.bad)) || !strings.Contains(ce.Reason, "already in use") {
				t.Errorf("Reason = %q, want it to name %q and say it is already in use", ce.Reason, tc.bad)
			}
			t.Logf("%s: %v (after %v)", tc.name, ce.Reason, time.Since(start).Round(time.Millisecond))
		})
	}

	// A free fixed port still works, and port 0 is never probed.
	free, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	cfg := testConfig("carol")
	cfg.ListenAddrs = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort)}
	c := startHost(t, cfg)
	if got := c.Info().Port; got != freePort {
		t.Errorf("listening on port %d, want %d", got, freePort)
	}
}
