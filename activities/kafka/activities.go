package kafka

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/semaphore"

	"arkive.io/arkive/activities/beat"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows/check"
)

// Activities are the Kafka activities; the worker registers one value.
type Activities struct {
	// Secrets returns the resolver for a resource's namespace.
	Secrets func(namespace string) secrets.Resolver
	// SpoolDir holds segments while they fill; empty means the system temp folder.
	SpoolDir string
	// RestoreMemory caps the bytes of records every restore stream on this worker together
	// holds in flight (read, not yet acknowledged by the target); 0 means
	// DefaultRestoreMemory. Each stream also has its own cap (RestoreInput.MaxInFlightBytes).
	RestoreMemory int64

	// CapturePartitions is the most partitions this worker captures at once (0: no cap). A
	// shard that would pass it waits, heartbeating, until others end. A partition being
	// captured holds up to CaptureBytesPerPartition of memory.
	CapturePartitions int

	// OnCapturing (optional) is told how many partitions the worker captures whenever that
	// changes, one call at a time and in order (the worker sets its GC target from it).
	OnCapturing func(partitions int64)

	// attempt, when set (by tests: the test environment always runs a first attempt), is the
	// attempt number and scheduled time CaptureShard sees instead of the activity's own.
	attempt func() (int32, time.Time)

	memoryOnce sync.Once
	memory     *semaphore.Weighted

	viewsOnce sync.Once
	views     *catalog.ViewCache

	slotsOnce sync.Once
	slots     *semaphore.Weighted
	waiting   atomic.Int32 // shards waiting for partition slots
	capturing atomic.Int64 // partitions being captured now, which share captureFetchBudget
	counting  sync.Mutex   // orders the OnCapturing calls
}

// CaptureBytesPerPartition is about the most memory a partition being captured holds: its
// segment's body buffered up to the compression window (1 MiB), its block being filled, its
// spool file's buffer and its share of the worker's fetches, decoded (about 1.2 MiB in all at
// 2,000 partitions), with room for the garbage collector. A worker's --max-memory divided by
// it is the partition cap when --max-partitions is not given. A body past the window streams
// and holds more; those are counted apart (worker.CompressionStreams).
const CaptureBytesPerPartition = 2 << 20

// ErrWorkerFull is the (retried) error of a shard that waited for its worker's partition cap
// until only its own run time was left before the activity's timeout.
const ErrWorkerFull = "WorkerFull"

// capturePartitions takes n of the worker's partition slots (at most the whole cap, so a
// shard larger than the cap still runs, alone). It waits, heartbeating, while other shards
// hold them, and gives up when ctx ends or the worker stops (the shard is then handed back),
// or when waiting longer would leave less than run (plus a minute) before the activity's
// timeout: the error then says the cap is too small for the backups this worker takes.
// release gives them back.
func (a *Activities) capturePartitions(ctx context.Context, n int, run time.Duration) (release func(), err error) {
	if a.CapturePartitions <= 0 {
		return a.countCapture(n), nil
	}
	a.slotsOnce.Do(func() { a.slots = semaphore.NewWeighted(int64(a.CapturePartitions)) })
	w := int64(min(n, a.CapturePartitions))
	if !a.slots.TryAcquire(w) {
		a.waiting.Add(1)
		defer a.waiting.Add(-1)
		defer beat.Start(ctx, nil)()
		var wctx context.Context
		var cancel context.CancelFunc
		if d, ok := ctx.Deadline(); ok {
			wctx, cancel = context.WithDeadline(ctx, d.Add(-run-time.Minute))
		} else {
			wctx, cancel = context.WithCancel(ctx)
		}
		defer cancel()
		started := time.Now()
		go func() {
			select {
			case <-workerStopping(ctx):
				cancel()
			case <-wctx.Done():
			}
		}()
		if err := a.slots.Acquire(wctx, w); err != nil {
			switch {
			case ctx.Err() != nil:
				return nil, temporal.NewCanceledError()
			case errors.Is(wctx.Err(), context.DeadlineExceeded):
				return nil, temporal.NewApplicationError(fmt.Sprintf("this worker's partition cap (--max-partitions or --max-memory: %d) stayed taken by other shards for %s; add workers or raise the cap",
					a.CapturePartitions, time.Since(started).Round(time.Second)), ErrWorkerFull)
			}
			return nil, errWorkerStopping()
		}
	}
	done := a.countCapture(n)
	return func() { done(); a.slots.Release(w) }, nil
}

