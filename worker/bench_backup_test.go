package worker_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"arkive.io/arkive/activities/kafka"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// backupBench is the data every backup benchmark reads: ≥ 1 GiB of ~400-byte JSON records over
// 8 partitions on the real broker, produced once.
var backupBench struct {
	once      sync.Once
	err       error
	bootstrap string
	temporal  string
	c         client.Client
	topic     string
	hwm       map[int32]int64
	bytes     int64
	bin       string
	warm      sync.Once
}

func backupBenchBytes() int64 {
	if n, err := strconv.ParseInt(os.Getenv("ARKIVE_BENCH_BACKUP_BYTES"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 1 << 30
}

func setupBackupBench(b *testing.B) {
	bb := &backupBench
	bb.once.Do(func() {
		bb.bootstrap, bb.temporal = testenv.Kafka(b), testenv.Temporal(b)
		if bb.c, bb.err = client.Dial(client.Options{HostPort: bb.temporal}); bb.err != nil {
			return
		}
		if bb.bin, bb.err = benchBinary(); bb.err != nil {
			return
		}
		bb.topic = datasetTopic(b, "bench-backup", benchPartitions)
		if bb.bytes, bb.err = produceOrderBytes(bb.bootstrap, bb.topic, benchPartitions, backupBenchBytes()); bb.err != nil {
			return
		}
		bb.hwm = endOffsets(b, bb.bootstrap, bb.topic)
	})
	if backupBench.err != nil {
		b.Fatal(backupBench.err)
	}
	// One unmeasured round of both sides first: in three of four benchmark processes the first
	// measured run, on freshly produced data, came out 0.12–0.23 below the later runs' ratios
	// (the broker's fetch path and caches warming up), whichever codec came first.
	bb.warm.Do(func() {
		bareConsume(b)
		workerBackup(b, "none", 0)
	})
}

// produceOrderBytes writes at least size bytes of ~400-byte JSON order records with keys,
// round-robin over the partitions, and returns their key and value bytes.
func produceOrderBytes(bootstrap, topic string, partitions int, size int64) (int64, error) {
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = sarama.CompressionLZ4
	// Leadership of 2,000 new partitions settles for a while; the idempotent producer retries
	// in order.
	cfg.Producer.Retry.Max, cfg.Producer.Retry.Backoff = 20, 250*time.Millisecond
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	var batch []*sarama.ProducerMessage
	var n int64
	for i := 0; n < size; i++ {
		v := fmt.Sprintf(`{"orderId":"o-%09d","customer":"c-%06d","items":[{"sku":"sku-%05d","qty":%d,"price":%d.%02d}],"status":"CONFIRMED","note":"%0300d"}`,
			i, i%100000, i%50000, i%7+1, i%900, i%100, i)
		k := fmt.Sprintf("c-%06d", i%100000)
		n += int64(len(k) + len(v))
		batch = append(batch, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % partitions), Key: sarama.StringEncoder(k), Value: sarama.StringEncoder(v)})
		if len(batch) == 20_000 {
			if err := p.SendMessages(batch); err != nil {
				return n, err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := p.SendMessages(batch); err != nil {
			return n, err
		}
	}
	return n, nil
}

// bareConsume reads every partition from 0 to its end with a plain sarama consumer loop,
// read_committed and the capture's fetch size, and returns how long it took.
func bareConsume(b *testing.B) time.Duration {
	bb := &backupBench
	return bareConsumeTopic(b, bb.bootstrap, bb.topic, bb.hwm, bb.bytes)
}

// bareConsumeTopic is bareConsume for any topic whose end offsets and key and value bytes are
// known.
func bareConsumeTopic(b *testing.B, bootstrap, topic string, hwm map[int32]int64, bytes int64) time.Duration {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Fetch.Default = 2 << 20
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	start := time.Now()
	c, err := sarama.NewConsumer([]string{bootstrap}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	var n atomic.Int64
	for p, end := range hwm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Thousands of partitions starting at once can meet a connection the client just
			// closed (sarama: "broker not connected"): try again, as the capture's retry would.
			pc, err := c.ConsumePartition(topic, p, 0)
			for try := 1; err != nil && try < 5; try++ {
				time.Sleep(time.Duration(try) * 200 * time.Millisecond) // backoff
				pc, err = c.ConsumePartition(topic, p, 0)
			}
			if err != nil {
				b.Error(err)
				return
			}
			defer pc.Close()
			for msg := range pc.Messages() {
				n.Add(int64(len(msg.Key) + len(msg.Value)))
				if msg.Offset >= end-1 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if n.Load() != bytes {
		b.Fatalf("bare consumer read %d bytes, want %d", n.Load(), bytes)
	}
	return time.Since(start)
}

// bareFranzConsumeTopic is bareConsumeTopic with one franz-go client for all the topic's
// partitions (read_committed, the capture's fetch sizes), to show what that client makes of
// the same layouts (bare-franz-x-8-partitions).
func bareFranzConsumeTopic(b *testing.B, bootstrap, topic string, hwm map[int32]int64, bytes int64) time.Duration {
	offsets := map[int32]kgo.Offset{}
	for p, end := range hwm {
		if end > 0 {
			offsets[p] = kgo.NewOffset().At(0)
		}
	}
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxBytes(32<<20), kgo.FetchMaxPartitionBytes(2<<20),
		kgo.FetchMaxWait(250*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var n int64
	for left := len(offsets); left > 0; {
		fs := cl.PollFetches(context.Background())
		for _, e := range fs.Errors() {
			b.Fatalf("bare franz-go consumer: %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n += int64(len(r.Key) + len(r.Value))
			if r.Offset == hwm[r.Partition]-1 {
				left--
			}
		})
	}
	if n != bytes {
		b.Fatalf("bare franz-go consumer read %d bytes, want %d", n, bytes)
	}
	return time.Since(start)
}

// workerBackup runs a scheduled backup run (triggered) of the 8-partition dataset through a
// worker process of its own: see backupInWorker.
func workerBackup(b *testing.B, codec string, level int) (time.Duration, time.Duration, float64) {
	bb := &backupBench
	r := backupInWorker(b, backupTarget{bin: bb.bin, temporal: bb.temporal, c: bb.c, bootstrap: bb.bootstrap, topic: bb.topic, bytes: bb.bytes}, codec, level)
	return r.elapsed, r.run, r.peakRSS
}

// backupTarget is a topic a backup benchmark backs up whole, and the servers it uses.
type backupTarget struct {
	bin, temporal    string
	c                client.Client
	bootstrap, topic string
	bytes            int64                 // key and value bytes in the topic
	args             []string              // more worker flags
	cgroup           string                // a memory cgroup the worker runs in (testenv.MemoryCgroup), or ""
	storage          *arkivev1.StorageSpec // where the backup goes; nil: a volume of its own
	env              []string              // more environment for the worker
}

// backupRun is what backupInWorker measured.
type backupRun struct {
	elapsed time.Duration // from the trigger until the status query showed the run done
	run     time.Duration // the run's own record: its workflow time from trigger to last commit
	peakRSS float64       // the worker's peak RSS, MiB
	cpu     float64       // the worker's CPU seconds from the trigger to the run's end
	stored  int64         // bytes the backup left in storage
	commit  time.Duration // the run's longest Commit activity, from scheduled to completed
}

// backupInWorker runs a scheduled backup run (triggered) through a worker process of its own and
// measures it (backupRun). The elapsed time, which the x-bare ratios use, counts discovery,
// captures and commits through Temporal, but not the worker's start.
func backupInWorker(b *testing.B, t backupTarget, codec string, level int) backupRun {
	dir, err := os.MkdirTemp("", "arkive-bench-backup-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	queue := fmt.Sprintf("bench-backup-%d", time.Now().UnixNano())
	args := append([]string{"worker", "--temporal-address", t.temporal, "--task-queue", queue, "--spool-dir", dir}, t.args...)
	profile := os.Getenv("ARKIVE_BENCH_WORKER_PROFILE") // a file for the worker's CPU profile of the run's first seconds
	heaps := os.Getenv("ARKIVE_BENCH_WORKER_HEAP")      // a directory for the worker's heap profiles, one a second
	port := testenv.FreePort(b)
	if profile != "" || heaps != "" {
		args = append(args, "--metrics-port", strconv.Itoa(port), "--pprof")
	}
	w := exec.Command(t.bin, args...)
	if t.cgroup != "" {
		w = testenv.InCgroup(t.cgroup, t.bin, args...)
	}
	if env := os.Getenv("ARKIVE_BENCH_WORKER_ENV"); env != "" || len(t.env) > 0 { // e.g. GOGC=100, for the worker alone
		w.Env = append(append(os.Environ(), t.env...), strings.Fields(env)...)
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- w.Wait() }()
	defer func() { _ = w.Process.Kill(); <-exited }()
	waitForPoller(b, t.c, queue) // workers run before backups do: its start is not the backup's
	if profile != "" {
		defer profileWorker(b, port, profile)()
	}
	if heaps != "" {
		defer heapProfiles(port, heaps)()
	}
	storageDir := filepath.Join(dir, "storage")
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: storageDir}}
	if t.storage != nil {
		storage = *t.storage
	}
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/bench-backup",
		Kafka: specJSONB(arkivev1.KafkaClusterSpec{BootstrapServers: []string{t.bootstrap}}), Storage: specJSONB(storage)},
		Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: t.topic, Enabled: true}}, Mode: kafkabackup.ModeScheduled,
			Schedule: "@yearly", Compression: kafkabackup.Compression{Codec: codec, Level: level}, MaxSegmentBytes: 64 << 20,
			MaxSegmentInterval: time.Minute, DiscoveryInterval: time.Minute}}
	wid := workflows.WorkflowID("KafkaBackup", "default", queue)
	cpu0 := cpuSeconds(b, w.Process.Pid)
	start := time.Now()
	if _, err := t.c.SignalWithStartWorkflow(context.Background(), wid, workflows.SignalTrigger, nil,
		client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = t.c.TerminateWorkflow(context.Background(), wid, "", "bench done") }()
	for {
		var s kafkabackup.Status
		v, err := t.c.QueryWorkflow(context.Background(), wid, "", workflows.QueryStatus)
		if err == nil && v.Get(&s) == nil && len(s.Runs) > 0 {
			elapsed := time.Since(start)
			if s.Runs[0].Outcome != "Succeeded" || s.Runs[0].Bytes != t.bytes {
				b.Fatalf("run %+v (want %d bytes): %s", s.Runs[0], t.bytes, s.LastError)
			}
			if os.Getenv("ARKIVE_BENCH_PHASES") != "" {
				logPhases(b, t.c, wid, start)
			}
			r := backupRun{elapsed: elapsed, run: s.Runs[0].End.Sub(s.Runs[0].Start), peakRSS: testenv.PeakRSSMiB(w.Process.Pid),
				cpu: cpuSeconds(b, w.Process.Pid) - cpu0}
			if t.storage == nil {
				r.stored = dirBytes(b, storageDir)
			}
			r.commit = longestSpan(activitySpans(b, t.c, wid), kafkabackup.ActivityCommit)
			return r
		}
		select {
		case err := <-exited: // in a memory cgroup, the kernel kills a worker that outgrows it
			exited <- err
			b.Fatalf("the worker exited during the run: %v", err)
		case <-time.After(5 * time.Millisecond): // sampling interval of the run-finished clock
		}
	}
}

