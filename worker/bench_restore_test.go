package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

// restoreBench is the data both restore benchmarks share: a backed-up topic and its records
// in memory, for the bare producer.
var restoreBench struct {
	once      sync.Once
	err       error
	bootstrap string
	c         client.Client
	queue     string
	storage   arkivev1.StorageSpec
	backup    string
	source    string
	msgs      []*sarama.ProducerMessage
	bytes     int64
}

const benchPartitions = 8

// benchDirs are removed when the package's tests and benchmarks end.
var benchDirs []string

// benchTopics are the topics of the datasets benchmarks share (datasetTopic), deleted when the
// package's tests and benchmarks end: each benchmark process made its own and left it, and a
// series of processes filled the shared broker (eight 2,000-partition ones exhausted its open
// files) and slowed what ran after them.
var (
	benchTopicsMu sync.Mutex
	benchTopics   []string
	benchBroker   string // where benchTopics are
)

func TestMain(m *testing.M) {
	if runDirectCaptureChild() {
		return
	}
	code := m.Run()
	for _, d := range benchDirs {
		_ = os.RemoveAll(d)
	}
	deleteBenchTopics()
	os.Exit(code)
}

// datasetTopic makes a topic for a dataset that outlives the benchmark making it (it is shared
// through a sync.Once), deleted when the process ends.
func datasetTopic(b *testing.B, prefix string, partitions int32) string {
	topic := testenv.Topic(b, prefix, partitions, nil)
	benchTopicsMu.Lock()
	defer benchTopicsMu.Unlock()
	benchTopics, benchBroker = append(benchTopics, topic), testenv.Kafka(b)
	return topic
}

// deleteBenchTopics deletes the datasets' topics, in one request. A failure only leaves them
// on the test broker, so it is reported and not fatal.
func deleteBenchTopics() {
	benchTopicsMu.Lock()
	defer benchTopicsMu.Unlock()
	if len(benchTopics) == 0 {
		return
	}
	admin, err := sarama.NewClusterAdmin([]string{benchBroker}, testenv.ProducerConfig())
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchmark topics left on the broker: %v\n", err)
		return
	}
	defer admin.Close()
	for _, t := range benchTopics {
		if err := admin.DeleteTopic(t); err != nil {
			fmt.Fprintf(os.Stderr, "benchmark topic %s left on the broker: %v\n", t, err)
		}
	}
	benchTopics = nil
}

