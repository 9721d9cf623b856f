package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"google.golang.org/protobuf/proto"
)

// TestRPCTraceDropped: pubsub's RPC logger (derived from ours as pubsub
// derives it) writes no record per RPC sent or received, even at debug
// level, and keeps its others; the other pubsub loggers keep "sent".
func TestRPCTraceDropped(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(redacted{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})}).With("lib", "pubsub")
	rpc := &pubsub.RPC{RPC: pb.RPC{Publish: []*pb.Message{{Data: []byte("hello"), Topic: proto.String("t")}}}}
	rl := slog.New(lg.Handler().WithAttrs([]slog.Attr{slog.String("system", "pubsub/rpc")}))
	rl.Debug("sent", "rpc", rpc)
	rl.With("peer", "p").Debug("received", "rpc", rpc)
	rl.Debug("error reading rpc", "err", "stream reset")
	lg.Debug("sent", "rpc", rpc)
	out := buf.String()
	if n := strings.Count(out, "msg=sent"); n != 1 || strings.Contains(out, "msg=received") || !strings.Contains(out, `msg="error reading rpc"`) {
		t.Errorf("log = %q, want one sent (not the RPC logger's) and the error", out)
	}
}
