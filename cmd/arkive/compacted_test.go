package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkarestore"
)

// compactedRecords is how many records the compacted topic is written with, over ten keys.
const compactedRecords = 1000

// produceCompacted creates a compacted topic the log cleaner works on at once (segments roll
// every 50 records: their timestamps step by a second and segment.ms is 100 ms; any dirt is
// enough) and writes compactedRecords records with keys k0-k9.
func produceCompacted(t *testing.T, bootstrap string) string {
	t.Helper()
	compact, rollMs, ratio, lag := "compact", "100", "0.01", "0"
	topic := testenv.Topic(t, "compacted", 1, map[string]*string{"cleanup.policy": &compact, "segment.ms": &rollMs,
		"min.cleanable.dirty.ratio": &ratio, "min.compaction.lag.ms": &lag})
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer p.Close()
	base := time.UnixMilli(1_760_000_000_000)
	for i := range compactedRecords {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i%10)),
			Value: sarama.StringEncoder(fmt.Sprintf("v%d", i)), Timestamp: base.Add(time.Duration(i/50) * time.Second)})
		require.NoError(t, err)
	}
	return topic
}

// Acceptance (#22 point 5): a real compacted topic, read after the log cleaner removed most of
// it. The catalog records the offsets without a record as compaction gaps (each segment's count
// adds up to what the log lacks), verify --deep accepts them and says so, and a restore writes
// exactly the surviving records.
func TestCompactedTopicGaps(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	c, err := client.Dial(client.Options{HostPort: testenv.Temporal(t)})
	require.NoError(t, err)
	defer c.Close()
	topic := produceCompacted(t, bootstrap)
	// The broker's cleaner looks for work every 15 s (log.cleaner.backoff.ms).
	testenv.Eventually(t, 2*time.Minute, "the log cleaner compacts the topic", func() (bool, string) {
		n := len(kcatJSON(t, bootstrap, topic, 0))
		return n < compactedRecords/2, fmt.Sprintf("%d of %d records left", n, compactedRecords)
	})
	dir := t.TempDir()
	backup := cliBackup(t, c, bootstrap, topic, dir)
	// The cleaner may go on removing records while the backup reads and after it: what the
	// backup holds is what it read, each record exactly as written (record i is k<i%10>, v<i>),
	// fewer than half of them, and the last of each key is among them (compaction keeps it).
	out, _, err := runCLI("export", "--storage", "file://"+dir, "--backup", backup, "--topic", topic, "--partition", "0")
	require.NoError(t, err)
	survivors := decodeExport(t, out)
	require.Less(t, len(survivors), compactedRecords/2)
	for _, r := range survivors {
		require.Equal(t, fmt.Sprintf("k%d", r.Offset%10), *r.Key, "offset %d", r.Offset)
		require.Equal(t, fmt.Sprintf("v%d", r.Offset), *r.Value, "offset %d", r.Offset)
	}
	require.Equal(t, int64(compactedRecords-1), survivors[len(survivors)-1].Offset, "the newest record survives compaction")

	store, err := blobstore.OpenURL(context.Background(), "file://"+dir)
	require.NoError(t, err)
	defer store.Close()
	m, err := manifest(context.Background(), store, backup)
	require.NoError(t, err)
	part := m.Topics[0].Data[0]
	var count, missing int64
	for _, seg := range part.Segments {
		count += seg.Count
		missing += seg.Missing
		if seg.Missing > 0 {
			require.Equal(t, archive.GapCompacted, seg.MissingReason, "segment %s", seg.Key)
		}
	}
	require.Equal(t, int64(len(survivors)), count)
	require.Equal(t, int64(compactedRecords-len(survivors)), missing, "every offset the cleaner removed is recorded as compacted")
	require.Empty(t, part.Holes())

	out, _, err = runCLI("verify", "--storage", "file://"+dir, "--backup", backup, "--deep")
	require.NoError(t, err, out)
	require.Contains(t, out, fmt.Sprintf("note %s/0: %d offsets inside segments were removed by log compaction before they were read", topic, missing))
	require.Contains(t, out, "is whole")

	// The restore writes the survivors, in order, and nothing else.
	queue := inProcessWorker(t, c)
	kc, st := volumeObjects(bootstrap, dir)
	target := topic + "-restored"
	kr := &arkivev1.KafkaRestore{Spec: arkivev1.KafkaRestoreSpec{Source: arkivev1.BackupSource{Storage: "s", Backup: backup}, Target: "k",
		Topics: []arkivev1.TopicMapping{{Source: topic, Target: target}}}}
	kr.Name, kr.Namespace = strings.ToLower(target), "default"
	rin, err := specs.KafkaRestoreInput(kr, kc, st)
	require.NoError(t, err)
	rid := workflows.WorkflowID("KafkaRestore", "default", kr.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: rid, TaskQueue: queue}, kafkarestore.WorkflowName, rin)
	require.NoError(t, err)
	var res kafkarestore.Result
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, kafkarestore.PhaseDone, res.Status.Phase)
	got := kcatJSON(t, bootstrap, target, 0)
	require.Len(t, got, len(survivors))
	for i, want := range survivors {
		require.Equal(t, want.Key, got[i].Key, "record %d", i)
		require.Equal(t, want.Value, got[i].Payload, "record %d", i)
		require.Equal(t, want.Timestamp, got[i].Ts, "record %d", i)
	}
}