// logPhases prints when each activity of the run was scheduled and completed, counted from the
// run's start (ARKIVE_BENCH_PHASES=1): where a run's time goes besides capturing.
func logPhases(b *testing.B, c client.Client, wid string, start time.Time) {
	for _, sp := range activitySpans(b, c, wid) {
		fmt.Fprintf(os.Stderr, "phase %-32s %6.2fs → %6.2fs\n", sp.name, sp.from.Sub(start).Seconds(), sp.to.Sub(start).Seconds())
	}
}

// span is one activity of a run: its type, when it was scheduled and when it completed.
type span struct {
	name     string
	from, to time.Time
}

// activitySpans reads a workflow's activities from its history, in the order they were
// scheduled.
func activitySpans(b *testing.B, c client.Client, wid string) []*span {
	scheduled := map[int64]*span{}
	var order []*span
	it := c.GetWorkflowHistory(context.Background(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		switch {
		case e.GetActivityTaskScheduledEventAttributes() != nil:
			sp := &span{name: e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), from: e.GetEventTime().AsTime()}
			scheduled[e.GetEventId()] = sp
			order = append(order, sp)
		case e.GetActivityTaskCompletedEventAttributes() != nil:
			if sp := scheduled[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; sp != nil {
				sp.to = e.GetEventTime().AsTime()
			}
		}
	}
	return order
}

// longestSpan is the longest completed activity of type name.
func longestSpan(spans []*span, name string) time.Duration {
	var most time.Duration
	for _, sp := range spans {
		if sp.name == name && !sp.to.IsZero() {
			most = max(most, sp.to.Sub(sp.from))
		}
	}
	return most
}

// cpuSeconds is a process's CPU time so far; the benchmark fails when it cannot be read.
func cpuSeconds(b *testing.B, pid int) float64 {
	s, err := testenv.CPUSeconds(pid)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// waitForPoller returns once a worker polls the task queue.
func waitForPoller(b *testing.B, c client.Client, queue string) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := c.DescribeTaskQueue(context.Background(), queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err == nil && len(resp.Pollers) > 0 {
			return
		}
	}
	b.Fatal("no worker polls " + queue)
}

// directJob is what a direct capture reads: the benchmark topic up to its high watermarks.
type directJob struct {
	Bootstrap string          `json:"bootstrap"`
	Topic     string          `json:"topic"`
	HWM       map[int32]int64 `json:"hwm"`
	Codec     string          `json:"codec,omitempty"` // zstd when empty
}

// directChildEnv makes the test binary a child that runs one direct capture (TestMain).
const directChildEnv = "ARKIVE_BENCH_DIRECT_CAPTURE"

// directCapture calls the same Capture and Commit code per partition, in parallel, without
// Temporal in between (each in a test activity environment, which supplies the context).
func directCapture(job directJob) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "arkive-bench-direct-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	acts := &kafka.Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }, SpoolDir: dir}
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: filepath.Join(dir, "storage")}}
	conn := kafkabackup.Connection{Namespace: "default", Backup: "default/bench-direct",
		Kafka: specJSONB(arkivev1.KafkaClusterSpec{BootstrapServers: []string{job.Bootstrap}}), Storage: specJSONB(storage)}
	codec := job.Codec
	if codec == "" {
		codec = "zstd"
	}
	start := time.Now()
	results := make([]kafkabackup.CaptureResult, benchPartitions)
	errs := make([]error, benchPartitions)
	var wg sync.WaitGroup
	for p, end := range job.HWM {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.RegisterActivityWithOptions(acts.Capture, activity.RegisterOptions{Name: kafkabackup.ActivityCapture})
			val, err := env.ExecuteActivity(kafkabackup.ActivityCapture, kafkabackup.CaptureInput{Namespace: conn.Namespace, Backup: conn.Backup,
				Kafka: conn.Kafka, Storage: conn.Storage, Topic: job.Topic, Partition: p, From: 0, Until: end,
				Compression: kafkabackup.Compression{Codec: codec}, MaxSegmentBytes: 64 << 20, MaxSegmentInterval: time.Minute, MaxRunTime: time.Hour})
			if err == nil {
				err = val.Get(&results[p])
			}
			errs[p] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(acts.Commit, activity.RegisterOptions{Name: kafkabackup.ActivityCommit})
	if _, err := env.ExecuteActivity(kafkabackup.ActivityCommit, kafkabackup.CommitInput{Connection: conn, Time: time.Now(), Captures: results}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// runDirectCaptureChild runs the direct capture the parent asked for and prints its duration;
// false when this process is not such a child.
func runDirectCaptureChild() bool {
	raw := os.Getenv(directChildEnv)
	if raw == "" {
		return false
	}
	worker.SetGCTarget(0) // the same runtime setting as the worker process it is compared with
	var job directJob
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	d, err := directCapture(job)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("direct-capture-ns=%d\n", d.Nanoseconds())
	os.Exit(0)
	return true
}

// directCaptureFresh runs the direct capture in a fresh process, as the worker under test is
// one: the capture's own time, without the process start.
func directCaptureFresh(b *testing.B) time.Duration {
	bb := &backupBench
	job, _ := json.Marshal(directJob{Bootstrap: bb.bootstrap, Topic: bb.topic, HWM: bb.hwm})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), directChildEnv+"="+string(job))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("direct capture child: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "direct-capture-ns="); ok {
			ns, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return time.Duration(ns)
			}
		}
	}
	b.Fatalf("direct capture child printed no duration: %s", out)
	return 0
}

