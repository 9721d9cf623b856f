package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lanchat/internal/netns"
	"lanchat/node"
)

// halfOpenEnv makes the test binary run as the attacker of issue 10's
// attack 4 (see runHalfOpen) instead of the tests.
const halfOpenEnv = "LANCHAT_TEST_HALFOPEN"

func init() {
	if os.Getenv(halfOpenEnv) == "1" {
		os.Exit(runHalfOpen())
	}
}

// runHalfOpen holds TCP connections to HALFOPEN_TARGET (ip:port) without
// the key: HALFOPEN_PER of them from each source address of HALFOPEN_SRC
// (comma-separated IPs), each sending nothing and waiting for the node to
// close it, then connecting again (after 250 ms). It prints "holding" once
// every connection has been tried once, then every second "open N", the
// connections open, and runs until SIGTERM.
func runHalfOpen() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	target := os.Getenv("HALFOPEN_TARGET")
	per, err := strconv.Atoi(os.Getenv("HALFOPEN_PER"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "halfopen:", err)
		return 3
	}
	var wg, first sync.WaitGroup
	var open atomic.Int64
	for _, src := range strings.Split(os.Getenv("HALFOPEN_SRC"), ",") {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		for range per {
			first.Add(1)
			wg.Go(func() {
				once := sync.OnceFunc(first.Done)
				defer once()
				buf := make([]byte, 64)
				for ctx.Err() == nil {
					c, err := d.DialContext(ctx, "tcp4", target)
					once()
					if err == nil {
						open.Add(1)
						stopped := context.AfterFunc(ctx, func() { c.Close() })
						for err == nil {
							_, err = c.Read(buf)
						}
						stopped()
						c.Close()
						open.Add(-1)
					}
					select {
					case <-ctx.Done():
					case <-time.After(250 * time.Millisecond): // pacing, not synchronisation
					}
				}
			})
		}
	}
	first.Wait()
	fmt.Println("holding")
	// Report how many the node lets it hold, every second.
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return 0
		case <-time.After(time.Second):
			fmt.Println("open", open.Load())
		}
	}
}

// TestHalfOpenLAN is attack 4 of issue 10 ("connection exhaustion") end
// to end: an attacker without the key holds 4 silent TCP connections to
// A from each of 60 addresses (240 in all; libp2p's default limits let
// ~80 connections be in their handshake at once, for 15 s each). A
// newcomer with the key, B, must still meet A within a few seconds.
func TestHalfOpenLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary on network-namespace hosts; skipped with -short")
	}
	lan := netns.New(t, 3)
	bin := testBinary(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(keyFile, node.FormatSwarmKey(node.DeriveKey("exhaust")), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startLanchat(t, bin, lan.Host(1), dir, "alice", "--key-file", keyFile)
	a.waitReady(t)
	target := ""
	for _, addr := range a.ready.Addrs {
		if rest, ok := strings.CutPrefix(addr, "/ip4/"+lan.Host(1).IP().String()+"/tcp/"); ok {
			port, _, _ := strings.Cut(rest, "/")
			target = net.JoinHostPort(lan.Host(1).IP().String(), port)
		}
	}
	if target == "" {
		t.Fatalf("alice's ready line has no address on %s: %s", lan.Host(1).IP(), a.ready.raw)
	}

	// 60 addresses on the attacker's host.
	h := lan.Host(3)
	ip4 := h.IP().As4()
	var srcs []string
	for i := range 60 {
		src := fmt.Sprintf("%d.%d.%d.%d", ip4[0], ip4[1], ip4[2], 100+i)
		h.MustRun("ip", "addr", "add", src+"/24", "dev", netns.HostIface)
		srcs = append(srcs, src)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), halfOpenEnv+"=1", "HALFOPEN_TARGET="+target,
		"HALFOPEN_SRC="+strings.Join(srcs, ","), "HALFOPEN_PER=4", "GORACE=atexit_sleep_ms=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	holding := make(chan bool, 1)
	var (
		linesMu sync.Mutex
		lines   []string
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), "open ") {
				select {
				case holding <- true:
				default:
				}
			}
			linesMu.Lock()
			lines = append(lines, s.Text())
			linesMu.Unlock()
		}
		_ = cmd.Wait()
		close(holding)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("attacker stderr:\n%s", stderr.String())
		}
	})
	select {
	case ok := <-holding:
		if !ok {
			t.Fatalf("attacker exited before holding its connections: %s", stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("attacker: no connections within 20s")
	}

	b := startLanchat(t, bin, lan.Host(2), dir, "bob", "--key-file", keyFile)
	b.waitReady(t)
	ready := time.Now()
	b.waitFor(t, 30*time.Second, "join of alice", joinOf(a))
	took := time.Since(ready)
	a.waitFor(t, 10*time.Second, "join of bob", joinOf(b))
	t.Logf("newcomer met alice %v after its ready line, with 240 half-open connections from 60 addresses", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("newcomer met alice after %v under the half-open attack, want within 3s", took)
	}
	linesMu.Lock()
	t.Logf("attacker: %s", strings.Join(lines, "; "))
	linesMu.Unlock()
	if e, ok := b.find(func(e lanEvent) bool { return strings.Contains(e.Text, "same key") }); ok {
		t.Errorf("newcomer was told %q", e.Text)
	}
}
