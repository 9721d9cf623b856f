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

// Defaults of [ScreenOptions].
const (
	// DefaultScrollbackLines is the default of [ScreenOptions.ScrollbackLines].
	DefaultScrollbackLines = 5000
	// DefaultScrollbackBytes is the default of [ScreenOptions.ScrollbackBytes]: 4 MiB.
	DefaultScrollbackBytes = 4 << 20
)

// ScreenOptions configures the full-screen UI. Start from
// [DefaultScreenOptions]; the zero value works too, with the default
// scrollback limits and no bell.
type ScreenOptions struct {
	In  io.Reader // terminal input; nil: os.Stdin
	Out io.Writer // terminal output; nil: os.Stdout

	// ScrollbackLines is the most lines (entries: a chat line, a notice, a
	// day-change line, however many rows it wraps to) each room's
	// scrollback keeps; beyond it the oldest are dropped. Default 5,000
	// ([DefaultScrollbackLines]) when 0 or less: hours of a busy room.
	// Each line costs about 500 bytes besides its text (its entry, styled
	// spans and drawn rows), so 5,000 short lines take about 3 MB. More
	// keeps more to scroll back to, at that cost in every room; the log on
	// disk is not affected.
	ScrollbackLines int
	// ScrollbackBytes is the most bytes of text each room's scrollback
	// keeps, counted as the UTF-8 bytes of its lines (with their time
	// stamps and message IDs); beyond it the oldest lines are dropped, the
	// newest always kept. Default 4 MiB ([DefaultScrollbackBytes]) when 0
	// or less: about 1,000 lines of the longest kind (4096 bytes), or the
	// 5,000 lines of ScrollbackLines of up to 800 bytes; a flood of long
	// lines then holds about 6 MB per room with their drawn rows. Larger
	// keeps more long lines, at that memory cost.
	ScrollbackBytes int
	// Bell reports whether to ring the terminal bell (BEL) once for each
	// line from someone else that writes our nick, in any room, current
	// or not. Lines from the log (history) and our own lines never ring
	// it. Default true (in [DefaultScreenOptions]); false for a silent
	// terminal. Whether BEL beeps, flashes or marks the tab is the
	// terminal's setting.
	Bell bool
}

// DefaultScreenOptions returns the options of the full-screen UI with
// their defaults: the terminal on os.Stdin and os.Stdout, 5,000 lines and
// 4 MiB of scrollback per room, and the bell on.
func DefaultScreenOptions() ScreenOptions {
	return ScreenOptions{
		ScrollbackLines: DefaultScrollbackLines,
		ScrollbackBytes: DefaultScrollbackBytes,
		Bell:            true,
	}
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
//
// Each room's scrollback is bounded by opts.ScrollbackLines and
// opts.ScrollbackBytes, dropping its oldest lines; /clear lets its memory
// go. A live line from someone else that writes our nick rings the
// terminal bell once if opts.Bell is set, and the window title counts
// such lines in the rooms not looked at since: "(2) lanchat #lobby".
func RunScreen(ctx context.Context, h Host, rooms []Room, opts ScreenOptions) error {
	done := make(chan struct{})
	m := newScreenModel(h, rooms, screenConfig{now: time.Now, done: done, stop: ctx.Done(),
		scrollbackLines: opts.ScrollbackLines, scrollbackBytes: opts.ScrollbackBytes, bell: opts.Bell})

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
