package kafkarestore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// streamRounds restores one topic of n partitions (Same mapping: a stream each) through the
// workflow with every activity mocked, each stream finishing in one 20-second activity, and
// continues as new until the restore is done. It returns the most Restore activities pending
// at once, the events of the longest run (counted as the server would: one when an activity
// is scheduled, two when it ends) and how many runs it took.
func streamRounds(t *testing.T, n int, legacy bool) (maxPending, longest, runs int) {
	t.Helper()
	in := RunInput{Input: Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"},
		Spec: Spec{PartitionMapping: MappingSame, Topics: []TopicMapping{{Source: "orders", Target: "orders-restored"}}}}}
	plan := Plan{Generation: 1, Topics: []PlannedTopic{{Source: "orders", Target: "orders-restored", Partitions: int32(n)}}}
	for p := range int32(n) {
		plan.Streams = append(plan.Streams, Stream{Source: "orders", Target: "orders-restored", Partitions: []StreamPartition{{Partition: p, Upto: 10}}, Records: 10})
	}
	pre := PreflightResult{Targets: []TargetTopic{{Name: "orders-restored", Partitions: int32(n), MaxMessageBytes: 1 << 20, Baseline: make(Offsets, n)}}}
	restored := make([]int, n)
	for {
		runs++
		require.Less(t, runs, 20, "too many runs")
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		// The test worker's own slots (1,000 by default) must not be what caps the streams.
		tuner, err := worker.NewFixedSizeTuner(worker.FixedSizeTunerOptions{NumActivitySlots: 2 * n})
		require.NoError(t, err)
		env.SetWorkerOptions(worker.Options{Tuner: tuner})
		var mu sync.Mutex
		pending, events := 0, 10
		env.RegisterWorkflowWithOptions(KafkaRestore, workflow.RegisterOptions{Name: WorkflowName})
		env.RegisterActivityWithOptions(func(PlanInput) (Plan, error) { return plan, nil }, activity.RegisterOptions{Name: ActivityPlan})
		env.RegisterActivityWithOptions(func(PreflightInput) (PreflightResult, error) { return pre, nil }, activity.RegisterOptions{Name: ActivityPreflight})
		env.RegisterActivityWithOptions(func(UnpinInput) error { return nil }, activity.RegisterOptions{Name: ActivityUnpin})
		restore := func(in RestoreInput) (Progress, error) {
			mu.Lock()
			defer mu.Unlock()
			own := in.Stream.Partitions[0].Partition
			restored[own]++
			target := in.Target.Baseline
			target[own] = 10
			return Progress{Part: 0, Next: 10, Index: 10, Target: target, Records: 10, Done: true}, nil
		}
		env.RegisterActivityWithOptions(restore, activity.RegisterOptions{Name: ActivityRestore})
		env.OnActivity(ActivityRestore, mock.Anything, mock.Anything).Return(restore).After(20 * time.Second)
		if legacy {
			env.OnGetVersion(versionStreamCap, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			if info.ActivityType.Name != ActivityRestore {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			pending++
			maxPending = max(maxPending, pending)
			events++
			env.SetCurrentHistoryLength(events)
		})
		env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, _ error) {
			if info.ActivityType.Name != ActivityRestore {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			pending--
			events += 2
			env.SetCurrentHistoryLength(events)
		})
		env.ExecuteWorkflow(KafkaRestore, in)
		longest = max(longest, events)
		var can *workflow.ContinueAsNewError
		if err := env.GetWorkflowError(); errors.As(err, &can) {
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
			continue
		} else {
			require.NoError(t, err)
		}
		var res Result
		require.NoError(t, env.GetWorkflowResult(&res))
		require.Equal(t, PhaseDone, res.Status.Phase)
		require.EqualValues(t, 10*n, res.Status.Records)
		break
	}
	for p, k := range restored {
		require.Equal(t, 1, k, "partition %d restored once", p)
	}
	return maxPending, longest, runs
}

// A restore of 2,500 partitions keeps at most maxRunningStreams streams pending (Temporal's
// default limit is 2,000 per workflow), starts the next as one ends, and continues as new
// before its history passes 10,000 events; every stream runs exactly once. (The cap is 300
// here: the SDK's test environment cannot hold many more than 1,000 activities at once.)
func TestRestoreOfManyPartitionsCapsItsStreams(t *testing.T) {
	defer func(c int) { maxRunningStreams = c }(maxRunningStreams)
	maxRunningStreams = 300
	maxPending, longest, runs := streamRounds(t, 2500, false)
	require.Equal(t, 300, maxPending, "streams pending at once")
	require.Less(t, longest, 10_000, "events in a run")
	require.Greater(t, runs, 1, "the restore continued as new")
	t.Logf("%d runs, at most %d streams pending, longest run %d events", runs, maxPending, longest)
}

// A run that began before the cap starts every stream at once, as it did then.
func TestRestoreBeforeTheCapStartsEveryStream(t *testing.T) {
	defer func(c int) { maxRunningStreams = c }(maxRunningStreams)
	maxRunningStreams = 300
	maxPending, _, _ := streamRounds(t, 800, true)
	require.Equal(t, 800, maxPending, "streams pending at once")
}
