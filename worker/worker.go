package worker

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"k8s.io/client-go/rest"

	"arkive.io/arkive/activities/kafka"
	"arkive.io/arkive/activities/kube"
	"arkive.io/arkive/activities/schemaregistry"
	"arkive.io/arkive/activities/storage"
	"arkive.io/arkive/activities/volume"
	"arkive.io/arkive/activities/zookeeper"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/metrics"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/check"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
	"arkive.io/arkive/workflows/resourcebackup"
	"arkive.io/arkive/workflows/resourcerestore"
	"arkive.io/arkive/workflows/schemabackup"
	"arkive.io/arkive/workflows/schemarestore"
	"arkive.io/arkive/workflows/zookeeperbackup"
	"arkive.io/arkive/workflows/zookeeperrestore"
)

// Options configure a worker.
type Options struct {
	// TaskQueue to poll; empty means workflows.DefaultTaskQueue.
	TaskQueue string
	// Secrets returns the Secret resolver for a namespace (Kubernetes Secrets in a cluster,
	// files with --secrets-dir standalone).
	Secrets func(namespace string) secrets.Resolver
	// SpoolDir holds segments while they fill; empty means the system temp folder.
	SpoolDir string
	// RestoreMemory caps the record bytes all restore streams on this worker hold in flight;
	// 0 means kafka.DefaultRestoreMemory.
	RestoreMemory int64
	// MaxConcurrentActivities bounds parallel activities; 0 means the SDK default.
	MaxConcurrentActivities int
	// CapturePartitions is the most partitions the worker captures at once (0: no cap).
	CapturePartitions int
	// Metrics (optional) receives the domain metrics of every activity the worker runs.
	Metrics *metrics.Recorder
	// Kube reaches the cluster whose objects ResourceBackup and ResourceRestore read and
	// write; nil: those kinds fail with a message saying the worker has no Kubernetes access.
	Kube *rest.Config
	// Mover registers only the activities that need a volume mounted (`arkive mover`, on a
	// task queue of its own): no workflows, nothing else. VolumeRoot is where its volume is.
	Mover      bool
	VolumeRoot string
	// MoverPods is how this worker makes mover Pods for ResourceBackup volumes.
	MoverPods kube.MoverTemplate
	// GCFollowsCaptures sets the process's GC target from what it captures (FollowCaptures):
	// for a worker process of its own, not for a worker inside another program.
	GCFollowsCaptures bool
}

// WorkflowRegistry is where workflows are registered: a worker, or a replayer of histories.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// RegisterWorkflows adds every Arkive workflow to r under its constant name.
func RegisterWorkflows(r WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(check.CheckConnection, workflow.RegisterOptions{Name: check.WorkflowName})
	r.RegisterWorkflowWithOptions(kafkabackup.KafkaBackup, workflow.RegisterOptions{Name: kafkabackup.WorkflowName})
	r.RegisterWorkflowWithOptions(kafkarestore.KafkaRestore, workflow.RegisterOptions{Name: kafkarestore.WorkflowName})
	r.RegisterWorkflowWithOptions(schemabackup.SchemaRegistryBackup, workflow.RegisterOptions{Name: schemabackup.WorkflowName})
	r.RegisterWorkflowWithOptions(schemarestore.SchemaRegistryRestore, workflow.RegisterOptions{Name: schemarestore.WorkflowName})
	r.RegisterWorkflowWithOptions(resourcebackup.ResourceBackup, workflow.RegisterOptions{Name: resourcebackup.WorkflowName})
	r.RegisterWorkflowWithOptions(resourcerestore.ResourceRestore, workflow.RegisterOptions{Name: resourcerestore.WorkflowName})
	r.RegisterWorkflowWithOptions(zookeeperbackup.ZooKeeperBackup, workflow.RegisterOptions{Name: zookeeperbackup.WorkflowName})
	r.RegisterWorkflowWithOptions(zookeeperrestore.ZooKeeperRestore, workflow.RegisterOptions{Name: zookeeperrestore.WorkflowName})
}

