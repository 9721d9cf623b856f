package node

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeback starts writing bytes [off, off+n) of f to disk, and waits
// until the window before it, from prev, is there: a download keeps at
// most two windows unwritten, and its final sync is short. Errors are
// left to datasync.
func writeback(f *os.File, prev, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
		if off > prev {
			unix.SyncFileRange(int(fd), prev, off-prev,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		}
	})
}

// datasync commits f's data (and its size) to disk.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = unix.Fdatasync(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
