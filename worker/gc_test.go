package worker_test

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/worker"
)

// gcPercent reads the process's GC target.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// A worker process collects at GCPercent while it captures and at IdleGCPercent otherwise,
// unless GOGC says what it wants.
func TestGCTargetFollowsCaptures(t *testing.T) {
	was := gcPercent()
	t.Cleanup(func() { debug.SetGCPercent(was) })
	t.Setenv("GOGC", "")
	require.NotEqual(t, worker.GCPercent, worker.IdleGCPercent)

	worker.FollowCaptures(0)
	require.Equal(t, worker.IdleGCPercent, gcPercent(), "capturing nothing")
	worker.FollowCaptures(2000)
	require.Equal(t, worker.GCPercent, gcPercent(), "capturing 2,000 partitions")
	worker.FollowCaptures(0)
	require.Equal(t, worker.IdleGCPercent, gcPercent(), "the captures ended")

	t.Setenv("GOGC", "80")
	debug.SetGCPercent(80) // as the runtime does for GOGC at start
	worker.FollowCaptures(5)
	require.Equal(t, 80, gcPercent(), "GOGC set: left alone")
	worker.FollowCaptures(0)
	require.Equal(t, 80, gcPercent(), "GOGC set: left alone")
}
