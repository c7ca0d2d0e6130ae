package kafka_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"arkive.io/arkive/activities/kafka"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
)

var encKey = bytes.Repeat([]byte{42}, archive.KeySize)

type captureEnv struct {
	bootstrap string
	storage   arkivev1.StorageSpec
	secrets   secrets.Map
	acts      *kafka.Activities
}

func newCaptureEnv(t *testing.T) *captureEnv {
	dir := t.TempDir()
	sr := secrets.Map{"backup-key#key": base64.StdEncoding.EncodeToString(encKey)}
	return &captureEnv{
		bootstrap: testenv.Kafka(t),
		storage: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir},
			Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "backup-key", Key: "key"}}},
		secrets: sr,
		acts:    &kafka.Activities{Secrets: func(string) secrets.Resolver { return sr }, SpoolDir: t.TempDir()},
	}
}

func (e *captureEnv) input(t *testing.T, topic string, from, until int64) kafkabackup.CaptureInput {
	kj, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{e.bootstrap}})
	require.NoError(t, err)
	sj, err := json.Marshal(e.storage)
	require.NoError(t, err)
	return kafkabackup.CaptureInput{Namespace: "default", Backup: "default/orders", Kafka: kj, Storage: sj,
		Topic: topic, Partition: 0, From: from, Until: until, Compression: kafkabackup.Compression{Codec: "zstd"},
		MaxSegmentBytes: 256 << 10, MaxSegmentInterval: time.Minute, MaxRunTime: 2 * time.Minute}
}

func (e *captureEnv) run(t *testing.T, in kafkabackup.CaptureInput, heartbeat *kafkabackup.CaptureProgress) (kafkabackup.CaptureResult, error) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(e.acts.Capture, activity.RegisterOptions{Name: kafkabackup.ActivityCapture})
	if heartbeat != nil {
		env.SetHeartbeatDetails(heartbeat)
	}
	val, err := env.ExecuteActivity(kafkabackup.ActivityCapture, in)
	if err != nil {
		return kafkabackup.CaptureResult{}, err
	}
	var res kafkabackup.CaptureResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

// readBack reads every segment a capture reported, checking that they cover offsets
// contiguously, and returns their records.
func (e *captureEnv) readBack(t *testing.T, res kafkabackup.CaptureResult) []*archive.Record {
	store, err := blobstore.Open(context.Background(), e.storage, e.secrets)
	require.NoError(t, err)
	defer store.Close()
	next := res.Start
	for _, ref := range res.Segments {
		require.Equal(t, next, ref.FirstOffset, "segments must cover offsets contiguously")
		next = ref.LastOffset + 1
	}
	// ReadPartition checks each record lies in its segment's range and each footer matches.
	var out []*archive.Record
	require.NoError(t, backups.Partition(context.Background(), store, archive.Partition{Segments: res.Segments}, encKey,
		func(r *archive.Record) error { out = append(out, r.Clone()); return nil }))
	return out
}

func newTopic(t *testing.T, _ string, configs map[string]*string) string {
	return testenv.Topic(t, "capture", 1, configs)
}