// directCaptureWarm runs the direct capture in the benchmark's own process.
func directCaptureWarm(b *testing.B) time.Duration {
	bb := &backupBench
	d, err := directCapture(directJob{Bootstrap: bb.bootstrap, Topic: bb.topic, HWM: bb.hwm})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkBackupVsBareConsumer: a backup run through a worker process against a bare sarama
// consumer loop over the same data (x-bare-consumer), with the worker's peak RSS.
func BenchmarkBackupVsBareConsumer(b *testing.B) {
	for _, tc := range []struct {
		name  string
		codec string
		level int
	}{{"none", "none", 0}, {"s2", "s2", 0}, {"zstd-fastest", "zstd", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			setupBackupBench(b)
			var bare, backup time.Duration
			var rss float64
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					bare += bareConsume(b)
				}
				d, _, r := workerBackup(b, tc.codec, tc.level)
				backup += d
				rss = max(rss, r)
				if i%2 == 1 {
					bare += bareConsume(b)
				}
			}
			b.ReportMetric(bare.Seconds()/backup.Seconds(), "x-bare-consumer")
			b.ReportMetric(rss, "peak-rss-MiB")
			b.ReportMetric(float64(backupBench.bytes)*float64(b.N)/backup.Seconds()/(1<<20), "backup-MiB/s")
		})
	}
}

