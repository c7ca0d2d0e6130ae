package main

import (
	"context"
	"fmt"
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
	"arkive.io/arkive/workflows/kafkarestore"
)

// Issue 22, point 14: MinIO is killed for 30 seconds (or until the status shows the error, if
// that takes longer) during a continuous backup, and again during a restore, and started again
// with its data. Both recover by themselves; while the storage is away each status shows the
// storage error (measured: the backup after about 22 s, the restore after about 27 s: three
// activity attempts, then the workflow's Retrying); the backup holds every offset once and the
// restore writes every record once, in order.
func TestBackupAndRestoreRecoverFromStorageOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("long fault test")
	}
	t.Parallel() // a bed of its own: the waits for the outages overlap other tests
	bed := newPrivateBed(t, 24000)
	bed.servers("start", "minio")
	bootstrap, temporal, endpoint := bed.kafka, bed.temporal, "http://"+bed.minio
	testenv.CreateBucket(t, endpoint, "arkive", "arkive-secret-key", "outage")
	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	queue := fmt.Sprintf("storage-outage-%d", time.Now().UnixNano())
	sr := secrets.Map{"minio#AWS_ACCESS_KEY_ID": "arkive", "minio#AWS_SECRET_ACCESS_KEY": "arkive-secret-key"}
	w := worker.New(c, worker.Options{TaskQueue: queue, Secrets: func(string) secrets.Resolver { return sr }})
	require.NoError(t, w.Start())
	defer w.Stop()

	topic := "stout"
	seq := make([]int, 2)
	createTopic(t, bootstrap, topic, 2)
	produceSequence(t, bootstrap, topic, seq, 20_000)
	kc := &arkivev1.KafkaCluster{Spec: arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}}
	kc.Name = "k"
	st := &arkivev1.Storage{Spec: arkivev1.StorageSpec{S3: &arkivev1.S3Storage{Bucket: "outage", Endpoint: endpoint, ForcePathStyle: true,
		CredentialsSecret: &arkivev1.S3Credentials{Name: "minio"}}}}
	st.Name = "s"
	kb := &arkivev1.KafkaBackup{Spec: arkivev1.KafkaBackupSpec{Source: "k", Sink: "s", Streams: []arkivev1.BackupStream{{Topic: topic}}}}
	kb.Name, kb.Namespace = "stout", "default"
	in, err := specs.KafkaBackupInput(kb, kc, st)
	require.NoError(t, err)
	in.Spec.MaxSegmentInterval = time.Second
	bid := workflows.WorkflowID("KafkaBackup", "default", "stout")
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: bid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), bid, "", "test done") }()
	backupStatus := func() kafkabackup.Status {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var s kafkabackup.Status
		_ = queryStatus(ctx, c, bid, &s)
		return s
	}
	committed := func() int64 {
		var n int64
		for _, p := range backupStatus().Partitions {
			n += p.Committed
		}
		return n
	}
	waitFor := func(what string, d time.Duration, cond func() (bool, string)) {
		testenv.Eventually(t, d, what, cond)
	}
	waitFor("first records committed", time.Minute, func() (bool, string) { n := committed(); return n == 20_000, fmt.Sprint(n) })

	// The storage goes away for 30 seconds while records keep arriving.
	bed.servers("kill", "minio")
	outageEnds := time.Now().Add(30 * time.Second)
	produceSequence(t, bootstrap, topic, seq, 5_000)
	killed := time.Now()
	waitFor("the backup's status shows the storage error", time.Minute, func() (bool, string) {
		s := backupStatus()
		return s.Reason == "Retrying" && s.LastError != "" && s.Phase != kafkabackup.PhaseFailed, fmt.Sprintf("%s/%s %q", s.Phase, s.Reason, s.LastError)
	})
	t.Logf("the backup showed the error %s after the kill", time.Since(killed))
	time.Sleep(time.Until(outageEnds)) // the outage is the fault being injected
	bed.servers("start", "minio")
	waitFor("records of the outage committed", 3*time.Minute, func() (bool, string) { n := committed(); return n == 25_000, fmt.Sprint(n) })
	waitFor("the error cleared", time.Minute, func() (bool, string) { s := backupStatus(); return s.LastError == "", s.LastError })

	store, err := blobstore.Open(context.Background(), st.Spec, sr)
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
			want++
			return nil
		}))
		require.Equal(t, int64(seq[part.Partition]), want, "partition %d: every record", part.Partition)
	}
	require.NoError(t, c.TerminateWorkflow(context.Background(), bid, "", "backup done"))

	// The restore, slowed to 1,000 records/s so the outage lands in its middle.
	target := topic + "-restored"
	kr := &arkivev1.KafkaRestore{Spec: arkivev1.KafkaRestoreSpec{Source: arkivev1.BackupSource{Storage: "s", Backup: in.Backup}, Target: "k",
		Topics: []arkivev1.TopicMapping{{Source: topic, Target: target}}, RateLimit: &arkivev1.RateLimit{RecordsPerSecond: ptrTo[int64](1_000)}}}
	kr.Name, kr.Namespace = "stout", "default"
	rin, err := specs.KafkaRestoreInput(kr, kc, st)
	require.NoError(t, err)
	rid := workflows.WorkflowID("KafkaRestore", "default", "stout")
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: rid, TaskQueue: queue}, kafkarestore.WorkflowName, rin)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), rid, "", "test done") }()
	waitFor("the restore under way", time.Minute, func() (bool, string) { n := targetTotal(t, bootstrap, target); return n >= 2_000, fmt.Sprint(n) })
	bed.servers("kill", "minio")
	outageEnds = time.Now().Add(30 * time.Second)
	killed = time.Now()
	waitFor("the restore's status shows the storage error", time.Minute, func() (bool, string) {
		var s kafkarestore.Status
		if err := queryStatus(context.Background(), c, rid, &s); err != nil {
			return false, err.Error()
		}
		return s.LastError != "" && s.Phase != kafkarestore.PhaseFailed, fmt.Sprintf("%s/%s %q", s.Phase, s.Reason, s.LastError)
	})
	t.Logf("the restore showed the error %s after the kill", time.Since(killed))
	time.Sleep(time.Until(outageEnds)) // the outage is the fault being injected
	bed.servers("start", "minio")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var res kafkarestore.Result
	require.NoError(t, c.GetWorkflow(ctx, rid, "").Get(ctx, &res))
	require.Equal(t, kafkarestore.PhaseDone, res.Status.Phase, res.Status.LastError)

	sc, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer sc.Close()
	consumer, err := sarama.NewConsumerFromClient(sc)
	require.NoError(t, err)
	defer consumer.Close()
	for p := range int32(2) {
		end, err := sc.GetOffset(target, p, sarama.OffsetNewest)
		require.NoError(t, err)
		require.Equal(t, int64(seq[p]), end, "partition %d: exactly as many records as the source", p)
		pc, err := consumer.ConsumePartition(target, p, sarama.OffsetOldest)
		require.NoError(t, err)
		for want := int64(0); want < end; want++ {
			msg := <-pc.Messages()
			require.Equal(t, strconv.FormatInt(want, 10), string(msg.Value), "partition %d offset %d: each record once, in order", p, msg.Offset)
		}
		require.NoError(t, pc.Close())
	}
}
