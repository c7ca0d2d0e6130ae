package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The mover Pods of volumes (ResourceBackup and ResourceRestore): activities of the Kubernetes
// side, on the shared queue.
const (
	ActivityStartMover = "arkive.kube.StartMover"
	ActivityStopMover  = "arkive.kube.StopMover"
)

// MoverInput names one mover: the claims it mounts and what it does with them.
type MoverInput struct {
	Namespace string `json:"namespace"`
	// Claim is the volume the mover backs up or restores into; empty for a mover that only
	// serves a StorageClaim.
	Claim string `json:"claim,omitempty"`
	// Storage, when set, is the claim that keeps the backups (a Storage with volume.claim or
	// volume.create), mounted read-write; StartMover makes it from its template when missing.
	Storage *StorageClaim `json:"storage,omitempty"`
	// Key makes the mover's name and task queue: the same key (a retried activity, a
	// workflow that replays) finds the same Pod.
	Key string `json:"key"`
	// Write mounts the volume read-write (a restore); a backup's mover mounts it read-only.
	Write bool `json:"write,omitempty"`
	// RunAsUser and FSGroup run the mover as the files' owner, under the restricted Pod
	// Security profile. ReadAllFiles instead runs it as root with only the capability
	// DAC_OVERRIDE (reading every file, whatever its owner; the baseline profile).
	RunAsUser    *int64 `json:"runAsUser,omitempty"`
	FSGroup      *int64 `json:"fsGroup,omitempty"`
	ReadAllFiles bool   `json:"readAllFiles,omitempty"`
}

// MoverResult is a started mover.
type MoverResult struct {
	Pod       string `json:"pod"`
	TaskQueue string `json:"taskQueue"`
	// Node is where the volume is in use by another Pod (a ReadWriteOnce volume), so the
	// mover was placed there; empty when the scheduler chose.
	Node string `json:"node,omitempty"`
}

// WithMover starts the mover Pod for a claim, runs do with activity options that send its
// activities to the mover's task queue, and deletes the Pod whatever happened (also when the
// workflow is cancelled).
func WithMover[T any](ctx workflow.Context, in MoverInput, do func(workflow.Context) (T, error)) (T, error) {
	var zero T
	var m MoverResult
	kctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 15 * time.Minute, HeartbeatTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{ErrInvalidSpec}}})
	defer func() {
		// Disconnected: a cancelled workflow still removes its mover.
		dctx, _ := workflow.NewDisconnectedContext(kctx)
		_ = workflow.ExecuteActivity(dctx, ActivityStopMover, in).Get(dctx, nil)
	}()
	if err := workflow.ExecuteActivity(kctx, ActivityStartMover, in).Get(kctx, &m); err != nil {
		return zero, err
	}
	mctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: m.TaskQueue,
		// The mover polls its queue once its Pod runs; a task nobody takes means the Pod is gone.
		ScheduleToStartTimeout: 10 * time.Minute, StartToCloseTimeout: 24 * time.Hour, HeartbeatTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 10,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrStorageAccessDenied, ErrCorruptSnapshot}}})
	return do(mctx)
}

// WithStorage runs do with activity options opts where the connection's storage can be read
// and written: on the workers, or, for a Storage kept in a PersistentVolumeClaim, on a mover
// Pod of its own that mounts that claim (named by key, stopped when do returns). The mover runs
// as user says (RunAsUser, FSGroup, ReadAllFiles: those of the volumes' movers, so that every
// mover can write what the others wrote). Only the activities do runs with the context it gets
// go there.
func WithStorage(ctx workflow.Context, conn ResourceConnection, key string, user MoverInput, opts workflow.ActivityOptions, do func(workflow.Context) error) error {
	if conn.StorageClaim == nil {
		return do(workflow.WithActivityOptions(ctx, opts))
	}
	in := MoverInput{Namespace: conn.StorageClaim.Namespace, Storage: conn.StorageClaim,
		RunAsUser: user.RunAsUser, FSGroup: user.FSGroup, ReadAllFiles: user.ReadAllFiles,
		Key: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + key}
	_, err := WithMover(ctx, in, func(mctx workflow.Context) (struct{}, error) {
		opts.TaskQueue = workflow.GetActivityOptions(mctx).TaskQueue
		if opts.ScheduleToStartTimeout == 0 {
			opts.ScheduleToStartTimeout = workflow.GetActivityOptions(mctx).ScheduleToStartTimeout
		}
		return struct{}{}, do(workflow.WithActivityOptions(ctx, opts))
	})
	return err
}
