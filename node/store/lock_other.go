//go:build !unix

package store

import "os"

// tryLock does nothing where flock is missing; bbolt's own lock, taken
// next, still reports a second Open as [ErrLocked].
func tryLock(*os.File) error { return nil }
