package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

type sent struct {
	key, value []byte
	headers    []sarama.RecordHeader
}

func saramaConfig() *sarama.Config { return testenv.ProducerConfig() }

func bytesOf(e sarama.Encoder) []byte {
	if e == nil {
		return nil
	}
	b, _ := e.Encode()
	if b == nil {
		return []byte{}
	}
	return b
}

// End to end on the real Temporal dev server, Kafka and MinIO: a triggered run backs up a
// plain topic (edge-case records on two partitions), a compacted topic and a transactional
// topic, and the archive holds exactly the committed records per partition, in order.
func TestKafkaBackupEndToEnd(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	endpoint, id, secretKey := testenv.MinIOBucket(t, "arkive-e2e")
	ctx := context.Background()

	prefix := fmt.Sprintf("e2e%d", time.Now().UnixNano())
	want := produceEdgeCases(t, bootstrap, prefix)

	sr := secrets.Map{"minio#AWS_ACCESS_KEY_ID": id, "minio#AWS_SECRET_ACCESS_KEY": secretKey}
	c, queue := startWorker(t, sr)
	storage := arkivev1.StorageSpec{S3: &arkivev1.S3Storage{Bucket: "arkive-e2e", Endpoint: endpoint, ForcePathStyle: true,
		CredentialsSecret: &arkivev1.S3Credentials{Name: "minio"}}, Prefix: prefix}
	kj, _ := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	sj, _ := json.Marshal(storage)
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/e2e", Kafka: kj, Storage: sj},
		Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: prefix + "-*", Enabled: true}}, Mode: kafkabackup.ModeScheduled,
			Schedule: "@yearly", Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20,
			MaxSegmentInterval: 10 * time.Second, DiscoveryInterval: time.Minute, CaptureTopicConfigs: true}}
	wid := workflows.WorkflowID("KafkaBackup", "default", prefix)
	_, err := c.SignalWithStartWorkflow(ctx, wid, workflows.SignalTrigger, nil,
		client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })

	status := waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return len(s.Runs) == 1 || s.Phase == kafkabackup.PhaseFailed })
	require.Equal(t, "Succeeded", status.Runs[0].Outcome, "run: %+v, last error %q", status.Runs[0], status.LastError)

	store, err := blobstore.Open(ctx, storage, sr)
	require.NoError(t, err)
	defer store.Close()
	layout, _ := blobstore.Kafka("default/e2e")
	m, err := catalog.Read(ctx, store, layout)
	require.NoError(t, err)
	require.NotNil(t, m)
	require.Len(t, m.Topics, 3)
	require.Equal(t, "compact", m.Topics[slicesIndex(m.Topics, prefix+"-compacted")].Configs["cleanup.policy"], "topic configs are captured")
	for _, topic := range m.Topics {
		for _, part := range topic.Data {
			k := fmt.Sprintf("%s/%d", topic.Name, part.Partition)
			require.Empty(t, part.Holes(), "%s: every offset up to the run's high watermark is covered", k)
			got := readPartition(t, store, part)
			require.Len(t, got, len(want[k]), "%s: records", k)
			for i, w := range want[k] {
				r := got[i]
				require.True(t, (w.key == nil) == (r.Key == nil) && bytes.Equal(w.key, r.Key), "%s record %d key", k, i)
				require.True(t, (w.value == nil) == (r.Value == nil) && bytes.Equal(w.value, r.Value), "%s record %d value", k, i)
				require.Len(t, r.Headers, len(w.headers))
				for j, h := range w.headers {
					require.Equal(t, string(h.Key), r.Headers[j].Key)
					require.Equal(t, h.Value == nil, r.Headers[j].Value == nil)
				}
				if i > 0 {
					require.Greater(t, r.Offset, got[i-1].Offset)
				}
			}
			// Offsets without a record (the transactional topic's markers and aborted
			// records) are counted, with why, in the segment that spans them.
			var missing int64
			for _, seg := range part.Segments {
				require.Equal(t, seg.Absent(), seg.Missing, "%s segment %s", k, seg.Key)
				if seg.Missing > 0 {
					require.Equal(t, archive.GapTransaction, seg.MissingReason, "%s segment %s", k, seg.Key)
				}
				missing += seg.Missing
			}
			if topic.Name == prefix+"-txn" {
				require.Positive(t, missing, "%s: the markers and aborted records are counted", k)
			}
		}
	}
}

