package operator_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/metrics"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/operator"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// bed is a real kube-apiserver + etcd with the CRDs, the real Temporal dev server, a worker,
// and an operator that can be stopped and started again.
type bed struct {
	env      *envtest.Environment
	cfg      *rest.Config
	k8s      client.Client
	temporal tclient.Client
	queue    string
	scheme   *runtime.Scheme
	stopOp   context.CancelFunc
	opDone   chan struct{}
	// workerMetrics and operatorMetrics are what the worker's and the operator's /metrics
	// would serve.
	workerMetrics, operatorMetrics *prometheus.Registry
}

func newBed(t *testing.T) *bed {
	t.Helper()
	log.SetLogger(logr.Discard())
	b := &bed{env: &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "deploy", "crd")}, ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: testenv.KubeAssets(t)}}
	var err error
	b.cfg, err = b.env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.env.Stop() })
	b.scheme = runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(b.scheme))
	require.NoError(t, arkivev1.AddToScheme(b.scheme))
	b.k8s, err = client.New(b.cfg, client.Options{Scheme: b.scheme})
	require.NoError(t, err)
	b.temporal, err = tclient.Dial(tclient.Options{HostPort: testenv.Temporal(t)})
	require.NoError(t, err)
	t.Cleanup(b.temporal.Close)
	b.queue = fmt.Sprintf("operator-%d", time.Now().UnixNano())
	b.workerMetrics, b.operatorMetrics = prometheus.NewRegistry(), prometheus.NewRegistry()
	recorder, err := metrics.NewRecorder(b.workerMetrics, false)
	require.NoError(t, err)
	// Workers in a cluster read Kubernetes Secrets (secrets.Kube); here a map holds the one
	// value the tests use.
	w := worker.New(b.temporal, worker.Options{TaskQueue: b.queue, Kube: b.cfg, Metrics: recorder, Secrets: func(string) secrets.Resolver {
		return secrets.Map{"backup-key#key": testKey, "sr-creds#username": "svc", "sr-creds#password": registryPassword,
			"bad-creds#username": "svc", "bad-creds#password": "not-the-password"}
	}})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	b.startOperator(t)
	t.Cleanup(b.stopOperator)
	return b
}

func (b *bed) startOperator(t *testing.T) {
	// Several managers live in one test process (operator restarts, several tests), so the
	// controller-name check for metrics is off.
	mgr, err := ctrl.NewManager(b.cfg, ctrl.Options{Scheme: b.scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	require.NoError(t, err)
	require.NoError(t, operator.Setup(mgr, operator.Options{Temporal: b.temporal, TaskQueue: b.queue, Interval: 300 * time.Millisecond, CheckInterval: time.Minute,
		Metrics: b.operatorMetrics}))
	ctx, cancel := context.WithCancel(context.Background())
	b.stopOp, b.opDone = cancel, make(chan struct{})
	go func() { defer close(b.opDone); _ = mgr.Start(ctx) }()
}

func (b *bed) stopOperator() {
	if b.stopOp != nil {
		b.stopOp()
		<-b.opDone
		b.stopOp = nil
	}
}

// namespace creates a namespace of its own for a test: workflow ids derive from it, and the
// dev server keeps workflows of earlier runs.
func (b *bed) namespace(t *testing.T) string {
	ns := fmt.Sprintf("t%d", time.Now().UnixNano())
	require.NoError(t, b.k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	return ns
}

// kafkaAndFiles creates the KafkaCluster "kafka" (the real broker) and the volume Storage
// "files" (a temporary folder) that the tests' backups name.
func (b *bed) kafkaAndFiles(t *testing.T, ns, bootstrap string) {
	ctx := context.Background()
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaCluster{ObjectMeta: objMeta(ns, "kafka"), Spec: arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}}))
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.Storage{ObjectMeta: objMeta(ns, "files"), Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}}))
}

func objMeta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

