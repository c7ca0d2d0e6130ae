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

// MoverInput names one mover: the claim it mounts and what it does with it.
type MoverInput struct {
	Namespace string `json:"namespace"`
	Claim     string `json:"claim"`
	// Key makes the mover's name and task queue: the same key (a retried activity, a
	// workflow that replays) finds the same Pod.
	Key string `json:"key"`
	// Write mounts the volume read-write (a restore); a backup's mover mounts it read-only.
	Write bool `json:"write,omitempty"`
	// RunAsUser and FSGroup run the mover as the files' owner, under the restricted Pod
	// Security profile. ReadAllFiles instead runs it as root with only the capability
	// DAC_READ_SEARCH (reading every file, whatever its owner; the baseline profile).
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
