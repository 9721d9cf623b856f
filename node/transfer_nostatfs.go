//go:build !linux && !darwin

package node

// diskFree cannot tell the free space here: downloads skip the check.
func diskFree(dir string) (int64, bool) { return 0, false }

// noFollow makes an open fail on a symbolic link, where the system has
// such a flag; receive checks with Lstat first everywhere.
const noFollow = 0
