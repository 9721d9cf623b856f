package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
)

// ScreenOptions configures the full-screen UI.
type ScreenOptions struct {
	In  io.Reader // terminal input (os.Stdin)
	Out io.Writer // terminal output (os.Stdout)
}

// RunScreen runs the full-screen chat UI until the user leaves (":end",
// "/quit", Ctrl-C) or ctx is cancelled, and returns nil then; the caller then
// closes the room.
//
// It reads r.Events from one goroutine at a time and calls r.Send, r.Action
// and r.SetNick one at a time, in the order the user asked, never from the
// screen's update loop, so a slow room does not freeze the screen. Before it
// returns it waits for a room call in progress, so that a line typed just
// before ":end" is sent before the caller closes the room. It returns an
// error wrapping [node.ErrClosed] if the room's event channel closes while
// the screen runs, and an error if the terminal fails.
func RunScreen(ctx context.Context, r Room, opts ScreenOptions) error {
	done := make(chan struct{})
	m := newScreenModel(r, screenConfig{now: time.Now, done: done})

	// The size is a fallback for output that is not a terminal; a
	// terminal's own size replaces it.
	popts := []tea.ProgramOption{tea.WithWindowSize(80, 24)}
	if opts.In != nil {
		popts = append(popts, tea.WithInput(opts.In))
	}
	if opts.Out != nil {
		popts = append(popts, tea.WithOutput(opts.Out))
	}
	p := tea.NewProgram(m, popts...)

	// Cancelling ctx quits the program the normal way, so the terminal is
	// restored after a final frame.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			p.Send(ctxDoneMsg{})
		case <-done:
		}
	}()

	final, err := p.Run()
	close(done)
	wg.Wait()
	m.calls.closeAndWait()

	switch {
	case err != nil && (errors.Is(err, tea.ErrInterrupted) || ctx.Err() != nil):
		return nil // SIGINT or cancellation: a graceful leave
	case err != nil:
		return fmt.Errorf("screen: %w", err)
	}
	if fm, ok := final.(*screenModel); ok && fm.exitErr != nil && ctx.Err() == nil {
		return fm.exitErr
	}
	return nil
}
