//go:build !linux

package node

import "os"

// writeback does nothing here: the final sync writes the whole file.
func writeback(f *os.File, prev, off, n int64) {}

// datasync commits f to disk.
func datasync(f *os.File) error { return f.Sync() }
