package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"lanchat/node"
)

// runKeygen implements "lanchat keygen [PATH]": it writes a fresh random
// swarm.key to PATH (mode 0600, never over an existing file) or to stdout.
func runKeygen(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(stdout, "Usage: lanchat keygen [PATH]\n\nWrites a new random 32-byte key in swarm.key format to PATH (mode 0600;\nan existing file is never overwritten) or to stdout. Copy it to every\nmachine and start lanchat with --key-file PATH.\n")
		return exitOK
	}
	// A flag anywhere is named as one, before any count of arguments:
	// "keygen --force x" is about --force, not about x.
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			fmt.Fprintf(stderr, "lanchat: keygen: unknown flag %s (usage: lanchat keygen [PATH]; it never overwrites a file)\n", a)
			return exitUsage
		}
	}
	if len(args) > 1 {
		fmt.Fprintf(stderr, "lanchat: keygen: unexpected argument %q (usage: lanchat keygen [PATH])\n", args[1])
		return exitUsage
	}
	psk, err := node.GenerateKey()
	if err != nil {
		fmt.Fprintf(stderr, "lanchat: keygen: %v\n", err)
		return exitFailure
	}
	data := node.FormatSwarmKey(psk)
	if len(args) == 0 {
		if _, err := stdout.Write(data); err != nil {
			fmt.Fprintf(stderr, "lanchat: keygen: %v\n", err)
			return exitFailure
		}
		return exitOK
	}

	path := args[0]
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			fmt.Fprintf(stderr, "lanchat: keygen: %q already exists; not overwriting it\n", path)
			return exitUsage
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		fmt.Fprintf(stderr, "lanchat: keygen: cannot create %q: %v\n", path, err)
		return exitUsage
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		fmt.Fprintf(stderr, "lanchat: keygen: writing %q: %v\n", path, werr)
		return exitFailure
	}
	fmt.Fprintf(stderr, "lanchat: wrote a new key to %s (fingerprint %s); copy it to every machine and run lanchat --key-file %s\n",
		path, node.Fingerprint(psk), path)
	return exitOK
}
