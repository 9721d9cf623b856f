//go:build !linux && !darwin

package node

// diskFree cannot tell the free space here: downloads skip the check.
func diskFree(dir string) (int64, bool) { return 0, false }
