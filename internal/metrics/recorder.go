package metrics

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
)

// Direction says which way records moved: captured into a backup or written back by a restore.
type Direction string

const (
	Captured Direction = "captured"
	Restored Direction = "restored"
)

// Recorder holds a worker's domain metrics (docs/metrics.md): what its activities moved and
// stored, by the resource whose workflow ran them. Activities reach it through their context
// (WithRecorder on the worker's background activity context), so no activity struct carries
// it; every function here is a no-op when the context has none or is not an activity's.
//
// Labels are the resource's kind, namespace and name (bounded by the resources that exist),
// never a topic or partition: those are the opt-in arkive_partition_lag_records only, since a
// backup of thousands of partitions would otherwise make thousands of series per metric.
type Recorder struct {
	records, bytes  *prometheus.CounterVec
	objects, stored *prometheus.CounterVec
	failures        *prometheus.CounterVec
	partitionLag    *prometheus.GaugeVec
	info            *prometheus.GaugeVec
}

// NewRecorder registers the domain metrics with reg. perPartition adds the per-partition lag
// gauge, one series per partition the worker captures.
func NewRecorder(reg prometheus.Registerer, perPartition bool) (*Recorder, error) {
	res := []string{"kind", "namespace", "name"}
	r := &Recorder{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arkive_records_total",
			Help: "Records captured into storage (direction captured, counted when their segment is stored) or written to the target and acknowledged (direction restored)."},
			append(res, "direction")),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arkive_record_bytes_total",
			Help: "Bytes of record keys, values and headers captured or restored, before compression."},
			append(res, "direction")),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arkive_stored_objects_total",
			Help: "Objects written to storage: segments, snapshots, manifests and catalog parts."}, res),
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arkive_stored_bytes_total",
			Help: "Bytes written to storage, after compression and encryption."}, res),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arkive_activity_failures_total",
			Help: "Activity attempts that failed, by activity and error type (the type the workflow sees, such as TopicNotFound, or Error when untyped)."},
			[]string{"kind", "activity", "type"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "arkive_worker_info",
			Help: "1 for each task queue this worker polls: the worker-missing alert fires when no worker reports it."},
			[]string{"task_queue"}),
	}
	var err error
	for _, c := range []**prometheus.CounterVec{&r.records, &r.bytes, &r.objects, &r.stored, &r.failures} {
		if *c, err = register(reg, *c); err != nil {
			return nil, err
		}
	}
	if r.info, err = register(reg, r.info); err != nil {
		return nil, err
	}
	if perPartition {
		r.partitionLag, err = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "arkive_partition_lag_records",
			Help: "Records between a partition's high watermark (read when its capture started) and the next offset its backup will store, as of the partition's last stored segment on this worker."},
			[]string{"namespace", "name", "topic", "partition"}))
	}
	return r, err
}

// register registers c with reg, or returns the collector of that name already registered
// (a second worker in one process, as the CLI's tests run them, shares the first one's).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

type recorderKey struct{}

// WithRecorder returns ctx carrying r, for the worker's background activity context.
func WithRecorder(ctx context.Context, r *Recorder) context.Context {
	if r == nil {
		return ctx
	}
	return context.WithValue(ctx, recorderKey{}, r)
}

// resource is the resource an activity works for, from its workflow id
// (arkive/<kind>/<namespace>/<name>; a connection check's id has more parts after the name).
type resource struct{ kind, namespace, name string }

func of(ctx context.Context) (*Recorder, resource, bool) {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	if r == nil || !activity.IsActivity(ctx) {
		return nil, resource{}, false
	}
	return r, parseID(activity.GetInfo(ctx).WorkflowExecution.ID), true
}

func parseID(id string) resource {
	parts := strings.SplitN(id, "/", 5)
	if len(parts) < 4 || parts[0] != "arkive" {
		return resource{kind: "unknown"}
	}
	return resource{kind: parts[1], namespace: parts[2], name: parts[3]}
}

// Moved counts records and their bytes captured or restored by the calling activity.
func Moved(ctx context.Context, d Direction, records, bytes int64) {
	r, res, ok := of(ctx)
	if !ok {
		return
	}
	r.records.WithLabelValues(res.kind, res.namespace, res.name, string(d)).Add(float64(records))
	r.bytes.WithLabelValues(res.kind, res.namespace, res.name, string(d)).Add(float64(bytes))
}

// Stored counts one object of n bytes written to storage by the calling activity.
func Stored(ctx context.Context, n int64) {
	r, res, ok := of(ctx)
	if !ok {
		return
	}
	r.objects.WithLabelValues(res.kind, res.namespace, res.name).Inc()
	r.stored.WithLabelValues(res.kind, res.namespace, res.name).Add(float64(n))
}

// PartitionLag sets a partition's lag when per-partition metrics are on.
func PartitionLag(ctx context.Context, topic string, partition int32, lag int64) {
	r, res, ok := of(ctx)
	if !ok || r.partitionLag == nil {
		return
	}
	r.partitionLag.WithLabelValues(res.namespace, res.name, topic, strconv.Itoa(int(partition))).Set(float64(lag))
}

// Polling says the worker polls taskQueue (arkive_worker_info).
func (r *Recorder) Polling(taskQueue string) { r.info.WithLabelValues(taskQueue).Set(1) }

// Interceptor counts every failed activity attempt by its error type.
func (r *Recorder) Interceptor() interceptor.WorkerInterceptor { return &workerInterceptor{r: r} }

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	r *Recorder
}

func (w *workerInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &activityInterceptor{r: w.r}
	i.Next = next
	return i
}

type activityInterceptor struct {
	interceptor.ActivityInboundInterceptorBase
	r *Recorder
}

func (a *activityInterceptor) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := a.Next.ExecuteActivity(ctx, in)
	if err != nil {
		info := activity.GetInfo(ctx)
		a.r.failures.WithLabelValues(parseID(info.WorkflowExecution.ID).kind, info.ActivityType.Name, ErrorType(err)).Inc()
	}
	return res, err
}

// ErrorType is the type a workflow sees for err: an application error's own type, Canceled for
// a cancellation, Error otherwise. The set is bounded by the types the activities declare.
func ErrorType(err error) string {
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	switch {
	case errors.As(err, &appErr) && appErr.Type() != "":
		return appErr.Type()
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return "Canceled"
	}
	return "Error"
}