// Register adds every Arkive workflow and activity to r under its constant name.
func Register(r sdkworker.Registry, opts Options) {
	RegisterWorkflows(r)

	kb := &kube.Activities{Config: opts.Kube, Secrets: opts.Secrets, Mover: opts.MoverPods}
	st := &storage.Activities{Secrets: opts.Secrets, Claims: kb.StorageClaim}
	kf := &kafka.Activities{Secrets: opts.Secrets, SpoolDir: opts.SpoolDir, RestoreMemory: opts.RestoreMemory, CapturePartitions: opts.CapturePartitions}
	if opts.GCFollowsCaptures {
		kf.OnCapturing = FollowCaptures
		FollowCaptures(0)
	}
	r.RegisterActivityWithOptions(st.Check, activity.RegisterOptions{Name: check.ActivityCheckStorage})
	r.RegisterActivityWithOptions(kf.Check, activity.RegisterOptions{Name: check.ActivityCheckKafka})
	r.RegisterActivityWithOptions(kf.Capture, activity.RegisterOptions{Name: kafkabackup.ActivityCapture})
	r.RegisterActivityWithOptions(kf.Discover, activity.RegisterOptions{Name: kafkabackup.ActivityDiscover})
	r.RegisterActivityWithOptions(kf.DiscoverShards, activity.RegisterOptions{Name: kafkabackup.ActivityDiscoverShards})
	r.RegisterActivityWithOptions(kf.CaptureShard, activity.RegisterOptions{Name: kafkabackup.ActivityCaptureShard})
	r.RegisterActivityWithOptions(kf.Commit, activity.RegisterOptions{Name: kafkabackup.ActivityCommit})
	r.RegisterActivityWithOptions(kf.ApplyRetention, activity.RegisterOptions{Name: kafkabackup.ActivityRetain})
	r.RegisterActivityWithOptions(kf.FoldCatalog, activity.RegisterOptions{Name: kafkabackup.ActivityFold})
	r.RegisterActivityWithOptions(kf.PlanRestore, activity.RegisterOptions{Name: kafkarestore.ActivityPlan})
	r.RegisterActivityWithOptions(kf.PreflightRestore, activity.RegisterOptions{Name: kafkarestore.ActivityPreflight})
	r.RegisterActivityWithOptions(kf.Restore, activity.RegisterOptions{Name: kafkarestore.ActivityRestore})
	r.RegisterActivityWithOptions(kf.RestoreGroupOffsets, activity.RegisterOptions{Name: kafkarestore.ActivityGroups})
	r.RegisterActivityWithOptions(kf.UnpinCatalog, activity.RegisterOptions{Name: kafkarestore.ActivityUnpin})
	r.RegisterActivityWithOptions(kf.ReadRestorePage, activity.RegisterOptions{Name: kafkarestore.ActivityReadPage})
	r.RegisterActivityWithOptions(kf.SaveRestorePage, activity.RegisterOptions{Name: kafkarestore.ActivitySavePage})
	r.RegisterActivityWithOptions(kf.RestoreGroupOffsetsFromPages, activity.RegisterOptions{Name: kafkarestore.ActivityGroupsFromPages})

	sr := &schemaregistry.Activities{Secrets: opts.Secrets}
	r.RegisterActivityWithOptions(sr.Check, activity.RegisterOptions{Name: check.ActivityCheckSchemas})
	r.RegisterActivityWithOptions(sr.Snapshot, activity.RegisterOptions{Name: schemabackup.ActivitySnapshot})
	r.RegisterActivityWithOptions(sr.Prune, activity.RegisterOptions{Name: schemabackup.ActivityPrune})
	r.RegisterActivityWithOptions(sr.PlanRestore, activity.RegisterOptions{Name: schemarestore.ActivityPlan})
	r.RegisterActivityWithOptions(sr.SetMode, activity.RegisterOptions{Name: schemarestore.ActivitySetMode})
	r.RegisterActivityWithOptions(sr.Import, activity.RegisterOptions{Name: schemarestore.ActivityImport})
	r.RegisterActivityWithOptions(sr.RemapSchemas, activity.RegisterOptions{Name: kafkarestore.ActivityRemapSchemas})

	r.RegisterActivityWithOptions(kb.Snapshot, activity.RegisterOptions{Name: resourcebackup.ActivitySnapshot})
	r.RegisterActivityWithOptions(kb.Prune, activity.RegisterOptions{Name: resourcebackup.ActivityPrune})
	r.RegisterActivityWithOptions(kb.PlanRestore, activity.RegisterOptions{Name: resourcerestore.ActivityPlan})
	r.RegisterActivityWithOptions(kb.ApplyStep, activity.RegisterOptions{Name: resourcerestore.ActivityApply})
	r.RegisterActivityWithOptions(kb.ListVolumes, activity.RegisterOptions{Name: resourcebackup.ActivityListVolumes})
	r.RegisterActivityWithOptions(kb.StartMover, activity.RegisterOptions{Name: resourcebackup.ActivityStartMover})
	r.RegisterActivityWithOptions(kb.StopMover, activity.RegisterOptions{Name: resourcebackup.ActivityStopMover})
	r.RegisterActivityWithOptions(kb.EnsureClaim, activity.RegisterOptions{Name: resourcerestore.ActivityEnsureClaim})

	vol := &volume.Activities{Secrets: opts.Secrets}
	r.RegisterActivityWithOptions(vol.Prune, activity.RegisterOptions{Name: resourcebackup.ActivityVolumePrune})
	r.RegisterActivityWithOptions(vol.List, activity.RegisterOptions{Name: resourcerestore.ActivityVolumeList})

	zka := &zookeeper.Activities{Secrets: opts.Secrets}
	r.RegisterActivityWithOptions(zka.Check, activity.RegisterOptions{Name: check.ActivityCheckZooKeeper})
	r.RegisterActivityWithOptions(zka.Snapshot, activity.RegisterOptions{Name: zookeeperbackup.ActivitySnapshot})
	r.RegisterActivityWithOptions(zka.Prune, activity.RegisterOptions{Name: zookeeperbackup.ActivityPrune})
	r.RegisterActivityWithOptions(zka.PlanRestore, activity.RegisterOptions{Name: zookeeperrestore.ActivityPlan})
	r.RegisterActivityWithOptions(zka.ApplyRestore, activity.RegisterOptions{Name: zookeeperrestore.ActivityApply})
}

