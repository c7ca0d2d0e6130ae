package resourcebackup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"arkive.io/arkive/workflows"
)

// fakeVolumes records the order of the volume activities, as the workflow calls them.
type fakeVolumes struct {
	calls    []string
	running  map[string]bool // mover keys started and not stopped
	failMove string          // a claim whose mover cannot start
	kept     [][]string
}

func (f *fakeVolumes) list(in ListVolumesInput) (ListVolumesResult, error) {
	f.calls = append(f.calls, "list")
	return ListVolumesResult{Claims: []Claim{{Namespace: "apps", Name: "data", Capacity: "1Gi"}, {Namespace: "apps", Name: "logs"}}}, nil
}

func (f *fakeVolumes) start(in MoverInput) (MoverResult, error) {
	call := "start " + in.Claim
	if in.Storage != nil {
		call += " with " + in.Storage.Name
	}
	f.calls = append(f.calls, call)
	f.running[in.Key] = true
	if f.failMove != "" && in.Claim == f.failMove {
		return MoverResult{}, temporal.NewNonRetryableApplicationError("volume apps/"+in.Claim+": mover Pod: ErrImagePull", ErrInvalidSpec, nil)
	}
	return MoverResult{Pod: "arkive-mover-x", TaskQueue: "arkive-mover-" + in.Claim}, nil
}

func (f *fakeVolumes) stop(in MoverInput) error {
	f.calls = append(f.calls, "stop "+in.Claim)
	delete(f.running, in.Key)
	return nil
}

func (f *fakeVolumes) backup(ctx context.Context, in VolumeBackupInput) (VolumeBackupResult, error) {
	f.calls = append(f.calls, fmt.Sprintf("backup %s on %s", in.Volume, activity.GetInfo(ctx).TaskQueue))
	if in.Run == "" || in.Claim == nil || in.Snapshot != VolumeSnapshotID(in.Run, in.Claim.Namespace, in.Claim.Name) {
		return VolumeBackupResult{}, fmt.Errorf("bad input %+v", in)
	}
	return VolumeBackupResult{Snapshot: in.Snapshot, Files: 3, Bytes: 1000}, nil
}

func (f *fakeVolumes) prune(ctx context.Context, in VolumePruneInput) (VolumePruneResult, error) {
	if q := activity.GetInfo(ctx).TaskQueue; strings.HasPrefix(q, "arkive-mover-") {
		f.calls = append(f.calls, "prune volumes on "+q)
	}
	f.kept = append(f.kept, in.KeepRuns)
	return VolumePruneResult{}, nil
}

// env is newEnv with the volume activities answered by v.
func (v *fakeVolumes) env(f *fakeCluster, start time.Time) *testsuite.TestWorkflowEnvironment {
	env := newEnv(f, start)
	env.RegisterActivityWithOptions(v.list, activity.RegisterOptions{Name: ActivityListVolumes})
	env.RegisterActivityWithOptions(v.start, activity.RegisterOptions{Name: ActivityStartMover})
	env.RegisterActivityWithOptions(v.stop, activity.RegisterOptions{Name: ActivityStopMover})
	env.RegisterActivityWithOptions(v.backup, activity.RegisterOptions{Name: ActivityVolumeBackup})
	env.RegisterActivityWithOptions(v.prune, activity.RegisterOptions{Name: ActivityVolumePrune})
	return env
}

// Each snapshot copies every selected claim through a mover of its own (started, used through
// its own task queue, stopped), before the resource snapshot that names the run; retention
// keeps the volume snapshots of the kept runs only. A mover that cannot start fails the run
// with its message, is stopped all the same, and no resource snapshot is taken.
func TestVolumesGoThroughAMoverEachAndRetention(t *testing.T) {
	start := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	f := &fakeCluster{}
	v := &fakeVolumes{running: map[string]bool{}}
	env := v.env(f, start)
	var first, failed Status
	env.RegisterDelayedCallback(func() {
		first = query(t, env)
		v.failMove = "logs"
		env.SignalWorkflow(workflows.SignalTrigger, nil)
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		failed = query(t, env)
		v.failMove = ""
		env.SignalWorkflow(workflows.SignalTrigger, nil)
	}, 2*time.Hour)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 3*time.Hour)
	env.ExecuteWorkflow(ResourceBackup, RunInput{Input: Input{Spec: Spec{Enabled: true, KeepLast: 1,
		Volumes: []VolumeSpec{{Namespace: "apps", Claims: []string{"data", "logs"}}}}}})
	require.True(t, env.IsWorkflowCompleted())

	perRun := []string{"list", "start data", "backup apps/data on arkive-mover-data", "stop data",
		"start logs", "backup apps/logs on arkive-mover-logs", "stop logs"}
	require.Equal(t, perRun, v.calls[:7])
	require.Equal(t, 2, first.Volumes)
	require.Equal(t, int64(2000), first.VolumeBytes)
	require.Equal(t, []string{"list", "start data", "backup apps/data on arkive-mover-data", "stop data", "start logs", "stop logs"}, v.calls[7:13])
	require.Equal(t, PhaseError, failed.Phase)
	require.Contains(t, failed.LastError, "volume apps/logs: mover Pod: ErrImagePull")
	require.Equal(t, perRun, v.calls[13:])
	require.Empty(t, v.running, "every mover started was stopped")
	// Two resource snapshots were taken (the failed run took none); keepLast 1 dropped the
	// first, and the volume prune kept only the newest run's volumes.
	require.Len(t, f.times, 2)
	require.Len(t, v.kept, 1)
	require.Equal(t, []string{f.snaps[0].ID}, v.kept[0])
	require.False(t, slices.Contains(v.kept[0], SnapshotID(start, 1)))
}

// A Storage kept in a claim is written only by mover Pods that mount it: each volume's mover
// mounts it beside the volume, the resource snapshot and retention run on a mover of their
// own, and every mover is stopped.
func TestStorageInAClaimIsWrittenThroughMovers(t *testing.T) {
	start := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	f := &fakeCluster{}
	v := &fakeVolumes{running: map[string]bool{}}
	env := v.env(f, start)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalTrigger, nil) }, time.Hour)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 2*time.Hour)
	conn := Connection{StorageClaim: &workflows.StorageClaim{Namespace: "apps", Name: "arkive-st"}}
	env.ExecuteWorkflow(ResourceBackup, RunInput{Input: Input{Connection: conn, Spec: Spec{Enabled: true, KeepLast: 1,
		Volumes: []VolumeSpec{{Namespace: "apps", Claims: []string{"data"}}}}}})
	require.True(t, env.IsWorkflowCompleted())
	run := []string{"list", "start data with arkive-st", "backup apps/data on arkive-mover-data", "stop data",
		"start logs with arkive-st", "backup apps/logs on arkive-mover-logs", "stop logs", "start  with arkive-st", "stop "}
	require.Equal(t, run, v.calls[:9])
	require.Equal(t, append(run, "start  with arkive-st", "prune volumes on arkive-mover-", "stop "), v.calls[9:])
	require.Equal(t, []string{"snapshot on arkive-mover-", "snapshot on arkive-mover-", "prune on arkive-mover-"}, f.queues)
	require.Empty(t, v.running, "every mover started was stopped")
}
