package operator_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-logr/logr"
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
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
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
	w := worker.New(b.temporal, worker.Options{TaskQueue: b.queue, Secrets: func(string) secrets.Resolver { return secrets.Map{} }})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	b.startOperator(t)
	t.Cleanup(b.stopOperator)
	return b
}

func (b *bed) startOperator(t *testing.T) {
	mgr, err := ctrl.NewManager(b.cfg, ctrl.Options{Scheme: b.scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	require.NoError(t, err)
	require.NoError(t, operator.Setup(mgr, operator.Options{Temporal: b.temporal, TaskQueue: b.queue, Interval: 300 * time.Millisecond, CheckInterval: time.Minute}))
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

func objMeta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

// eventually polls cond every 100 ms for up to d; the polling interval is not synchronisation.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last state: %s", what, d, last)
}

func (b *bed) backup(t *testing.T, ns, name string) *arkivev1.KafkaBackup {
	kb := &arkivev1.KafkaBackup{}
	require.NoError(t, b.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, kb))
	return kb
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
	b := newBed(t)
	ctx := context.Background()
	bootstrap := testenv.Kafka(t)
	ns := b.namespace(t)
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaCluster{ObjectMeta: objMeta(ns, "kafka"), Spec: arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}}))
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.Storage{ObjectMeta: objMeta(ns, "files"), Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}}))

	created := time.Now()
	kb := &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, "orders"), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files",
		MaxSegmentInterval: &metav1.Duration{Duration: time.Second}, DiscoveryInterval: &metav1.Duration{Duration: time.Second}}}
	require.NoError(t, b.k8s.Create(ctx, kb))
	id := workflows.WorkflowID("KafkaBackup", ns, "orders")
	eventually(t, 2*time.Second, "workflow running within 2 s of the apply", func() (bool, string) {
		resp, err := b.temporal.DescribeWorkflowExecution(ctx, id, "")
		return err == nil && resp.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, fmt.Sprint(err)
	})
	t.Logf("workflow running %s after the apply", time.Since(created).Round(time.Millisecond))
	waitPhase(t, b, ns, "orders", arkivev1.KafkaBackupDraft, "")

	// A stream whose topic does not exist yet: Ready. Then the topic: Streaming.
	topicA := fmt.Sprintf("op-a-%d", time.Now().UnixNano())
	kb = b.backup(t, ns, "orders")
	kb.Spec.Streams = []arkivev1.BackupStream{{Topic: topicA}}
	require.NoError(t, b.k8s.Update(ctx, kb))
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
	kb = b.backup(t, ns, "orders")
	kb.Spec.Streams = append(kb.Spec.Streams, arkivev1.BackupStream{Topic: topicB})
	require.NoError(t, b.k8s.Update(ctx, kb))
	eventually(t, time.Minute, "topic B backed up by the same workflow", func() (bool, string) {
		s := workflowStatus(t, b.temporal, id)
		return committed(s, topicB) == 300 && committed(s, topicA) == 500, fmt.Sprintf("%+v", s.Partitions)
	})
	require.Equal(t, firstRun, describeRun(t, b.temporal, id), "no restart: the update went to the running workflow")
	require.Len(t, workflowStatus(t, b.temporal, id).Partitions, segmentsA+1)

	// enabled: false pauses: phase Paused (by spec) and no capture activity runs.
	kb = b.backup(t, ns, "orders")
	kb.Spec.Enabled = ptr.To(false)
	require.NoError(t, b.k8s.Update(ctx, kb))
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
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for i := range n {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i) % partitions, Value: sarama.StringEncoder(fmt.Sprint(i))})
	}
	require.NoError(t, p.SendMessages(msgs))
}

func isTopicExists(err error) bool {
	te, ok := err.(*sarama.TopicError)
	return ok && te.Err == sarama.ErrTopicAlreadyExists
}
