package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"arkive.io/arkive/activities/kafka"
	"arkive.io/arkive/activities/kube"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/metrics"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/worker"
)

// DefaultImage is the arkive image deploy/base and the Helm chart run (kept in step with
// deploy/base/kustomization.yaml); mover Pods run it unless told otherwise.
const DefaultImage = "ghcr.io/arkive-io/arkive:v0.1.0"

type workerFlags struct {
	temporalFlags
	concurrency int
	metricsPort int
	// perPartition adds the per-partition lag gauge; recorder holds the domain metrics.
	perPartition bool
	recorder     *metrics.Recorder
	pprof        bool
	secretsDir   string
	kubeSecrets  bool
	kubeconfig   string
	spoolDir     string
	restoreMiB   int
	// maxPartitions caps the partitions captured at once; maxMemory is the memory limit it
	// defaults from (a Kubernetes quantity; empty: the container's, see resolveMemory; "0": none).
	// containerMemory is the limit resolveMemory took from the container, 0 for none.
	maxPartitions   int
	maxMemory       string
	containerMemory int64
	// mover runs only the volume activities (arkive mover) on the volume mounted at volume.
	mover  bool
	volume string
	// moverImage and moverAccount make the mover Pods of ResourceBackup volumes.
	moverImage, moverAccount string
}

func (w *workerFlags) register(fs *flag.FlagSet) {
	w.temporalFlags.register(fs)
	fs.IntVar(&w.concurrency, "concurrency", envInt("ARKIVE_CONCURRENCY", 0), "max concurrent activities, 0 for the SDK default (env ARKIVE_CONCURRENCY)")
	fs.IntVar(&w.metricsPort, "metrics-port", envInt("ARKIVE_METRICS_PORT", 0), "serve /metrics and /healthz on this port, 0 for off (env ARKIVE_METRICS_PORT)")
	fs.BoolVar(&w.perPartition, "metrics-per-partition", envOr("ARKIVE_METRICS_PER_PARTITION", "") == "true", "also export arkive_partition_lag_records, one series per partition this worker captures: off by default, since a backup of thousands of partitions makes as many series (env ARKIVE_METRICS_PER_PARTITION=true)")
	fs.BoolVar(&w.pprof, "pprof", envOr("ARKIVE_PPROF", "") == "true", "also serve Go's profiler at /debug/pprof/ on the metrics port, to find where a worker spends its CPU (env ARKIVE_PPROF=true)")
	fs.StringVar(&w.secretsDir, "secrets-dir", envOr("ARKIVE_SECRETS_DIR", ""), "read Secret references from files DIR/<secret>/<key> (env ARKIVE_SECRETS_DIR)")
	fs.BoolVar(&w.kubeSecrets, "kube-secrets", envOr("ARKIVE_KUBE_SECRETS", "") == "true", "read Secret references from Kubernetes Secrets in each resource's namespace, with the in-cluster config or $KUBECONFIG (env ARKIVE_KUBE_SECRETS=true)")
	fs.StringVar(&w.kubeconfig, "kubeconfig", envOr("ARKIVE_KUBECONFIG", ""), "kubeconfig of the cluster whose objects ResourceBackup and ResourceRestore read and write; in a cluster (or with --kube-secrets) the in-cluster config or $KUBECONFIG is used without it (env ARKIVE_KUBECONFIG)")
	fs.IntVar(&w.restoreMiB, "restore-memory-mib", envInt("ARKIVE_RESTORE_MEMORY_MIB", kafka.DefaultRestoreMemory>>20), "MiB all restore streams on this worker together hold for records read but not yet acknowledged by the target, a record counting twice its size (the block it is read into and the producer's request), at least 8 (env ARKIVE_RESTORE_MEMORY_MIB)")
	fs.IntVar(&w.maxPartitions, "max-partitions", envInt("ARKIVE_MAX_PARTITIONS", 0), "most Kafka partitions this worker captures at once; a shard that would pass it waits on this worker until others end. 0: no cap, or --max-memory's share when that is set (env ARKIVE_MAX_PARTITIONS)")
	fs.StringVar(&w.maxMemory, "max-memory", envOr("ARKIVE_MAX_MEMORY", ""), "memory this worker keeps within, as a Kubernetes quantity (1Gi, 768Mi): Go's memory limit, and unless --max-partitions is set, a partition cap of one per 2 MiB, zstd streams within an eighth of it and buffered segment bodies within half. Not set: 7/8 of the container's memory limit (cgroup) when it has one; 0: no cap but 32 streams, 256 MiB of bodies and a soft limit of 896 MiB that rises with the live data (env ARKIVE_MAX_MEMORY)")
	fs.StringVar(&w.moverImage, "mover-image", envOr("ARKIVE_MOVER_IMAGE", envOr("ARKIVE_IMAGE", DefaultImage)), "image of the mover Pods that copy ResourceBackup volumes: this worker's own (env ARKIVE_MOVER_IMAGE, or ARKIVE_IMAGE)")
	fs.StringVar(&w.moverAccount, "mover-service-account", envOr("ARKIVE_MOVER_SERVICE_ACCOUNT", "arkive-mover"), "service account of the mover Pods, in each volume's namespace; it reads the Storage's Secrets (env ARKIVE_MOVER_SERVICE_ACCOUNT)")
	fs.StringVar(&w.spoolDir, "spool-dir", envOr("ARKIVE_SPOOL_DIR", ""), "folder for segments while they fill (env ARKIVE_SPOOL_DIR; default the system temp folder)")
}