// produceEdgeCases creates <prefix>-plain (2 partitions, records up to 8 MiB), -compacted and
// -txn, writes the edge cases a backup must keep (null and empty keys and values, tombstones,
// duplicate and null headers, 5 MiB values, committed and aborted transactions) and returns the
// committed records per "topic/partition", in order.
func produceEdgeCases(t *testing.T, bootstrap, prefix string) map[string][]sent {
	t.Helper()
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, saramaConfig())
	require.NoError(t, err)
	defer admin.Close()
	big := "8388608"
	compact := "compact"
	require.NoError(t, admin.CreateTopic(prefix+"-plain", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"max.message.bytes": &big}}, false))
	require.NoError(t, admin.CreateTopic(prefix+"-compacted", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"cleanup.policy": &compact}}, false))
	require.NoError(t, admin.CreateTopic(prefix+"-txn", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false))

	want := map[string][]sent{} // topic/partition → committed records in order
	pcfg := saramaConfig()
	pcfg.Producer.Partitioner = sarama.NewManualPartitioner // records go to the partition the test names
	p, err := sarama.NewSyncProducer([]string{bootstrap}, pcfg)
	require.NoError(t, err)
	bigValue := bytes.Repeat([]byte("x"), 5<<20)
	for i := range 300 {
		m := &sarama.ProducerMessage{Topic: prefix + "-plain", Partition: int32(i % 2), Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))}
		switch i % 5 {
		case 0:
			m.Value = sarama.StringEncoder(fmt.Sprintf("null-key-%d", i))
		case 1:
			m.Key = sarama.StringEncoder(fmt.Sprintf("tombstone-%d", i))
		case 2:
			m.Key, m.Value = sarama.ByteEncoder([]byte{}), sarama.ByteEncoder([]byte{})
		case 3:
			m.Key, m.Value = sarama.StringEncoder("h"), sarama.StringEncoder("v")
			m.Headers = []sarama.RecordHeader{{Key: []byte("dup"), Value: []byte("a")}, {Key: []byte("dup"), Value: nil}}
		default:
			m.Key, m.Value = sarama.StringEncoder(fmt.Sprint(i)), sarama.StringEncoder(fmt.Sprintf(`{"i":%d}`, i))
		}
		if i == 150 || i == 151 {
			m.Value = sarama.ByteEncoder(bigValue)
		}
		_, _, err := p.SendMessage(m)
		require.NoError(t, err)
		k := fmt.Sprintf("%s/%d", m.Topic, m.Partition)
		want[k] = append(want[k], sent{bytesOf(m.Key), bytesOf(m.Value), m.Headers})
	}
	for i := range 50 {
		m := &sarama.ProducerMessage{Topic: prefix + "-compacted", Key: sarama.StringEncoder(fmt.Sprint(i % 10)), Value: sarama.StringEncoder(fmt.Sprint(i))}
		_, _, err := p.SendMessage(m)
		require.NoError(t, err)
		want[prefix+"-compacted/0"] = append(want[prefix+"-compacted/0"], sent{bytesOf(m.Key), bytesOf(m.Value), nil})
	}
	require.NoError(t, p.Close())

	// Transactions: committed ones must be in the backup, aborted ones must not.
	tcfg := saramaConfig()
	tcfg.Producer.Transaction.ID = prefix + "-txn-producer"
	tp, err := sarama.NewSyncProducer([]string{bootstrap}, tcfg)
	require.NoError(t, err)
	for txn := range 6 {
		require.NoError(t, tp.BeginTxn())
		var batch []sent
		for i := range 5 {
			m := &sarama.ProducerMessage{Topic: prefix + "-txn", Key: sarama.StringEncoder("t"), Value: sarama.StringEncoder(fmt.Sprintf("txn%d-%d", txn, i))}
			_, _, err := tp.SendMessage(m)
			require.NoError(t, err)
			batch = append(batch, sent{bytesOf(m.Key), bytesOf(m.Value), nil})
		}
		if txn%3 == 1 {
			require.NoError(t, tp.AbortTxn())
		} else {
			require.NoError(t, tp.CommitTxn())
			want[prefix+"-txn/0"] = append(want[prefix+"-txn/0"], batch...)
		}
	}
	require.NoError(t, tp.Close())

	return want
}

func slicesIndex(ts []archive.Topic, name string) int {
	for i, t := range ts {
		if t.Name == name {
			return i
		}
	}
	return -1
}

func readPartition(t *testing.T, store *blobstore.Store, p archive.Partition) []*archive.Record {
	var out []*archive.Record
	require.NoError(t, backups.Partition(context.Background(), store, p, nil, func(r *archive.Record) error {
		out = append(out, r.Clone())
		return nil
	}))
	return out
}

// waitForStatus polls a workflow's status query (of any kind) until done says so (deadline 2 minutes).
func waitForStatus[S any](t *testing.T, c client.Client, wid string, done func(S) bool) S {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var s S
	for time.Now().Before(deadline) {
		v, err := c.QueryWorkflow(context.Background(), wid, "", workflows.QueryStatus)
		var cur S // fresh each time: an omitted field must not keep an earlier answer's value
		if err == nil && v.Get(&cur) == nil {
			if s = cur; done(s) {
				return s
			}
		}
		select {
		case <-time.After(200 * time.Millisecond): // polling interval, not synchronisation
		case <-t.Context().Done():
			t.Fatal("test cancelled")
		}
	}
	t.Fatalf("status did not reach the expected state in time; last: %+v", s)
	return s
}