// widePartitions is the partition count of BenchmarkBackupPartitions' wide topic.
const widePartitions = 2000

// wideBench is backupBench's data volume spread over widePartitions partitions, produced once.
var wideBench struct {
	once  sync.Once
	err   error
	topic string
	hwm   map[int32]int64
	bytes int64
}

// BenchmarkBackupPartitions (issue 18, acceptance 5): the same ≥ 1 GiB backed up from 8
// partitions and from 2,000, each by a worker process of its own with zstd at its default
// level: throughput at 2,000 over throughput at 8 (x-8-partitions) and the worker's peak RSS at
// 2,000 (peak-rss-MiB): uncapped, with --max-memory 1Gi (which caps the partitions a worker
// captures at once, here at 512), and with no flags in a memory cgroup of 1 GiB, as in a Pod
// with that limit (the worker then keeps within 896Mi and 448 partitions by itself).
func BenchmarkBackupPartitions(b *testing.B) {
	setupWideBench(b)
	bb, wb := &backupBench, &wideBench
	for _, tc := range []struct {
		name string
		args []string
	}{{"uncapped", nil}, {"max-memory-1Gi", []string{"--max-memory", "1Gi"}}, {"container-1Gi", nil}} {
		b.Run(tc.name, func(b *testing.B) {
			var cgroup string
			if tc.name == "container-1Gi" {
				// No flags, in a container limited to 1 GiB: the worker takes 7/8 of the limit
				// itself, and the kernel kills it (failing the benchmark) if it outgrows it.
				cgroup = testenv.MemoryCgroup(b, 1<<30)
			}
			broker := brokerPID(b)
			var narrow, wide time.Duration
			var rss, narrowRSS, narrowCPU, wideCPU, narrowBroker, wideBroker, wideStored float64
			var bareNarrow, bareWide, franzNarrow, franzWide time.Duration
			for range b.N {
				franzNarrow += bareFranzConsumeTopic(b, bb.bootstrap, bb.topic, bb.hwm, bb.bytes)
				franzWide += bareFranzConsumeTopic(b, bb.bootstrap, wb.topic, wb.hwm, wb.bytes)
				// What sarama itself makes of the same two layouts: one consumer for all the
				// topic's partitions, nothing stored (bare-x-8-partitions).
				bareNarrow += bareConsumeTopic(b, bb.bootstrap, bb.topic, bb.hwm, bb.bytes)
				bareWide += bareConsumeTopic(b, bb.bootstrap, wb.topic, wb.hwm, wb.bytes)
				b0 := cpuSeconds(b, broker)
				n := backupInWorker(b, backupTarget{bin: bb.bin, temporal: bb.temporal, c: bb.c, bootstrap: bb.bootstrap, topic: bb.topic, bytes: bb.bytes, args: tc.args, cgroup: cgroup}, "zstd", 0)
				b1 := cpuSeconds(b, broker)
				w := backupInWorker(b, backupTarget{bin: bb.bin, temporal: bb.temporal, c: bb.c, bootstrap: bb.bootstrap, topic: wb.topic, bytes: wb.bytes, args: tc.args, cgroup: cgroup}, "zstd", 0)
				narrowBroker, wideBroker = narrowBroker+b1-b0, wideBroker+cpuSeconds(b, broker)-b1
				narrow += n.elapsed
				wide += w.elapsed
				narrowCPU, wideCPU = narrowCPU+n.cpu, wideCPU+w.cpu
				rss, narrowRSS = max(rss, w.peakRSS), max(narrowRSS, n.peakRSS)
				wideStored += float64(w.stored)
			}
			b.ReportMetric((float64(wb.bytes)/wide.Seconds())/(float64(bb.bytes)/narrow.Seconds()), "x-8-partitions")
			b.ReportMetric((float64(wb.bytes)/bareWide.Seconds())/(float64(bb.bytes)/bareNarrow.Seconds()), "bare-x-8-partitions")
			b.ReportMetric((float64(wb.bytes)/franzWide.Seconds())/(float64(bb.bytes)/franzNarrow.Seconds()), "bare-franz-x-8-partitions")
			b.ReportMetric(rss, "peak-rss-MiB")
			b.ReportMetric(narrowRSS, "peak-rss-8-MiB")
			b.ReportMetric(float64(wb.bytes)*float64(b.N)/wide.Seconds()/(1<<20), "wide-MiB/s")
			// What the 2,000-partition backup stored per byte of records.
			b.ReportMetric(wideStored/(float64(wb.bytes)*float64(b.N)), "wide-stored-per-byte")
			// Where the time goes: worker and broker CPU per GiB at 2,000 partitions and at 8.
			gib := func(bytes int64) float64 { return float64(bytes) * float64(b.N) / (1 << 30) }
			b.ReportMetric(wideCPU/gib(wb.bytes), "worker-core-s-per-gib")
			b.ReportMetric(wideBroker/gib(wb.bytes), "broker-core-s-per-gib")
			b.ReportMetric(narrowCPU/gib(bb.bytes), "worker-8-core-s-per-gib")
			b.ReportMetric(narrowBroker/gib(bb.bytes), "broker-8-core-s-per-gib")
		})
	}
}