// withMetrics sends the Temporal SDK's metrics and Arkive's own (docs/metrics.md) to the
// /metrics endpoint when there is one.
func (w *workerFlags) withMetrics() error {
	if w.metricsPort <= 0 {
		return nil
	}
	w.metrics = metrics.New(prometheus.DefaultRegisterer)
	var err error
	w.recorder, err = metrics.NewRecorder(prometheus.DefaultRegisterer, w.perPartition)
	return err
}

// validate checks the flags that need no I/O.
func (w *workerFlags) validate() error {
	if w.pprof && w.metricsPort <= 0 {
		return errors.New("--pprof: the profiler is served on the metrics port; set --metrics-port too")
	}
	if w.perPartition && w.metricsPort <= 0 {
		return errors.New("--metrics-per-partition: metrics are served on the metrics port; set --metrics-port too")
	}
	if w.restoreMiB < 8 {
		return fmt.Errorf("--restore-memory-mib: %d is below the 8 MiB a restore stream needs", w.restoreMiB)
	}
	if w.maxPartitions < 0 {
		return fmt.Errorf("--max-partitions: %d is negative (0 means no cap)", w.maxPartitions)
	}
	_, err := w.memoryLimit()
	return err
}

// memoryLimit is the memory the worker keeps within in bytes, 0 for none: --max-memory, or
// when it is not set, what resolveMemory took from the container.
func (w *workerFlags) memoryLimit() (int64, error) {
	switch w.maxMemory {
	case "":
		return w.containerMemory, nil
	case "0":
		return 0, nil
	}
	q, err := resource.ParseQuantity(w.maxMemory)
	if err != nil {
		return 0, fmt.Errorf("--max-memory: %q is not a quantity such as 1Gi or 768Mi", w.maxMemory)
	}
	if q.Value() < minMaxMemory {
		return 0, fmt.Errorf("--max-memory: %s is below the %d MiB a worker needs", w.maxMemory, minMaxMemory>>20)
	}
	return q.Value(), nil
}

// minMaxMemory is the least --max-memory takes: a worker with its Temporal and Kafka clients
// and nothing to do uses about 60 MiB.
const minMaxMemory = 128 << 20

// containerShare is the part of a container's memory limit a worker without --max-memory keeps
// within: the rest is for what Go's limit does not count (thread stacks, the binary's pages,
// the kernel's page cache charged to the container): 1792Mi of deploy/base's 2Gi.
const containerShare = 7.0 / 8

// resolveMemory gives a worker without --max-memory 7/8 of its container's memory limit
// (cgroup v1 or v2), so that a Pod given a limit but not the flag caps its captures and
// collects harder near the limit instead of being killed for memory. Reading the limit is
// best effort: a worker that cannot read it says so and runs uncapped, as before.
func (w *workerFlags) resolveMemory(stderr io.Writer) {
	if w.maxMemory != "" {
		return
	}
	limit, err := memlimit.FromCgroup()
	switch {
	case errors.Is(err, memlimit.ErrNoLimit), errors.Is(err, memlimit.ErrNoCgroup), errors.Is(err, memlimit.ErrCgroupsNotSupported):
		return
	case err != nil:
		fmt.Fprintf(stderr, "arkive: --max-memory not set and the container's memory limit is unreadable (%v): no memory cap\n", err)
		return
	case limit > math.MaxInt64:
		return
	}
	w.containerMemory = int64(float64(limit)*containerShare) &^ (1<<20 - 1) // whole MiB, so it reads as the flag would
	fmt.Fprintf(stderr, "arkive: --max-memory not set: keeping within %s, 7/8 of this container's memory limit of %s",
		quantity(w.containerMemory), quantity(int64(limit)))
	if n := w.capturePartitions(); n > 0 && w.maxPartitions == 0 {
		fmt.Fprintf(stderr, ", capturing at most %d partitions at once", n)
	}
	fmt.Fprintln(stderr)
}

