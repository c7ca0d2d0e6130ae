package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"gocloud.dev/blob"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

const (
	scaleTopics    = 4
	scalePerTopic  = 500 // 2,000 partitions: 16 shards
	scaleInterval  = 15 * time.Second
	scaleBatchWait = 500 * time.Millisecond // production pace: one record per partition per batch
)

// Issue 18, acceptances 2 and 3: a continuous backup of 2,000 partitions (four topics) runs on three
// `arkive worker` processes polling one task queue. The history shows that each worker ran
// shard captures; one worker is SIGKILLed mid-cycle and another SIGTERMed, and after each the
// records produced before it are in the backup within 2 × maxSegmentInterval. At the end every
// offset of every partition is in the archive exactly once, with its own value.
//
// Segments are stored uncompressed here: the test is about spreading and taking over work, and
// 2,000 open zstd segments on one machine's three workers would measure the compressor's
// memory instead (docs/scaling.md says what a worker holds per partition).
func TestShardedBackupOverThreeWorkersSurvivesKillAndStop(t *testing.T) {
	if testing.Short() {
		t.Skip("long scale test")
	}
	bootstrap := testenv.Kafka(t)
	temporal := testenv.Temporal(t)
	var topics []string
	for range scaleTopics {
		topics = append(topics, testenv.Topic(t, "scale", scalePerTopic, nil))
	}
	// 4,000 partitions (with the restored topics) weigh on the broker the other packages' tests
	// share: they go when the test ends.
	t.Cleanup(func() {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_0_0_0
		admin, err := sarama.NewClusterAdmin([]string{bootstrap}, cfg)
		if err != nil {
			return
		}
		defer admin.Close()
		for _, topic := range topics {
			_ = admin.DeleteTopic(topic)
			_ = admin.DeleteTopic(topic + "-restored")
		}
	})
	testenv.WaitForLeaders(t, bootstrap, topics, scalePerTopic)
	seqs := make([][]int, scaleTopics)
	for i := range seqs {
		seqs[i] = make([]int, scalePerTopic)
	}
	var mu sync.Mutex // guards seqs and produced
	produced := 0
	prod := newSequenceProducer(t, bootstrap)
	defer prod.Close()
	produceRound := func(n int) {
		mu.Lock()
		defer mu.Unlock()
		for i, topic := range topics {
			prod.send(t, topic, seqs[i], n)
			produced += n * scalePerTopic
		}
	}
	producedSoFar := func() int {
		mu.Lock()
		defer mu.Unlock()
		return produced
	}
	produceRound(20)
	bin := buildArkive(t)

	dir := t.TempDir()
	name := "scale" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	queue := "scale-" + name
	kb := &arkivev1.KafkaBackup{Spec: arkivev1.KafkaBackupSpec{Source: "k", Sink: "s",
		Compression: &arkivev1.Compression{Codec: "none"}}}
	for _, topic := range topics {
		kb.Spec.Streams = append(kb.Spec.Streams, arkivev1.BackupStream{Topic: topic})
	}
	kb.Name, kb.Namespace = name, "default"
	kc, st := volumeObjects(bootstrap, dir)
	in, err := specs.KafkaBackupInput(kb, kc, st)
	require.NoError(t, err)
	in.Spec.MaxSegmentInterval = scaleInterval

	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	wid := workflows.WorkflowID("KafkaBackup", "default", name)
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") }()

	workers := []*workerProcess{}
	for range 3 {
		workers = append(workers, &workerProcess{cmd: startKafkaWorker(t, bin, temporal, queue)})
	}
	defer func() {
		for _, w := range workers {
			w.stop()
		}
	}()
	stopProducing := make(chan struct{})
	producing := make(chan struct{})
	go func() {
		defer close(producing)
		for {
			select {
			case <-stopProducing:
				return
			case <-time.After(scaleBatchWait):
				produceRound(1)
			}
		}
	}()
	defer func() {
		select {
		case <-stopProducing:
		default:
			close(stopProducing)
		}
		<-producing
	}()

	store, err := blobstore.OpenURL(context.Background(), "file://"+dir)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka(in.Backup)
	require.NoError(t, err)
	committed := func() int64 {
		m, err := catalog.Read(context.Background(), store, layout)
		if err != nil {
			return 0
		}
		var n int64
		for _, tp := range m.Topics {
			for _, p := range tp.Data {
				n += p.NextOffset
			}
		}
		return n
	}
	// caughtUp waits until the records produced before a moment (the fault, or the call) are
	// committed and says how long after that moment it was. The clock starts at the fault,
	// as the acceptance does: a SIGTERMed worker's graceful exit counts against the limit.
	type mark struct {
		want int64
		at   time.Time
	}
	now := func() mark { return mark{int64(producedSoFar()), time.Now()} }
	caughtUp := func(what string, since mark, limit time.Duration) time.Duration {
		for committed() < since.want {
			if time.Since(since.at) >= limit {
				logPending(t, c, wid) // why, for whoever reads the failure
			}
			require.Less(t, time.Since(since.at), limit, "%s: the backup did not catch up with %d records (%d committed)", what, since.want, committed())
			time.Sleep(200 * time.Millisecond) // polling interval
		}
		return time.Since(since.at)
	}

	// Every worker takes shards: the history's started captures name each worker's identity.
	deadline := time.Now().Add(3 * time.Minute)
	for !ranCaptures(t, c, wid, workers) {
		require.True(t, time.Now().Before(deadline), "not every worker ran a shard capture")
		time.Sleep(time.Second) // polling interval
	}
	first := caughtUp("three workers", now(), 3*time.Minute)

	// SIGKILL mid-cycle, to a worker running captures: its shards go to the others after the
	// heartbeat timeout and resume from their staged progress.
	time.Sleep(scaleInterval / 2) // lands mid-cycle: the fault being injected, not a wait
	victim := busyWorker(t, c, wid, workers)
	killed := now()
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	_ = victim.cmd.Wait()
	afterKill := caughtUp("after SIGKILL", killed, 2*scaleInterval)

	// SIGTERM mid-cycle: the stopping worker stores its progress and hands its shards back.
	time.Sleep(scaleInterval / 2)
	victim = busyWorker(t, c, wid, workers)
	stopped := now()
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, victim.cmd.Wait(), "a stopped worker exits cleanly")
	t.Logf("the SIGTERMed worker exited after %s", time.Since(stopped.at).Round(time.Millisecond))
	afterStop := caughtUp("after SIGTERM", stopped, 2*scaleInterval)

	close(stopProducing)
	<-producing
	total := producedSoFar()
	last := caughtUp("the last worker", now(), 3*time.Minute)
	t.Logf("caught up in %s with three workers, %s after SIGKILL, %s after SIGTERM, %s for the rest; %d records in 2,000 partitions",
		first.Round(time.Millisecond), afterKill.Round(time.Millisecond), afterStop.Round(time.Millisecond), last.Round(time.Millisecond), total)

	m, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	require.Len(t, m.Topics, scaleTopics)
	read := 0
	for _, tp := range m.Topics {
		i := indexOf(topics, tp.Name)
		require.Len(t, tp.Data, scalePerTopic, tp.Name)
		for _, part := range tp.Data {
			require.Equal(t, int64(0), part.StartOffset)
			require.Equal(t, int64(seqs[i][part.Partition]), part.NextOffset, "%s/%d", tp.Name, part.Partition)
			read += readBackSequence(t, store, part)
		}
	}
	require.Equal(t, total, read, "every offset exactly once")
	_ = c.TerminateWorkflow(context.Background(), wid, "", "backup done")

	// Issue 18, acceptance 3: the backup restored by two workers, one SIGKILLed mid-restore:
	// every target partition holds each source record once, in order. The partitions are small,
	// so the plan packs them 16 to a stream (128 streams); the rate limit keeps the restore
	// running for about 15 s, so that the kill lands while it writes.
	kr := &arkivev1.KafkaRestore{Spec: arkivev1.KafkaRestoreSpec{Source: arkivev1.BackupSource{Storage: "s", Backup: in.Backup}, Target: "k",
		RateLimit: &arkivev1.RateLimit{RecordsPerSecond: ptrTo[int64](int64(total) / 15)}}}
	for _, topic := range topics {
		kr.Spec.Topics = append(kr.Spec.Topics, arkivev1.TopicMapping{Source: topic, Target: topic + "-restored"})
	}
	kr.Name, kr.Namespace = name, "default"
	rin, err := specs.KafkaRestoreInput(kr, kc, st)
	require.NoError(t, err)
	rqueue := "scale-restore-" + name
	rid := workflows.WorkflowID("KafkaRestore", "default", name)
	firstRun, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: rid, TaskQueue: rqueue}, kafkarestore.WorkflowName, rin)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), rid, "", "test done") }()
	restorers := []*workerProcess{{cmd: startKafkaWorker(t, bin, temporal, rqueue)}, {cmd: startKafkaWorker(t, bin, temporal, rqueue)}}
	defer func() {
		for _, w := range restorers {
			w.stop()
		}
	}()
	// restored sums the target topics' end offsets; partitions the restore created a moment ago
	// may not answer yet and count as empty.
	restored := func() int64 {
		kc, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
		require.NoError(t, err)
		defer kc.Close()
		var n int64
		for _, topic := range topics {
			parts, err := kc.Partitions(topic + "-restored")
			if err != nil {
				continue
			}
			for _, p := range parts {
				if end, err := kc.GetOffset(topic+"-restored", p, sarama.OffsetNewest); err == nil {
					n += end
				}
			}
		}
		return n
	}
	// Generous: the restore plans 2,000 partitions before it writes, and CI at af95202 saw
	// less than a third restored after 3 minutes on a busy 2-core machine.
	deadline = time.Now().Add(6 * time.Minute)
	for restored() < int64(total)/3 {
		require.True(t, time.Now().Before(deadline), "the restore made no progress")
		time.Sleep(200 * time.Millisecond) // polling interval
	}
	victim = busyRestorer(t, c, rid, restorers)
	killedAt := time.Now()
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	_ = victim.cmd.Wait()
	atKill := restored()
	require.Less(t, atKill, int64(total), "the kill must land before the restore finished")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var res kafkarestore.Result
	require.NoError(t, c.GetWorkflow(ctx, rid, "").Get(ctx, &res))
	doneAfterKill := time.Since(killedAt)
	require.Equal(t, kafkarestore.PhaseDone, res.Status.Phase)
	t.Logf("restore: %d of %d records written when a worker was killed", atKill, total)
	// 2,000 partitions in 128 streams of at most 16 (31 of 16 and one of 4 per topic): an
	// activity per stream, not per partition. (Plans of more streams than a page holds, and
	// runs continuing as new, are TestPagedRestoreContinuesAsNewOnTheServer's and
	// TestRestoreOf20000PartitionsStaysWithinTemporalLimits'.)
	streams := scaleTopics * ((scalePerTopic + 15) / 16)
	require.Equal(t, streams, res.Status.Streams)
	require.Equal(t, streams, res.Status.StreamsDone)
	left, err := store.List(&blob.ListOptions{Prefix: layout.Root() + "restores/"}).Next(context.Background())
	require.ErrorIs(t, err, io.EOF, "the restore left %v in the storage", left)
	activities := map[string]int{}
	iter := c.GetWorkflowHistory(context.Background(), rid, firstRun.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			activities[a.GetActivityType().GetName()]++
		}
		if ev.GetWorkflowExecutionContinuedAsNewEventAttributes() != nil {
			activities["continued as new"]++
		}
		if ev.GetActivityTaskCancelRequestedEventAttributes() != nil {
			activities["cancelled"]++
		}
	}
	// The killed worker's streams were taken over by the other (their own retries, or the
	// workflow's retry of them alone): no stream of the round was cancelled for them.
	require.Zero(t, activities["cancelled"], "%v", activities)
	t.Logf("restore: done %s after the kill; activities %v", doneAfterKill.Round(time.Second), activities)
	// Each stream's activity, and again those the killed worker was running.
	require.GreaterOrEqual(t, activities[kafkarestore.ActivityRestore], streams, "%v", activities)
	require.Less(t, activities[kafkarestore.ActivityRestore], 2*streams, "%v", activities)

	kclient, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer kclient.Close()
	consumer, err := sarama.NewConsumerFromClient(kclient)
	require.NoError(t, err)
	defer consumer.Close()
	// Every target partition at once (one consumer, a goroutine each): one by one, 2,000
	// partition consumers would take minutes to start.
	type mismatch struct{ what string }
	bad := make(chan mismatch, 1)
	var wg sync.WaitGroup
	for i, topic := range topics {
		target := topic + "-restored"
		for p := range int32(scalePerTopic) {
			end, err := kclient.GetOffset(target, p, sarama.OffsetNewest)
			require.NoError(t, err)
			require.Equal(t, int64(seqs[i][p]), end, "%s/%d: exactly as many records as the source", target, p)
			pc, err := consumer.ConsumePartition(target, p, sarama.OffsetOldest)
			require.NoError(t, err)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer pc.Close()
				for want := int64(0); want < end; want++ {
					msg := <-pc.Messages()
					if msg.Offset != want || string(msg.Value) != strconv.FormatInt(want, 10) {
						select {
						case bad <- mismatch{fmt.Sprintf("%s/%d offset %d holds %q, want offset %d: each record once, in order", target, p, msg.Offset, msg.Value, want)}:
						default:
						}
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	select {
	case m := <-bad:
		t.Fatal(m.what)
	default:
	}
}

// busyRestorer is a live worker running a restore stream now.
func busyRestorer(t *testing.T, c client.Client, rid string, workers []*workerProcess) *workerProcess {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := c.DescribeWorkflowExecution(context.Background(), rid, "")
		require.NoError(t, err)
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() != kafkarestore.ActivityRestore || a.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
				continue
			}
			pid, _ := strconv.Atoi(strings.SplitN(a.GetLastWorkerIdentity(), "@", 2)[0])
			for _, w := range workers {
				if w.cmd.Process.Pid == pid && w.cmd.ProcessState == nil {
					return w
				}
			}
		}
		require.True(t, time.Now().Before(deadline), "no worker is restoring")
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

type workerProcess struct{ cmd *exec.Cmd }

func (w *workerProcess) stop() {
	if w.cmd.ProcessState == nil {
		_ = w.cmd.Process.Kill()
		_ = w.cmd.Wait()
	}
}

// busyWorker is a live worker running a shard capture now (from the workflow's pending
// activities), waiting for one if none is.
func busyWorker(t *testing.T, c client.Client, wid string, workers []*workerProcess) *workerProcess {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := c.DescribeWorkflowExecution(context.Background(), wid, "")
		require.NoError(t, err)
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() != kafkabackup.ActivityCaptureShard || a.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
				continue
			}
			pid, _ := strconv.Atoi(strings.SplitN(a.GetLastWorkerIdentity(), "@", 2)[0])
			for _, w := range workers {
				if w.cmd.Process.Pid == pid && w.cmd.ProcessState == nil {
					return w
				}
			}
		}
		require.True(t, time.Now().Before(deadline), "no worker is running a capture")
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// logPending logs the workflow's pending activities: attempt, state, worker and last failure.
func logPending(t *testing.T, c client.Client, wid string) {
	t.Helper()
	d, err := c.DescribeWorkflowExecution(context.Background(), wid, "")
	if err != nil {
		t.Logf("describe %s: %v", wid, err)
		return
	}
	for _, a := range d.GetPendingActivities() {
		t.Logf("pending %s id %s: %s, attempt %d, worker %s, scheduled %s, last started %s, last heartbeat %s, last failure: %v",
			a.GetActivityType().GetName(), a.GetActivityId(), a.GetState(), a.GetAttempt(), a.GetLastWorkerIdentity(),
			a.GetScheduledTime().AsTime().Format(time.TimeOnly), a.GetLastStartedTime().AsTime().Format(time.TimeOnly),
			a.GetLastHeartbeatTime().AsTime().Format(time.TimeOnly), a.GetLastFailure().GetMessage())
	}
}

// ranCaptures reports whether every worker's identity (the SDK's default, "<pid>@<host>@")
// started a CaptureShard in the workflow's current run.
func ranCaptures(t *testing.T, c client.Client, wid string, workers []*workerProcess) bool {
	t.Helper()
	ran := map[int]bool{}
	scheduled := map[int64]bool{}
	iter := c.GetWorkflowHistory(context.Background(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == kafkabackup.ActivityCaptureShard {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			if pid, err := strconv.Atoi(strings.SplitN(a.GetIdentity(), "@", 2)[0]); err == nil {
				ran[pid] = true
			}
		}
	}
	for _, w := range workers {
		if !ran[w.cmd.Process.Pid] {
			return false
		}
	}
	return true
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	panic(fmt.Sprintf("%s not produced", name))
}

// sequenceProducer writes produceSequence's records (each value its per-partition sequence
// number, so a record's value must equal its offset) over one connection.
type sequenceProducer struct{ sarama.SyncProducer }

func newSequenceProducer(t *testing.T, bootstrap string) *sequenceProducer {
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	// Leadership of 2,000 new partitions settles for a while after they have leaders; the
	// idempotent producer retries in order.
	cfg.Producer.Retry.Max, cfg.Producer.Retry.Backoff = 20, 250*time.Millisecond
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	return &sequenceProducer{p}
}

// send writes n records to every partition of topic.
func (p *sequenceProducer) send(t *testing.T, topic string, seq []int, n int) {
	batch := make([]*sarama.ProducerMessage, 0, n*len(seq))
	for range n {
		for part := range seq {
			batch = append(batch, &sarama.ProducerMessage{Topic: topic, Partition: int32(part), Value: sarama.StringEncoder(strconv.Itoa(seq[part]))})
			seq[part]++
		}
	}
	err := p.SendMessages(batch)
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) && len(perrs) > 0 {
		require.NoError(t, perrs[0].Err, "%d of %d records not delivered, %s/%d the first", len(perrs), len(batch), perrs[0].Msg.Topic, perrs[0].Msg.Partition)
	}
	require.NoError(t, err)
}