func benchRecords() int {
	if n, err := strconv.Atoi(os.Getenv("ARKIVE_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 1_500_000
}

func setupRestoreBench(b *testing.B) {
	rb := &restoreBench
	rb.once.Do(func() {
		rb.bootstrap = testenv.Kafka(b)
		if rb.c, rb.queue, rb.err = benchWorker(b); rb.err != nil {
			return
		}
		rb.source = datasetTopic(b, "bench-src", benchPartitions)
		if rb.err = produceOrders(rb.bootstrap, rb.source, benchRecords(), nil); rb.err != nil {
			return
		}
		// Not b.TempDir: the benchmarks' several runs share this backup. TestMain removes it.
		dir, err := os.MkdirTemp("", "arkive-bench-")
		if err != nil {
			rb.err = err
			return
		}
		benchDirs = append(benchDirs, dir)
		rb.storage = arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}
		rb.backup = "default/bench"
		rb.err = benchBackup(b, rb.c, rb.queue, rb.bootstrap, rb.storage, rb.backup, rb.source)
		if rb.err != nil {
			return
		}
		// The bare producer writes exactly the records the restore reads.
		rb.msgs, rb.bytes, rb.err = backupMessages(rb.storage, rb.backup)
	})
	if rb.err != nil {
		b.Fatal(rb.err)
	}
}

// backupMessages reads a Kafka backup's records into memory as producer messages (partition,
// timestamp, key, value), for a bare producer to write, with their key and value bytes.
func backupMessages(storage arkivev1.StorageSpec, backup string) ([]*sarama.ProducerMessage, int64, error) {
	store, err := blobstore.Open(context.Background(), storage, nil)
	if err != nil {
		return nil, 0, err
	}
	defer store.Close()
	layout, _ := blobstore.Kafka(backup)
	m, err := catalog.Read(context.Background(), store, layout)
	if err != nil {
		return nil, 0, err
	}
	var msgs []*sarama.ProducerMessage
	var n int64
	for _, part := range m.Topics[0].Data {
		err = backups.Partition(context.Background(), store, part, nil, func(r *archive.Record) error {
			msgs = append(msgs, &sarama.ProducerMessage{Partition: part.Partition, Timestamp: time.UnixMilli(r.Timestamp),
				Key: sarama.ByteEncoder(append([]byte(nil), r.Key...)), Value: sarama.ByteEncoder(append([]byte(nil), r.Value...))})
			n += int64(len(r.Key) + len(r.Value))
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return msgs, n, nil
}

// benchWorker starts a worker in this process on its own task queue.
func benchWorker(b *testing.B) (client.Client, string, error) {
	c, err := client.Dial(client.Options{HostPort: testenv.Temporal(b)})
	if err != nil {
		return nil, "", err
	}
	queue := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	w := worker.New(c, worker.Options{TaskQueue: queue, Secrets: func(string) secrets.Resolver { return secrets.Map{} }})
	return c, queue, w.Start()
}

// produceOrders writes n ~400-byte JSON order values with keys, as an order stream would have,
// round robin over the topic's benchPartitions partitions; frame, when set, wraps record i's value.
func produceOrders(bootstrap, topic string, n int, frame func(i int, v []byte) []byte) error {
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = sarama.CompressionLZ4
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	var batch []*sarama.ProducerMessage
	for i := range n {
		v := []byte(fmt.Sprintf(`{"orderId":"o-%09d","customer":"c-%06d","items":[{"sku":"sku-%05d","qty":%d,"price":%d.%02d}],"status":"CONFIRMED","note":"%0300d"}`,
			i, i%100000, i%50000, i%7+1, i%900, i%100, i))
		if frame != nil {
			v = frame(i, v)
		}
		batch = append(batch, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % benchPartitions),
			Key: sarama.StringEncoder(fmt.Sprintf("c-%06d", i%100000)), Value: sarama.ByteEncoder(v)})
		if len(batch) == 10_000 || i == n-1 {
			if err := p.SendMessages(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// benchBackup backs the topic up once, as the tests' backupOnce does, outside any testing.T.
func benchBackup(b *testing.B, c client.Client, queue, bootstrap string, storage arkivev1.StorageSpec, backup, topic string) error {
	return benchBackupSegments(b, c, queue, bootstrap, storage, backup, topic, 64<<20)
}

// benchBackupSegments is benchBackup with segments of at most segmentBytes.
func benchBackupSegments(b *testing.B, c client.Client, queue, bootstrap string, storage arkivev1.StorageSpec, backup, topic string, segmentBytes int64) error {
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: backup,
		Kafka: specJSONB(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}), Storage: specJSONB(storage)},
		Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}}, Mode: kafkabackup.ModeScheduled,
			Schedule: "@yearly", Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: segmentBytes,
			MaxSegmentInterval: time.Minute, DiscoveryInterval: time.Minute}}
	wid := workflows.WorkflowID("KafkaBackup", "default", fmt.Sprintf("bench-%d", time.Now().UnixNano()))
	if _, err := c.SignalWithStartWorkflow(context.Background(), wid, workflows.SignalTrigger, nil,
		client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in); err != nil {
		return err
	}
	defer func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "bench setup done") }()
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var s kafkabackup.Status
		v, err := c.QueryWorkflow(context.Background(), wid, "", workflows.QueryStatus)
		if err == nil && v.Get(&s) == nil && len(s.Runs) > 0 {
			if s.Runs[0].Outcome != "Succeeded" {
				return fmt.Errorf("bench backup: %s", s.LastError)
			}
			return nil
		}
	}
	return fmt.Errorf("bench backup did not finish")
}

// bareProduce writes the restore benchmark's records with a plain sarama AsyncProducer and
// returns how long it took until every record was acknowledged.
func bareProduce(b *testing.B, idempotent bool) time.Duration {
	rb := &restoreBench
	return bareProduceMsgs(b, rb.bootstrap, rb.msgs, benchPartitions, idempotent)
}

// bareProduceMsgs writes msgs (each with its partition) into a new topic of that many partitions
// with a plain sarama AsyncProducer and returns how long it took until every record was
// acknowledged. The topic is deleted afterwards.
func bareProduceMsgs(b *testing.B, bootstrap string, msgs []*sarama.ProducerMessage, partitions int32, idempotent bool) time.Duration {
	topic := testenv.Topic(b, "bench-bare", partitions, nil)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.MaxMessageBytes = 1048588
	if idempotent {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	p, err := sarama.NewAsyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var acked atomic.Int64
	done := make(chan struct{})
	go func() {
		for range p.Successes() {
			if acked.Add(1) == int64(len(msgs)) {
				close(done)
			}
		}
	}()
	go func() {
		for err := range p.Errors() {
			b.Error(err)
		}
	}()
	for _, m := range msgs {
		p.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: m.Partition, Timestamp: m.Timestamp, Key: m.Key, Value: m.Value}
	}
	elapsed := awaitAcks(b, "bare producer", start, done, &acked, len(msgs))
	p.AsyncClose()
	deleteTopic(b, bootstrap, topic)
	return elapsed
}

