package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/resourcebackup"
	"arkive.io/arkive/workflows/resourcerestore"
)

const (
	resourceCrashConfigMaps = 2000
	resourceCrashSecrets    = 200
	resourceKills           = 3
)

// Issue 14, acceptance 6: the worker process is SIGKILLed three times while it restores 2,200
// objects (each time after the target has grown by a random amount, so every kill lands
// mid-step) and restarted; afterwards every object exists once, with the stored content, and the
// restore counts every object once as created or unchanged.
func TestResourceRestoreSurvivesWorkerSIGKILLs(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test")
	}
	t.Parallel() // mostly waiting for heartbeat timeouts and restarts: overlapped with the other fault tests
	log.SetLogger(logr.Discard())
	env := &envtest.Environment{BinaryAssetsDirectory: testenv.KubeAssets(t)}
	cfg, err := env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(envtest.User{Name: "arkive-worker", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	kubeconfig, err := admin.KubeConfig()
	require.NoError(t, err)
	dir := t.TempDir()
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfigPath, kubeconfig, 0o600))
	secretsDir := filepath.Join(dir, "secrets")
	require.NoError(t, os.MkdirAll(filepath.Join(secretsDir, "backup-key"), 0o700))
	const key = "0123456789abcdef0123456789abcdef"
	require.NoError(t, os.WriteFile(filepath.Join(secretsDir, "backup-key", "key"), []byte(key), 0o600))
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()

	src, dst := "crash-src", "crash-dst"
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: src}}, metav1.CreateOptions{})
	require.NoError(t, err)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range resourceCrashConfigMaps {
		g.Go(func() error {
			_, err := cs.CoreV1().ConfigMaps(src).Create(gctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%04d", i)},
				Data: map[string]string{"value": fmt.Sprintf("config %d %s", i, strings.Repeat("x", 200))}}, metav1.CreateOptions{})
			return err
		})
	}
	for i := range resourceCrashSecrets {
		g.Go(func() error {
			_, err := cs.CoreV1().Secrets(src).Create(gctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("secret-%04d", i)},
				Data: map[string][]byte{"password": []byte(fmt.Sprintf("pw-%d", i))}}, metav1.CreateOptions{})
			return err
		})
	}
	require.NoError(t, g.Wait())

	temporal := testenv.Temporal(t)
	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	st := &arkivev1.Storage{Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: filepath.Join(dir, "storage")},
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "backup-key", Key: "key"}}}}
	st.Name = "s"
	require.NoError(t, os.MkdirAll(st.Spec.Volume.Path, 0o700))

	// The backup, by an in-process worker on a queue of its own.
	name := fmt.Sprintf("rcrash%d", time.Now().UnixNano()%1e9)
	rb := &arkivev1.ResourceBackup{Spec: arkivev1.ResourceBackupSpec{Storage: "s",
		ResourceSelection: arkivev1.ResourceSelection{Namespaces: []string{src}, Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}, {Kind: "Secret"}}}}}
	rb.Name, rb.Namespace = name, "default"
	bin0, err := specs.ResourceBackupInput(rb, st)
	require.NoError(t, err)
	bw := worker.New(c, worker.Options{TaskQueue: "backup-" + name, Kube: cfg,
		Secrets: func(string) secrets.Resolver { return secrets.Map{"backup-key#key": key} }})
	require.NoError(t, bw.Start())
	bid := workflows.WorkflowID("ResourceBackup", "default", name)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: bid, TaskQueue: "backup-" + name}, resourcebackup.WorkflowName, resourcebackup.RunInput{Input: bin0})
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), bid, "", "test done") }()
	testenv.Eventually(t, 2*time.Minute, "the backup's first snapshot", func() (bool, string) {
		v, err := c.QueryWorkflow(ctx, bid, "", workflows.QueryStatus)
		if err != nil {
			return false, err.Error()
		}
		var s resourcebackup.Status
		require.NoError(t, v.Get(&s))
		require.NotEqual(t, resourcebackup.PhaseError, s.Phase, s.LastError)
		return s.LastSnapshot != "", s.Phase
	})
	bw.Stop()

	// The restore into another namespace, two objects at a time, by worker processes that keep
	// getting killed.
	bin := buildArkive(t)
	rr := &arkivev1.ResourceRestore{Spec: arkivev1.ResourceRestoreSpec{Source: arkivev1.SchemaSnapshotSource{Storage: "s", Backup: bin0.Backup},
		NamespaceMapping: []arkivev1.NamespaceMapping{{From: src, To: dst}}, Parallelism: 2}}
	rr.Name, rr.Namespace = name, "default"
	rin, err := specs.ResourceRestoreInput(rr, st)
	require.NoError(t, err)
	queue := "restore-" + name
	rid := workflows.WorkflowID("ResourceRestore", "default", name)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: rid, TaskQueue: queue}, resourcerestore.WorkflowName, rin)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), rid, "", "test done") }()
	startWorker := func() *exec.Cmd {
		cmd := exec.Command(bin, "worker", "--temporal-address", temporal, "--task-queue", queue,
			"--kubeconfig", kubeconfigPath, "--secrets-dir", secretsDir)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		require.NoError(t, cmd.Start())
		return cmd
	}
	restored := func() int {
		cms, err := cs.CoreV1().ConfigMaps(dst).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		secs, err := cs.CoreV1().Secrets(dst).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		return len(cms.Items) + len(secs.Items)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	var atKill []int
	last := 0
	for range resourceKills {
		w := startWorker()
		grow := 150 + rng.IntN(350) // 150–500 more objects, then the kill
		deadline := time.Now().Add(2 * time.Minute)
		for restored() < last+grow {
			require.True(t, time.Now().Before(deadline), "the restore made no progress after a restart")
			time.Sleep(20 * time.Millisecond) // polling interval
		}
		require.NoError(t, w.Process.Signal(syscall.SIGKILL))
		_ = w.Wait()
		last = restored()
		atKill = append(atKill, last)
	}
	total := resourceCrashConfigMaps + resourceCrashSecrets
	require.Less(t, last, total, "the last kill must land before the restore finished")
	final := startWorker()
	defer func() { _ = final.Process.Kill(); _ = final.Wait() }()

	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var res resourcerestore.Status
	require.NoError(t, c.GetWorkflow(wctx, rid, "").Get(wctx, &res))
	require.Equal(t, resourcerestore.PhaseDone, res.Phase, res.LastError)
	t.Logf("objects in the target at each kill %v; counts %+v", atKill, res.Counts)
	require.Zero(t, res.Counts.Failed)
	require.Equal(t, total+1, res.Counts.Created+res.Counts.Unchanged, "every object (and the namespace) counted once")

	cms, err := cs.CoreV1().ConfigMaps(dst).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, cms.Items, resourceCrashConfigMaps)
	for _, cm := range cms.Items {
		var i int
		_, err := fmt.Sscanf(cm.Name, "cm-%04d", &i)
		require.NoError(t, err)
		require.Equal(t, map[string]string{"value": fmt.Sprintf("config %d %s", i, strings.Repeat("x", 200))}, cm.Data, cm.Name)
		require.Len(t, cm.ManagedFields, 1, "%s was written once (one create, never updated)", cm.Name)
	}
	secs, err := cs.CoreV1().Secrets(dst).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, secs.Items, resourceCrashSecrets)
	for _, s := range secs.Items {
		var i int
		_, err := fmt.Sscanf(s.Name, "secret-%04d", &i)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("pw-%d", i), string(s.Data["password"]), s.Name)
	}
}
