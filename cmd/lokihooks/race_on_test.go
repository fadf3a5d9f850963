//go:build race

package main

// raceEnabled reports a build with the race detector: child processes run
// several times slower, and the heaviest tests scale down.
const raceEnabled = true
