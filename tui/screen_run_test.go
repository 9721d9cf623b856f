package tui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"lanchat/node/chat"
)

// syncBuffer is a bytes.Buffer safe for the program's writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runScreen starts RunScreen on room with a pipe for input and returns the
// input writer, the output and a channel with RunScreen's result.
func runScreen(t *testing.T, ctx context.Context, room *screenRoom) (*io.PipeWriter, *syncBuffer, <-chan error) {
	t.Helper()
	inR, inW := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- RunScreen(ctx, room.host, []Room{room}, ScreenOptions{In: inR, Out: out}) }()
	t.Cleanup(func() {
		inW.Close()
		inR.Close()
	})
	return inW, out, done
}

// waitResult waits for RunScreen to return.
func waitResult(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("RunScreen did not return within 10s")
		return nil
	}
}

// waitOutput polls out until it contains want.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q; got %q", want, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunScreen(t *testing.T) {
	t.Run(":end after a message", func(t *testing.T) {
		room := newScreenRoom("private")
		in, out, done := runScreen(t, context.Background(), room)
		if _, err := io.WriteString(in, "hello there\r"); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, out, "hello there")
		if _, err := io.WriteString(in, ":end\r"); err != nil {
			t.Fatal(err)
		}
		if err := waitResult(t, done); err != nil {
			t.Errorf("RunScreen = %v, want nil", err)
		}
		if got := room.calls(); !slices.Equal(got, []string{"hello there"}) {
			t.Errorf("room calls = %q", got)
		}
	})
	t.Run("line typed just before :end is sent", func(t *testing.T) {
		room := newScreenRoom("private")
		room.host.block = make(chan struct{})
		room.host.entered = make(chan string, 1)
		in, _, done := runScreen(t, context.Background(), room)
		if _, err := io.WriteString(in, "last words\r:end\r"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-room.host.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the line was never sent")
		}
		select {
		case err := <-done:
			t.Fatalf("RunScreen returned %v while a send was in progress", err)
		default:
		}
		close(room.host.block)
		if err := waitResult(t, done); err != nil {
			t.Errorf("RunScreen = %v, want nil", err)
		}
		if got := room.calls(); !slices.Equal(got, []string{"last words"}) {
			t.Errorf("room calls = %q: RunScreen returned before the send finished", got)
		}
	})
	t.Run("ctrl+c", func(t *testing.T) {
		in, _, done := runScreen(t, context.Background(), newScreenRoom("private"))
		if _, err := io.WriteString(in, "\x03"); err != nil {
			t.Fatal(err)
		}
		if err := waitResult(t, done); err != nil {
			t.Errorf("RunScreen = %v, want nil", err)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		_, out, done := runScreen(t, ctx, newScreenRoom("private"))
		waitOutput(t, out, "Welcome")
		cancel()
		if err := waitResult(t, done); err != nil {
			t.Errorf("RunScreen = %v, want nil", err)
		}
	})
	t.Run("room closed", func(t *testing.T) {
		room := newScreenRoom("private")
		_, out, done := runScreen(t, context.Background(), room)
		waitOutput(t, out, "Welcome")
		close(room.events)
		if err := waitResult(t, done); !errors.Is(err, chat.ErrClosed) {
			t.Errorf("RunScreen = %v, want chat.ErrClosed", err)
		}
	})
}

// TestScreenProgram runs the model in a real bubbletea program through
// teatest: typed text is echoed, a peer's escape sequences never reach the
// terminal's byte stream, and :end finishes the program.
func TestScreenProgram(t *testing.T) {
	room := newScreenRoom("private")
	// done ends the Cmds waiting on the event channels, as RunScreen
	// does, so none outlives the test.
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	m := newScreenModel(room.host, []Room{room}, screenConfig{now: func() time.Time { return testStart }, done: done})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	room.events <- msgEvent(1, idBob, "mallory\x1b]0;title\x07", "\x1b]0;pwned\x07\x1b[2Jgotcha\x1b]8;;http://x\x1b\\link")
	tm.Type("こんにちは世界")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	var seen []byte
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		seen = append(seen, b...)
		return bytes.Contains(seen, []byte("こんにちは世界")) && bytes.Contains(seen, []byte("gotcha"))
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	tm.Type(":end")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	rest, _ := io.ReadAll(tm.FinalOutput(t))
	seen = append(seen, rest...)
	for _, bad := range []string{"pwned", "title", "http://x"} {
		if bytes.Contains(seen, []byte(bad)) {
			t.Errorf("terminal output contains %q from a peer", bad)
		}
	}
	if got := room.calls(); !slices.Equal(got, []string{"こんにちは世界"}) {
		t.Errorf("room calls = %q", got)
	}
}
