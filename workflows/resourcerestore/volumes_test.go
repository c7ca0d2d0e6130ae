package resourcerestore

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

type fakeVolumes struct {
	calls   []string
	missing map[string]bool
}

// on names the mover queue an activity ran on, if any.
func on(ctx context.Context) string {
	if q := activity.GetInfo(ctx).TaskQueue; strings.HasPrefix(q, "mover-") {
		return " on " + q
	}
	return ""
}

func (f *fakeVolumes) list(ctx context.Context, in VolumeListInput) (VolumeListResult, error) {
	f.calls = append(f.calls, "list "+in.Run+on(ctx))
	return VolumeListResult{Snapshots: []VolumeSnapshot{
		{ID: in.Run + "-a", Volume: "apps/data", Capacity: "5Gi", Files: 10, Bytes: 100},
		{ID: in.Run + "-b", Volume: "apps/logs", Files: 2, Bytes: 20},
		{ID: in.Run + "-c", Volume: "other/cache", Files: 1, Bytes: 1},
	}}, nil
}

func (f *fakeVolumes) ensure(in EnsureClaimInput) (EnsureClaimResult, error) {
	f.calls = append(f.calls, "ensure "+in.Namespace+"/"+in.Name+" "+in.Capacity)
	if f.missing[in.Namespace+"/"+in.Name] {
		if !in.Create {
			return EnsureClaimResult{}, temporal.NewNonRetryableApplicationError("volume "+in.Namespace+"/"+in.Name+": the PersistentVolumeClaim does not exist", ErrInvalidSpec, nil)
		}
		return EnsureClaimResult{Created: true}, nil
	}
	return EnsureClaimResult{}, nil
}

func (f *fakeVolumes) start(in workflows.MoverInput) (workflows.MoverResult, error) {
	if in.Claim != "" && !in.Write {
		return workflows.MoverResult{}, temporal.NewNonRetryableApplicationError("a restore's mover must write", ErrInvalidSpec, nil)
	}
	call := "start " + in.Namespace + "/" + in.Claim
	if in.Storage != nil {
		call += " with " + in.Storage.Name
	}
	f.calls = append(f.calls, call)
	return workflows.MoverResult{TaskQueue: "mover-" + in.Claim}, nil
}

func (f *fakeVolumes) stop(in workflows.MoverInput) error {
	f.calls = append(f.calls, "stop "+in.Namespace+"/"+in.Claim)
	return nil
}

func (f *fakeVolumes) restore(ctx context.Context, in VolumeRestoreInput) (VolumeRestoreResult, error) {
	call := "restore " + in.Snapshot + " on " + activity.GetInfo(ctx).TaskQueue
	if in.KeepExisting {
		call += ", keeping what is there"
	}
	f.calls = append(f.calls, call)
	return VolumeRestoreResult{Files: 10, Bytes: 100, Skipped: 1}, nil
}

func runVolumes(t *testing.T, f *fakeTarget, v *fakeVolumes, spec Spec) (Status, error) {
	return runVolumesFrom(t, f, v, Connection{}, spec)
}

func runVolumesFrom(t *testing.T, f *fakeTarget, v *fakeVolumes, conn Connection, spec Spec) (Status, error) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ResourceRestore, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(func(ctx context.Context, in Input) (Plan, error) {
		v.calls = append(v.calls, "plan"+on(ctx))
		return f.planRestore(in)
	}, activity.RegisterOptions{Name: ActivityPlan})
	env.RegisterActivityWithOptions(func(ctx context.Context, in ApplyInput) (ApplyResult, error) {
		v.calls = append(v.calls, "apply "+in.Step+on(ctx))
		return f.apply(in)
	}, activity.RegisterOptions{Name: ActivityApply})
	env.RegisterActivityWithOptions(v.list, activity.RegisterOptions{Name: ActivityVolumeList})
	env.RegisterActivityWithOptions(v.ensure, activity.RegisterOptions{Name: ActivityEnsureClaim})
	env.RegisterActivityWithOptions(v.start, activity.RegisterOptions{Name: workflows.ActivityStartMover})
	env.RegisterActivityWithOptions(v.stop, activity.RegisterOptions{Name: workflows.ActivityStopMover})
	env.RegisterActivityWithOptions(v.restore, activity.RegisterOptions{Name: ActivityVolumeRestore})
	env.ExecuteWorkflow(ResourceRestore, Input{Connection: conn, Spec: spec})
	require.True(t, env.IsWorkflowCompleted())
	v2, err := env.QueryWorkflow("status")
	require.NoError(t, err)
	var st Status
	require.NoError(t, v2.Get(&st))
	return st, env.GetWorkflowError()
}

