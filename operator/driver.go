package operator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	tclient "go.temporal.io/sdk/client"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"arkive.io/arkive/workflows"
)

// Finalizer makes deleting a resource cancel its workflow first.
const Finalizer = "arkive.io/workflow"

// Options configure the reconcilers.
type Options struct {
	// Temporal is the client workflows are started, signalled and queried with.
	Temporal tclient.Client
	// TaskQueue the workers poll; empty means workflows.DefaultTaskQueue.
	TaskQueue string
	// Interval between reconciles of a resource, which is how often status follows the
	// workflow (default 10 s).
	Interval time.Duration
	// CheckInterval between connectivity checks of connection kinds (default 5 min).
	CheckInterval time.Duration
	// Metrics is where the resources' metrics are registered while this replica leads; nil
	// means controller-runtime's registry, which the manager serves at /metrics.
	Metrics prometheus.Registerer
}

func (o Options) interval() time.Duration {
	if o.Interval > 0 {
		return o.Interval
	}
	return 10 * time.Second
}

func (o Options) taskQueue() string {
	if o.TaskQueue != "" {
		return o.TaskQueue
	}
	return workflows.DefaultTaskQueue
}

// driver is what every reconciler shares: the clients, the options and the event recorder.
type driver struct {
	client.Client
	Options
	events eventRecorder
	// apiReader reads around the cache, for what must not be watched (Secrets).
	apiReader client.Reader
	metrics   *resourceMetrics
}