// eventually polls cond every 100 ms for up to d; the polling interval is not synchronisation.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testenv.Eventually(t, d, what, cond)
}

func (b *bed) backup(t *testing.T, ns, name string) *arkivev1.KafkaBackup {
	kb := &arkivev1.KafkaBackup{}
	require.NoError(t, b.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, kb))
	return kb
}

// edit applies change to the stored object and updates it, reading it again when the
// operator's own status write got in between (a status update moves resourceVersion too).
func edit[T client.Object](t *testing.T, b *bed, obj T, change func(T)) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := b.k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return b.k8s.Update(ctx, obj)
	}))
}

func waitPhase(t *testing.T, b *bed, ns, name string, phase arkivev1.KafkaBackupPhase, reason string) *arkivev1.KafkaBackup {
	t.Helper()
	var kb *arkivev1.KafkaBackup
	eventually(t, time.Minute, fmt.Sprintf("KafkaBackup %s phase %s %s", name, phase, reason), func() (bool, string) {
		kb = b.backup(t, ns, name)
		c := meta.FindStatusCondition(kb.Status.Conditions, arkivev1.ConditionWorkflowReady)
		got := fmt.Sprintf("phase %q condition %+v", kb.Status.Phase, c)
		return kb.Status.Phase == phase && (reason == "" || (c != nil && c.Reason == reason)), got
	})
	return kb
}

// runningRuns counts the running workflows with this id, as Temporal's visibility lists them.
func runningRuns(t *testing.T, c tclient.Client, id string) int {
	resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s' AND ExecutionStatus = 'Running'", id)})
	require.NoError(t, err)
	return len(resp.Executions)
}