// quantity writes bytes as a Kubernetes quantity in Gi or Mi when it is a whole number of them,
// else in bytes: a limit of 1G is 1000000000 bytes, not a whole MiB.
func quantity(bytes int64) string {
	switch {
	case bytes%(1<<30) == 0:
		return fmt.Sprintf("%dGi", bytes>>30)
	case bytes%(1<<20) == 0:
		return fmt.Sprintf("%dMi", bytes>>20)
	}
	return fmt.Sprintf("%d bytes", bytes)
}

// capturePartitions is the partition cap the flags give.
func (w *workerFlags) capturePartitions() int {
	limit, _ := w.memoryLimit() // checked by validate
	if w.maxPartitions > 0 || limit == 0 {
		return w.maxPartitions
	}
	return max(1, int(limit/kafka.CaptureBytesPerPartition))
}

func (w *workerFlags) options() (worker.Options, error) {
	if err := w.validate(); err != nil {
		return worker.Options{}, err
	}
	opts := worker.Options{TaskQueue: w.taskQueue, SpoolDir: w.spoolDir, MaxConcurrentActivities: w.concurrency, RestoreMemory: int64(w.restoreMiB) << 20,
		CapturePartitions: w.capturePartitions(),
		Metrics:           w.recorder, Mover: w.mover, VolumeRoot: w.volume, GCFollowsCaptures: true,
		MoverPods: kube.MoverTemplate{Image: w.moverImage, ServiceAccount: w.moverAccount,
			Args:     []string{"--temporal-address", w.address, "--temporal-namespace", w.namespace},
			Temporal: w.security.mover()}}
	switch {
	case w.kubeconfig != "":
		cfg, err := clientcmd.BuildConfigFromFlags("", w.kubeconfig)
		if err != nil {
			return opts, fmt.Errorf("--kubeconfig: %w", err)
		}
		opts.Kube = cfg
	case w.kubeSecrets || os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return opts, fmt.Errorf("kubernetes config: %w", err)
		}
		opts.Kube = cfg
	}
	switch {
	case w.kubeSecrets && w.secretsDir != "":
		return opts, errors.New("--kube-secrets and --secrets-dir: choose one secret source")
	case w.kubeSecrets:
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return opts, fmt.Errorf("--kube-secrets: %w", err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return opts, fmt.Errorf("--kube-secrets: %w", err)
		}
		opts.Secrets = func(namespace string) secrets.Resolver { return secrets.Kube(cs, namespace) }
	case w.secretsDir != "":
		dir := secrets.Dir(w.secretsDir)
		opts.Secrets = func(string) secrets.Resolver { return dir }
	default:
		opts.Secrets = func(string) secrets.Resolver { return noSecrets }
	}
	return opts, nil
}

// noSecrets answers every reference with a clear error: the worker was started without a
// secret source.
var noSecrets = secrets.Func(func(_ context.Context, ref arkivev1.SecretKeyRef) ([]byte, error) {
	return nil, fmt.Errorf("secret %s#%s: this worker has no secret source (start it with --secrets-dir)", ref.Name, ref.Key)
})

func workerCmd(ctx context.Context, args []string, stderr io.Writer) error {
	var f workerFlags
	fs := newFlagSet("worker", `Runs Arkive's workflows and activities, polling one Temporal task queue, until interrupted.`, stderr)
	f.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return ignoreHelp(err)
	}
	if err := f.validate(); err != nil {
		return err // before dialling Temporal: a bad flag is said at once
	}
	if err := f.withMetrics(); err != nil {
		return err
	}
	c, err := f.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	return runWorker(ctx, c, f, stderr)
}

// runWorker runs a worker (and the metrics endpoint) until ctx ends.
func runWorker(ctx context.Context, c client.Client, f workerFlags, stderr io.Writer) error {
	f.resolveMemory(stderr)
	limit, _ := f.memoryLimit() // checked by validate
	worker.SetGCTarget(limit)
	if f.metricsPort > 0 {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.Handler())
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
		if f.pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		srv := &http.Server{Addr: net.JoinHostPort("", strconv.Itoa(f.metricsPort)), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(stderr, "arkive: metrics endpoint:", err)
			}
		}()
		defer srv.Close()
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	w := worker.New(c, opts)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", f.taskQueue, err)
	}
	what := "worker"
	if f.mover {
		what = "mover"
	}
	fmt.Fprintf(stderr, "arkive: %s polling task queue %q on %s (namespace %s)\n", what, f.taskQueue, f.address, f.namespace)
	<-ctx.Done()
	w.Stop()
	return nil
}

func ignoreHelp(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