// produce sends the messages in order and returns each one's offset.
func produce(t *testing.T, bootstrap string, msgs []*sarama.ProducerMessage) {
	p, err := sarama.NewSyncProducer([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer p.Close()
	for _, m := range msgs {
		_, _, err := p.SendMessage(m)
		require.NoError(t, err)
	}
}

func edgeCaseMessages(topic string) []*sarama.ProducerMessage {
	big := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16) // 5 MiB
	var msgs []*sarama.ProducerMessage
	ts := time.UnixMilli(1_763_700_000_000)
	for i := range 400 {
		m := &sarama.ProducerMessage{Topic: topic, Partition: 0, Timestamp: ts.Add(time.Duration(i%7-3) * time.Second)}
		switch i % 6 {
		case 0: // null key
			m.Value = sarama.ByteEncoder(fmt.Appendf(nil, `{"n":%d}`, i))
		case 1: // tombstone
			m.Key = sarama.StringEncoder(fmt.Sprintf("k%d", i))
		case 2: // empty value and empty key
			m.Key, m.Value = sarama.ByteEncoder([]byte{}), sarama.ByteEncoder([]byte{})
		case 3: // duplicate header keys, a null and an empty header value
			m.Key, m.Value = sarama.StringEncoder("h"), sarama.StringEncoder("headers")
			m.Headers = []sarama.RecordHeader{{Key: []byte("dup"), Value: []byte("1")}, {Key: []byte("dup"), Value: []byte("2")},
				{Key: []byte("null"), Value: nil}, {Key: []byte("empty"), Value: []byte{}}}
		default:
			m.Key, m.Value = sarama.StringEncoder(fmt.Sprintf("key-%d", i)), sarama.ByteEncoder(bytes.Repeat([]byte{byte(i)}, i*37))
		}
		if i == 100 || i == 300 {
			m.Value = sarama.ByteEncoder(big)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func encoded(e sarama.Encoder) []byte {
	if e == nil {
		return nil
	}
	b, _ := e.Encode()
	if b == nil {
		return []byte{}
	}
	return b
}

func TestCaptureKeepsEveryRecordExactly(t *testing.T) {
	e := newCaptureEnv(t)
	topic := newTopic(t, e.bootstrap, map[string]*string{"max.message.bytes": ptr("8388608")})
	msgs := edgeCaseMessages(topic)
	produce(t, e.bootstrap, msgs)

	res, err := e.run(t, e.input(t, topic, 0, int64(len(msgs))), nil)
	require.NoError(t, err)
	require.True(t, res.Done)
	require.Equal(t, int64(len(msgs)), res.Next)
	require.Equal(t, int64(len(msgs)), res.HighWatermark)
	require.Greater(t, len(res.Segments), 3, "small maxSegmentBytes must roll several segments")
	require.Empty(t, res.Gaps)

	got := e.readBack(t, res)
	require.Len(t, got, len(msgs))
	for i, m := range msgs {
		r := got[i]
		require.Equal(t, int64(i), r.Offset)
		require.Equal(t, m.Timestamp.UnixMilli(), r.Timestamp, "record %d timestamp", i)
		require.Equal(t, archive.CreateTime, r.TimestampType)
		wantKey, wantValue := encoded(m.Key), encoded(m.Value)
		require.Equal(t, wantKey == nil, r.Key == nil, "record %d: key null-ness", i)
		require.Equal(t, wantValue == nil, r.Value == nil, "record %d: value null-ness", i)
		require.True(t, bytes.Equal(wantKey, r.Key) && bytes.Equal(wantValue, r.Value), "record %d payload", i)
		require.Len(t, r.Headers, len(m.Headers), "record %d headers", i)
		for j, h := range m.Headers {
			require.Equal(t, string(h.Key), r.Headers[j].Key)
			require.Equal(t, h.Value == nil, r.Headers[j].Value == nil, "record %d header %d null-ness", i, j)
			require.True(t, bytes.Equal(h.Value, r.Headers[j].Value))
		}
	}
}

// A retried attempt resumes from its heartbeat: uploaded segments are kept, not captured again.
func TestCaptureResumesFromHeartbeat(t *testing.T) {
	e := newCaptureEnv(t)
	topic := newTopic(t, e.bootstrap, map[string]*string{"max.message.bytes": ptr("8388608")})
	msgs := edgeCaseMessages(topic)
	produce(t, e.bootstrap, msgs)

	first, err := e.run(t, e.input(t, topic, 0, 150), nil)
	require.NoError(t, err)
	require.Equal(t, int64(150), first.Next)

	resumed, err := e.run(t, e.input(t, topic, 0, int64(len(msgs))), &first.CaptureProgress)
	require.NoError(t, err)
	require.Equal(t, first.Segments, resumed.Segments[:len(first.Segments)], "segments from the heartbeat are kept")
	require.Equal(t, int64(150), resumed.Segments[len(first.Segments)].FirstOffset, "capture resumes at the heartbeat's next offset")
	require.Equal(t, int64(len(msgs)-150), resumed.Records, "only offsets after the heartbeat are read again")
	require.Len(t, e.readBack(t, resumed), len(msgs))
}

// A rate-limited capture still ends at its run time: it looks at its clock while it takes
// records, not only between batches of 1,024, which at 20 records a second would take 50 s.
// What it read is stored and resumes where it stopped.
func TestRateLimitedCaptureEndsAtItsRunTime(t *testing.T) {
	e := newCaptureEnv(t)
	topic := newTopic(t, e.bootstrap, nil)
	var msgs []*sarama.ProducerMessage
	for i := range 2000 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(strconv.Itoa(i))})
	}
	produceTo(t, e, msgs)
	in := e.input(t, topic, 0, -1)
	in.MaxRunTime = time.Second
	in.RateLimit = kafkabackup.RateLimit{RecordsPerSecond: 20}
	res, err := e.run(t, in, nil)
	require.NoError(t, err)
	require.False(t, res.Done)
	// A second at 20 a second after a burst of 20, and the ticker's quarter of a second.
	require.Positive(t, res.Records)
	require.Less(t, res.Records, int64(100), "the capture ended near its run time, not after a batch of 1,024")
	require.Equal(t, res.Records, res.Next, "what it read is stored: the next run starts after it")
	require.Len(t, e.readBack(t, res), int(res.Records))
}

// A worker shutting down ends a capture at once, as its run time would: the open segment is
// uploaded and the result names every record read, so the next cycle starts after them.
func TestStoppingWorkerEndsACaptureWithWhatItRead(t *testing.T) {
	e := newCaptureEnv(t)
	topic := newTopic(t, e.bootstrap, nil)
	var msgs []*sarama.ProducerMessage
	for i := range 100 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(strconv.Itoa(i) + ":" + strings.Repeat("x", 4<<10))})
	}
	produceTo(t, e, msgs)
	// Continuous, uncompressed, a segment far larger than the data and a minute long: nothing
	// rolls before the stop, and the run time is far off.
	in := e.input(t, topic, 0, -1)
	in.Compression, in.MaxSegmentBytes = kafkabackup.Compression{Codec: "none"}, 64<<20

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(e.acts.Capture, activity.RegisterOptions{Name: kafkabackup.ActivityCapture})
	stop := make(chan struct{})
	env.SetWorkerStopChannel(stop)
	type outcome struct {
		res kafkabackup.CaptureResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		val, err := env.ExecuteActivity(kafkabackup.ActivityCapture, in)
		if o.err = err; err == nil {
			o.err = val.Get(&o.res)
		}
		done <- o
	}()
	// Stop once the spool file holds more than two 128 KiB blocks: at least 60 records read.
	waitForSpooled(t, e, 1)
	close(stop)
	var o outcome
	select {
	case o = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the capture ran on after the worker began to stop")
	}
	require.NoError(t, o.err)
	require.False(t, o.res.Done)
	require.GreaterOrEqual(t, o.res.Next, int64(60), "the open segment was uploaded on the stop")
	require.NotEmpty(t, o.res.Segments)
	require.Equal(t, o.res.Next, o.res.Segments[len(o.res.Segments)-1].LastOffset+1)
	got := e.readBack(t, o.res)
	require.Len(t, got, int(o.res.Next), "every record read is stored, once")
	for i, r := range got {
		require.True(t, strings.HasPrefix(string(r.Value), strconv.Itoa(i)+":"), "offset %d", r.Offset)
	}
}

