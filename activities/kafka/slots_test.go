package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// A worker's partition cap (--max-partitions) makes a shard that would pass it wait until
// other shards give their partitions back; a shard larger than the cap takes the whole cap;
// the worker stopping while a shard waits hands that shard back at once; waiting too close to
// the activity's timeout ends with a clear error.
func TestShardsWaitForTheWorkersPartitionCap(t *testing.T) {
	a := &Activities{CapturePartitions: 4}
	ctx := context.Background()
	waitFor := func(n int32) {
		for deadline := time.Now().Add(time.Minute); a.waiting.Load() != n; time.Sleep(time.Millisecond) { // polling interval
			require.True(t, time.Now().Before(deadline), "waiting shards: %d, want %d", a.waiting.Load(), n)
		}
	}

	first, err := a.capturePartitions(ctx, 3, time.Minute)
	require.NoError(t, err)
	got := make(chan func(), 1)
	go func() {
		release, err := a.capturePartitions(ctx, 10, time.Minute)
		require.NoError(t, err)
		got <- release
	}()
	waitFor(1)
	select {
	case <-got:
		t.Fatal("a shard took partitions another shard holds")
	default:
	}
	first()
	second := <-got
	waitFor(0)

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(func(ctx context.Context) error {
		_, err := a.capturePartitions(ctx, 1, time.Minute)
		return err
	}, activity.RegisterOptions{Name: "wait"})
	stop := make(chan struct{})
	env.SetWorkerStopChannel(stop)
	errc := make(chan error, 1)
	go func() {
		_, err := env.ExecuteActivity("wait")
		errc <- err
	}()
	waitFor(1)
	close(stop)
	err = <-errc
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, ErrWorkerStopping, appErr.Type())
	// A shard that would wait until less than its run time (and a minute) is left before its
	// activity's timeout says the cap is too small instead.
	dctx, dcancel := context.WithTimeout(ctx, time.Second+time.Minute+50*time.Millisecond)
	defer dcancel()
	_, err = a.capturePartitions(dctx, 1, time.Second)
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, ErrWorkerFull, appErr.Type())
	require.Contains(t, appErr.Error(), "this worker's partition cap (--max-partitions or --max-memory: 4) stayed taken by other shards")
	second()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	third, err := a.capturePartitions(tctx, 4, time.Minute)
	require.NoError(t, err, "every partition was given back")
	third()
}

// The partitions a worker captures share one fetch budget: a lone shard of a few partitions
// fetches 2 MiB per partition, a shard that starts while the worker captures thousands fetches
// the floor, whether or not the worker has a partition cap.
func TestCapturesShareTheWorkersFetchBudget(t *testing.T) {
	for _, a := range []*Activities{{}, {CapturePartitions: 3000}} {
		fetch := func(shard int) int32 {
			release, err := a.capturePartitions(context.Background(), shard, time.Minute)
			require.NoError(t, err)
			defer release()
			cfg := sarama.NewConfig()
			setCaptureFetch(cfg, shard, int(a.capturing.Load()))
			return cfg.Consumer.Fetch.Default
		}
		require.EqualValues(t, 2<<20, fetch(8), "8 partitions alone")
		require.EqualValues(t, 256<<10, fetch(128), "128 partitions alone: 32 MiB / 128")
		others, err := a.capturePartitions(context.Background(), 2000, time.Minute)
		require.NoError(t, err)
		require.EqualValues(t, 16<<10, fetch(125), "beside 2,000 others: 32 MiB / 2,125 is below the floor")
		others()
		require.Zero(t, a.capturing.Load(), "every partition counted out")
	}
}

// The worker is told how many partitions it captures each time that changes, in order, so the
// last thing it hears is the count now (its GC target follows it).
func TestCapturesReportTheirCountInOrder(t *testing.T) {
	var mu sync.Mutex
	var heard []int64
	a := &Activities{OnCapturing: func(n int64) { mu.Lock(); heard = append(heard, n); mu.Unlock() }}
	first, err := a.capturePartitions(context.Background(), 3, time.Minute)
	require.NoError(t, err)
	second, err := a.capturePartitions(context.Background(), 10, time.Minute)
	require.NoError(t, err)
	first()
	second()
	require.Equal(t, []int64{3, 13, 10, 0}, heard)

	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			release, err := a.capturePartitions(context.Background(), i%7+1, time.Minute)
			if err == nil {
				release()
			}
		})
	}
	wg.Wait()
	require.Len(t, heard, 4+128)
	require.Zero(t, heard[len(heard)-1], "the last count heard is the count now")
	for _, n := range heard {
		require.GreaterOrEqual(t, n, int64(0))
	}
}
