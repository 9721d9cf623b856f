package tui

import (
	"context"
	"sync"

	tea "charm.land/bubbletea/v2"

	"lanchat/node/chat"
)

// Tunables of the screen's event intake.
const (
	// maxEventBatch is how many queued events one Update takes at most.
	// Taking them in batches keeps a burst from costing one render each
	// while a key press still waits for at most one batch.
	maxEventBatch = 256
)

// Messages into Update from Cmds.
type (
	// roomEventsMsg carries events taken from a room's Events in order.
	roomEventsMsg struct {
		rv     *roomView
		events []chat.Event
		closed bool // the channel was closed after these events
	}
	// hostEventsMsg carries events taken from the host's Events in order.
	hostEventsMsg struct {
		events []chat.Event
		closed bool
	}
	// opsDoneMsg reports the outcome of calls made by a Cmd.
	opsDoneMsg struct{ results []opResult }
	// offerDoneMsg reports the outcome of an offer made by offerCmd.
	offerDoneMsg struct{ res opResult }
	// ctxDoneMsg says RunScreen's context was cancelled.
	ctxDoneMsg struct{}
)

// roomCalls tracks the Cmds that call into the host and the rooms or wait
// on their channels, so RunScreen can wait for them before it returns and
// the caller closes the host: no goroutine of the screen outlives it.
type roomCalls struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// begin reports whether a call may start; if so the caller must call end.
func (c *roomCalls) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

// end marks a call finished.
func (c *roomCalls) end() { c.wg.Done() }

// closeAndWait refuses new calls and waits for running ones.
func (c *roomCalls) closeAndWait() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}

// takeEvents blocks until ch has an event (or is closed, or done is closed)
// and takes up to maxEventBatch of those queued. ok is false when done
// closed first.
func takeEvents(ch <-chan chat.Event, done <-chan struct{}) (evs []chat.Event, closed, ok bool) {
	select {
	case e, open := <-ch:
		if !open {
			return nil, true, true
		}
		evs = append(evs, e)
	case <-done:
		return nil, false, false
	}
	for len(evs) < maxEventBatch {
		select {
		case e, open := <-ch:
			if !open {
				return evs, true, true
			}
			evs = append(evs, e)
		default:
			return evs, false, true
		}
	}
	return evs, false, true
}

// stopContext returns a context for calls made by a Cmd: cancelled when
// stop closes (RunScreen's context is done), when done closes (the program
// is over: a call still running then, e.g. after a second Ctrl-C, must not
// keep RunScreen from returning) or when cancel is called. The model keeps
// the channels, not a context.
func stopContext(stop, done <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	if stop == nil && done == nil {
		return ctx, cancel
	}
	go func() {
		select {
		case <-stop:
			cancel()
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// waitOn returns a Cmd that blocks until ch has events (or is closed) and
// takes a batch of them, made into a message by msg. Update re-arms it
// after each batch. It returns nil when no Cmd waits (tests deliver events
// themselves, or ch is nil).
func (m *screenModel) waitOn(ch <-chan chat.Event, msg func(evs []chat.Event, closed bool) tea.Msg) tea.Cmd {
	if m.manual || ch == nil {
		return nil
	}
	done, calls := m.done, m.calls
	return func() tea.Msg {
		if !calls.begin() {
			return nil
		}
		defer calls.end()
		evs, closed, ok := takeEvents(ch, done)
		if !ok {
			return nil
		}
		return msg(evs, closed)
	}
}

// waitEvents returns the Cmd that waits for the events of room rv.
func (m *screenModel) waitEvents(rv *roomView) tea.Cmd {
	return m.waitOn(rv.room.Events(), func(evs []chat.Event, closed bool) tea.Msg {
		return roomEventsMsg{rv: rv, events: evs, closed: closed}
	})
}

// waitHost returns the Cmd that waits for the host's events.
func (m *screenModel) waitHost() tea.Cmd {
	return m.waitOn(m.sess.host.Events(), func(evs []chat.Event, closed bool) tea.Msg {
		return hostEventsMsg{events: evs, closed: closed}
	})
}

// startOps runs all queued calls in order in one Cmd, unless calls run.
func (m *screenModel) startOps() tea.Cmd {
	if m.inflight || len(m.queue) == 0 {
		return nil
	}
	ops := m.queue
	m.queue = nil
	m.inflight = true
	return m.call(func(ctx context.Context, host Host) tea.Msg {
		res := make([]opResult, 0, len(ops))
		for _, op := range ops {
			res = append(res, op.do(ctx, host))
		}
		return opsDoneMsg{res}
	})
}

// offerCmd returns the Cmd that makes offer op beside the queue of
// startOps: the file is read for its hash first, which takes seconds for
// a big one, and lines typed meanwhile must not wait for it.
func (m *screenModel) offerCmd(op roomOp) tea.Cmd {
	return m.call(func(ctx context.Context, host Host) tea.Msg {
		return offerDoneMsg{op.do(ctx, host)}
	})
}

// call returns a Cmd that runs f on the host with a context cancelled
// when the screen stops; m.calls counts it, so the host outlives it, and
// once they are closed it does nothing.
func (m *screenModel) call(f func(ctx context.Context, host Host) tea.Msg) tea.Cmd {
	host, calls, stop, done := m.sess.host, m.calls, m.stop, m.done
	return func() tea.Msg {
		if !calls.begin() {
			return nil
		}
		defer calls.end()
		ctx, cancel := stopContext(stop, done)
		defer cancel()
		return f(ctx, host)
	}
}
