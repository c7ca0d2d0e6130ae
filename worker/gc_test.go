package worker_test

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
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

// A worker's memory limit caps the segments it compresses as streams at once: an eighth of the
// limit at 6 MiB a stream, at least 2; 32 without a limit. A 1 GiB container's worker (896Mi)
// streams 18 at once: 112 MiB of streams, against 448 partitions × 6 MiB = 2.6 GiB uncapped.
// Their bodies buffered within the window hold half the limit together, 256 MiB without one.
// The limit is Go's memory limit; without one, Go's soft limit is DefaultMemoryTarget.
func TestMemoryLimitCapsCompressionStreams(t *testing.T) {
	was := gcPercent()
	t.Cleanup(func() {
		debug.SetGCPercent(was)
		worker.SetGCTarget(math.MaxInt64) // stops the soft limit's follower
		archive.SetZstdStreams(0)
		archive.SetZstdBodyBudget(0)
	})
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	for _, tc := range []struct {
		limit   int64
		streams int
		bodies  int64
	}{{896 << 20, 18, 448 << 20}, {1800 << 20, 37, 900 << 20}, {128 << 20, 2, 64 << 20}, {0, 32, 256 << 20}} {
		worker.SetGCTarget(tc.limit)
		require.Equal(t, tc.streams, archive.ZstdStreams(), "memory limit %d MiB", tc.limit>>20)
		require.Equal(t, tc.bodies, archive.ZstdBodyBudget(), "memory limit %d MiB", tc.limit>>20)
		want := tc.limit
		if want == 0 {
			want = worker.DefaultMemoryTarget // soft: this process's live heap is far below it
		}
		require.Equal(t, want, debug.SetMemoryLimit(-1), "memory limit %d MiB", tc.limit>>20)
	}

	t.Setenv("GOMEMLIMIT", "700MiB")
	debug.SetMemoryLimit(700 << 20) // as the runtime does for GOMEMLIMIT at start
	worker.SetGCTarget(0)
	require.EqualValues(t, 700<<20, debug.SetMemoryLimit(-1), "GOMEMLIMIT set: left alone")
}
