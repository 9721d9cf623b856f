package tui

import (
	"context"
	"io"
)

// ScreenOptions configures the full-screen UI.
type ScreenOptions struct {
	In  io.Reader // terminal input (os.Stdin)
	Out io.Writer // terminal output (os.Stdout)
}

// RunScreen runs the full-screen chat UI until the user leaves (":end",
// "/quit", Ctrl-C) or ctx is cancelled, and returns nil then; the caller then
// closes the room.
func RunScreen(ctx context.Context, r Room, opts ScreenOptions) error {
	panic("TODO")
}
