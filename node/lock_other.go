//go:build !unix

package node

import "os"

// tryLock does nothing where flock is missing: two processes sharing one
// identity file then share a peer ID, so give each its own IdentityPath.
func tryLock(*os.File) error { return nil }
