package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/client"
	"golang.org/x/term"

	"arkive.io/arkive/api/status"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

// demoTopic is one topic of the sample data.
type demoTopic struct {
	name       string
	partitions int32
	compacted  bool
}

var demoTopics = []demoTopic{{"orders", 3, false}, {"payments", 2, false}, {"customers", 1, true}}

type demoFlags struct {
	temporalFlags
	ui, bootstrap, dir string
	records            int
}

// demoCmd backs up sample topics and restores them into renamed topics, through Temporal, on
// servers hack/demo.sh started; then it checks the restored records equal the originals.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f demoFlags
	fs := newFlagSet("demo", `Backs up sample topics and restores them into renamed topics through Temporal, then checks
the restored records equal the originals. Exit status 0 when they do, 1 when not.`, stderr)
	f.temporalFlags.register(fs)
	fs.StringVar(&f.ui, "temporal-ui", envOr("ARKIVE_TEMPORAL_UI", "http://localhost:8233"), "Temporal UI address printed in the summary (env ARKIVE_TEMPORAL_UI)")
	fs.StringVar(&f.bootstrap, "bootstrap", envOr("ARKIVE_DEMO_KAFKA", "localhost:9092"), "Kafka bootstrap server (env ARKIVE_DEMO_KAFKA)")
	fs.StringVar(&f.dir, "dir", envOr("ARKIVE_DEMO_DIR", filepath.Join(os.TempDir(), "arkive-demo")), "folder of the demo's file storage (env ARKIVE_DEMO_DIR)")
	fs.IntVar(&f.records, "records", 20000, "records per topic")
	if err := parseFlags(fs, args, stderr); err != nil {
		return ignoreHelp(err)
	}
	interactive := term.IsTerminal(int(os.Stdin.Fd()))
	tty := term.IsTerminal(int(os.Stdout.Fd()))
	c, err := dialRetry(ctx, f.temporalFlags, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	w := worker.New(c, worker.Options{TaskQueue: f.taskQueue, Secrets: func(string) secrets.Resolver { return noSecrets }})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()

	run := time.Now().Format("150405")
	fmt.Fprintf(stdout, "Arkive demo: Temporal %s, Kafka %s, storage %s\n", f.address, f.bootstrap, f.dir)
	src, err := demoProduce(f.bootstrap, run, f.records)
	if err != nil {
		return err
	}
	total := 0
	for _, t := range src {
		total += t.records
	}
	fmt.Fprintf(stdout, "produced %d records to %d topics (keys, headers, tombstones)\n", total, len(src))

	// The same resources a user would kubectl apply.
	kc := &arkivev1.KafkaCluster{Spec: arkivev1.KafkaClusterSpec{BootstrapServers: []string{f.bootstrap}}}
	kc.Name, kc.Namespace = "local", "demo"
	st := &arkivev1.Storage{Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: f.dir}}}
	st.Name, st.Namespace = "local-files", "demo"
	kb := &arkivev1.KafkaBackup{Spec: arkivev1.KafkaBackupSpec{Source: "local", Sink: "local-files", Mode: arkivev1.ModeScheduled, Schedule: "@daily"}}
	kb.Name, kb.Namespace = "demo-"+run, "demo"
	for _, t := range src {
		kb.Spec.Streams = append(kb.Spec.Streams, arkivev1.BackupStream{Topic: t.name})
	}
	bin, err := specs.KafkaBackupInput(kb, kc, st)
	if err != nil {
		return err
	}
	bid := workflows.WorkflowID("KafkaBackup", kb.Namespace, kb.Name)
	brun, err := c.SignalWithStartWorkflow(ctx, bid, workflows.SignalTrigger, nil,
		kinds.StartOptions("KafkaBackup", bid, f.taskQueue), kafkabackup.WorkflowName, bin)
	if err != nil {
		return fmt.Errorf("start backup: %w", err)
	}
	bar := newProgress(stdout, tty, "backup ", int64(total))
	var bstatus kafkabackup.Status
	for {
		if err := queryStatus(ctx, c, bid, &bstatus); err == nil {
			var committed int64
			for _, p := range bstatus.Partitions {
				committed += p.Committed
			}
			bar.set(committed)
			if len(bstatus.Runs) > 0 || bstatus.Phase == kafkabackup.PhaseFailed {
				break
			}
		}
		if err := pause(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	bar.done()
	if len(bstatus.Runs) == 0 || bstatus.Runs[0].Outcome != status.RunSucceeded {
		return fmt.Errorf("backup failed: %s", bstatus.LastError)
	}
	fmt.Fprintf(stdout, "backup %s: run %s captured %d records\n", bid, bstatus.Runs[0].ID, bstatus.Runs[0].Records)

	kr := &arkivev1.KafkaRestore{Spec: arkivev1.KafkaRestoreSpec{Source: arkivev1.BackupSource{Storage: "local-files", Backup: bin.Backup}, Target: "local"}}
	kr.Name, kr.Namespace = "demo-"+run, "demo"
	for _, t := range src {
		kr.Spec.Topics = append(kr.Spec.Topics, arkivev1.TopicMapping{Source: t.name, Target: "restored-" + t.name})
	}
	rin, err := specs.KafkaRestoreInput(kr, kc, st)
	if err != nil {
		return err
	}
	rid := workflows.WorkflowID("KafkaRestore", kr.Namespace, kr.Name)
	wr, err := c.ExecuteWorkflow(ctx, kinds.StartOptions("KafkaRestore", rid, f.taskQueue), kafkarestore.WorkflowName, rin)
	if err != nil {
		return fmt.Errorf("start restore: %w", err)
	}
	bar = newProgress(stdout, tty, "restore", int64(total))
	finished := make(chan error, 1)
	var res kafkarestore.Result
	go func() { finished <- wr.Get(ctx, &res) }()
	var restoreErr error
	for waiting := true; waiting; {
		select {
		case restoreErr = <-finished:
			waiting = false
		case <-time.After(200 * time.Millisecond): // progress refresh
			var n int64
			for _, t := range src {
				n += endOffsetSum(f.bootstrap, "restored-"+t.name)
			}
			bar.set(n)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	bar.done()
	if restoreErr != nil {
		return fmt.Errorf("restore failed: %w", restoreErr)
	}
	fmt.Fprintf(stdout, "restore %s: %d records into %d topics\n", rid, res.Status.Records, len(src))

	verified, mismatch := 0, error(nil)
	for _, t := range src {
		n, err := compareTopics(f.bootstrap, t.name, "restored-"+t.name)
		verified += n
		if err != nil {
			mismatch = errors.Join(mismatch, err)
		}
	}
	if mismatch != nil {
		fmt.Fprintf(stdout, "verification FAILED: %v\n", mismatch)
	} else {
		fmt.Fprintf(stdout, "verified: %d restored records equal the originals (key, value, headers, timestamp, per partition in order)\n", verified)
	}
	fmt.Fprintf(stdout, "\nInspect the workflows in the Temporal UI:\n  %s\n  %s\n", workflowURL(f.ui, f.namespace, bid, brun.GetRunID()), workflowURL(f.ui, f.namespace, rid, wr.GetRunID()))
	fmt.Fprintf(stdout, "The backup's files are in %s; try: arkive inspect --storage file://%s\n", f.dir, f.dir)
	if mismatch != nil {
		return errors.New("the restored records differ from the originals")
	}
	if interactive {
		fmt.Fprintln(stdout, "\nServers stay up for the UI. Press Ctrl-C to stop everything.")
		<-ctx.Done()
	}
	return nil
}

func workflowURL(ui, namespace, id, runID string) string {
	return strings.TrimRight(ui, "/") + "/namespaces/" + namespace + "/workflows/" + url.PathEscape(id) + "/" + runID + "/history"
}

// dialRetry connects to Temporal, waiting up to a minute for a server that is still starting.
func dialRetry(ctx context.Context, t temporalFlags, stderr io.Writer) (client.Client, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := t.dial(stderr)
		if err == nil {
			if _, err = c.CheckHealth(ctx, &client.CheckHealthRequest{}); err == nil {
				return c, nil
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func queryStatus(ctx context.Context, c client.Client, id string, into any) error {
	v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return err
	}
	return v.Get(into)
}

type producedTopic struct {
	name    string
	records int
}

// demoProduce creates the sample topics and writes records with keys, headers, null keys and
// (on the compacted topic) tombstones.
func demoProduce(bootstrap, run string, n int) ([]producedTopic, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	var admin sarama.ClusterAdmin
	var err error
	for deadline := time.Now().Add(time.Minute); ; {
		if admin, err = sarama.NewClusterAdmin([]string{bootstrap}, cfg); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond) // the broker may still be starting
	}
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka at %s: %w", bootstrap, err)
	}
	defer admin.Close()
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka at %s: %w", bootstrap, err)
	}
	defer p.Close()
	var out []producedTopic
	base := time.Now().Add(-time.Hour).UnixMilli()
	for _, t := range demoTopics {
		name := t.name + "-" + run
		detail := &sarama.TopicDetail{NumPartitions: t.partitions, ReplicationFactor: 1}
		if t.compacted {
			compact := "compact"
			detail.ConfigEntries = map[string]*string{"cleanup.policy": &compact}
		}
		if err := admin.CreateTopic(name, detail, false); err != nil {
			return nil, fmt.Errorf("create topic %s: %w", name, err)
		}
		batch := make([]*sarama.ProducerMessage, 0, 1000)
		for i := range n {
			m := &sarama.ProducerMessage{Topic: name, Partition: int32(i) % t.partitions, Timestamp: time.UnixMilli(base + int64(i))}
			id := fmt.Sprintf("%s-%d", t.name, i%(n/4+1))
			m.Key = sarama.StringEncoder(id)
			m.Value = sarama.StringEncoder(fmt.Sprintf(`{"id":%q,"seq":%d,"amount":%d.%02d}`, id, i, i%500, i%100))
			m.Headers = []sarama.RecordHeader{{Key: []byte("source"), Value: []byte("arkive-demo")}, {Key: []byte("trace"), Value: fmt.Appendf(nil, "%08x", i)}}
			switch {
			case t.compacted && i%10 == 9:
				m.Value, m.Headers = nil, nil // a tombstone
			case !t.compacted && i%50 == 7:
				m.Key = nil
			}
			batch = append(batch, m)
			if len(batch) == cap(batch) || i == n-1 {
				if err := p.SendMessages(batch); err != nil {
					return nil, fmt.Errorf("produce to %s: %w", name, err)
				}
				batch = batch[:0]
			}
		}
		out = append(out, producedTopic{name: name, records: n})
	}
	return out, nil
}

// endOffsetSum is a topic's record count so far (0 if it cannot be read yet).
func endOffsetSum(bootstrap, topic string) int64 {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	c, err := sarama.NewClient([]string{bootstrap}, cfg)
	if err != nil {
		return 0
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		return 0
	}
	var n int64
	for _, p := range parts {
		if end, err := c.GetOffset(topic, p, sarama.OffsetNewest); err == nil {
			n += end
		}
	}
	return n
}

// readTopic reads every record of a topic, per partition in order.
func readTopic(bootstrap, topic string) (map[int32][]*sarama.ConsumerMessage, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Fetch.Default = 1 << 20
	c, err := sarama.NewClient([]string{bootstrap}, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	consumer, err := sarama.NewConsumerFromClient(c)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", topic, err)
	}
	out := map[int32][]*sarama.ConsumerMessage{}
	for _, p := range parts {
		end, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				out[p] = append(out[p], m)
				done = m.Offset >= end-1
			case <-time.After(30 * time.Second):
				_ = pc.Close()
				return nil, fmt.Errorf("%s/%d: no record within 30s", topic, p)
			}
		}
		_ = pc.Close()
	}
	return out, nil
}

