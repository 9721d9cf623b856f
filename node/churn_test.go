package node

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"lanchat/node/wire"
)

// countMsg is a slog.Handler that counts the records with one message, at
// any level.
type countMsg struct {
	msg string
	n   *atomic.Int64
}

func (c countMsg) Enabled(context.Context, slog.Level) bool { return true }
func (c countMsg) Handle(_ context.Context, r slog.Record) error {
	if r.Message == c.msg {
		c.n.Add(1)
	}
	return nil
}
func (c countMsg) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c countMsg) WithGroup(string) slog.Handler      { return c }

// TestSubscriptionChurnReannounce: a raw peer that subscribes to a room's
// topic and unsubscribes again, 100 times in about 4 s, makes the honest
// node re-announce (each new subscription is a PeerJoin), but no more
// than reannounceBurst pairs at once and one pair per reannounceEvery
// after that, whatever the churn: an observer that stays subscribed
// counts the node's presence envelopes during the churn.
func TestSubscriptionChurnReannounce(t *testing.T) {
	t.Parallel()
	var joins atomic.Int64
	cfg := testConfig("alice")
	cfg.HeartbeatInterval = time.Second
	cfg.LostAfter = 4 * time.Second
	cfg.Logger = slog.New(countMsg{msg: "peer joined topic", n: &joins})
	a := startNode(t, cfg)

	obs := newRawPeer(t, nil, openTopic(testRoom))
	obs.join(t, a)
	churner := newRawPeer(t, nil, openTopic(testRoom))
	churner.join(t, a)
	churner.sub.Cancel()

	var presence atomic.Int64
	counting, stopCounting := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := obs.sub.Next(counting)
			if err != nil {
				return
			}
			if env, err := wire.Decode(m.GetData()); err == nil && m.GetFrom() == a.self && env.Kind == wire.KindHeartbeat {
				presence.Add(1)
			}
		}
	}()

	const churns = 100
	start := time.Now()
	joins.Store(0)
	pace := time.NewTicker(20 * time.Millisecond) // pacing the attack, not waiting for anything
	for range churns {
		sub, err := churner.topic.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		<-pace.C
		sub.Cancel()
		<-pace.C
	}
	pace.Stop()
	// The last pair may still be pending: count until it is surely out.
	settle := time.NewTimer(reannounceAgain + reannounceMin + reannounceJitter + 200*time.Millisecond)
	<-settle.C
	stopCounting()
	<-done
	window := time.Since(start)

	got := presence.Load()
	heartbeats := int64(window/cfg.HeartbeatInterval) + 1
	pairs := int64(reannounceBurst) + int64(window/reannounceEvery) + 1
	limit := heartbeats + 2*pairs
	t.Logf("%d subscriptions in %v: the node saw %d joins and published %d presence envelopes (heartbeats ≈ %d, limit %d)",
		churns, window.Round(time.Millisecond), joins.Load(), got, heartbeats, limit)
	if joins.Load() < churns/4 {
		t.Fatalf("the node saw only %d of %d subscriptions: the churn did not reach it", joins.Load(), churns)
	}
	if got > limit {
		t.Errorf("%d presence envelopes in %v of churn, want at most %d (%d heartbeats + 2 × %d re-announce pairs)",
			got, window.Round(time.Millisecond), limit, heartbeats, pairs)
	}
}
