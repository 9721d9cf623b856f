package node

import (
	"sync"
	"time"
)

// maxSkew bounds how far a line's clock may be from this node's before it
// counts as wrong: a clock further ahead is not followed, and a live line
// whose clock is further off either way is shown as arrived (its order key
// is brought within maxSkew of its arrival) with a notice about the
// sender's clock. Machines on a LAN without a time server drift by
// seconds to minutes.
const maxSkew = 2 * time.Minute

// hlc is the host's hybrid logical clock for the lines it sends, in unix
// milliseconds: the wall clock, unless a line seen from another member
// carried a later clock (within maxSkew of ours), in which case the next
// line of ours follows it by a millisecond, so a reply never sorts above
// what it answers. It never goes backwards.
type hlc struct {
	mu   sync.Mutex
	last int64 // the last value handed out
	seen int64 // the highest clock seen on others' lines, within maxSkew
}

// next returns the clock for a line sent at wall time now (unix ms).
func (c *hlc) next(now int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := max(now, c.seen+1, c.last)
	c.last = t
	return t
}

// observe notes the clock of a line of another member, received at wall
// time now (unix ms); a clock more than maxSkew ahead is ignored.
func (c *hlc) observe(clock, now int64) {
	if clock > now+maxSkew.Milliseconds() {
		return
	}
	c.mu.Lock()
	c.seen = max(c.seen, clock)
	c.mu.Unlock()
}

// liveOrder is the display order key, unix ms, of a live line with clock
// order received at now: its clock, brought within maxSkew of now. It
// reports how far the sender's wall clock sent is off, when that is more
// than maxSkew (0 otherwise).
func liveOrder(order, sent int64, now time.Time) (key int64, off time.Duration) {
	n := now.UnixMilli()
	s := maxSkew.Milliseconds()
	key = min(max(order, n-s), n+s)
	if d := time.Duration(sent-n) * time.Millisecond; d > maxSkew || d < -maxSkew {
		off = d
	}
	return key, off
}

// syncedOrder is the display order key of a line fetched by sync at now:
// its clock, but not more than maxSkew ahead of now. (When it was sent is
// unknown, so an early clock stays early.)
func syncedOrder(order int64, now time.Time) int64 {
	return min(order, now.UnixMilli()+maxSkew.Milliseconds())
}