// LogAppendTime topics keep the broker's timestamps and say so; checked against kcat, a
// client Arkive did not write.
func TestCaptureLogAppendTimeMatchesKcat(t *testing.T) {
	e := newCaptureEnv(t)
	kcat := testenv.Kcat(t)
	topic := newTopic(t, e.bootstrap, map[string]*string{"message.timestamp.type": ptr("LogAppendTime")})
	var msgs []*sarama.ProducerMessage
	for i := range 20 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(fmt.Sprint(i)), Timestamp: time.UnixMilli(1000)})
	}
	produce(t, e.bootstrap, msgs)
	res, err := e.run(t, e.input(t, topic, 0, 20), nil)
	require.NoError(t, err)
	got := e.readBack(t, res)

	out, err := exec.Command(kcat, "-C", "-b", e.bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %T\n").Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, len(got))
	for i, line := range lines {
		f := strings.Fields(line)
		off, _ := strconv.ParseInt(f[0], 10, 64)
		ts, _ := strconv.ParseInt(f[1], 10, 64)
		require.Equal(t, off, got[i].Offset)
		require.Equal(t, ts, got[i].Timestamp, "offset %d: timestamp differs from kcat's", off)
		require.Equal(t, archive.LogAppendTime, got[i].TimestampType)
		require.NotEqual(t, int64(1000), got[i].Timestamp, "the broker's append time replaces the producer's")
	}
}