// awaitAcks waits for done (closed once all n records are acknowledged) and returns the time
// since start; after 10 minutes it fails the benchmark instead of waiting forever.
func awaitAcks(b *testing.B, what string, start time.Time, done <-chan struct{}, acked *atomic.Int64, n int) time.Duration {
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%s: %d of %d records acknowledged after 10 minutes", what, acked.Load(), n)
	}
	return time.Since(start)
}

// deleteTopic drops a benchmark's target topic once measured, so repeated runs do not fill the
// broker's disk.
func deleteTopic(b *testing.B, bootstrap, topic string) {
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if err := admin.DeleteTopic(topic); err != nil {
		b.Fatal(err)
	}
}

// restoreCase is what restoreOnce restores: a backup in the storage, its topic and how many
// records it holds, and the schema id remapping (nil: none).
type restoreCase struct {
	c                client.Client
	queue, bootstrap string
	storage          arkivev1.StorageSpec
	backup, source   string
	records          int64
	schemas          *kafkarestore.SchemaRemap
}

// restoreOnce runs a KafkaRestore of the backup into a new topic through Temporal and returns
// how long it took, and how long until the first record was in the target.
func restoreOnce(b *testing.B, rc restoreCase) (total, first time.Duration) {
	target := fmt.Sprintf("bench-restored-%d", time.Now().UnixNano())
	in := kafkarestore.RunInput{Input: kafkarestore.Input{Connection: kafkarestore.Connection{Namespace: "default", Backup: rc.backup,
		Kafka: specJSONB(arkivev1.KafkaClusterSpec{BootstrapServers: []string{rc.bootstrap}}), Storage: specJSONB(rc.storage)},
		Spec: kafkarestore.Spec{PartitionMapping: kafkarestore.MappingSame, CreateTopics: true,
			Topics: []kafkarestore.TopicMapping{{Source: rc.source, Target: target}}}, Schemas: rc.schemas}}
	wcfg := testenv.ProducerConfig()
	wcfg.Metadata.Retry.Max = 0 // the watcher asks before the topic exists; no quarter-second retries
	client0, err := sarama.NewClient([]string{rc.bootstrap}, wcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer client0.Close()
	start := time.Now()
	firstSeen := make(chan time.Duration, 1)
	stop := make(chan struct{})
	go func() { // watch the target for its first record
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond): // sampling interval of the first-record clock
			}
			_ = client0.RefreshMetadata(target)
			if end, err := client0.GetOffset(target, 0, sarama.OffsetNewest); err == nil && end > 0 {
				firstSeen <- time.Since(start)
				return
			}
		}
	}()
	wid := workflows.WorkflowID("KafkaRestore", "default", target)
	run, err := rc.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: rc.queue}, kafkarestore.WorkflowName, in)
	if err != nil {
		b.Fatal(err)
	}
	var res kafkarestore.Result
	if err := run.Get(context.Background(), &res); err != nil {
		b.Fatal(err)
	}
	total = time.Since(start)
	if os.Getenv("ARKIVE_BENCH_PHASES") != "" {
		logPhases(b, rc.c, wid, start)
	}
	if res.Status.Records != rc.records {
		b.Fatalf("restored %d records, want %d", res.Status.Records, rc.records)
	}
	select {
	case first = <-firstSeen:
	case <-time.After(5 * time.Second):
		close(stop)
		b.Fatal("no first record seen")
	}
	deleteTopic(b, rc.bootstrap, target)
	return total, first
}

func specJSONB(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// benchRestore compares a restore through Temporal (plan, preflight, one activity per partition,
// idempotent producers) with a bare AsyncProducer writing the same records, alternating which
// runs first. x-bare-producer is restore throughput over bare throughput.
func benchRestore(b *testing.B, idempotent bool) {
	setupRestoreBench(b)
	var bare, restore, first time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			bare += bareProduce(b, idempotent)
		}
		rb := &restoreBench
		t, f := restoreOnce(b, restoreCase{c: rb.c, queue: rb.queue, bootstrap: rb.bootstrap, storage: rb.storage, backup: rb.backup, source: rb.source, records: int64(len(rb.msgs))})
		restore += t
		first += f
		if i%2 == 1 {
			bare += bareProduce(b, idempotent)
		}
	}
	b.StopTimer()
	b.ReportMetric(bare.Seconds()/restore.Seconds(), "x-bare-producer")
	b.ReportMetric(first.Seconds()/float64(b.N), "first-record-s")
	b.ReportMetric(float64(restoreBench.bytes)*float64(b.N)/restore.Seconds()/(1<<20), "restore-MiB/s")
	b.ReportMetric(float64(restoreBench.bytes)*float64(b.N)/bare.Seconds()/(1<<20), "bare-MiB/s")
}

