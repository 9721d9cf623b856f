package main

import (
	"errors"
	"fmt"
	"io"

	"lanchat/node"
)

// inviteUsage is printed by "lanchat invite --help".
const inviteUsage = `Usage: lanchat invite [key] [flags]

Prints an invitation: one line that lets a newcomer on another subnet (where
mDNS does not reach) join, with lanchat --join-invite LINE. It holds this
node's peer ID (of --identity) and its addresses at the fixed port of
--listen, the same flags lanchat runs with, e.g.

  lanchat --listen /ip4/0.0.0.0/tcp/4001 --key-file swarm.key
  lanchat invite --listen /ip4/0.0.0.0/tcp/4001 --key-file swarm.key

With "key" the line also holds the network key and starts lanchat-secret:
whoever has it can join and read every open room; give it only to those you
would tell the passphrase. In a running lanchat, /invite does the same
without a fixed port.
`

// runInvite implements "lanchat invite [key] [flags]": it prints the
// invitation of the node the flags configure on stdout, without starting
// it (see [node.InviteLine]).
func runInvite(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	withKey := len(args) > 0 && args[0] == "key"
	if withKey {
		args = args[1:]
	}
	opts, err := parseOptions(args, getenv)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, inviteUsage)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "lanchat: invite: %v\n", err)
		return exitUsage
	}
	cfg, err := opts.nodeConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "lanchat: invite: %v\n", err)
		return exitUsage
	}
	line, err := node.InviteLine(cfg, withKey)
	if err != nil {
		fmt.Fprintf(stderr, "lanchat: invite: %s\n", startError(err))
		if isUsageError(err) {
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintln(stdout, line)
	switch {
	case withKey && cfg.PSK != nil:
		fmt.Fprintln(stderr, "lanchat: this invitation holds the network key: it is a secret, whoever has it can join and read every open room")
	case withKey:
		fmt.Fprintln(stderr, "lanchat: the network is open (no key): the invitation holds no key")
	}
	return exitOK
}
