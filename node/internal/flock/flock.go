// Package flock takes exclusive advisory locks on open files, for the
// identity file and the message store: a second lanchat process on the same
// files finds them taken instead of sharing them.
package flock

import "errors"

// ErrLocked is returned by [TryLock] when another open file holds the lock.
var ErrLocked = errors.New("flock: file locked by another process")
