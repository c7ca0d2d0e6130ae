package resourcebackup

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

// fakeCluster answers Snapshot as the real activity does (every call stores a snapshot) and
// Prune by dropping what it is asked to.
type fakeCluster struct {
	times  []time.Time
	snaps  []SnapshotInfo
	pruned []string
	fail   func(n int) error
	// queues are the task queues Snapshot and Prune ran on.
	queues []string
}

func (f *fakeCluster) snapshot(ctx context.Context, in SnapshotInput) (SnapshotResult, error) {
	f.queues = append(f.queues, "snapshot on "+activity.GetInfo(ctx).TaskQueue)
	f.times = append(f.times, in.Time)
	if f.fail != nil {
		if err := f.fail(len(f.times)); err != nil {
			return SnapshotResult{}, err
		}
	}
	f.snaps = append(f.snaps, SnapshotInfo{ID: in.ID, Time: in.Time})
	return SnapshotResult{ID: in.ID, Objects: 7, Snapshots: append([]SnapshotInfo(nil), f.snaps...)}, nil
}

func (f *fakeCluster) prune(ctx context.Context, in PruneInput) (PruneResult, error) {
	f.queues = append(f.queues, "prune on "+activity.GetInfo(ctx).TaskQueue)
	f.pruned = append(f.pruned, in.Drop...)
	var keep []SnapshotInfo
	for _, s := range f.snaps {
		drop := false
		for _, d := range in.Drop {
			drop = drop || d == s.ID
		}
		if !drop {
			keep = append(keep, s)
		}
	}
	f.snaps = keep
	return PruneResult{Deleted: len(in.Drop)}, nil
}

func newEnv(f *fakeCluster, start time.Time) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ResourceBackup, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(f.snapshot, activity.RegisterOptions{Name: ActivitySnapshot})
	env.RegisterActivityWithOptions(f.prune, activity.RegisterOptions{Name: ActivityPrune})
	env.SetStartTime(start)
	return env
}

func query(t *testing.T, env *testsuite.TestWorkflowEnvironment) Status {
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(t, err)
	var s Status
	require.NoError(t, v.Get(&s))
	return s
}

// A snapshot at start, then on each cron tick and at once on trigger; none while paused;
// keepLast 2 prunes the oldest as each new one is stored.
func TestSnapshotsOnScheduleTriggerAndNotWhilePaused(t *testing.T) {
	start := time.Date(2026, 12, 2, 0, 30, 0, 0, time.UTC)
	f := &fakeCluster{}
	env := newEnv(f, start)
	var paused, last Status
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalTrigger, nil) }, 100*time.Minute) // 02:10
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalPause, nil) }, 110*time.Minute)   // 02:20
	env.RegisterDelayedCallback(func() { paused = query(t, env) }, 4*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalResume, nil) }, 4*time.Hour+10*time.Minute) // 04:40
	env.RegisterDelayedCallback(func() { last = query(t, env); env.CancelWorkflow() }, 5*time.Hour+40*time.Minute)      // 06:10
	env.ExecuteWorkflow(ResourceBackup, RunInput{Input: Input{Spec: Spec{Enabled: true, Schedule: "0 * * * *", KeepLast: 2}}})
	require.True(t, env.IsWorkflowCompleted())

	at := func(h, m int) time.Time { return time.Date(2026, 12, 2, h, m, 0, 0, time.UTC) }
	// start 00:30, ticks 01:00 and 02:00, the trigger at 02:10; paused 02:20–04:40 (no 03:00,
	// 04:00): the resume takes the missed snapshot at once; ticks 05:00 and 06:00.
	require.Equal(t, []time.Time{at(0, 30), at(1, 0), at(2, 0), at(2, 10), at(4, 40), at(5, 0), at(6, 0)}, f.times)
	require.Equal(t, PhasePaused, paused.Phase)
	require.Equal(t, ReasonPausedBySignal, paused.Reason)
	require.Equal(t, PhaseRunning, last.Phase)
	require.Equal(t, ReasonWaitingForSchedule, last.Reason)
	require.Equal(t, at(7, 0), last.NextSnapshot)
	require.Equal(t, 2, last.Snapshots)
	require.Equal(t, []string{SnapshotID(at(0, 30), 1), SnapshotID(at(1, 0), 2), SnapshotID(at(2, 0), 3), SnapshotID(at(2, 10), 4), SnapshotID(at(4, 40), 5)}, f.pruned)
}

// Without a schedule: one snapshot at start, then one per trigger. A permanent error halts
// until a trigger; a passing one is tried again after the retry pause.
func TestOneShotAndErrors(t *testing.T) {
	start := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	f := &fakeCluster{fail: func(n int) error {
		switch n {
		case 2:
			return temporal.NewNonRetryableApplicationError("spec.resources[0]: the cluster serves no kind Gadget", ErrInvalidSpec, nil)
		case 4, 5, 6, 7, 8: // every attempt of the activity's retry policy
			return temporal.NewApplicationError("connection refused", ErrKubernetes)
		}
		return nil
	}}
	env := newEnv(f, start)
	var waiting, halted, retrying Status
	env.RegisterDelayedCallback(func() { waiting = query(t, env); env.SignalWorkflow(workflows.SignalTrigger, nil) }, time.Hour)
	env.RegisterDelayedCallback(func() { halted = query(t, env); env.SignalWorkflow(workflows.SignalTrigger, nil) }, 2*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalTrigger, nil) }, 3*time.Hour)
	env.RegisterDelayedCallback(func() { retrying = query(t, env) }, 3*time.Hour+20*time.Second) // after the five attempts (backoff 1+2+4+8 s)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 5*time.Hour)
	env.ExecuteWorkflow(ResourceBackup, RunInput{Input: Input{Spec: Spec{Enabled: true}}})
	require.Equal(t, PhaseRunning, waiting.Phase)
	require.Equal(t, ReasonWaitingForTrigger, waiting.Reason)
	require.True(t, waiting.NextSnapshot.IsZero())
	require.Equal(t, PhaseError, halted.Phase)
	require.Equal(t, ErrInvalidSpec, halted.Reason)
	require.Contains(t, halted.LastError, "Gadget")
	require.Equal(t, PhaseRunning, retrying.Phase)
	require.Equal(t, ReasonRetrying, retrying.Reason)
	// start; the trigger at 1h fails for good; the trigger at 2h; the trigger at 3h fails
	// passing on every attempt, and the workflow tries again once the retry pause has passed
	// (the ninth call), then nothing until a trigger.
	// Every attempt of one snapshot carries the same time (and id): a retry writes the same objects.
	h3 := start.Add(3 * time.Hour)
	require.Equal(t, []time.Time{start, start.Add(time.Hour), start.Add(2 * time.Hour), h3, h3, h3, h3, h3}, f.times[:8])
	require.Len(t, f.times, 9)
	require.True(t, !f.times[8].Before(h3.Add(workflows.RetryPause)) && f.times[8].Before(h3.Add(workflows.RetryPause+time.Minute)), "%s", f.times[8])
}