// compareTopics checks the target holds the source's records, per partition in order.
func compareTopics(bootstrap, source, target string) (int, error) {
	a, err := readTopic(bootstrap, source)
	if err != nil {
		return 0, err
	}
	b, err := readTopic(bootstrap, target)
	if err != nil {
		return 0, err
	}
	return compareRecords(source, target, a, b)
}

// compareRecords compares two topics' records: key and value (null distinct from empty),
// headers in order, and timestamp.
func compareRecords(source, target string, a, b map[int32][]*sarama.ConsumerMessage) (int, error) {
	n := 0
	if len(a) != len(b) {
		return 0, fmt.Errorf("%s has records in %d partitions, %s in %d", source, len(a), target, len(b))
	}
	for p, want := range a {
		got := b[p]
		if len(got) != len(want) {
			return n, fmt.Errorf("%s/%d has %d records, %s/%d has %d", source, p, len(want), target, p, len(got))
		}
		for i, w := range want {
			g := got[i]
			same := sameBytes(w.Key, g.Key) && sameBytes(w.Value, g.Value) && w.Timestamp.Equal(g.Timestamp) && len(w.Headers) == len(g.Headers)
			for j := 0; same && j < len(w.Headers); j++ {
				same = bytes.Equal(w.Headers[j].Key, g.Headers[j].Key) && sameBytes(w.Headers[j].Value, g.Headers[j].Value)
			}
			if !same {
				return n, fmt.Errorf("%s/%d offset %d differs from %s/%d offset %d", source, p, w.Offset, target, p, g.Offset)
			}
			n++
		}
	}
	return n, nil
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// progress draws a bar on a terminal and a line per 25% otherwise.
type progress struct {
	w          io.Writer
	tty        bool
	label      string
	total, cur int64
	lastStep   int64
}

func newProgress(w io.Writer, tty bool, label string, total int64) *progress {
	return &progress{w: w, tty: tty, label: label, total: max(total, 1), lastStep: -1}
}

func (p *progress) set(n int64) {
	p.cur = min(max(n, p.cur), p.total)
	pct := p.cur * 100 / p.total
	if p.tty {
		filled := int(pct * 30 / 100)
		fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %d/%d records", p.label, strings.Repeat("█", filled), strings.Repeat("░", 30-filled), pct, p.cur, p.total)
		return
	}
	if step := pct / 25; step > p.lastStep {
		p.lastStep = step
		fmt.Fprintf(p.w, "%s: %d%% (%d/%d records)\n", p.label, pct, p.cur, p.total)
	}
}

func (p *progress) done() {
	p.set(p.total)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