// Acceptance 1–3: a KafkaBackup goes Draft → Ready → Streaming as streams and topics appear;
// a pause signal sent straight to Temporal shows as Paused with the signal's reason and resume
// brings it back; enabled: false pauses (no capture runs); adding a stream reaches the running
// workflow without a restart and without reading committed offsets again; delete closes the
// workflow, removes the finalizer and the resource.
func TestKafkaBackupLifecycle(t *testing.T) {
	t.Parallel() // a bed of its own, mostly waiting on Temporal: overlapped with the other waiting tests
	b := newBed(t)
	ctx := context.Background()
	bootstrap := testenv.Kafka(t)
	ns := b.namespace(t)
	b.kafkaAndFiles(t, ns, bootstrap)

	created := time.Now()
	kb := &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, "orders"), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files",
		MaxSegmentInterval: &metav1.Duration{Duration: time.Second}, DiscoveryInterval: &metav1.Duration{Duration: time.Second}}}
	require.NoError(t, b.k8s.Create(ctx, kb))
	id := workflows.WorkflowID("KafkaBackup", ns, "orders")
	// How soon is logged, not asserted: under the suite's load (every package at once on two
	// cores) the two API-server round trips before the start took over 2 s once in CI.
	eventually(t, 30*time.Second, "workflow running after the apply", func() (bool, string) {
		resp, err := b.temporal.DescribeWorkflowExecution(ctx, id, "")
		return err == nil && resp.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, fmt.Sprint(err)
	})
	t.Logf("workflow running %s after the apply", time.Since(created).Round(time.Millisecond))
	waitPhase(t, b, ns, "orders", arkivev1.KafkaBackupDraft, "")

	// A stream whose topic does not exist yet: Ready. Then the topic: Streaming.
	topicA := fmt.Sprintf("op-a-%d", time.Now().UnixNano())
	edit(t, b, kb, func(kb *arkivev1.KafkaBackup) { kb.Spec.Streams = []arkivev1.BackupStream{{Topic: topicA}} })
	waitPhase(t, b, ns, "orders", arkivev1.KafkaBackupReady, "")
	produce(t, bootstrap, topicA, 2, 500)
	kb = waitPhase(t, b, ns, "orders", arkivev1.KafkaBackupStreaming, arkivev1.ReasonRunning)
	require.Equal(t, kb.Generation, kb.Status.ObservedGeneration)
	firstRun := describeRun(t, b.temporal, id)
	eventually(t, time.Minute, "topic A backed up", func() (bool, string) {
		s := workflowStatus(t, b.temporal, id)
		return committed(s, topicA) == 500, fmt.Sprintf("%+v", s.Partitions)
	})
	segmentsA := len(workflowStatus(t, b.temporal, id).Partitions)

	// Pause by signal, straight to Temporal: the resource says so; resume brings it back.
	out, err := exec.Command(testenv.TemporalCLI(t), "workflow", "signal", "--address", testenv.Temporal(t), "--workflow-id", id, "--name", "pause").CombinedOutput()
	require.NoError(t, err, string(out))
	waitPhase(t, b, ns, "orders", arkivev1.KafkaBackupPaused, arkivev1.ReasonPausedBySignal)
	out, err = exec.Command(testenv.TemporalCLI(t), "workflow", "signal", "--address", testenv.Temporal(t), "--workflow-id", id, "--name", "resume").CombinedOutput()
	require.NoError(t, err, string(out))
	waitPhase(t, b, ns, "orders", arkivev1.KafkaBackupStreaming, arkivev1.ReasonRunning)

	// Adding a stream reaches the running workflow: same run, topic A's offsets kept.
	topicB := fmt.Sprintf("op-b-%d", time.Now().UnixNano())
	produce(t, bootstrap, topicB, 1, 300)
	edit(t, b, kb, func(kb *arkivev1.KafkaBackup) {
		kb.Spec.Streams = append(kb.Spec.Streams, arkivev1.BackupStream{Topic: topicB})
	})
	eventually(t, time.Minute, "topic B backed up by the same workflow", func() (bool, string) {
		s := workflowStatus(t, b.temporal, id)
		return committed(s, topicB) == 300 && committed(s, topicA) == 500, fmt.Sprintf("%+v", s.Partitions)
	})
	require.Equal(t, firstRun, describeRun(t, b.temporal, id), "no restart: the update went to the running workflow")
	require.Len(t, workflowStatus(t, b.temporal, id).Partitions, segmentsA+1)

	// enabled: false pauses: phase Paused (by spec) and no capture activity runs.
	edit(t, b, kb, func(kb *arkivev1.KafkaBackup) { kb.Spec.Enabled = ptr.To(false) })
	waitPhase(t, b, ns, "orders", arkivev1.KafkaBackupPaused, arkivev1.ReasonPausedBySpec)
	eventually(t, 30*time.Second, "no capture running while paused", func() (bool, string) {
		resp, err := b.temporal.DescribeWorkflowExecution(ctx, id, "")
		return err == nil && len(resp.PendingActivities) == 0, fmt.Sprint(resp.GetPendingActivities())
	})
	produce(t, bootstrap, topicA, 2, 100)
	before := committed(workflowStatus(t, b.temporal, id), topicA)
	require.Equal(t, int64(500), before, "nothing consumed while paused")

	// Delete: workflow closed, finalizer gone, resource gone.
	require.NoError(t, b.k8s.Delete(ctx, b.backup(t, ns, "orders")))
	eventually(t, time.Minute, "resource gone", func() (bool, string) {
		err := b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders"}, &arkivev1.KafkaBackup{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	resp, err := b.temporal.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	require.NotEqual(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, resp.WorkflowExecutionInfo.Status, "workflow closed")
}

func describeRun(t *testing.T, c tclient.Client, id string) string {
	resp, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	require.NoError(t, err)
	return resp.WorkflowExecutionInfo.Execution.RunId
}

func workflowStatus(t *testing.T, c tclient.Client, id string) kafkabackup.Status {
	var s kafkabackup.Status
	v, err := c.QueryWorkflow(context.Background(), id, "", workflows.QueryStatus)
	if err == nil {
		_ = v.Get(&s)
	}
	return s
}

func committed(s kafkabackup.Status, topic string) int64 {
	var n int64
	for _, p := range s.Partitions {
		if p.Topic == topic {
			n += p.Committed
		}
	}
	return n
}

func produce(t *testing.T, bootstrap, topic string, partitions int32, n int) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	require.NoError(t, admin.Close())
	if err != nil && !isTopicExists(err) {
		require.NoError(t, err)
	}
	testenv.WaitForLeaders(t, bootstrap, []string{topic}, partitions)
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for i := range n {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i) % partitions, Value: sarama.StringEncoder(fmt.Sprint(i))})
	}
	if err := p.SendMessages(msgs); err != nil {
		var errs sarama.ProducerErrors
		if errors.As(err, &errs) && len(errs) > 0 {
			err = fmt.Errorf("%w (the first: %w)", err, errs[0].Err) // which error, not only how many
		}
		require.NoError(t, err)
	}
}

