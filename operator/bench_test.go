package operator_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	tclient "go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
)

const benchBackups = 200

// BenchmarkOperator200Backups applies 200 KafkaBackups at once to a real kube-apiserver and
// measures how long until every one has a running workflow, with `arkive operator` as its own
// process (so its peak RSS is its own) and a worker answering status queries.
func BenchmarkOperator200Backups(b *testing.B) {
	assets := testenv.KubeAssets(b)
	bootstrap := testenv.Kafka(b)
	temporalAddr := testenv.Temporal(b)
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "deploy", "crd")}, BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "operator", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	kubeconfig, _ := user.KubeConfig()
	kcfg := filepath.Join(b.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcfg, kubeconfig, 0o600); err != nil {
		b.Fatal(err)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = arkivev1.AddToScheme(scheme)
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	tc, err := tclient.Dial(tclient.Options{HostPort: temporalAddr})
	if err != nil {
		b.Fatal(err)
	}
	defer tc.Close()
	queue := fmt.Sprintf("bench-operator-%d", time.Now().UnixNano())
	w := worker.New(tc, worker.Options{TaskQueue: queue, Secrets: func(string) secrets.Resolver { return secrets.Map{} }})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()

	bin := filepath.Join(b.TempDir(), "arkive")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/arkive").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for i := 0; i < b.N; i++ {
		ctx := context.Background()
		ns := fmt.Sprintf("bench%d", time.Now().UnixNano())
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		_ = k8s.Create(ctx, &arkivev1.KafkaCluster{ObjectMeta: objMeta(ns, "kafka"), Spec: arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}})
		_ = k8s.Create(ctx, &arkivev1.Storage{ObjectMeta: objMeta(ns, "files"), Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: b.TempDir()}}})
		op := exec.Command(bin, "operator", "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0",
			"--temporal-address", temporalAddr, "--task-queue", queue)
		op.Env = append(os.Environ(), "KUBECONFIG="+kcfg)
		if err := op.Start(); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := g; j < benchBackups; j += 8 {
					kb := &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, fmt.Sprintf("b%03d", j)), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files",
						Streams: []arkivev1.BackupStream{{Topic: "bench-matches-nothing-*"}}}}
					if err := k8s.Create(ctx, kb); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		ids := make([]string, benchBackups)
		for j := range ids {
			ids[j] = workflows.WorkflowID("KafkaBackup", ns, fmt.Sprintf("b%03d", j))
		}
		pending := ids
		deadline := start.Add(5 * time.Minute)
		for len(pending) > 0 {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d workflows not running after 5 minutes", len(pending), benchBackups)
			}
			var still []string
			for _, id := range pending {
				resp, err := tc.DescribeWorkflowExecution(ctx, id, "")
				if err != nil || resp.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
					still = append(still, id)
				}
			}
			pending = still
			if len(pending) > 0 {
				time.Sleep(100 * time.Millisecond) // polling interval
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		rss := testenv.PeakRSSMiB(op.Process.Pid)
		_ = op.Process.Kill()
		_ = op.Wait()
		for _, id := range ids {
			_ = tc.TerminateWorkflow(ctx, id, "", "benchmark done")
		}
		b.ReportMetric(elapsed.Seconds(), "s-to-running")
		b.ReportMetric(rss, "peak-rss-MiB")
	}
}
