package tui

import (
	"context"
	"io"
)

// LineMode selects the line format.
type LineMode int

// Line modes.
const (
	Plain LineMode = iota // readable lines: "[14:03] <alice> hi", "* bob joined"
	JSON                  // one JSON object per line
)

// RunLines runs a line-mode front end: it prints a ready line, then room events
// to out, and reads messages and commands from in. It returns nil when the user
// leaves (":end", "/quit", end of input) or ctx is cancelled; the caller then
// closes the room.
func RunLines(ctx context.Context, r Room, in io.Reader, out io.Writer, mode LineMode) error {
	panic("TODO")
}