// Restore throughput against a bare idempotent AsyncProducer (the restore's own producer mode).
func BenchmarkRestoreVsIdempotentProducer(b *testing.B) { benchRestore(b, true) }

// Restore throughput against a bare AsyncProducer without idempotence (Kafka's old default).
func BenchmarkRestoreVsPlainProducer(b *testing.B) { benchRestore(b, false) }

// BenchmarkRestoreDistant: the same restore into the shared broker, through the distance
// proxy with no delay, and through it 25 ms away each way (testenv.DistantKafka), in turns.
// The bare side is a franz-go producer with a client and a goroutine per partition, as the
// restore's one-partition streams have, writing the same records from memory.
func BenchmarkRestoreDistant(b *testing.B) {
	setupRestoreBench(b)
	rb := &restoreBench
	var bare [3]time.Duration
	distanceSides(b, testenv.DistantKafka(b, 0), 25*time.Millisecond, rb.bytes, func(side int, addr string) time.Duration {
		if addr == "" {
			addr = rb.bootstrap
		}
		bare[side] += bareFranzProduceWith(b, addr, rb.msgs, benchPartitions, true)
		t, _ := restoreOnce(b, restoreCase{c: rb.c, queue: rb.queue, bootstrap: addr, storage: rb.storage, backup: rb.backup, source: rb.source, records: int64(len(rb.msgs))})
		return t
	})
	b.ReportMetric(bare[1].Seconds()/bare[2].Seconds(), "bare-x-proxied")
	b.ReportMetric(float64(rb.bytes)*float64(b.N)/bare[2].Seconds()/(1<<20), "bare-distant-MiB/s")
}

// distanceSides measures the same work three ways in turns, b.N times each: directly (addr
// ""), through the proxy d with no delay, and through it oneWay away each way. It reports
// x-near and x-proxied (the distant throughput over the direct and the proxied one; the proxy
// runs in this process and takes CPU, so x-proxied is what the distance itself costs) and each
// side's MiB/s for bytes per run.
func distanceSides(b *testing.B, d *testenv.Distant, oneWay time.Duration, bytes int64, run func(side int, addr string) time.Duration) {
	var took [3]time.Duration // direct, proxied with no delay, distant
	for i := range b.N {
		for j := range 3 {
			side, addr := (i+j)%3, ""
			if side > 0 {
				addr = d.Addr
				d.SetOneWay(oneWay * time.Duration(side-1))
			}
			took[side] += run(side, addr)
		}
	}
	b.ReportMetric(took[0].Seconds()/took[2].Seconds(), "x-near")
	b.ReportMetric(took[1].Seconds()/took[2].Seconds(), "x-proxied")
	for side, name := range []string{"near", "proxied", "distant"} {
		b.ReportMetric(float64(bytes)*float64(b.N)/took[side].Seconds()/(1<<20), name+"-MiB/s")
	}
}

// BenchmarkRestoreStorageDistant: the restore benchmark's records backed up to MinIO in
// segments of at most 256 KiB (as a continuous backup without compaction leaves a partition
// many small segments), restored from MinIO directly, through testenv.Delayed with no delay,
// and through it 10 ms away each way, in turns: every segment a stream opens waits for the
// store's first answer.
func BenchmarkRestoreStorageDistant(b *testing.B) {
	setupRestoreBench(b)
	rb := &restoreBench
	endpoint, id, secret := testenv.MinIOBucket(b, "arkive-bench-restore-distant")
	b.Setenv("AWS_ACCESS_KEY_ID", id) // the in-process worker's store takes the default credentials
	b.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	prefix := fmt.Sprintf("r%d", time.Now().UnixNano())
	storageAt := func(at string) arkivev1.StorageSpec {
		return arkivev1.StorageSpec{S3: &arkivev1.S3Storage{Bucket: "arkive-bench-restore-distant", Endpoint: at, ForcePathStyle: true}, Prefix: prefix}
	}
	if err := benchBackupSegments(b, rb.c, rb.queue, rb.bootstrap, storageAt(endpoint), rb.backup, rb.source, 256<<10); err != nil {
		b.Fatal(err)
	}
	distanceSides(b, testenv.Delayed(b, strings.TrimPrefix(endpoint, "http://"), 0), 10*time.Millisecond, rb.bytes, func(_ int, addr string) time.Duration {
		at := endpoint
		if addr != "" {
			at = "http://" + addr
		}
		t, _ := restoreOnce(b, restoreCase{c: rb.c, queue: rb.queue, bootstrap: rb.bootstrap, storage: storageAt(at), backup: rb.backup,
			source: rb.source, records: int64(len(rb.msgs))})
		return t
	})
}
