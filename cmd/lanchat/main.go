// Command lanchat is a serverless chat for a local network.
//
// Every machine runs the same binary. Nodes find each other by mDNS, talk
// over libp2p gossipsub, and a pre-shared key keeps strangers out. Run
// "lanchat --help" for the flags; README.md has the whole story.
//
// This package only parses flags, wires [node], [discovery] and [tui]
// together and maps errors to exit codes: 0 for a graceful leave, 2 for bad
// usage or input, 1 for a runtime failure.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"

	"lanchat/discovery"
	"lanchat/node"
	"lanchat/tui"
)

// Exit codes.
const (
	exitOK      = 0 // graceful leave
	exitFailure = 1 // runtime failure (cannot listen, …)
	exitUsage   = 2 // bad flags or bad input (key file, nick, address)
)

// leaveTimeout bounds the graceful leave at exit: the leave of every room is
// announced and confirmed within it, then everything is torn down.
const leaveTimeout = 3 * time.Second

func main() {
	// A reader that goes away must not kill us before the leave is sent:
	// with SIGPIPE ignored a write to a closed stdout fails with EPIPE, the
	// front end returns, and the node still says goodbye.
	signal.Ignore(syscall.SIGPIPE)
	// SIGHUP is the terminal going away (its window closed, the ssh
	// session dropped): a leave like any other, not a crash that the
	// others would see as "lost" only seconds later.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// After the first signal we leave gracefully; a second one kills at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code. ctx is cancelled on
// SIGINT, SIGTERM and SIGHUP, which leaves gracefully. getenv reads the environment.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "keygen" {
		return runKeygen(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "invite" {
		return runInvite(args[1:], stdout, stderr, getenv)
	}
	opts, err := parseOptions(args, getenv)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "lanchat: %v\n", err)
		return exitUsage
	}
	if opts.version {
		fmt.Fprintln(stdout, versionString())
		return exitOK
	}

	screen := !opts.json && !opts.plain && isTerminal(stdin) && isTerminal(stdout)
	logHandler, closeLog, err := openLogger(opts, screen, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lanchat: %v\n", err)
		return exitUsage
	}
	defer closeLog()
	// Logs wait until the node has started: a failed start is told in one
	// sentence, without libp2p's own account of it (unless -v).
	// Repeated lines (a flood of bad messages from one peer) are
	// counted, not all written; the counts pending are written last.
	repeats := newRepeatHandler(logHandler)
	defer repeats.flush()
	gate := &logGate{}
	defer gate.release(true)
	log := slog.New(gateHandler{repeats, gate})

	cfg, err := opts.nodeConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "lanchat: %v\n", err)
		return exitUsage
	}
	cfg.Logger = log.With("component", "node")

	h, err := node.Start(ctx, cfg)
	var identityNotice string
	if err != nil && errors.Is(err, node.ErrIdentity) && opts.identity == "" && ctx.Err() == nil {
		// The default identity file is unusable (read-only home, a
		// damaged file): chat anyway, with a peer ID for this run only.
		identityNotice = fmt.Sprintf("using a temporary identity for this run: %s", reason(err))
		log.Warn("identity file unusable", "path", cfg.IdentityPath, "err", err)
		cfg.IdentityPath = ""
		h, err = node.Start(ctx, cfg)
	}
	var rooms []tui.Room
	if err == nil {
		rooms, err = joinRooms(ctx, h, opts.rooms)
		if err != nil {
			h.Close()
		}
	}
	gate.release(err == nil || opts.verbose)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK // interrupted while starting: nothing to leave
		}
		fmt.Fprintf(stderr, "lanchat: %s\n", startError(err))
		if isUsageError(err) {
			return exitUsage
		}
		return exitFailure
	}
	if identityNotice != "" {
		h.Notice(identityNotice)
	}
	info := h.Info()
	log.Info("started", "peer", info.PeerID, "nick", info.Nick, "rooms", opts.rooms,
		"network", info.Network, "addrs", info.Addrs)

	// Discovery runs beside the front end and is stopped before the host
	// closes, so it does not dial a closing host.
	discCtx, stopDiscovery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDiscovery()
	var wg sync.WaitGroup
	if !opts.noMDNS {
		startDiscovery(discCtx, &wg, h, opts.ifaces, log)
	}

	th := tuiHost{h}
	if screen {
		so := tui.DefaultScreenOptions()
		so.In, so.Out, so.Bell = stdin, stdout, !opts.noBell
		err = tui.RunScreen(ctx, th, rooms, so)
	} else {
		mode := tui.Plain
		if opts.json {
			mode = tui.JSON
		}
		err = tui.RunLines(ctx, th, rooms, stdin, stdout, mode)
	}

	stopDiscovery()
	leave(h, log)
	wg.Wait()
	if err != nil {
		fmt.Fprintf(stderr, "lanchat: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// joinRooms joins the rooms of --room, in order.
func joinRooms(ctx context.Context, h *node.Host, names []string) ([]tui.Room, error) {
	rooms := make([]tui.Room, 0, len(names))
	for _, name := range names {
		r, err := h.Join(ctx, name, node.RoomOptions{})
		if err != nil {
			return nil, err
		}
		rooms = append(rooms, r)
	}
	return rooms, nil
}

// tuiHost is a [node.Host] as the front ends see it: their Join returns
// their own Room interface.
type tuiHost struct{ *node.Host }

func (h tuiHost) Join(ctx context.Context, name, passphrase string) (tui.Room, error) {
	r, err := h.Host.Join(ctx, name, node.RoomOptions{Passphrase: passphrase})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// startDiscovery advertises h by mDNS and hands the peers it finds to
// h's [node.Dialer], in a goroutine added to wg that stops when ctx is done.
// Without discovery the chat still works with --peer, so a failure is a
// notice, not an exit.
func startDiscovery(ctx context.Context, wg *sync.WaitGroup, h *node.Host, ifaces []string, log *slog.Logger) {
	info := h.Info()
	svc, err := discovery.New(discovery.Config{
		Instance:    info.PeerID,
		Port:        info.Port,
		Port6:       info.Port6,
		Fingerprint: info.Fingerprint,
		Version:     node.ProtocolVersion,
		Ifaces:      ifaces, // none: every interface
		Logger:      log,    // discovery names itself (component=discovery)
	})
	if err != nil {
		log.Warn("local discovery unavailable", "err", err)
		h.Notice(discoveryNotice("is unavailable", err))
		return
	}
	wg.Go(func() {
		if err := svc.Run(ctx, newSightings(h)); err != nil && ctx.Err() == nil {
			log.Warn("local discovery stopped", "err", err)
			h.Notice(discoveryNotice("stopped", err))
		}
	})
}

// sightings hands what discovery sees to the dialer; its methods never
// block, as discovery requires. A peer's closed connection prompts
// discovery to look again soon: the peer may be back (a cable plugged in
// again) before the queries' back-off would notice. When this machine's
// own link goes down the user is told so once, and when it is back every
// known peer is redialled at once (reconnect, [node.Host.Reconnect]).
type sightings struct {
	d         *node.Dialer
	closed    <-chan struct{}
	reconnect func()
	alone     func() bool // reports whether no peer is in any room with us
	diag      *diagNotes  // used from discovery's goroutine only
}

// diagNotes is what sightings remembers of discovery's diagnosis.
type diagNotes struct {
	said    discovery.Reason // the diagnosis told the user, until it changes
	found   bool             // a peer on our key was seen
	foreign int              // peers seen on another key, not told yet
}

// newSightings returns the sightings of h. Its alone asks h's rooms (and
// pubsub, for the rooms not joined): a short wait, once per diagnosis.
func newSightings(h *node.Host) sightings {
	alone := func() bool {
		for _, r := range h.Rooms() {
			if r.Members > 1 || (!r.Joined && r.Members > 0) {
				return false // a joined room's count includes us
			}
		}
		return true
	}
	return sightings{d: h.Dialer(), closed: h.LinkClosed(), reconnect: h.Reconnect, alone: alone, diag: &diagNotes{}}
}

func (s sightings) Prompts() <-chan struct{} { return s.closed }

func (s sightings) Found(p discovery.Peer) {
	if !s.diag.found {
		s.diag.found = true
		if s.diag.foreign > 0 {
			s.d.Foreign(s.diag.foreign)
		}
	}
	s.d.Found(p.ID, p.Version, p.Addrs)
}

// Foreign counts the peers on another key. While discovery has found
// nobody on ours, the count is left to the diagnosis ("nobody found on
// your key: …"), which says it once with what to do.
func (s sightings) Foreign(count int) {
	s.diag.foreign = count
	if s.diag.found {
		s.d.Foreign(count)
	}
}

// Diagnose tells the user why discovery finds nobody — unless a peer is
// with us anyway (by --peer, an invitation or a remembered peer): then
// only a different key nearby is worth a word, the dialer's plain count.
func (s sightings) Diagnose(d discovery.Diagnosis) {
	s.diag.said = discovery.ReasonNone
	if d.Reason == discovery.ReasonNone {
		return
	}
	if !s.alone() {
		if d.Reason == discovery.ReasonForeignKey {
			s.d.Foreign(max(d.Foreign, s.diag.foreign))
		}
		return
	}
	s.diag.said = d.Reason
	s.d.Say(d.Text)
}

// Unavailable tells the user that discovery waits for the network (a
// laptop whose Wi-Fi connects after lanchat starts finds its peers once it
// does), unless the diagnosis just said why.
func (s sightings) Unavailable(err error) {
	if s.diag.said != discovery.ReasonNone {
		return
	}
	s.d.Say(discoveryNotice("is waiting for the network", err))
}

// Available tells the user that discovery works (again).
func (s sightings) Available() {
	s.d.Say("local discovery works again: looking for peers on the network")
}

// LinkDown tells the user that their own network connection is down,
// rather than only letting them see everyone lost: the members show as
// lost meanwhile (nobody can be heard), and the notice says why.
func (s sightings) LinkDown(reason string) {
	s.d.Say("your network connection is down (" + reason + "): the others show as lost until it is back")
}

// LinkUp tells the user that the connection is back and redials every
// peer at once (discovery queries at once too).
func (s sightings) LinkUp() {
	s.d.Say("your network connection is back: reconnecting to the others")
	s.reconnect()
}

// discoveryNotice tells the user, in one sentence, that local discovery
// failed (what: "stopped", "is unavailable") and how to chat anyway.
func discoveryNotice(what string, err error) string {
	if errors.Is(err, discovery.ErrNoMulticastRoute) {
		// discovery's own text adds socket details nobody needs here.
		return "local discovery " + what + ": no network route for multicast (not connected to a network, " +
			"or an interface without multicast: see --iface); connect to others with --peer"
	}
	return fmt.Sprintf("local discovery %s: %s; connect to others with --peer",
		what, strings.ReplaceAll(err.Error(), "discovery: ", ""))
}

// leave leaves every room gracefully, bounded by leaveTimeout, and shuts
// the host down.
func leave(h *node.Host, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	if err := h.Leave(ctx); err != nil {
		log.Warn("leaving the rooms", "err", err)
	}
	if err := h.Close(); err != nil {
		log.Warn("closing the host", "err", err)
	}
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	fd, ok := f.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(fd.Fd())
}
