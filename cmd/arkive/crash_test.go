package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
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
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

const (
	crashPartitions = 4
	crashRecords    = 1_000_000
	crashKills      = 10
)

// produceSequence writes n records round-robin over the partitions; each value is its own
// per-partition sequence number, so a record's value must equal its offset.
func produceSequence(t *testing.T, bootstrap, topic string, seq []int, n int) {
	partitions := len(seq)
	cfg := testenv.ProducerConfig() // idempotent: no duplicates, in order, even on retries
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = sarama.CompressionLZ4
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer p.Close()
	batch := make([]*sarama.ProducerMessage, 0, min(n, 20_000))
	for i := range n {
		part := i % partitions
		batch = append(batch, &sarama.ProducerMessage{Topic: topic, Partition: int32(part), Value: sarama.StringEncoder(strconv.Itoa(seq[part]))})
		seq[part]++
		if len(batch) == cap(batch) || i == n-1 {
			requireSent(t, p.SendMessages(batch)) // every batch acknowledged before the next
			batch = batch[:0]
		}
	}
}

// requireSent fails the test on a produce error, naming the first record's cause (sarama's
// ProducerErrors says only how many failed).
func requireSent(t *testing.T, err error) {
	t.Helper()
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) && len(perrs) > 0 {
		require.NoError(t, err, "first failure: partition %d: %v", perrs[0].Msg.Partition, perrs[0].Err)
	}
	require.NoError(t, err)
}

// built is the arkive binary the process tests run: built once for the package (linking it
// takes about seven seconds), removed by TestMain.
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

func buildArkive(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "arkive-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "arkive")
		if out, err := exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("%w: %s", err, out)
		}
	})
	require.NoError(t, built.err, "build arkive")
	return built.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// Crash safety: the worker process is SIGKILLed at random moments at least ten times during a
// backup of a million records, and restarted; afterwards the archive holds every offset from 0
// to the high watermark exactly once, each with its own value.
func TestBackupSurvivesWorkerSIGKILLs(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test")
	}
	t.Parallel() // mostly waiting for heartbeat timeouts and restarts: overlapped with the other fault tests
	bootstrap := testenv.Kafka(t)
	temporal := testenv.Temporal(t)
	topic := testenv.Topic(t, "crash", crashPartitions, nil)
	seq := make([]int, crashPartitions)
	produceSequence(t, bootstrap, topic, seq, crashRecords)
	bin := buildArkive(t)

	dir := t.TempDir()
	name := "crash" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	queue := "crash-" + name
	in := volumeBackupInput(t, bootstrap, topic, dir, name, 256<<10)

	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	wid := workflows.WorkflowID("KafkaBackup", "default", name)
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") }()

	startWorker := func() *exec.Cmd { return startKafkaWorker(t, bin, temporal, queue) }
	// Records keep arriving during the kills, so every kill lands during a running backup.
	stopProducing := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for {
			select {
			case <-stopProducing:
				return
			case <-time.After(200 * time.Millisecond): // production pace
				produceSequence(t, bootstrap, topic, seq, 400)
			}
		}
	}()
	// Kill moments spread over 0.5–30 s of a worker's life, in random order. A new worker waits
	// up to the 10 s heartbeat timeout for the killed one's captures, and a cycle commits after
	// about 10 s more: so some kills land before any work, some mid-capture, some after a commit.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	killAfter := make([]time.Duration, crashKills)
	for i := range killAfter {
		killAfter[i] = 500*time.Millisecond + time.Duration(i)*3*time.Second + time.Duration(rng.IntN(500))*time.Millisecond
	}
	rng.Shuffle(len(killAfter), func(i, j int) { killAfter[i], killAfter[j] = killAfter[j], killAfter[i] })
	progressAtKill := make([]int64, 0, crashKills)
	for _, after := range killAfter {
		w := startWorker()
		// The kill schedule is the fault being injected, not a wait for anything.
		time.Sleep(after)
		progressAtKill = append(progressAtKill, committedTotal(c, wid)) // answered by the live worker
		require.NoError(t, w.Process.Signal(syscall.SIGKILL))
		_ = w.Wait()
	}
	close(stopProducing)
	<-produced
	total := 0
	for _, n := range seq {
		total += n
	}
	final := startWorker()
	defer func() { _ = final.Process.Kill(); _ = final.Wait() }()

	deadline := time.Now().Add(5 * time.Minute)
	for committedTotal(c, wid) < int64(total) {
		require.True(t, time.Now().Before(deadline), "backup did not finish; committed %d of %d", committedTotal(c, wid), total)
		time.Sleep(500 * time.Millisecond) // polling interval
	}
	t.Logf("kill moments %v; committed records at each kill %v; %d records in all", killAfter, progressAtKill, total)
	require.True(t, slices.ContainsFunc(progressAtKill, func(n int64) bool { return n > 0 }), "some kill must land after a commit")

	store, err := blobstore.OpenURL(context.Background(), "file://"+dir)
	require.NoError(t, err)
	defer store.Close()
	layout, _ := blobstore.Kafka(in.Backup)
	m, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	require.Len(t, m.Topics, 1)
	require.Len(t, m.Topics[0].Data, crashPartitions)
	read := 0
	for _, part := range m.Topics[0].Data {
		require.Equal(t, int64(0), part.StartOffset)
		require.Equal(t, int64(seq[part.Partition]), part.NextOffset)
		read += readBackSequence(t, store, part)
	}
	require.Equal(t, total, read)
}