// setupWideBench makes the 2,000-partition dataset once per process (and the 8-partition one).
func setupWideBench(b *testing.B) {
	setupBackupBench(b)
	bb, wb := &backupBench, &wideBench
	wb.once.Do(func() {
		wb.topic = datasetTopic(b, "bench-wide", widePartitions)
		testenv.WaitForLeaders(b, bb.bootstrap, []string{wb.topic}, widePartitions)
		wb.bytes, wb.err = produceOrderBytes(bb.bootstrap, wb.topic, widePartitions, backupBenchBytes())
		if wb.err == nil {
			wb.hwm = endOffsets(b, bb.bootstrap, wb.topic)
		}
	})
	if wb.err != nil {
		b.Fatal(wb.err)
	}
}

// BenchmarkBackupVsDirectCapture: the same backup through Temporal and a worker process against
// calling the capture and commit code directly, zstd at its default level. The direct side runs
// in a fresh process, as the worker does (x-direct-capture, by the run's own duration;
// x-direct-end-to-end also counts the new workflow's first task and the status sampling);
// x-direct-capture-warm is the direct side inside the long-running benchmark process, whose heap
// earlier iterations have already grown.
func BenchmarkBackupVsDirectCapture(b *testing.B) {
	setupBackupBench(b)
	var direct, warm, endToEnd, run time.Duration
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			direct += directCaptureFresh(b)
			warm += directCaptureWarm(b)
		}
		e, r, _ := workerBackup(b, "zstd", 0)
		endToEnd += e
		run += r
		if i%2 == 1 {
			direct += directCaptureFresh(b)
			warm += directCaptureWarm(b)
		}
	}
	b.ReportMetric(direct.Seconds()/run.Seconds(), "x-direct-capture")
	b.ReportMetric(direct.Seconds()/endToEnd.Seconds(), "x-direct-end-to-end")
	b.ReportMetric(warm.Seconds()/run.Seconds(), "x-direct-capture-warm")
}