func TestCaptureUnknownTopicIsPermanent(t *testing.T) {
	e := newCaptureEnv(t)
	_, err := e.run(t, e.input(t, "no-such-topic-"+strconv.FormatInt(time.Now().UnixNano(), 10), 0, -1), nil)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, kafkabackup.ErrTopicNotFound, appErr.Type())
	require.True(t, appErr.NonRetryable())
}

func ptr(s string) *string { return &s }

// A disabled stream keeps the topics it matches out of the backup, also when an enabled glob
// matches them, but not a topic an enabled stream names exactly (issue 22, point 6).
func TestDiscoverSkipsDisabledStreams(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	prefix := fmt.Sprintf("dis%d", time.Now().UnixNano())
	x1 := testenv.Topic(t, prefix+"-x1", 1, nil)
	testenv.Topic(t, prefix+"-x2", 1, nil)
	y := testenv.Topic(t, prefix+"-y", 1, nil)
	kj, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	require.NoError(t, err)
	a := &kafka.Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	discover := func(in kafkabackup.DiscoverInput) []string {
		in.Connection = kafkabackup.Connection{Namespace: "default", Kafka: kj}
		res, err := a.Discover(context.Background(), in)
		require.NoError(t, err)
		var names []string
		for _, topic := range res.Topics {
			names = append(names, topic.Name)
		}
		return names
	}
	// A topic just created can take a moment to reach the broker's metadata: first all three.
	testenv.Eventually(t, 30*time.Second, "the three topics in the metadata", func() (bool, string) {
		names := discover(kafkabackup.DiscoverInput{Include: []string{prefix + "-*"}})
		return len(names) == 3, fmt.Sprint(names)
	})
	require.ElementsMatch(t, []string{x1, y}, discover(kafkabackup.DiscoverInput{Include: []string{prefix + "-*", x1}, Disabled: []string{prefix + "-x*"}}),
		"x2 is disabled; x1 is named exactly by an enabled stream")

}

// Discover asks each leader for all its partitions' offsets at once (#18): what it reports
// for every partition is what the broker says of that partition alone, log start offsets
// moved by retention included.
func TestDiscoverReportsEachPartitionsOffsets(t *testing.T) {
	e := newCaptureEnv(t)
	const partitions = 12
	topic := testenv.Topic(t, fmt.Sprintf("discover-offsets-%d", time.Now().UnixNano()), partitions, nil)
	testenv.WaitForLeaders(t, e.bootstrap, []string{topic}, partitions)
	var msgs []*sarama.ProducerMessage
	for part := range int32(partitions) {
		for i := range 3 * int(part) { // partition n holds 3n records: every partition differs
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(fmt.Sprint(i))})
		}
	}
	produceTo(t, e, msgs)
	admin, err := sarama.NewClusterAdmin([]string{e.bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.DeleteRecords(topic, map[int32]int64{5: 4, 11: 30}))

	res, err := e.acts.Discover(context.Background(), kafkabackup.DiscoverInput{Connection: shardConnection(t, e, "offsets"), Include: []string{topic}})
	require.NoError(t, err)
	require.Len(t, res.Topics, 1)
	require.Len(t, res.Topics[0].Partitions, partitions)
	for i, got := range res.Topics[0].Partitions {
		require.EqualValues(t, i, got.Partition)
		wantStart := map[int32]int64{5: 4, 11: 30}[got.Partition]
		require.Equal(t, kafkabackup.PartitionInfo{Partition: got.Partition, LogStart: wantStart, HighWatermark: 3 * int64(got.Partition)}, got)
	}
}
