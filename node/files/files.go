// Package files words what is wrong with a file the user named (an
// identity, a key file, a log file) for a one-sentence error: what kind
// of file it is when it is not a regular one, and an error without the
// operation and path that the sentence names already. It is a leaf: node
// and cmd/lanchat both use it.
package files

import (
	"errors"
	"io/fs"
)

// Kind words what m is when it is not a regular file: "a directory", "a
// symbolic link", "a named pipe", "a socket", "a device", else "not a
// regular file".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "not a regular file"
	}
}

// Cause is err without the operation and path of an [fs.PathError], for
// a sentence that names the file already; other errors are returned as
// they are.
func Cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
