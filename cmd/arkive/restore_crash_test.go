package main

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

const restoreKills = 5

// Crash safety of restore: the worker process is SIGKILLed at least five times while it
// restores a million records, each time after the target has grown by a random amount (so every
// kill lands mid-write), and restarted; afterwards every target partition holds each source
// record exactly once, in order.
func TestRestoreSurvivesWorkerSIGKILLs(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test")
	}
	t.Parallel() // mostly waiting for heartbeat timeouts and restarts: overlapped with the other fault tests
	bootstrap := testenv.Kafka(t)
	temporal := testenv.Temporal(t)
	source := testenv.Topic(t, "rcrash", crashPartitions, nil)
	seq := make([]int, crashPartitions)
	produceSequence(t, bootstrap, source, seq, crashRecords)
	bin := buildArkive(t)
	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()

	// The backup, by an in-process worker on a queue of its own.
	name := "rcrash" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	kc, st := volumeObjects(bootstrap, t.TempDir())
	kb := &arkivev1.KafkaBackup{Spec: arkivev1.KafkaBackupSpec{Source: "k", Sink: "s", Streams: []arkivev1.BackupStream{{Topic: source}},
		Mode: arkivev1.ModeScheduled, Schedule: "@yearly", MaxSegmentBytes: ptrTo[int64](4 << 20)}}
	kb.Name, kb.Namespace = name, "default"
	bin0, err := specs.KafkaBackupInput(kb, kc, st)
	require.NoError(t, err)
	bw := worker.New(c, worker.Options{TaskQueue: "backup-" + name, Secrets: func(string) secrets.Resolver { return secrets.Map{} }})
	require.NoError(t, bw.Start())
	bid := workflows.WorkflowID("KafkaBackup", "default", name)
	_, err = c.SignalWithStartWorkflow(context.Background(), bid, workflows.SignalTrigger, nil,
		client.StartWorkflowOptions{ID: bid, TaskQueue: "backup-" + name}, kafkabackup.WorkflowName, bin0)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), bid, "", "test done") }()
	queryDeadline := time.Now().Add(3 * time.Minute)
	for {
		v, err := c.QueryWorkflow(context.Background(), bid, "", workflows.QueryStatus)
		if err != nil {
			// The fault tests run side by side on two cores: a query may time out before the
			// in-process worker answers it (seen in CI, 2026-12-07). Ask again.
			require.True(t, time.Now().Before(queryDeadline), "backup status: %v", err)
			time.Sleep(200 * time.Millisecond) // polling interval
			continue
		}
		var s kafkabackup.Status
		require.NoError(t, v.Get(&s))
		if len(s.Runs) > 0 {
			require.Equal(t, "Succeeded", s.Runs[0].Outcome, s.LastError)
			require.EqualValues(t, crashRecords, s.Runs[0].Records)
			break
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
	bw.Stop()

	// The restore, by worker processes that keep getting killed.
	target := source + "-restored"
	kr := &arkivev1.KafkaRestore{Spec: arkivev1.KafkaRestoreSpec{Source: arkivev1.BackupSource{Storage: "s", Backup: bin0.Backup}, Target: "k",
		Topics: []arkivev1.TopicMapping{{Source: source, Target: target}}, RateLimit: &arkivev1.RateLimit{RecordsPerSecond: ptrTo[int64](100_000)}}}
	kr.Name, kr.Namespace = name, "default"
	rin, err := specs.KafkaRestoreInput(kr, kc, st)
	require.NoError(t, err)
	queue := "restore-" + name
	rid := workflows.WorkflowID("KafkaRestore", "default", name)
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: rid, TaskQueue: queue}, kafkarestore.WorkflowName, rin)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), rid, "", "test done") }()

	startWorker := func() *exec.Cmd {
		cmd := exec.Command(bin, "worker", "--temporal-address", temporal, "--task-queue", queue, "--spool-dir", t.TempDir())
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		require.NoError(t, cmd.Start())
		return cmd
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var written []int64
	last := int64(0)
	for range restoreKills {
		w := startWorker()
		// Kill once the target has grown by 20k–80k records since the last kill: mid-restore.
		grow := int64(20_000 + rng.IntN(60_000))
		deadline := time.Now().Add(2 * time.Minute)
		for targetTotal(t, bootstrap, target) < last+grow {
			require.True(t, time.Now().Before(deadline), "the restore made no progress after a restart")
			time.Sleep(20 * time.Millisecond) // polling interval
		}
		require.NoError(t, w.Process.Signal(syscall.SIGKILL))
		_ = w.Wait()
		last = targetTotal(t, bootstrap, target)
		written = append(written, last)
	}
	require.Less(t, last, int64(crashRecords), "the last kill must land before the restore finished")
	final := startWorker()
	defer func() { _ = final.Process.Kill(); _ = final.Wait() }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var res kafkarestore.Result
	require.NoError(t, c.GetWorkflow(ctx, rid, "").Get(ctx, &res))
	require.Equal(t, kafkarestore.PhaseDone, res.Status.Phase)
	t.Logf("target records at each kill %v; %d records restored", written, res.Status.Records)

	client, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	require.NoError(t, err)
	defer consumer.Close()
	for p := range int32(crashPartitions) {
		end, err := client.GetOffset(target, p, sarama.OffsetNewest)
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
	var verified bool
	for _, m := range res.OffsetMaps {
		verified = verified || len(m) > 0
	}
	require.True(t, verified, "the result carries the offset maps")
}

// targetTotal is the sum of a topic's end offsets: 0 while it does not exist yet, and what the
// partitions with a leader hold while the restore has just created it (a partition without a
// leader yet answers "not the leader"; the callers poll).
func targetTotal(t *testing.T, bootstrap, topic string) int64 {
	client, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return 0
	}
	var n int64
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if errors.Is(err, sarama.ErrNotLeaderForPartition) || errors.Is(err, sarama.ErrLeaderNotAvailable) {
			continue
		}
		require.NoError(t, err)
		n += end
	}
	return n
}