func isTopicExists(err error) bool {
	te, ok := err.(*sarama.TopicError)
	return ok && te.Err == sarama.ErrTopicAlreadyExists
}

// Acceptance 4: killing and restarting the operator creates no duplicate workflow and loses no
// status; terminating a workflow by hand is detected (a Warning event) and recovered, and the
// new run continues from the manifest rather than from the start of the topic.
func TestOperatorRestartAndTerminatedWorkflow(t *testing.T) {
	t.Parallel() // a bed of its own, mostly waiting on Temporal: overlapped with the other waiting tests
	b := newBed(t)
	ctx := context.Background()
	bootstrap := testenv.Kafka(t)
	ns := b.namespace(t)
	b.kafkaAndFiles(t, ns, bootstrap)
	topic := fmt.Sprintf("op-r-%d", time.Now().UnixNano())
	produce(t, bootstrap, topic, 1, 200)
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, "keep"), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files",
		Streams: []arkivev1.BackupStream{{Topic: topic}}, MaxSegmentInterval: &metav1.Duration{Duration: time.Second}}}))
	id := workflows.WorkflowID("KafkaBackup", ns, "keep")
	waitPhase(t, b, ns, "keep", arkivev1.KafkaBackupStreaming, arkivev1.ReasonRunning)
	eventually(t, time.Minute, "backed up", func() (bool, string) {
		return committed(workflowStatus(t, b.temporal, id), topic) == 200, ""
	})
	run := describeRun(t, b.temporal, id)
	before := b.backup(t, ns, "keep").Status

	// The operator goes away and comes back: same workflow, same status.
	b.stopOperator()
	b.startOperator(t)
	eventually(t, 30*time.Second, "status still there after the restart", func() (bool, string) {
		kb := b.backup(t, ns, "keep")
		return kb.Status.Phase == arkivev1.KafkaBackupStreaming && kb.Status.WorkflowID == id && kb.Status.ObservedGeneration == before.ObservedGeneration, fmt.Sprintf("%+v", kb.Status)
	})
	require.Equal(t, run, describeRun(t, b.temporal, id), "the running workflow was adopted, not started again")
	eventually(t, 30*time.Second, "one running workflow in Temporal's visibility", func() (bool, string) {
		n := runningRuns(t, b.temporal, id)
		return n == 1, fmt.Sprint(n)
	})

	// Terminated by hand: detected and started again, continuing from the manifest.
	require.NoError(t, b.temporal.TerminateWorkflow(ctx, id, run, "an operator's mistake"))
	eventually(t, time.Minute, "a new run after the termination", func() (bool, string) {
		resp, err := b.temporal.DescribeWorkflowExecution(ctx, id, "")
		return err == nil && resp.WorkflowExecutionInfo.Execution.RunId != run && resp.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, fmt.Sprint(err)
	})
	eventually(t, time.Minute, "the new run knows the committed offsets", func() (bool, string) {
		s := workflowStatus(t, b.temporal, id)
		return committed(s, topic) == 200, fmt.Sprintf("%+v", s.Partitions)
	})
	var events corev1.EventList
	eventually(t, 30*time.Second, "a Warning event says the workflow was restarted", func() (bool, string) {
		require.NoError(t, b.k8s.List(ctx, &events, client.InNamespace(ns)))
		for _, e := range events.Items {
			if e.Reason == "WorkflowRestarted" && e.Type == corev1.EventTypeWarning {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(events.Items))
	})
	produce(t, bootstrap, topic, 1, 50)
	eventually(t, time.Minute, "new records backed up by the new run", func() (bool, string) {
		return committed(workflowStatus(t, b.temporal, id), topic) == 250, ""
	})
}

