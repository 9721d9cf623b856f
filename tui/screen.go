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

// RunScreen runs the full-screen chat UI in rooms (the first is current)
// until the user leaves (":end", "/quit", Ctrl-C) or ctx is cancelled, and
// returns nil then; the caller then leaves the rooms and closes the host.
//
// Each room has a tab with its own messages, member list and input line;
// the commands are those of the line modes (see [RunLines]). Lines from a
// room's log ([chat.Event.History]) are put in their place by order key
// (Order, then ID) when their batch ends ([chat.KindHistory]), under a dim
// "— 40 earlier messages —" line, dated when not of today; they count as
// neither unread nor mentions, and a view at the bottom stays there. Events enter
// through Cmds that wait on h.Events and each room's Events, one goroutine
// per channel at a time, re-armed after each batch. Calls into the host and
// the rooms (Send, Action, SetNick, Join, Leave, Rooms) are made one at a
// time, in the order the user asked, never from the screen's update loop, so
// a slow room does not freeze the screen; their context is cancelled when
// ctx is. Before it returns, RunScreen waits for a call in progress, so that
// a line typed just before ":end" is sent before the caller leaves, and for
// every goroutine it started. It returns an error wrapping [chat.ErrClosed]
// if the host's event channel closes while the screen runs, or a room's
// without our /part, and an error if the terminal fails.
func RunScreen(ctx context.Context, h Host, rooms []Room, opts ScreenOptions) error {
	done := make(chan struct{})
	m := newScreenModel(h, rooms, screenConfig{now: time.Now, done: done, stop: ctx.Done()})

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
	wg.Go(func() {
		select {
		case <-ctx.Done():
			p.Send(ctxDoneMsg{})
		case <-done:
		}
	})

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
