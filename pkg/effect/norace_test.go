//go:build !race

package effect

const raceEnabled = false
