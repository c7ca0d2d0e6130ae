package check

import (
	"encoding/json"
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/workflows"
)

// Registered names. They are part of the contract with running histories: never rename.
const (
	WorkflowName         = "arkive.CheckConnection"
	ActivityCheckStorage = "arkive.storage.Check"
	ActivityCheckKafka   = "arkive.kafka.Check"
	ActivityCheckSchemas = "arkive.schemaregistry.Check"
	// ActivityCheckZooKeeper checks a ZooKeeperEnsemble.
	ActivityCheckZooKeeper = "arkive.zookeeper.Check"
)

// Kinds a check can target.
const (
	KindStorage        = "Storage"
	KindKafkaCluster   = "KafkaCluster"
	KindSchemaRegistry = "SchemaRegistry"
	KindZooKeeper      = "ZooKeeperEnsemble"
)

// ErrInvalidSpec is the shared type of spec errors (workflows.ErrInvalidSpec).
const ErrInvalidSpec = workflows.ErrInvalidSpec

// Input names the resource to check. Spec is the resource's spec as JSON: it holds Secret
// references, never Secret values, and the workflow does not look inside it.
type Input struct {
	Kind      string          `json:"kind"`
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Spec      json.RawMessage `json:"spec"`
}

// Result is the outcome of a check. A failed connection is a result, not an error: the
// operator turns it into the Ready condition.
type Result struct {
	OK        bool      `json:"ok"`
	Message   string    `json:"message"`
	CheckedAt time.Time `json:"checkedAt"`
}

// CheckConnection runs the activity that checks the resource and reports its result.
func CheckConnection(ctx workflow.Context, in Input) (Result, error) {
	activity := map[string]string{KindStorage: ActivityCheckStorage, KindKafkaCluster: ActivityCheckKafka,
		KindSchemaRegistry: ActivityCheckSchemas, KindZooKeeper: ActivityCheckZooKeeper}[in.Kind]
	if activity == "" {
		return Result{Message: "unknown kind " + in.Kind, CheckedAt: workflow.Now(ctx)}, nil
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{ErrInvalidSpec},
		},
	})
	var res Result
	err := workflow.ExecuteActivity(ctx, activity, in).Get(ctx, &res)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		// Report what is wrong rather than fail: a bad spec is an answer to "is it ready?".
		return Result{Message: appErr.Message(), CheckedAt: workflow.Now(ctx)}, nil
	}
	return res, err
}
