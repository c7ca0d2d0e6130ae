package operator_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	tclient "go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/monitoring"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/operator"
	"arkive.io/arkive/workflows"
)

const chart = "../deploy/helm/arkive"

// Issue 21, acceptance 4: the Helm chart lints, renders (with every option on, Temporal TLS and
// API key included) and its objects pass a server-side dry run; installed for real on a real
// API server, its CRDs and RBAC are enough for an operator running as the chart's service
// account to start the workflow of an applied sample.
func TestHelmChart(t *testing.T) {
	helm := testenv.Helm(t)
	helmRun := func(args ...string) string { // stdout only: helm notes the chart's links on stderr
		var stderr strings.Builder
		cmd := exec.Command(helm, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "helm %v: %s", args, stderr.String())
		return string(out)
	}
	secure := []string{"--set", "temporal.tls.enabled=true,temporal.tls.secretName=temporal-mtls,temporal.tls.mtls=true,temporal.apiKey.secretName=temporal-key"}
	monitored := []string{"--set", "monitoring.podMonitor=true,monitoring.prometheusRule=true,monitoring.dashboard=true"}
	helmRun("lint", chart)
	helmRun(append(append([]string{"lint", chart, "--strict"}, secure...), monitored...)...)

	// With monitoring on: the PodMonitor, every alert, and the dashboard.
	rendered := helmRun(append([]string{"template", "rel", chart, "--namespace", "arkive"}, monitored...)...)
	require.Contains(t, rendered, "kind: PodMonitor")
	for _, a := range monitoring.Alerts {
		require.Contains(t, rendered, "alert: "+a.Name)
	}
	require.Contains(t, rendered, "grafana_dashboard: \"1\"")
	// The worker takes its memory cap from its container's limit unless worker.maxMemory says.
	require.NotContains(t, rendered, "--max-memory")
	require.Contains(t, helmRun("template", "rel", chart, "--set", "worker.maxMemory=1Gi"), "- --max-memory=1Gi")

	cfg, kubectl := apiServer(t)
	const ns = "arkive-system"
	kubectl("", "create", "namespace", ns)

	// The secure rendering, server-side dry run (CRDs first for real: a dry run cannot register
	// the kinds the objects after them use).
	securely := helmRun(append([]string{"template", "rel", chart, "--namespace", ns, "--include-crds"}, secure...)...)
	require.Contains(t, securely, "ARKIVE_TEMPORAL_TLS_CERT: /etc/arkive/temporal-tls/tls.crt")
	require.Contains(t, securely, "ARKIVE_TEMPORAL_API_KEY: /etc/arkive/temporal-api-key/api-key")
	crds, others := splitCRDs(t, securely)
	kubectl(crds, "apply", "--server-side", "-f", "-")
	out := kubectl(others, "apply", "--dry-run=server", "-n", ns, "-f", "-")
	require.Contains(t, out, "deployment.apps/rel-operator created (server dry run)")
	require.Contains(t, out, "deployment.apps/rel-worker created (server dry run)")

	// The plain rendering, installed for real.
	_, objects := splitCRDs(t, helmRun("template", "rel", chart, "--namespace", ns, "--include-crds"))
	kubectl(objects, "apply", "-n", ns, "-f", "-")

	// An operator with exactly the chart's RBAC: it runs as the chart's service account.
	addr := testenv.Temporal(t)
	tc, err := tclient.Dial(tclient.Options{HostPort: addr})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	asOperator := rest.CopyConfig(cfg)
	asOperator.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":rel-operator"}
	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, arkivev1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(asOperator, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	require.NoError(t, err)
	queue := fmt.Sprintf("helm-%d", time.Now().UnixNano())
	require.NoError(t, operator.Setup(mgr, operator.Options{Temporal: tc, TaskQueue: queue, Interval: time.Second, CheckInterval: time.Minute}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// The KafkaBackup sample with what it names, in a namespace of its own.
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	sampleNS := fmt.Sprintf("helm-%d", time.Now().UnixNano())
	require.NoError(t, admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sampleNS}}))
	for _, name := range []string{"kafka-ca", "arkive-kafka-user", "arkive-s3", "arkive-backup-key"} {
		require.NoError(t, admin.Create(ctx, &corev1.Secret{ObjectMeta: objMeta(sampleNS, name), StringData: map[string]string{"x": "not a real secret"}}))
	}
	applySamples(t, admin, sampleNS, "kafkacluster", "storage", "kafkabackup")
	id := workflows.WorkflowID("KafkaBackup", sampleNS, "orders")
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), id, "", "test done") })
	eventually(t, time.Minute, "the sample's workflow runs", func() (bool, string) {
		resp, err := tc.DescribeWorkflowExecution(ctx, id, "")
		return err == nil && resp.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, fmt.Sprint(err)
	})
}

// splitCRDs splits a rendering into its CustomResourceDefinitions and everything else.
func splitCRDs(t *testing.T, manifests string) (crds, others string) {
	t.Helper()
	var c, r []string
	for _, doc := range strings.Split(manifests, "\n---") {
		switch {
		case strings.TrimSpace(doc) == "":
		case strings.Contains(doc, "\nkind: CustomResourceDefinition"):
			c = append(c, doc)
		default:
			r = append(r, doc)
		}
	}
	require.NotEmpty(t, r)
	return strings.Join(c, "\n---"), strings.Join(r, "\n---")
}
