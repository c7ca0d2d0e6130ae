package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/operator"
)

type operatorFlags struct {
	temporalFlags
	metricsAddr, healthAddr, leaseNamespace string
	leaderElect                             bool
	interval, checkInterval                 time.Duration
}

func (o *operatorFlags) register(fs *flag.FlagSet) {
	o.temporalFlags.register(fs)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", envOr("ARKIVE_METRICS_ADDRESS", ":8080"), "serve Prometheus /metrics here, 0 for off (env ARKIVE_METRICS_ADDRESS)")
	fs.StringVar(&o.healthAddr, "health-probe-bind-address", envOr("ARKIVE_HEALTH_ADDRESS", ":8081"), "serve /healthz and /readyz here (env ARKIVE_HEALTH_ADDRESS)")
	fs.BoolVar(&o.leaderElect, "leader-elect", envOr("ARKIVE_LEADER_ELECT", "true") == "true", "elect one active operator among replicas (env ARKIVE_LEADER_ELECT)")
	fs.StringVar(&o.leaseNamespace, "leader-election-namespace", envOr("ARKIVE_LEADER_ELECTION_NAMESPACE", ""), "namespace of the leader lease (default: the pod's own, env ARKIVE_LEADER_ELECTION_NAMESPACE)")
	fs.DurationVar(&o.interval, "resync-interval", 10*time.Second, "how often each resource's status follows its workflow")
	fs.DurationVar(&o.checkInterval, "check-interval", 5*time.Minute, "how often KafkaCluster and Storage connectivity is checked")
}

// operatorCmd runs the controllers: kubectl resources drive Temporal workflows.
func operatorCmd(ctx context.Context, args []string, stderr io.Writer) error {
	var o operatorFlags
	fs := newFlagSet("operator", "Runs the Kubernetes operator: one Temporal workflow per KafkaBackup, KafkaRestore,\nSchemaRegistryBackup and SchemaRegistryRestore, kept in step with its spec, and status copied back\nfrom the workflow; connectivity checks of KafkaCluster, SchemaRegistry and Storage. Uses the\nin-cluster config or $KUBECONFIG.", stderr)
	o.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return ignoreHelp(err)
	}
	log.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	c, err := o.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := arkivev1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.healthAddr, LeaderElection: o.leaderElect, LeaderElectionID: "arkive-operator.arkive.io",
		LeaderElectionNamespace: o.leaseNamespace, LeaderElectionReleaseOnCancel: true})
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	if err := operator.Setup(mgr, operator.Options{Temporal: c, TaskQueue: o.taskQueue, Interval: o.interval, CheckInterval: o.checkInterval}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "arkive: operator using Temporal %s, task queue %q\n", o.address, o.taskQueue)
	return mgr.Start(ctx)
}