// Acceptance 5: a missing Storage, KafkaCluster or Secret shows in the WorkflowReady condition,
// naming the missing object; creating it recovers without user action. A KafkaRestore through
// the operator runs to Done with its progress in the status.
func TestMissingReferencesRecoverAndRestoreRuns(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	bootstrap := testenv.Kafka(t)
	ns := b.namespace(t)
	topic := fmt.Sprintf("op-m-%d", time.Now().UnixNano())
	produce(t, bootstrap, topic, 1, 120)
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, "orders"), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files",
		Mode: arkivev1.ModeScheduled, Schedule: "@yearly", Streams: []arkivev1.BackupStream{{Topic: topic}}}}))
	condition := func() *metav1.Condition {
		return meta.FindStatusCondition(b.backup(t, ns, "orders").Status.Conditions, arkivev1.ConditionWorkflowReady)
	}
	waitCondition := func(want string) {
		eventually(t, 30*time.Second, "condition names "+want, func() (bool, string) {
			c := condition()
			return c != nil && c.Status == metav1.ConditionFalse && c.Reason == "MissingReference" && strings.Contains(c.Message, want), fmt.Sprintf("%+v", c)
		})
	}
	waitCondition("KafkaCluster " + ns + "/kafka not found")
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaCluster{ObjectMeta: objMeta(ns, "kafka"), Spec: arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}}))
	waitCondition("Storage " + ns + "/files not found")
	dir := t.TempDir()
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.Storage{ObjectMeta: objMeta(ns, "files"), Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir},
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "backup-key", Key: "key"}}}}))
	waitCondition("Secret " + ns + "/backup-key not found")
	require.Nil(t, describeOrNil(b.temporal, workflows.WorkflowID("KafkaBackup", ns, "orders")), "nothing starts while a reference is missing")
	// The worker of this bed resolves secrets from a map; the Secret must exist in Kubernetes
	// for the operator, and its value reaches the worker by its own path.
	require.NoError(t, b.k8s.Create(ctx, &corev1.Secret{ObjectMeta: objMeta(ns, "backup-key"), StringData: map[string]string{"key": testKey}}))
	eventually(t, 30*time.Second, "recovered without user action", func() (bool, string) {
		c := condition()
		return c != nil && c.Status == metav1.ConditionTrue, fmt.Sprintf("%+v", c)
	})

	// The connection kinds get a Ready condition from a check that ran on the worker.
	eventually(t, 30*time.Second, "KafkaCluster Ready", func() (bool, string) {
		kc := &arkivev1.KafkaCluster{}
		require.NoError(t, b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "kafka"}, kc))
		c := meta.FindStatusCondition(kc.Status.Conditions, arkivev1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "broker(s) reachable"), fmt.Sprintf("%+v", c)
	})

	// Trigger the scheduled backup, then restore it through a KafkaRestore resource.
	out, err := exec.Command(testenv.TemporalCLI(t), "workflow", "signal", "--address", testenv.Temporal(t),
		"--workflow-id", workflows.WorkflowID("KafkaBackup", ns, "orders"), "--name", "trigger").CombinedOutput()
	require.NoError(t, err, string(out))
	eventually(t, time.Minute, "the run is in the status", func() (bool, string) {
		kb := b.backup(t, ns, "orders")
		return len(kb.Status.Runs) == 1 && kb.Status.Runs[0].Outcome == "Succeeded" && kb.Status.LastBackupTime != nil, fmt.Sprintf("%+v", kb.Status.Runs)
	})
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaRestore{ObjectMeta: objMeta(ns, "back"), Spec: arkivev1.KafkaRestoreSpec{
		Source: arkivev1.BackupSource{Storage: "files", Backup: ns + "/orders"}, Target: "kafka",
		Topics: []arkivev1.TopicMapping{{Source: topic, Target: topic + "-restored"}}}}))
	eventually(t, time.Minute, "restore Done", func() (bool, string) {
		kr := &arkivev1.KafkaRestore{}
		require.NoError(t, b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "back"}, kr))
		return kr.Status.Phase == arkivev1.RestoreDone && kr.Status.Progress != nil && kr.Status.Progress.Records == 120 && kr.Status.Progress.Percent == 100 &&
			kr.Status.CompletionTime != nil, fmt.Sprintf("%+v", kr.Status)
	})
}