// RegisterMover adds the activities a mover runs: a backup or restore of the volume it has
// mounted, and, for a Storage kept in a claim the mover mounts (workflows.WithStorage), every
// activity of ResourceBackup and ResourceRestore that reads or writes that storage.
func RegisterMover(r sdkworker.Registry, opts Options) {
	vol := &volume.Activities{Secrets: opts.Secrets, Root: opts.VolumeRoot}
	r.RegisterActivityWithOptions(vol.Backup, activity.RegisterOptions{Name: resourcebackup.ActivityVolumeBackup})
	r.RegisterActivityWithOptions(vol.Restore, activity.RegisterOptions{Name: resourcerestore.ActivityVolumeRestore})
	r.RegisterActivityWithOptions(vol.Prune, activity.RegisterOptions{Name: resourcebackup.ActivityVolumePrune})
	r.RegisterActivityWithOptions(vol.List, activity.RegisterOptions{Name: resourcerestore.ActivityVolumeList})
	kb := &kube.Activities{Config: opts.Kube, Secrets: opts.Secrets}
	r.RegisterActivityWithOptions(kb.Snapshot, activity.RegisterOptions{Name: resourcebackup.ActivitySnapshot})
	r.RegisterActivityWithOptions(kb.Prune, activity.RegisterOptions{Name: resourcebackup.ActivityPrune})
	r.RegisterActivityWithOptions(kb.PlanRestore, activity.RegisterOptions{Name: resourcerestore.ActivityPlan})
	r.RegisterActivityWithOptions(kb.ApplyStep, activity.RegisterOptions{Name: resourcerestore.ActivityApply})
}

