//go:build !race

package node

// raceOn reports whether the race detector is on (see flood_race_test.go).
const raceOn = false