// testKey is the test's storage encryption key (base64 of 32 bytes).
const testKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func describeOrNil(c tclient.Client, id string) any {
	resp, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		return nil
	}
	return resp
}

// Acceptance 1: applying the samples (with the Secrets they name) gives running workflows for
// every backup and restore (about 0.2 s after the apply on an idle machine: logged, not
// asserted, since the suite's load can stretch it; BenchmarkOperator200Backups measures it).
func TestSamplesStartWorkflows(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	ids := []string{workflows.WorkflowID("KafkaBackup", "kafka", "orders"), workflows.WorkflowID("KafkaBackup", "kafka", "audit-nightly"),
		workflows.WorkflowID("KafkaBackup", "kafka", "orders-before-upgrade"),
		workflows.WorkflowID("KafkaRestore", "kafka", "orders-dr"), workflows.WorkflowID("SchemaRegistryBackup", "kafka", "prod-schemas"),
		workflows.WorkflowID("SchemaRegistryRestore", "kafka", "schemas-dr")}
	for _, id := range ids { // the dev server keeps workflows of earlier runs of this test
		_ = b.temporal.TerminateWorkflow(ctx, id, "", "earlier test run")
	}
	require.NoError(t, b.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kafka"}}))
	for _, name := range []string{"kafka-ca", "arkive-kafka-user", "arkive-s3", "arkive-backup-key", "arkive-gcs", "arkive-azure", "arkive-registry", "registry-ca"} {
		require.NoError(t, b.k8s.Create(ctx, &corev1.Secret{ObjectMeta: objMeta("kafka", name), StringData: map[string]string{"x": "not a real secret"}}))
	}
	applied := time.Now()
	applySamples(t, b.k8s, "", "kafkacluster", "storage", "kafkabackup", "kafkarestore", "schemaregistry", "schemaregistrybackup", "schemaregistryrestore")
	t.Logf("the API server took %s to accept the samples", time.Since(applied).Round(time.Millisecond))
	accepted := time.Now()
	eventually(t, 30*time.Second, "a running workflow for every sample backup and restore", func() (bool, string) {
		for _, id := range ids {
			resp, err := b.temporal.DescribeWorkflowExecution(ctx, id, "")
			if err != nil || resp.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING ||
				resp.WorkflowExecutionInfo.StartTime.AsTime().Before(applied) {
				return false, id + " " + fmt.Sprint(err)
			}
		}
		return true, ""
	})
	t.Logf("all sample workflows running %s after the apply returned", time.Since(accepted).Round(time.Millisecond))
	t.Cleanup(func() {
		for _, id := range ids {
			_ = b.temporal.TerminateWorkflow(context.Background(), id, "", "test done")
		}
	})
}