// BenchmarkBackupRPO: a continuous backup while a producer writes a steady 10 MB/s; the time from
// each record's acknowledgement to the committed checkpoint that covers it, 99th percentile
// (p99-rpo-s), with maxSegmentInterval 10 s.
func BenchmarkBackupRPO(b *testing.B) {
	bootstrap, temporal := testenv.Kafka(b), testenv.Temporal(b)
	c, err := client.Dial(client.Options{HostPort: temporal})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	duration := time.Minute
	if d, err := time.ParseDuration(os.Getenv("ARKIVE_BENCH_RPO_DURATION")); err == nil {
		duration = d
	}
	for i := 0; i < b.N; i++ {
		queue := fmt.Sprintf("bench-rpo-%d", time.Now().UnixNano())
		w := newBenchWorker(b, c, queue)
		topic := testenv.Topic(b, "bench-rpo", benchPartitions, nil)
		dir := b.TempDir()
		in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/bench-rpo",
			Kafka: specJSONB(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}), Storage: specJSONB(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}})},
			Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}}, Mode: kafkabackup.ModeContinuous,
				Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 64 << 20, MaxSegmentInterval: 10 * time.Second, DiscoveryInterval: time.Minute}}
		wid := workflows.WorkflowID("KafkaBackup", "default", queue)
		if _, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in); err != nil {
			b.Fatal(err)
		}
		// Producer: 10 MB/s in 100 ms slices; it records when each offset was acknowledged.
		type ack struct {
			offset int64
			at     time.Time
		}
		acks := make([][]ack, benchPartitions)
		var mu sync.Mutex
		stop := make(chan struct{})
		produced := make(chan struct{})
		go func() {
			defer close(produced)
			cfg := testenv.ProducerConfig()
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
			if err != nil {
				b.Error(err)
				return
			}
			defer p.Close()
			value := sarama.StringEncoder(strings.Repeat("x", 400))
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			n := 0
			for {
				select {
				case <-stop:
					return
				case <-tick.C: // the production pace: 1 MB per 100 ms
				}
				batch := make([]*sarama.ProducerMessage, 0, 2500)
				for range 2500 {
					batch = append(batch, &sarama.ProducerMessage{Topic: topic, Partition: int32(n % benchPartitions), Value: value})
					n++
				}
				if err := p.SendMessages(batch); err != nil {
					b.Error(err)
					return
				}
				now := time.Now()
				mu.Lock()
				for _, m := range batch {
					acks[m.Partition] = append(acks[m.Partition], ack{m.Offset, now})
				}
				mu.Unlock()
			}
		}()
		var rpos []float64
		next := make([]int, benchPartitions) // per partition: first ack not yet committed
		end := time.Now().Add(duration)
		for time.Now().Before(end) {
			time.Sleep(100 * time.Millisecond) // sampling interval of the checkpoint clock
			var s kafkabackup.Status
			v, err := c.QueryWorkflow(context.Background(), wid, "", workflows.QueryStatus)
			if err != nil || v.Get(&s) != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			for _, p := range s.Partitions {
				for next[p.Partition] < len(acks[p.Partition]) && acks[p.Partition][next[p.Partition]].offset < p.Committed {
					rpos = append(rpos, now.Sub(acks[p.Partition][next[p.Partition]].at).Seconds())
					next[p.Partition]++
				}
			}
			mu.Unlock()
		}
		close(stop)
		<-produced
		_ = c.TerminateWorkflow(context.Background(), wid, "", "bench done")
		w.Stop()
		if len(rpos) == 0 {
			b.Fatal("nothing was committed")
		}
		sort.Float64s(rpos)
		b.ReportMetric(rpos[len(rpos)*99/100], "p99-rpo-s")
		b.ReportMetric(float64(len(rpos)), "records-committed")
	}
}

