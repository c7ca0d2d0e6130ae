package worker

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/testenv"
)

// The soft limit of a worker without a memory limit is its target while the live heap is
// small, follows the live heap (and a quarter) once it outgrows 4/5 of the target, and comes
// back to the target when the live heap shrinks: measured through real collections, with a
// target small enough for a test to outgrow.
func TestSoftMemoryLimitFollowsTheLiveHeap(t *testing.T) {
	t.Cleanup(func() { limitMemory(math.MaxInt64) })
	const target = 64 << 20
	followLiveHeap(target)
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	require.EqualValues(t, target, limit())

	// 96 MiB live: past 4/5 of the target, the limit rises to at least 120 MiB.
	held := make([][]byte, 96)
	for i := range held {
		held[i] = make([]byte, 1<<20)
		held[i][0] = 1
	}
	testenv.Eventually(t, 10*time.Second, "the limit following a live heap of 96 MiB", func() (bool, string) {
		runtime.GC()
		return limit() >= 120<<20, fmt.Sprintf("limit %d MiB", limit()>>20)
	})
	runtime.KeepAlive(held)

	held = nil
	testenv.Eventually(t, 10*time.Second, "the limit back at the target", func() (bool, string) {
		runtime.GC()
		return limit() == target, fmt.Sprintf("limit %d MiB", limit()>>20)
	})

	// Another target (SetGCTarget) stops the follower: a collection leaves the limit alone.
	limitMemory(math.MaxInt64)
	runtime.GC()
	runtime.GC()
	require.EqualValues(t, int64(math.MaxInt64), limit())
}

func TestSoftMemoryLimit(t *testing.T) {
	for _, tc := range []struct{ live, want int64 }{
		{0, 896 << 20}, {500 << 20, 896 << 20}, {716 << 20, 896 << 20}, {800 << 20, 1000 << 20}, {4 << 30, 5 << 30},
	} {
		require.Equal(t, tc.want, softMemoryLimit(896<<20, tc.live), "live %d MiB", tc.live>>20)
	}
}
