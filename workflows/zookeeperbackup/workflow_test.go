package zookeeperbackup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

// fakeEnsemble answers Snapshot as the real activity does (every call stores a snapshot, the
// second one fuzzy) and Prune by dropping what it is asked to.
type fakeEnsemble struct {
	snaps  []SnapshotInfo
	pruned []string
}

func (f *fakeEnsemble) snapshot(in SnapshotInput) (SnapshotResult, error) {
	f.snaps = append(f.snaps, SnapshotInfo{ID: in.ID, Time: in.Time})
	s := Summary{ID: in.ID, Time: in.Time, Nodes: len(f.snaps), StartZxid: 10, EndZxid: 10, Consistency: Consistent}
	res := SnapshotResult{Summary: s, Snapshots: append([]SnapshotInfo(nil), f.snaps...)}
	if len(f.snaps) == 2 {
		res.EndZxid, res.Consistency, res.Warning = 12, Fuzzy, "snapshot is fuzzy"
	}
	return res, nil
}

func (f *fakeEnsemble) prune(in PruneInput) (PruneResult, error) {
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

// Snapshots on every tick of the schedule; keepLast 3 prunes the oldest, and the status lists
// the kept ones (newest last) with their consistency; the warning follows the newest run.
func TestScheduledSnapshotsListedAndPruned(t *testing.T) {
	start := time.Date(2026, 12, 2, 0, 30, 0, 0, time.UTC)
	f := &fakeEnsemble{}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ZooKeeperBackup, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(f.snapshot, activity.RegisterOptions{Name: ActivitySnapshot})
	env.RegisterActivityWithOptions(f.prune, activity.RegisterOptions{Name: ActivityPrune})
	env.SetStartTime(start)
	var afterFuzzy, last Status
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryStatus)
		require.NoError(t, err)
		require.NoError(t, v.Get(&afterFuzzy))
	}, 40*time.Minute) // 01:10, after the 01:00 snapshot
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryStatus)
		require.NoError(t, err)
		require.NoError(t, v.Get(&last))
		env.CancelWorkflow()
	}, 5*time.Hour+40*time.Minute) // 06:10
	env.ExecuteWorkflow(ZooKeeperBackup, RunInput{Input: Input{Spec: Spec{Enabled: true, Schedule: "0 * * * *", KeepLast: 3}}})
	require.True(t, env.IsWorkflowCompleted())

	require.Equal(t, "snapshot is fuzzy", afterFuzzy.Warning)
	require.Equal(t, Fuzzy, afterFuzzy.Listed[len(afterFuzzy.Listed)-1].Consistency)
	at := func(h, m int) time.Time { return time.Date(2026, 12, 2, h, m, 0, 0, time.UTC) }
	require.Equal(t, 3, last.Snapshots)
	require.Empty(t, last.Warning)
	require.Len(t, last.Listed, 3)
	require.Equal(t, []string{SnapshotID(at(4, 0), 5), SnapshotID(at(5, 0), 6), SnapshotID(at(6, 0), 7)},
		[]string{last.Listed[0].ID, last.Listed[1].ID, last.Listed[2].ID})
	require.Equal(t, last.Listed[2].ID, last.LastSnapshot)
	require.Equal(t, []string{SnapshotID(at(0, 30), 1), SnapshotID(at(1, 0), 2), SnapshotID(at(2, 0), 3), SnapshotID(at(3, 0), 4)}, f.pruned)
	require.Equal(t, PhaseRunning, last.Phase)
	require.Equal(t, at(7, 0), last.NextSnapshot)
}
