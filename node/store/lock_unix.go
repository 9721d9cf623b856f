//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes and keeps an exclusive advisory lock on f without waiting,
// the same flock bbolt takes; it returns [ErrLocked] when another open file
// holds it. Closing f releases it.
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	return err
}
