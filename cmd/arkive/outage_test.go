package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// privateBed runs hack/servers.sh for a Temporal dev server and a Kafka broker of this test
// only (own ports and folder), so it can take them down without touching other tests.
type privateBed struct {
	t                      *testing.T
	env                    []string
	kafka, temporal, minio string // addresses; MinIO runs only when a test starts it
}

// newPrivateBed starts the bed's Temporal and Kafka on ports from base (base+92 to base+96 for
// the broker, base+233 and base+234 for Temporal; base+900 for MinIO, should the test start
// it): each test gives a base of its own, so fault
// tests running at once do not meet. The bases stay below Linux's ephemeral range
// (32768-60999), where an outgoing connection may hold a port; every listener of the bed is
// set, or it would clash with the shared bed's.
func newPrivateBed(t *testing.T, base int) *privateBed {
	testenv.Temporal(t) // installed by the test bed; in CI it is there
	port := func(n int) string { return strconv.Itoa(base + n) }
	b := ownBed(t, strconv.Itoa(base), "ARKIVE_TEMPORAL_PORT="+port(233), "ARKIVE_TEMPORAL_UI_PORT="+port(234),
		"ARKIVE_KAFKA_PORT="+port(92), "ARKIVE_KAFKA_CONTROLLER_PORT="+port(93), "ARKIVE_KAFKA_SASL_PORT="+port(94),
		"ARKIVE_KAFKA_SSL_PORT="+port(95), "ARKIVE_KAFKA_SASL_SSL_PORT="+port(96), "ARKIVE_MINIO_PORT="+port(900))
	b.kafka, b.temporal, b.minio = "127.0.0.1:"+port(92), "127.0.0.1:"+port(233), "127.0.0.1:"+port(900)
	b.servers("start", "temporal", "kafka")
	return b
}

// ownBed is a bed on the folder arkive-bed-NAME with the environment's ports, which stops
// when the test ends; a stopped server starts again on its data (ARKIVE_KEEP_DATA). The
// folder is named, not made anew: a run of the test killed before its clean-up (go test's
// -timeout, Ctrl-C) leaves its servers running on the bed's ports, and the next run stops them
// first by the pid files they left (servers.sh stops only a process whose pid and start time
// are those it recorded), then starts on an emptied folder.
func ownBed(t *testing.T, name string, env ...string) *privateBed {
	run := filepath.Join(os.TempDir(), "arkive-bed-"+name)
	b := &privateBed{t: t, env: append(append(os.Environ(), "ARKIVE_RUN="+run, "ARKIVE_KEEP_DATA=1"), env...)}
	b.servers("stop")
	require.NoError(t, os.RemoveAll(run))
	t.Cleanup(func() { b.servers("stop"); _ = os.RemoveAll(run) })
	return b
}

func (b *privateBed) servers(args ...string) {
	cmd := exec.Command("bash", append([]string{"../../hack/servers.sh"}, args...)...)
	cmd.Env = b.env
	out, err := cmd.CombinedOutput()
	require.NoError(b.t, err, "servers.sh %v: %s", args, out)
}

// Faults: a 30-second broker outage and a restart of the Temporal server, both during a
// continuous backup while records keep arriving; afterwards the backup holds every record
// exactly once.
func TestBackupRecoversFromBrokerOutageAndTemporalRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("long fault test")
	}
	t.Parallel() // a bed of its own: the waits for the outage overlap other tests
	bed := newPrivateBed(t, 23000)
	bootstrap, temporal := bed.kafka, bed.temporal
	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	queue := fmt.Sprintf("outage-%d", time.Now().UnixNano())
	w := worker.New(c, worker.Options{TaskQueue: queue, Secrets: func(string) secrets.Resolver { return secrets.Map{} }})
	require.NoError(t, w.Start())
	defer w.Stop()

	topic := "outage"
	seq := make([]int, 2)
	createTopic(t, bootstrap, topic, 2)
	produceSequence(t, bootstrap, topic, seq, 20_000)

	dir := t.TempDir()
	kc, st := volumeObjects(bootstrap, dir)
	kb := &arkivev1.KafkaBackup{Spec: arkivev1.KafkaBackupSpec{Source: "k", Sink: "s", Streams: []arkivev1.BackupStream{{Topic: topic}}}}
	kb.Name, kb.Namespace = "outage", "default"
	in, err := specs.KafkaBackupInput(kb, kc, st)
	require.NoError(t, err)
	in.Spec.MaxSegmentInterval = time.Second
	wid := workflows.WorkflowID("KafkaBackup", "default", "outage")
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	committed := func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var s kafkabackup.Status
		if queryStatus(ctx, c, wid, &s) != nil {
			return -1
		}
		var n int64
		for _, p := range s.Partitions {
			n += p.Committed
		}
		return n
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		deadline := time.Now().Add(d)
		for !cond() {
			require.True(t, time.Now().Before(deadline), what)
			time.Sleep(200 * time.Millisecond) // polling interval
		}
	}
	waitFor("first records committed", time.Minute, func() bool { return committed() == 20_000 })

	// The broker goes away for 30 seconds, then comes back with its data.
	bed.servers("kill", "kafka")
	time.Sleep(30 * time.Second) // the outage is the fault being injected
	var s kafkabackup.Status
	require.NoError(t, queryStatus(context.Background(), c, wid, &s))
	t.Logf("during the outage: phase %s reason %s, last error %q", s.Phase, s.Reason, s.LastError)
	require.NotEqual(t, kafkabackup.PhaseFailed, s.Phase, "an outage is retried, not a failure")
	bed.servers("start", "kafka")
	produceSequence(t, bootstrap, topic, seq, 5_000)
	waitFor("records after the outage committed", 3*time.Minute, func() bool { return committed() == 25_000 })

	// The Temporal server restarts (its database file keeps the workflow).
	bed.servers("kill", "temporal")
	produceSequence(t, bootstrap, topic, seq, 5_000)
	bed.servers("start", "temporal")
	waitFor("records after the Temporal restart committed", 3*time.Minute, func() bool { return committed() == 30_000 })

	store, err := blobstore.Open(context.Background(), st.Spec, nil)
	require.NoError(t, err)
	defer store.Close()
	layout, _ := blobstore.Kafka(in.Backup)
	m, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	for _, part := range m.Topics[0].Data {
		require.Empty(t, part.Holes())
		want := int64(0)
		require.NoError(t, backups.Partition(context.Background(), store, part, nil, func(r *archive.Record) error {
			require.Equal(t, want, r.Offset, "partition %d: each offset once, in order", part.Partition)
			require.Equal(t, strconv.FormatInt(r.Offset, 10), string(r.Value))
			want++
			return nil
		}))
		require.Equal(t, int64(seq[part.Partition]), want, "partition %d: every record", part.Partition)
	}
}

func createTopic(t *testing.T, bootstrap, topic string, partitions int32) {
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false))
}