type stopper interface{ Stop() }

func newBenchWorker(b *testing.B, c client.Client, queue string) stopper {
	w := worker.New(c, worker.Options{TaskQueue: queue, Secrets: func(string) secrets.Resolver { return secrets.Map{} }})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	return w
}

// profileWorker starts taking the CPU profile of the first six seconds of a worker started
// with --metrics-port port --pprof into file; the returned func waits for it.
// heapProfiles saves the worker's heap profile every second into dir (heap-<clock>.pb.gz)
// until the returned stop is called: where its memory goes at its peak.
func heapProfiles(port int, dir string) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Second): // the sampling interval
			}
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", port))
			if err != nil {
				continue
			}
			data, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("heap-%s.pb.gz", time.Now().Format("150405"))), data, 0o644)
		}
	}()
	return func() { close(done); <-stopped }
}

func profileWorker(b *testing.B, port int, file string) (wait func()) {
	profiled := make(chan struct{})
	go func() {
		defer close(profiled)
		seconds := 6
		if n, err := strconv.Atoi(os.Getenv("ARKIVE_BENCH_WORKER_PROFILE_SECONDS")); err == nil && n > 0 {
			seconds = n
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, seconds))
		if err != nil {
			b.Error(err)
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if err := os.WriteFile(file, data, 0o644); err != nil {
			b.Error(err)
		}
	}()
	return func() { <-profiled }
}

