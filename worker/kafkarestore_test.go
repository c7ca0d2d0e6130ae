package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

// backupOnce runs a scheduled KafkaBackup of the topics matching pattern once (by trigger) and
// waits for its run to succeed.
func backupOnce(t *testing.T, c client.Client, queue string, bootstrap string, storage arkivev1.StorageSpec, backup, pattern string, opts ...func(*kafkabackup.Spec)) {
	t.Helper()
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: backup,
		Kafka: specJSON(t, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}), Storage: specJSON(t, storage)},
		Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: pattern, Enabled: true}}, Mode: kafkabackup.ModeScheduled,
			Schedule: "@yearly", Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20,
			MaxSegmentInterval: 10 * time.Second, DiscoveryInterval: time.Minute, CaptureTopicConfigs: true, CaptureGroups: true}}
	for _, o := range opts {
		o(&in.Spec)
	}
	wid := workflows.WorkflowID("KafkaBackup", "default", strings.ReplaceAll(backup, "/", "-"))
	_, err := c.SignalWithStartWorkflow(context.Background(), wid, workflows.SignalTrigger, nil,
		client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	s := waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return len(s.Runs) == 1 || s.Phase == kafkabackup.PhaseFailed })
	require.Equal(t, "Succeeded", s.Runs[0].Outcome, "backup run: %+v, last error %q", s.Runs[0], s.LastError)
}

// startRestore starts a KafkaRestore workflow (opts change its input) and returns its id.
func startRestore(t *testing.T, c client.Client, queue, bootstrap string, storage arkivev1.StorageSpec, backup string, spec kafkarestore.Spec, opts ...func(*kafkarestore.Input)) string {
	t.Helper()
	if spec.PartitionMapping == "" {
		spec.PartitionMapping = kafkarestore.MappingSame
	}
	in := kafkarestore.RunInput{Input: kafkarestore.Input{Connection: kafkarestore.Connection{Namespace: "default", Backup: backup,
		Kafka: specJSON(t, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}), Storage: specJSON(t, storage)}, Spec: spec}}
	for _, o := range opts {
		o(&in.Input)
	}
	wid := workflows.WorkflowID("KafkaRestore", "default", fmt.Sprintf("r%d", time.Now().UnixNano()))
	_, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkarestore.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	return wid
}

// restoreStatus waits for the restore to finish (or fail) and returns its final status.
func restoreStatus(t *testing.T, c client.Client, wid string) kafkarestore.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res kafkarestore.Result
	err := c.GetWorkflow(ctx, wid, "").Get(ctx, &res)
	v, qerr := c.QueryWorkflow(ctx, wid, "", workflows.QueryStatus)
	require.NoError(t, qerr, "status query after the workflow ended (workflow error: %v)", err)
	var s kafkarestore.Status
	require.NoError(t, v.Get(&s))
	if err == nil {
		require.Equal(t, res.Status.Phase, s.Phase)
	}
	return s
}

// kcatRecord is one record as kcat's JSON output shows it.
type kcatRecord struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	TsType    string    `json:"tstype"`
	Ts        int64     `json:"ts"`
	Headers   []*string `json:"headers"`
	Key       *string   `json:"key"`
	Payload   *string   `json:"payload"`
}

// kcatRead reads a whole topic with kcat (read_committed), per partition in order.
func kcatRead(t *testing.T, bootstrap, topic string) map[int32][]kcatRecord {
	t.Helper()
	out, err := exec.Command(testenv.Kcat(t), "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-J",
		"-X", "fetch.message.max.bytes=16777216").Output()
	require.NoError(t, err, "kcat %s", topic)
	got := map[int32][]kcatRecord{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var r kcatRecord
		require.NoError(t, json.Unmarshal([]byte(line), &r), "kcat line %.200s", line)
		got[r.Partition] = append(got[r.Partition], r)
	}
	return got
}

// requireSameRecords compares two topics as kcat reads them: per partition, in order, every
// key, value, header, timestamp and timestamp type, null distinct from empty.
func requireSameRecords(t *testing.T, source, target map[int32][]kcatRecord, what string) {
	t.Helper()
	require.Equal(t, len(source), len(target), "%s: partitions with records", what)
	for p, want := range source {
		got := target[p]
		require.Len(t, got, len(want), "%s partition %d: records", what, p)
		for i := range want {
			w, g := want[i], got[i]
			w.Offset, g.Offset = 0, 0 // offsets are the target's own (a compacted source has gaps)
			require.Equal(t, w, g, "%s partition %d record %d", what, p, i)
		}
	}
}