// readBackSequence reads a partition of a backup of produceSequence's records and checks that
// it holds every offset from 0 to its next offset once, in order, each with its own value; it
// returns how many records it read.
func readBackSequence(t *testing.T, store *blobstore.Store, part archive.Partition) int {
	t.Helper()
	require.Empty(t, part.Holes(), "partition %d", part.Partition)
	want := int64(0)
	require.NoError(t, backups.Partition(context.Background(), store, part, nil, func(rec *archive.Record) error {
		require.Equal(t, want, rec.Offset, "partition %d: offsets must appear once each, in order", part.Partition)
		require.Equal(t, strconv.FormatInt(rec.Offset, 10), string(rec.Value), "partition %d offset %d", part.Partition, rec.Offset)
		want++
		return nil
	}))
	require.Equal(t, part.NextOffset, want)
	return int(want)
}

// startKafkaWorker starts an `arkive worker` process polling queue, with a spool directory of
// its own and any further flags; the caller kills it.
func startKafkaWorker(t *testing.T, bin, temporal, queue string, flags ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"worker", "--temporal-address", temporal, "--task-queue", queue, "--spool-dir", t.TempDir()}, flags...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	require.NoError(t, cmd.Start())
	return cmd
}

// volumeBackupInput is the workflow input of KafkaBackup default/name of topic into a volume at
// dir, as the operator would build it, with 1 s segments (so crash tests commit often).
func volumeBackupInput(t *testing.T, bootstrap, topic, dir, name string, maxSegmentBytes int64) kafkabackup.Input {
	kb := &arkivev1.KafkaBackup{Spec: arkivev1.KafkaBackupSpec{Source: "k", Sink: "s",
		Streams: []arkivev1.BackupStream{{Topic: topic}}, MaxSegmentBytes: ptrTo(maxSegmentBytes)}}
	kb.Name, kb.Namespace = name, "default"
	kc, st := volumeObjects(bootstrap, dir)
	in, err := specs.KafkaBackupInput(kb, kc, st)
	require.NoError(t, err)
	in.Spec.MaxSegmentInterval = time.Second
	return in
}

// committedTotal sums the committed offsets the status query reports (0 if it cannot answer).
func committedTotal(c client.Client, wid string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryStatus)
	if err != nil {
		return 0
	}
	var s kafkabackup.Status
	if v.Get(&s) != nil {
		return 0
	}
	var n int64
	for _, p := range s.Partitions {
		n += p.Committed
	}
	return n
}

func ptrTo[T any](v T) *T { return &v }