// New builds a worker polling opts.TaskQueue with everything registered. Start or Run it.
func New(c client.Client, opts Options) sdkworker.Worker {
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.DefaultTaskQueue
	}
	// On SIGTERM a capture stores its progress and hands its shard back (activities/kafka);
	// the stop timeout gives it the time to report that, so another worker takes the shard at
	// once instead of after the heartbeat timeout.
	wo := sdkworker.Options{MaxConcurrentActivityExecutionSize: opts.MaxConcurrentActivities, WorkerStopTimeout: StopTimeout}
	if opts.Metrics != nil {
		// Activities find the recorder in their context; the interceptor counts failures.
		wo.BackgroundActivityContext = metrics.WithRecorder(context.Background(), opts.Metrics)
		wo.Interceptors = []interceptor.WorkerInterceptor{opts.Metrics.Interceptor()}
		opts.Metrics.Polling(opts.TaskQueue)
	}
	w := sdkworker.New(c, opts.TaskQueue, wo)
	if opts.Mover {
		RegisterMover(w, opts)
	} else {
		Register(w, opts)
	}
	return w
}

// StopTimeout is how long a stopping worker waits for its activities to end before it
// abandons them.
const StopTimeout = 15 * time.Second

// GCPercent is the garbage-collection target of a worker process while it captures, and of a
// mover, unless GOGC is set. A capturing worker holds a compressor and buffers for every
// partition it writes, and at Go's default of 100 the heap grows to twice the live data before
// a collection: at 50, peak RSS stays within 256 MiB + 16 MiB per partition written
// (docs/benchmarks.md), which bounds how many partitions one worker can take, for a few
// percent of CPU.
const GCPercent = 50

// IdleGCPercent is the GC target of a worker process that captures nothing. Its restores hold
// what their in-flight caps allow, however many partitions they write, so the lower target
// saves little memory there and costs CPU: a 16-partition restore spent about 15 % more worker
// CPU per GiB at 50 than at 100 and peaked at about 370 MiB against 480 of the 512 it may use.
// 75 takes about two thirds of that saving (the collector's work goes as 1/GOGC) for half the
// memory: about 430 MiB then, 390–410 since the restore's producer is franz-go and a record in
// flight counts twice (docs/benchmarks.md).
const IdleGCPercent = 75

// FollowCaptures sets the GC target from the partitions the worker captures: GCPercent while
// it captures any, IdleGCPercent otherwise; nothing when the GOGC environment variable is set.
func FollowCaptures(partitions int64) {
	if os.Getenv("GOGC") != "" {
		return
	}
	if partitions > 0 {
		debug.SetGCPercent(GCPercent)
	} else {
		debug.SetGCPercent(IdleGCPercent)
	}
}

// SetGCTarget applies GCPercent unless the GOGC environment variable says otherwise, and a
// memory limit (bytes, 0 for none) unless GOMEMLIMIT does: near the limit the collector runs
// as often as it must to stay under it. Without a limit, Go's soft limit is DefaultMemoryTarget,
// following the live heap past it. The limit also sets what the process's compressors hold
// (CompressionStreams, CompressionBuffers).
func SetGCTarget(memoryLimit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	switch {
	case os.Getenv("GOMEMLIMIT") != "":
		limitMemory(-1) // the runtime set it from the variable
	case memoryLimit > 0:
		limitMemory(memoryLimit)
	default:
		followLiveHeap(DefaultMemoryTarget)
	}
	archive.SetZstdStreams(CompressionStreams(memoryLimit))
	archive.SetZstdBodyBudget(CompressionBuffers(memoryLimit))
}

// DefaultMemoryTarget is what a worker without a memory limit keeps Go's memory within while
// its live data leaves the collector room: Go's soft limit, under which the collector runs
// before GCPercent alone would have it and hands freed pages back promptly. It caps nothing (the
// partitions such a worker takes and its compressors are as before), and past 4/5 of it the soft
// limit follows the live heap (followLiveHeap). At 2,000 busy partitions an uncapped worker
// peaked at 720–1,059 MiB without it (2 of 11 runs over 1 GiB), and at 723–946 MiB with it,
// as fast (docs/benchmarks.md, many partitions). 896 MiB, as a 1 GiB container's worker keeps
// within, leaves room for what Go's limit does not count (the binary's pages, about 50 MiB).
const DefaultMemoryTarget = 896 << 20

