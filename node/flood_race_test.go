//go:build race

package node

// raceOn reports whether the race detector is on: it makes signature
// checks ten times slower, so flood tests scale down.
const raceOn = true
