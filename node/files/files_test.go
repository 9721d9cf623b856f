package files

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestKind(t *testing.T) {
	for _, c := range []struct {
		m    fs.FileMode
		want string
	}{
		{fs.ModeDir | 0o755, "a directory"},
		{fs.ModeSymlink | 0o777, "a symbolic link"},
		{fs.ModeNamedPipe | 0o600, "a named pipe"},
		{fs.ModeSocket | 0o600, "a socket"},
		{fs.ModeDevice | fs.ModeCharDevice | 0o600, "a device"},
		{fs.ModeIrregular, "not a regular file"},
	} {
		if got := Kind(c.m); got != c.want {
			t.Errorf("Kind(%v) = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestCause(t *testing.T) {
	_, err := os.Open(filepath.Join(t.TempDir(), "missing"))
	if got := Cause(err); !errors.Is(got, syscall.ENOENT) || got.Error() != syscall.ENOENT.Error() {
		t.Errorf("Cause(%v) = %v, want the bare ENOENT", err, got)
	}
	other := errors.New("other")
	if got := Cause(other); got != other {
		t.Errorf("Cause(other) = %v", got)
	}
}