// Volumes are restored after the objects, each selected one into its target claim (the claim
// mapping first, then the namespace mapping), created when missing, through a mover of its
// own that is stopped afterwards; a dry run only lists them; a missing claim without
// createMissing fails naming it.
func TestVolumesAfterObjectsIntoMappedClaims(t *testing.T) {
	f := &fakeTarget{plan: Plan{Snapshot: "s1", Steps: []Step{{Name: "3-config", Objects: 1}}, Counts: Counts{Total: 1, Created: 1}},
		results: map[string]ApplyResult{"3-config": {Counts: Counts{Total: 1, Created: 1}}}}
	v := &fakeVolumes{missing: map[string]bool{"restored/data-copy": true}}
	spec := Spec{NamespaceMapping: map[string]string{"apps": "restored"}, Volumes: &VolumeSpec{
		Claims: []string{"apps/data", "apps/logs"}, ClaimMapping: map[string]string{"apps/data": "restored/data-copy"}, CreateMissing: true}}
	st, err := runVolumes(t, f, v, spec)
	require.NoError(t, err)
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, []string{"plan", "list s1", "apply 3-config",
		"ensure restored/data-copy 5Gi", "start restored/data-copy", "restore s1-a on mover-data-copy", "stop restored/data-copy",
		"ensure restored/logs ", "start restored/logs", "restore s1-b on mover-logs", "stop restored/logs"}, v.calls)
	require.Equal(t, []VolumeResult{
		{Volume: "apps/data", Target: "restored/data-copy", Created: true, Files: 10, Bytes: 100, Skipped: 1},
		{Volume: "apps/logs", Target: "restored/logs", Files: 10, Bytes: 100, Skipped: 1}}, st.Volumes)

	// A dry run lists the volumes and their targets and writes nothing.
	v = &fakeVolumes{}
	spec.DryRun = true
	st, err = runVolumes(t, f, v, spec)
	require.NoError(t, err)
	require.Equal(t, []string{"plan", "list s1"}, v.calls)
	require.Len(t, st.Volumes, 2)
	require.Equal(t, "restored/data-copy", st.Volumes[0].Target)

	// Nothing to write among the objects: the volumes are restored all the same.
	v = &fakeVolumes{missing: map[string]bool{"restored/data-copy": true}}
	spec.DryRun, spec.Volumes.CreateMissing = false, false
	f.plan.Counts = Counts{Total: 1, Unchanged: 1}
	st, err = runVolumes(t, f, v, spec)
	require.Error(t, err)
	require.Equal(t, PhaseFailed, st.Phase)
	require.Contains(t, st.LastError, "volume restored/data-copy: the PersistentVolumeClaim does not exist")
	require.Equal(t, []string{"plan", "list s1", "ensure restored/data-copy 5Gi"}, v.calls)
}

// A Storage kept in a claim (volume.claim, volume.create) is read only by a mover Pod that
// mounts it: the plan, the objects and the volume list run on a mover of its own, stopped
// before the volumes' movers start (a ReadWriteOnce claim is attached to one node at a time),
// and each volume's mover mounts the storage claim too.
func TestStorageInAClaimIsReadThroughMovers(t *testing.T) {
	f := &fakeTarget{plan: Plan{Snapshot: "s1", Steps: []Step{{Name: "3-config", Objects: 1}}, Counts: Counts{Total: 1, Created: 1}},
		results: map[string]ApplyResult{"3-config": {Counts: Counts{Total: 1, Created: 1}}}}
	v := &fakeVolumes{}
	conn := Connection{StorageClaim: &workflows.StorageClaim{Namespace: "apps", Name: "arkive-st"}}
	st, err := runVolumesFrom(t, f, v, conn, Spec{Volumes: &VolumeSpec{Claims: []string{"apps/data"}, KeepExisting: true}})
	require.NoError(t, err)
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, []string{"start apps/ with arkive-st", "plan on mover-", "list s1 on mover-", "apply 3-config on mover-", "stop apps/",
		"ensure apps/data 5Gi", "start apps/data with arkive-st", "restore s1-a on mover-data, keeping what is there", "stop apps/data"}, v.calls)
}
