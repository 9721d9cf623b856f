//go:build linux || darwin

package node

import "syscall"

// diskFree returns the bytes free to an unprivileged user on the file
// system of dir, and whether it could tell.
func diskFree(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	free := uint64(st.Bavail) * uint64(st.Bsize)
	return int64(min(free, 1<<62)), true
}

// noFollow makes an open fail on a symbolic link.
const noFollow = syscall.O_NOFOLLOW