// Acceptance: backup → restore into new topics → kcat reads the target and every record matches
// the source (edge cases: null/empty keys and values, tombstones, duplicate headers, 5 MiB
// values, a compacted topic, a transactional topic with aborted transactions). A consumer group
// committed mid-topic on the source resumes on the renamed target at the first record it had
// not consumed.
func TestKafkaRestoreRoundTrip(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	endpoint, id, secretKey := testenv.MinIOBucket(t, "arkive-restore")
	prefix := fmt.Sprintf("rt%d", time.Now().UnixNano())
	produceEdgeCases(t, bootstrap, prefix)

	group := prefix + "-billing"
	commitGroup(t, bootstrap, group, prefix+"-plain", map[int32]int64{0: 100, 1: 37})

	sr := secrets.Map{"minio#AWS_ACCESS_KEY_ID": id, "minio#AWS_SECRET_ACCESS_KEY": secretKey}
	c, queue := startWorker(t, sr)
	storage := arkivev1.StorageSpec{S3: &arkivev1.S3Storage{Bucket: "arkive-restore", Endpoint: endpoint, ForcePathStyle: true,
		CredentialsSecret: &arkivev1.S3Credentials{Name: "minio"}}, Prefix: prefix}
	backupOnce(t, c, queue, bootstrap, storage, "default/rt", prefix+"-*")

	var topics []kafkarestore.TopicMapping
	for _, s := range []string{"plain", "compacted", "txn"} {
		topics = append(topics, kafkarestore.TopicMapping{Source: prefix + "-" + s, Target: prefix + "-restored-" + s})
	}
	wid := startRestore(t, c, queue, bootstrap, storage, "default/rt", kafkarestore.Spec{Topics: topics, CreateTopics: true, ConsumerGroups: []string{group}})
	s := restoreStatus(t, c, wid)
	requireRestoredExactly(t, bootstrap, topics, s)

	// The group resumes on the target exactly where it stopped on the source.
	src := kcatRead(t, bootstrap, prefix+"-plain")
	first := firstConsumed(t, bootstrap, group, prefix+"-restored-plain", 2)
	for p, committed := range map[int32]int64{0: 100, 1: 37} {
		var want *kcatRecord
		for i := range src[p] {
			if src[p][i].Offset >= committed {
				want = &src[p][i]
				break
			}
		}
		require.NotNil(t, want)
		got := first[p]
		require.NotNil(t, got, "partition %d: the group consumed nothing", p)
		require.Equal(t, derefOr(want.Payload), valueOrNull(got.Value), "partition %d: first record consumed after the restore", p)
		require.Equal(t, derefOr(want.Key), valueOrNull(got.Key), "partition %d: first record's key", p)
	}
	recordHistory(t, c, wid, "kafkarestore-round-trip")
}

// requireRestoredExactly checks that the restore is done and that every target topic holds its
// source's records exactly, as many as the status counts.
func requireRestoredExactly(t *testing.T, bootstrap string, topics []kafkarestore.TopicMapping, s kafkarestore.Status) {
	t.Helper()
	require.Equal(t, kafkarestore.PhaseDone, s.Phase, "restore: %s %s", s.Reason, s.LastError)
	require.EqualValues(t, 100, s.Percent)
	var total int64
	for _, tm := range topics {
		src, dst := kcatRead(t, bootstrap, tm.Source), kcatRead(t, bootstrap, tm.Target)
		requireSameRecords(t, src, dst, tm.Target)
		for _, recs := range src {
			total += int64(len(recs))
		}
	}
	require.Equal(t, total, s.Records, "records restored, as the status counts them")
}

func derefOr(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func valueOrNull(b []byte) string {
	if b == nil {
		return "<null>"
	}
	return string(b)
}

// commitGroup commits offsets for a consumer group that has no members, as a consumer that
// stopped there would have left them.
func commitGroup(t *testing.T, bootstrap, group, topic string, offsets map[int32]int64) {
	t.Helper()
	client, err := sarama.NewClient([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer client.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	require.NoError(t, err)
	for p, o := range offsets {
		pom, err := om.ManagePartition(topic, p)
		require.NoError(t, err)
		pom.MarkOffset(o, "") // no offset committed yet, so marking moves it forward to o
		defer pom.Close()
	}
	om.Commit()
	require.NoError(t, om.Close())
	admin, err := sarama.NewClusterAdminFromClient(client)
	require.NoError(t, err)
	got, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: slices.Collect(maps.Keys(offsets))})
	require.NoError(t, err)
	for p, o := range offsets {
		require.Equal(t, o, got.GetBlock(topic, p).Offset, "source group offset committed")
	}
}

// groupHandler records the first message a consumer group member gets on each partition.
type groupHandler struct {
	mu    sync.Mutex
	first map[int32]*sarama.ConsumerMessage
	done  chan struct{}
	want  int
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.mu.Lock()
		if _, ok := h.first[msg.Partition]; !ok {
			h.first[msg.Partition] = msg
			if len(h.first) == h.want {
				close(h.done)
			}
		}
		h.mu.Unlock()
	}
	return nil
}

// firstConsumed joins group on topic with a sarama consumer group and returns the first record
// it receives on each partition.
func firstConsumed(t *testing.T, bootstrap, group, topic string, partitions int) map[int32]*sarama.ConsumerMessage {
	t.Helper()
	cfg := testenv.ProducerConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetNewest // a missing offset would show as nothing consumed
	cfg.Consumer.Fetch.Max = 16 << 20
	cg, err := sarama.NewConsumerGroup([]string{bootstrap}, group, cfg)
	require.NoError(t, err)
	defer cg.Close()
	h := &groupHandler{first: map[int32]*sarama.ConsumerMessage{}, done: make(chan struct{}), want: partitions}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				return
			}
		}
	}()
	select {
	case <-h.done:
	case <-ctx.Done():
	}
	cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first
}
