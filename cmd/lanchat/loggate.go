package main

import (
	"context"
	"log/slog"
	"sync"
)

// logGate holds log records back until it is opened. It keeps libp2p's
// start-up noise off stderr when start-up fails (the one-sentence error says
// it all) and lets it through when start-up succeeds.
type logGate struct {
	mu   sync.Mutex
	open bool
	held []heldRecord
}

type heldRecord struct {
	h slog.Handler
	r slog.Record
}

// release opens the gate: held records are written when flush is set and
// dropped otherwise; later records pass straight through.
func (g *logGate) release(flush bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return
	}
	g.open = true
	if flush {
		for _, hr := range g.held {
			hr.h.Handle(context.Background(), hr.r)
		}
	}
	g.held = nil
}

// gateHandler is a slog.Handler in front of inner, controlled by g.
type gateHandler struct {
	inner slog.Handler
	g     *logGate
}

func (h gateHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h gateHandler) Handle(ctx context.Context, r slog.Record) error {
	h.g.mu.Lock()
	if !h.g.open {
		h.g.held = append(h.g.held, heldRecord{h.inner, r.Clone()})
		h.g.mu.Unlock()
		return nil
	}
	h.g.mu.Unlock()
	return h.inner.Handle(ctx, r)
}

func (h gateHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return gateHandler{h.inner.WithAttrs(as), h.g}
}

func (h gateHandler) WithGroup(name string) slog.Handler {
	return gateHandler{h.inner.WithGroup(name), h.g}
}
