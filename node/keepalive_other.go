//go:build !linux && !darwin && !windows

package node

import (
	"syscall"
	"time"
)

// setLinkTimeout does nothing here: only the keepalive probes bound a
// dead link (see linkProbeCount).
func setLinkTimeout(syscall.RawConn, time.Duration) error { return nil }