// Go's memory limit is set under following, and heapFollower (guarded by it) is the generation
// of the running followLiveHeap: every new setting moves it on, which stops the follower before.
// The lock keeps a follower's collection that began before a new setting from writing its own
// limit after it.
var (
	following    sync.Mutex
	heapFollower int64
)

// limitMemory stops any follower and sets Go's memory limit (limit < 0: leaves it as it is).
func limitMemory(limit int64) {
	following.Lock()
	defer following.Unlock()
	heapFollower++
	if limit >= 0 {
		debug.SetMemoryLimit(limit)
	}
}

// followLiveHeap sets Go's soft memory limit to target and, after every collection,
// to softMemoryLimit of the live heap then: a worker whose live data outgrows the target is not
// held at it, which would have the collector run continuously (Go then lets it take up to half
// the CPU). It runs until the next setting (SetGCTarget, limitMemory).
func followLiveHeap(target int64) {
	following.Lock()
	defer following.Unlock()
	heapFollower++
	live := []runtimemetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var arm func()
	arm = func() {
		// The sentinel is garbage at once: its cleanup runs after the next collection. It holds
		// a pointer so that it is not a tiny allocation, whose cleanups may never run.
		runtime.AddCleanup(new(struct{ _ *byte }), func(armed int64) {
			following.Lock()
			defer following.Unlock()
			if heapFollower != armed {
				return
			}
			runtimemetrics.Read(live)
			debug.SetMemoryLimit(softMemoryLimit(target, int64(live[0].Value.Uint64())))
			arm()
		}, heapFollower)
	}
	debug.SetMemoryLimit(target)
	arm()
}

// softMemoryLimit is the soft limit for a target and a live heap of live bytes: the target,
// or once live passes 4/5 of it, live and a quarter more, so that the collector runs at most as
// often as GOGC=25 would have it.
func softMemoryLimit(target, live int64) int64 {
	return max(target, live+live/4)
}

// CompressionBuffers is what a worker with this memory limit (0: none) lets its segments'
// uncompressed bodies hold together (archive.SetZstdBodyBudget): half the limit, which is the
// window for each partition its partition cap lets it capture (kafka.CaptureBytesPerPartition),
// so a capped worker is not held back by it; DefaultCompressionBuffers without a limit, since
// such a worker captures as many partitions as it is given.
func CompressionBuffers(memoryLimit int64) int64 {
	if memoryLimit <= 0 {
		return DefaultCompressionBuffers
	}
	return memoryLimit / 2
}

// DefaultCompressionBuffers is the body budget of a worker without a memory limit. At 2,000
// busy partitions it makes frames of about 128 KiB where the bodies held up to 2,000 MiB (597
// MiB measured): 0.9 % more stored bytes on the benchmark's orders (docs/benchmarks.md, many
// partitions).
const DefaultCompressionBuffers = 256 << 20

// DefaultCompressionStreams is how many segments a worker without a memory limit compresses as
// streams at once (192 MiB): without a cap every busy partition's body past the window would
// hold a stream of 6 MiB, 12 GiB at 2,000.
const DefaultCompressionStreams = 32

// CompressionStreams is how many segments a worker with this memory limit (0: none) compresses
// as streams at once: an eighth of the limit, at archive.ZstdStreamBytes each, and at least 2;
// DefaultCompressionStreams without a limit. The per-partition budget (kafka.CaptureBytesPerPartition) counts
// a segment's body only up to the compression window; a busy partition's segment grows past
// it, and its stream holds three times that budget. With a stream for each of a capped
// worker's hundreds of busy partitions it would outgrow its limit, so past the cap segments are
// compressed one window at a time instead (about 1 % more bytes on JSON).
func CompressionStreams(memoryLimit int64) int {
	if memoryLimit <= 0 {
		return DefaultCompressionStreams
	}
	return int(max(2, memoryLimit/8/archive.ZstdStreamBytes))
}
