package schemabackup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"arkive.io/arkive/workflows"
)

// fakeRegistry answers Snapshot like the real activity: a snapshot is stored only when the
// registry changed since the newest one.
type fakeRegistry struct {
	changedAt map[int]bool // the registry changes before these checks (1-based)
	checks    []time.Time
	snaps     []SnapshotInfo
	objects   int
	pruned    []string
	fail      func(check int) error
}

func (f *fakeRegistry) snapshot(in SnapshotInput) (SnapshotResult, error) {
	f.checks = append(f.checks, in.Time)
	n := len(f.checks)
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return SnapshotResult{}, err
		}
	}
	res := SnapshotResult{}
	if len(f.snaps) == 0 || f.changedAt[n] {
		f.snaps = append(f.snaps, SnapshotInfo{ID: in.ID, Time: in.Time})
		f.objects++
		res.Stored = true
	}
	res.ID = f.snaps[len(f.snaps)-1].ID
	res.Snapshots = append([]SnapshotInfo(nil), f.snaps...)
	return res, nil
}

func (f *fakeRegistry) prune(in PruneInput) (PruneResult, error) {
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

func newEnv(t *testing.T, f *fakeRegistry) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(SchemaRegistryBackup, workflowOptions)
	env.RegisterActivityWithOptions(f.snapshot, activity.RegisterOptions{Name: ActivitySnapshot})
	env.RegisterActivityWithOptions(f.prune, activity.RegisterOptions{Name: ActivityPrune})
	return env
}

func query(t *testing.T, env *testsuite.TestWorkflowEnvironment) Status {
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(t, err)
	var s Status
	require.NoError(t, v.Get(&s))
	return s
}

// Acceptance #6.4: a snapshot at start, then every interval, and at once on trigger; none while
// paused; an unchanged registry stores no object; keepLast prunes the oldest.
func TestSnapshotsEveryIntervalOnTriggerAndNotWhenPaused(t *testing.T) {
	start := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	f := &fakeRegistry{changedAt: map[int]bool{3: true, 7: true, 11: true}}
	env := newEnv(t, f)
	env.SetStartTime(start)
	var paused, resumed Status
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalTrigger, nil) }, 25*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalPause, nil) }, 43*time.Minute)
	env.RegisterDelayedCallback(func() { paused = query(t, env) }, 2*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalResume, nil) }, 2*time.Hour+45*time.Minute)
	env.RegisterDelayedCallback(func() { resumed = query(t, env); env.CancelWorkflow() }, 3*time.Hour+1*time.Minute)
	env.ExecuteWorkflow(SchemaRegistryBackup, RunInput{Input: Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"},
		Spec: Spec{Enabled: true, Interval: 10 * time.Minute, KeepLast: 2}}})
	require.True(t, env.IsWorkflowCompleted())

	at := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }
	// start, 10, 20, the trigger at 25 (which restarts the interval), 35; paused from 43 to
	// 165 (nothing at 45); resume checks at once (its interval had passed), then every 10.
	want := []time.Time{at(0), at(10), at(20), at(25), at(35), at(165), at(175)}
	require.Equal(t, want, f.checks)

	require.Equal(t, PhasePaused, paused.Phase)
	require.Equal(t, ReasonPausedBySignal, paused.Reason)
	require.Equal(t, 5, paused.Checks, "no check while paused")
	require.Equal(t, PhaseRunning, resumed.Phase)
	require.Equal(t, at(175), resumed.LastBackupTime, "every check is recorded, changed or not")

	require.Equal(t, 3, f.objects, "7 checks, the registry changed twice: 3 objects")
	require.Equal(t, []string{SnapshotID(at(0), 1)}, f.pruned, "keepLast 2 drops the oldest once the third is stored")
	require.Equal(t, 2, resumed.Snapshots)
}

// spec.enabled false pauses from the start; an update enabling it starts snapshots.
func TestDisabledUntilEnabled(t *testing.T) {
	start := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	f := &fakeRegistry{}
	env := newEnv(t, f)
	env.SetStartTime(start)
	var before Status
	env.RegisterDelayedCallback(func() {
		before = query(t, env)
		env.SignalWorkflow(workflows.SignalUpdate, Spec{Enabled: true, Interval: time.Hour})
	}, 3*time.Hour)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 4*time.Hour+time.Minute)
	env.ExecuteWorkflow(SchemaRegistryBackup, RunInput{Input: Input{Spec: Spec{Enabled: false, Interval: time.Hour}}})
	require.Equal(t, PhasePaused, before.Phase)
	require.Equal(t, ReasonPausedBySpec, before.Reason)
	require.Equal(t, []time.Time{start.Add(3 * time.Hour), start.Add(4 * time.Hour)}, f.checks)
}

// A permanent error (401) halts interval snapshots until a trigger; a passing one retries
// within the interval.
func TestPermanentErrorWaitsForTrigger(t *testing.T) {
	start := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	f := &fakeRegistry{fail: func(n int) error {
		switch n {
		case 1:
			return temporal.NewNonRetryableApplicationError("the registry refused the credentials", ErrUnauthorized, nil)
		case 2:
			return temporal.NewApplicationError("registry unavailable", "Unavailable")
		}
		return nil
	}}
	env := newEnv(t, f)
	env.SetStartTime(start)
	var halted Status
	env.RegisterDelayedCallback(func() { halted = query(t, env); env.SignalWorkflow(workflows.SignalTrigger, nil) }, 5*time.Hour)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 5*time.Hour+10*time.Minute)
	env.ExecuteWorkflow(SchemaRegistryBackup, RunInput{Input: Input{Spec: Spec{Enabled: true, Interval: time.Hour}}})
	require.Equal(t, PhaseError, halted.Phase)
	require.Equal(t, ErrUnauthorized, halted.Reason)
	require.Equal(t, "the registry refused the credentials", halted.LastError)
	require.Len(t, f.checks, 3, "one check at start, none while halted for 5 hours, the trigger's, then its retry")
	require.Equal(t, start, f.checks[0])
	require.Equal(t, start.Add(5*time.Hour), f.checks[1])
	require.Less(t, f.checks[2].Sub(f.checks[1]), time.Minute, "a passing error is retried at once by the activity's retry policy")
	require.Equal(t, 1, f.objects)
}

// A status showing n checks has their outcome, retention included: queried while the third
// check's pruning runs, it still shows two checks, so whoever waits for three then finds the
// oldest snapshot gone (the race TestSchemaRegistryBackupStoresOnlyChanges lost under load).
func TestStatusCountsACheckOnceItsRetentionIsDone(t *testing.T) {
	start := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	f := &fakeRegistry{changedAt: map[int]bool{2: true, 3: true}}
	env := newEnv(t, f)
	env.SetStartTime(start)
	env.OnActivity(ActivityPrune, mock.Anything).After(5 * time.Minute).Return(f.prune)
	var during, after Status
	env.RegisterDelayedCallback(func() { during = query(t, env) }, 22*time.Minute) // the check at 20 is pruning
	env.RegisterDelayedCallback(func() { after = query(t, env); env.CancelWorkflow() }, 27*time.Minute)
	env.ExecuteWorkflow(SchemaRegistryBackup, RunInput{Input: Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"},
		Spec: Spec{Enabled: true, Interval: 10 * time.Minute, KeepLast: 2}}})
	require.True(t, env.IsWorkflowCompleted())
	require.Equal(t, 2, during.Checks, "the third check is not counted while it prunes")
	require.Equal(t, 3, after.Checks)
	require.Equal(t, 2, after.Snapshots)
	require.Len(t, f.pruned, 1)
}