// BenchmarkBackupDistant: the 8-partition backup run (zstd at its default level) from the
// shared broker, through the distance proxy with no delay, and through it 25 ms away each way
// (testenv.DistantKafka), in turns (distanceSides), each in a worker process of its own.
func BenchmarkBackupDistant(b *testing.B) {
	setupBackupBench(b)
	bb := &backupBench
	distanceSides(b, testenv.DistantKafka(b, 0), 25*time.Millisecond, bb.bytes, func(_ int, addr string) time.Duration {
		t := backupTarget{bin: bb.bin, temporal: bb.temporal, c: bb.c, bootstrap: cmp.Or(addr, bb.bootstrap), topic: bb.topic, bytes: bb.bytes}
		return backupInWorker(b, t, "zstd", 0).elapsed
	})
}

// BenchmarkBackupStorageDistant: the 2,000-partition backup run (zstd at its default level)
// into MinIO directly, through testenv.Delayed with no delay, and through it 10 ms away each
// way, in turns, each in a worker process of its own: an object store's answers take tens of
// milliseconds even within a region, where this MinIO answers in one. It also reports each
// side's commit, where a run waits for the store alone: its reads and writes one after
// another are what distance multiplies.
func BenchmarkBackupStorageDistant(b *testing.B) {
	setupWideBench(b)
	bb, wb := &backupBench, &wideBench
	endpoint, id, secret := testenv.MinIOBucket(b, "arkive-bench-distant")
	var commit [3]time.Duration
	distanceSides(b, testenv.Delayed(b, strings.TrimPrefix(endpoint, "http://"), 0), 10*time.Millisecond, wb.bytes, func(side int, addr string) time.Duration {
		at := endpoint
		if addr != "" {
			at = "http://" + addr
		}
		storage := arkivev1.StorageSpec{S3: &arkivev1.S3Storage{Bucket: "arkive-bench-distant", Endpoint: at, ForcePathStyle: true},
			Prefix: fmt.Sprintf("b%d", time.Now().UnixNano())}
		t := backupTarget{bin: bb.bin, temporal: bb.temporal, c: bb.c, bootstrap: bb.bootstrap, topic: wb.topic, bytes: wb.bytes,
			storage: &storage, env: []string{"AWS_ACCESS_KEY_ID=" + id, "AWS_SECRET_ACCESS_KEY=" + secret}}
		r := backupInWorker(b, t, "zstd", 0)
		commit[side] += r.commit
		return r.elapsed
	})
	for side, name := range []string{"near", "proxied", "distant"} {
		b.ReportMetric(commit[side].Seconds()/float64(b.N), name+"-commit-s")
	}
}