// countCapture counts n partitions as being captured until the returned func is called.
func (a *Activities) countCapture(n int) (done func()) {
	a.addCapturing(int64(n))
	return func() { a.addCapturing(-int64(n)) }
}

func (a *Activities) addCapturing(n int64) {
	a.counting.Lock()
	defer a.counting.Unlock()
	if now := a.capturing.Add(n); a.OnCapturing != nil {
		a.OnCapturing(now)
	}
}

// Defaults of the restore's in-flight caps: 8 MiB per stream keeps a partition's produce
// pipeline full (the producer sends at most a 1 MiB batch per partition and request), and the
// worker's 128 MiB lets 16 streams each fill their own cap (at 64 MiB the 16-partition restore
// was 10-20 % slower: BenchmarkRestoreMemory16, docs/benchmarks.md) and bounds what more
// streams hold together. A record counts twice its size: the segment block it is read into
// and the producer's encoding of it. The Go heap runs to about twice what is live (a
// 16-stream restore's peak RSS: 293-308 MiB at 64 MiB, 337-374 at 128).
const (
	DefaultStreamInFlightBytes = 8 << 20
	DefaultRestoreMemory       = 128 << 20
)

// restoreMemoryFloor is the most one record takes of the worker's cap, so a record larger than
// the cap still goes (alone, once the stream's own cap is empty).
const restoreMemoryFloor = 8 << 20

// restoreMemory is the worker's in-flight cap, shared by its restore streams.
func (a *Activities) restoreMemory() *semaphore.Weighted {
	a.memoryOnce.Do(func() {
		a.memory = semaphore.NewWeighted(max(cmp.Or(a.RestoreMemory, DefaultRestoreMemory), restoreMemoryFloor))
	})
	return a.memory
}

// RestoreViewCache bounds the stored size of the pinned roots and catalog deltas a worker keeps
// decoded for its restore streams to share (catalog.ViewCache). A delta lists every partition
// a commit touched, and a root every partition: about 0.35 and 0.45 KB a partition, so 32 MiB
// holds a root of 2,000 partitions and the 12 deltas it can have pending at most
// (catalog.FoldAfter) several times over.
const RestoreViewCache = 32 << 20

// viewCache is the worker's catalog.ViewCache.
func (a *Activities) viewCache() *catalog.ViewCache {
	a.viewsOnce.Do(func() { a.views = catalog.NewViewCache(RestoreViewCache) })
	return a.views
}

// Check connects to the cluster and reads its metadata.
func (a *Activities) Check(ctx context.Context, in check.Input) (check.Result, error) {
	var spec arkivev1.KafkaClusterSpec
	if err := json.Unmarshal(in.Spec, &spec); err != nil {
		return check.Result{}, temporal.NewNonRetryableApplicationError("spec: "+err.Error(), check.ErrInvalidSpec, nil)
	}
	now := time.Now().UTC()
	cfg, err := Config(ctx, spec, a.Secrets(in.Namespace))
	if err != nil {
		return check.Result{}, temporal.NewNonRetryableApplicationError(err.Error(), check.ErrInvalidSpec, nil)
	}
	client, err := sarama.NewClient(spec.BootstrapServers, cfg)
	if err != nil {
		return check.Result{Message: fmt.Sprintf("connect to %v: %v", spec.BootstrapServers, err), CheckedAt: now}, nil
	}
	defer client.Close()
	controller, err := client.Controller()
	if err != nil {
		return check.Result{Message: fmt.Sprintf("find controller: %v", err), CheckedAt: now}, nil
	}
	return check.Result{OK: true, CheckedAt: now,
		Message: fmt.Sprintf("%d broker(s) reachable, controller %s", len(client.Brokers()), controller.Addr())}, nil
}
