package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"sigs.k8s.io/yaml"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// cliBackup backs up topic into a file storage in dir through an in-process worker, with small
// segments, and returns the backup's name.
func cliBackup(t *testing.T, c client.Client, bootstrap, topic, dir string) string {
	t.Helper()
	queue := inProcessWorker(t, c)
	kc, st := volumeObjects(bootstrap, dir)
	kb := &arkivev1.KafkaBackup{Spec: arkivev1.KafkaBackupSpec{Source: "k", Sink: "s", Streams: []arkivev1.BackupStream{{Topic: topic}},
		Mode: arkivev1.ModeScheduled, Schedule: "@yearly", MaxSegmentBytes: ptrTo[int64](2048)}}
	kb.Name, kb.Namespace = strings.ToLower(topic), "default"
	in, err := specs.KafkaBackupInput(kb, kc, st)
	require.NoError(t, err)
	id := workflows.WorkflowID("KafkaBackup", "default", kb.Name)
	_, err = c.SignalWithStartWorkflow(context.Background(), id, workflows.SignalTrigger, nil, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), id, "", "test done") }()
	require.Eventually(t, func() bool {
		var s kafkabackup.Status
		return queryStatus(context.Background(), c, id, &s) == nil && len(s.Runs) == 1 && s.Runs[0].Outcome == "Succeeded"
	}, 2*time.Minute, 100*time.Millisecond)
	return in.Backup
}

// inProcessWorker starts a worker in this process on a task queue of its own, until the test
// ends, and returns the queue.
func inProcessWorker(t *testing.T, c client.Client) string {
	t.Helper()
	queue := fmt.Sprintf("cli-%d", time.Now().UnixNano())
	w := worker.New(c, worker.Options{TaskQueue: queue, Secrets: func(string) secrets.Resolver { return secrets.Map{} }})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return queue
}

// volumeObjects are the KafkaCluster "k" at bootstrap and the Storage "s" on dir that the
// tests' resources name.
func volumeObjects(bootstrap, dir string) (*arkivev1.KafkaCluster, *arkivev1.Storage) {
	kc := &arkivev1.KafkaCluster{Spec: arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}}
	kc.Name = "k"
	st := &arkivev1.Storage{Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}}
	st.Name = "s"
	return kc, st
}

// produceForExport writes records kcat can show exactly (UTF-8) plus edge cases: null and empty
// keys and values, duplicate and null headers.
func produceForExport(t *testing.T, bootstrap, topic string) {
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for i := range 200 {
		m := &sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2), Timestamp: time.UnixMilli(1_760_000_000_000 + int64(i)),
			Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i)), Value: sarama.StringEncoder(fmt.Sprintf(`{"n":%d,"text":"ünïcode ✓"}`, i))}
		switch i % 7 {
		case 1:
			m.Key = nil
		case 2:
			m.Value = nil
		case 3:
			m.Key, m.Value = sarama.ByteEncoder([]byte{}), sarama.ByteEncoder([]byte{})
		case 4:
			m.Headers = []sarama.RecordHeader{{Key: []byte("h"), Value: []byte("1")}, {Key: []byte("h"), Value: nil}, {Key: []byte("e"), Value: []byte{}}}
		}
		msgs = append(msgs, m)
	}
	require.NoError(t, p.SendMessages(msgs))
}

func runCLI(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// Acceptance: export of a backed-up partition equals, record for record, what kcat reads from
// the source; bytes that are not UTF-8 come out as base64.
func TestExportMatchesKcat(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	c, err := client.Dial(client.Options{HostPort: testenv.Temporal(t)})
	require.NoError(t, err)
	defer c.Close()
	topic := testenv.Topic(t, "export", 2, nil)
	produceForExport(t, bootstrap, topic)
	binary := []byte{0xff, 0x00, 0xfe, 'x'}
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	_, binOffset, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 1, Value: sarama.ByteEncoder(binary)})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	dir := t.TempDir()
	backup := cliBackup(t, c, bootstrap, topic, dir)

	want := kcatJSON(t, bootstrap, topic, 0)
	out, _, err := runCLI("export", "--storage", "file://"+dir, "--backup", backup, "--topic", topic, "--partition", "0")
	require.NoError(t, err)
	got := decodeExport(t, out)
	require.Len(t, got, len(want))
	for i, w := range want {
		g := got[i]
		require.Equal(t, w.Offset, g.Offset)
		require.Equal(t, w.Ts, g.Timestamp, "offset %d timestamp", w.Offset)
		require.Equal(t, "CreateTime", g.TimestampType)
		require.Equal(t, "create", w.TsType)
		require.Equal(t, w.Key, g.Key, "offset %d key", w.Offset)
		require.Equal(t, w.Payload, g.Value, "offset %d value", w.Offset)
		var headers []*string
		for _, h := range g.Headers {
			k := h.Key
			headers = append(headers, &k, h.Value)
		}
		require.Equal(t, w.Headers, headers, "offset %d headers", w.Offset)
	}

	// A window, and bytes that are not UTF-8.
	out, _, err = runCLI("export", "--storage", "file://"+dir, "--backup", backup, "--topic", topic, "--partition", "1", "--from", fmt.Sprint(binOffset))
	require.NoError(t, err)
	got = decodeExport(t, out)
	require.Len(t, got, 1)
	require.Nil(t, got[0].Value)
	dec, err := base64.StdEncoding.DecodeString(got[0].ValueBase64)
	require.NoError(t, err)
	require.Equal(t, binary, dec)

	_, _, err = runCLI("export", "--storage", "file://"+dir, "--backup", backup, "--topic", "nope")
	require.ErrorContains(t, err, `--topic: "nope" is not in backup`)
}

func decodeExport(t *testing.T, out string) []exportRecord {
	var recs []exportRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r exportRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		recs = append(recs, r)
	}
	return recs
}

type kcatRec struct {
	Offset  int64     `json:"offset"`
	TsType  string    `json:"tstype"`
	Ts      int64     `json:"ts"`
	Headers []*string `json:"headers"`
	Key     *string   `json:"key"`
	Payload *string   `json:"payload"`
}

func kcatJSON(t *testing.T, bootstrap, topic string, partition int) []kcatRec {
	out, err := exec.Command(testenv.Kcat(t), "-C", "-b", bootstrap, "-t", topic, "-p", fmt.Sprint(partition), "-o", "beginning", "-e", "-q", "-J").Output()
	require.NoError(t, err)
	var recs []kcatRec
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r kcatRec
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		recs = append(recs, r)
	}
	return recs
}

// Acceptance: verify catches a flipped byte, a deleted segment, a truncated segment and a
// manifest naming a missing object, each with exit code 1 and a message naming the object;
// an intact backup exits 0.
func TestVerifyCatchesDamage(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	c, err := client.Dial(client.Options{HostPort: testenv.Temporal(t)})
	require.NoError(t, err)
	defer c.Close()
	topic := testenv.Topic(t, "verify", 2, nil)
	produceForExport(t, bootstrap, topic)
	clean := t.TempDir()
	backup := cliBackup(t, c, bootstrap, topic, clean)
	bin := buildArkive(t)

	store, err := blobstore.OpenURL(context.Background(), "file://"+clean)
	require.NoError(t, err)
	m, err := manifest(context.Background(), store, backup)
	require.NoError(t, err)
	require.NoError(t, store.Close())
	segs := m.Topics[0].Data[1].Segments
	require.GreaterOrEqual(t, len(segs), 2, "small segments, so damage hits one of several")
	victim := segs[1]
	// A catalog object the root names (a pending delta or an index node).
	var catalogObject string
	require.NoError(t, filepath.WalkDir(filepath.Join(clean, "kafka", backup, "catalog"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && catalogObject == "" && !strings.Contains(path, "/retired/") {
			catalogObject, err = filepath.Rel(clean, path)
		}
		return err
	}))
	require.NotEmpty(t, catalogObject, "the backup has catalog objects")

	verify := func(dir string, deep bool) (string, int) {
		args := []string{"verify", "--storage", "file://" + dir, "--backup", backup}
		if deep {
			args = append(args, "--deep")
		}
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		require.NoError(t, err)
		return string(out), 0
	}
	out, code := verify(clean, true)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "is whole")

	for _, tc := range []struct {
		name   string
		damage func(dir string)
		want   []string
	}{
		{"flipped byte", func(dir string) {
			path := filepath.Join(dir, victim.Key)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b[len(b)/2] ^= 0x01
			require.NoError(t, os.WriteFile(path, b, 0o644))
		}, []string{victim.Key, "corrupt at byte", "checksum mismatch"}},
		{"deleted segment", func(dir string) { require.NoError(t, os.Remove(filepath.Join(dir, victim.Key))) }, []string{victim.Key, "missing"}},
		{"truncated segment", func(dir string) {
			require.NoError(t, os.Truncate(filepath.Join(dir, victim.Key), victim.StoredBytes-100))
		}, []string{victim.Key, "truncated"}},
		{"catalog names a missing object", func(dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, catalogObject)))
		}, []string{catalogObject, "missing"}},
		{"truncated catalog object", func(dir string) {
			path := filepath.Join(dir, catalogObject)
			info, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, info.Size()/2))
		}, []string{catalogObject, "unexpected end of JSON input"}},
	} {
		for _, deep := range []bool{false, true} {
			dir := t.TempDir()
			require.NoError(t, os.CopyFS(dir, os.DirFS(clean)))
			tc.damage(dir)
			out, code := verify(dir, deep)
			require.Equal(t, 1, code, "%s (deep %v): %s", tc.name, deep, out)
			for _, w := range tc.want {
				require.Contains(t, out, w, "%s (deep %v)", tc.name, deep)
			}
			require.Contains(t, out, "arkive: backup "+backup, "one-line reason on stderr")
		}
	}
}

// Acceptance: pause, resume and trigger through the CLI change the workflow as the signals do.
func TestSignalsThroughTheCLI(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	addr := testenv.Temporal(t)
	c, err := client.Dial(client.Options{HostPort: addr})
	require.NoError(t, err)
	defer c.Close()
	topic := testenv.Topic(t, "clisig", 2, nil)
	produceForExport(t, bootstrap, topic)
	queue := inProcessWorker(t, c)
	kc, st := volumeObjects(bootstrap, t.TempDir())
	name := strings.ToLower(topic)
	kb := &arkivev1.KafkaBackup{Spec: arkivev1.KafkaBackupSpec{Source: "k", Sink: "s", Streams: []arkivev1.BackupStream{{Topic: topic}},
		Mode: arkivev1.ModeScheduled, Schedule: "@yearly"}}
	kb.Name, kb.Namespace = name, "team-a"
	in, err := specs.KafkaBackupInput(kb, kc, st)
	require.NoError(t, err)
	id := workflows.WorkflowID("KafkaBackup", "team-a", name)
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), id, "", "test done") }()
	status := func() kafkabackup.Status {
		var s kafkabackup.Status
		_ = queryStatus(context.Background(), c, id, &s)
		return s
	}
	require.Eventually(t, func() bool { return status().Phase == kafkabackup.PhaseReady }, time.Minute, 50*time.Millisecond)

	tf := []string{"--temporal-address", addr, "-n", "team-a"}
	out, _, err := runCLI(append([]string{"pause", "kb/" + name}, tf...)...)
	require.NoError(t, err)
	require.Contains(t, out, "sent pause to "+id)
	require.Eventually(t, func() bool { s := status(); return s.Phase == kafkabackup.PhasePaused && s.Reason == "PausedBySignal" }, time.Minute, 50*time.Millisecond)

	_, _, err = runCLI(append([]string{"trigger", "kafkabackup/" + name}, tf...)...)
	require.NoError(t, err)
	_, _, err = runCLI(append([]string{"resume", "kafkabackups/" + name}, tf...)...)
	require.NoError(t, err)
	// Resumed, the trigger received while paused runs.
	require.Eventually(t, func() bool { s := status(); return len(s.Runs) == 1 && s.Runs[0].Outcome == "Succeeded" }, time.Minute, 50*time.Millisecond)

	// Three outputs: json and yaml are the status alone, table its top-level fields.
	out, _, err = runCLI(append([]string{"status", "kb/" + name, "-o", "json"}, tf...)...)
	require.NoError(t, err)
	var js kafkabackup.Status
	require.NoError(t, json.Unmarshal([]byte(out), &js), "pure JSON: %s", out)
	require.Equal(t, "Succeeded", js.Runs[0].Outcome)
	out, _, err = runCLI(append([]string{"status", "kb/" + name, "-o", "yaml"}, tf...)...)
	require.NoError(t, err)
	var ys kafkabackup.Status
	require.NoError(t, yaml.Unmarshal([]byte(out), &ys), "pure YAML: %s", out)
	require.Equal(t, js.Runs[0].Outcome, ys.Runs[0].Outcome)
	out, _, err = runCLI(append([]string{"status", "kb/" + name}, tf...)...)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^workflow +`+regexp.QuoteMeta(id)+`$`, out)
	require.Regexp(t, `(?m)^phase +`+js.Phase+`$`, out)
	require.Regexp(t, `(?m)^runs +1 items`, out)
	_, _, err = runCLI(append([]string{"status", "kb/" + name, "-o", "xml"}, tf...)...)
	require.ErrorContains(t, err, `-o: "xml" is not table, json or yaml`)

	// No worker polls: status says what Temporal knows, and why the query got no answer.
	lonely := "nobody-" + name
	lid := workflows.WorkflowID("KafkaBackup", "default", lonely)
	_, err = c.ExecuteWorkflow(context.Background(), kinds.StartOptions("KafkaBackup", lid, "nobody-polls-"+name), kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), lid, "", "test done") }()
	out, _, err = runCLI("status", "kb/"+lonely, "-o", "json", "--temporal-address", addr, "--task-queue", "nobody-polls-"+name)
	require.NoError(t, err)
	var known map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &known), "pure JSON: %s", out)
	require.Equal(t, "Running", known["workflowState"])
	require.EqualValues(t, 0, known["pollers"])
	require.Equal(t, "no worker is polling task queue nobody-polls-"+name+": start one (arkive worker) to get the status", known["note"])
	require.Equal(t, map[string]any{"ArkiveKind": "kafkabackup", "ArkiveNamespace": "default", "ArkiveResource": lonely}, known["searchAttributes"])

	_, _, err = runCLI(append([]string{"trigger", "kr/" + name}, tf...)...)
	require.ErrorContains(t, err, "nothing to trigger")
	_, _, err = runCLI("worker", "--pprof")
	require.ErrorContains(t, err, "--pprof: the profiler is served on the metrics port; set --metrics-port too")
	_, _, err = runCLI("pause", "bogus/x")
	require.ErrorContains(t, err, "KIND one of kafkabackup")
}

// Every command's --help is pinned by a golden file (go test -run TestHelp -update rewrites
// them), every flag has a description, and docs/cli.md documents every flag.
func TestHelpGolden(t *testing.T) {
	for _, v := range []string{"ARKIVE_TEMPORAL_ADDRESS", "ARKIVE_TEMPORAL_NAMESPACE", "ARKIVE_TASK_QUEUE", "ARKIVE_CONCURRENCY", "ARKIVE_METRICS_PORT",
		"ARKIVE_SECRETS_DIR", "ARKIVE_KUBE_SECRETS", "ARKIVE_SPOOL_DIR", "ARKIVE_METRICS_ADDRESS", "ARKIVE_HEALTH_ADDRESS", "ARKIVE_LEADER_ELECT", "ARKIVE_LEADER_ELECTION_NAMESPACE", "ARKIVE_STORAGE", "ARKIVE_KEY_FILE", "ARKIVE_TEMPORAL_UI", "ARKIVE_DEMO_KAFKA", "ARKIVE_DEMO_DIR", "ARKIVE_MAX_PARTITIONS", "ARKIVE_MAX_MEMORY", "TMPDIR"} {
		t.Setenv(v, "")
	}
	docs, err := os.ReadFile("../../docs/cli.md")
	require.NoError(t, err)
	flagLine := regexp.MustCompile(`^  -([a-z-]+)`)
	commands := []string{"", "operator", "worker", "mover", "run", "status", "pause", "resume", "trigger", "inspect", "verify", "export", "demo"}
	for _, cmd := range commands {
		args := []string{"--help"}
		if cmd != "" {
			args = []string{cmd, "--help"}
		}
		out, errOut, err := runCLI(args...)
		require.NoError(t, err, "%s --help exits 0", cmd)
		help := out + errOut
		name := cmd
		if name == "" {
			name = "arkive"
		}
		golden := filepath.Join("testdata", "help", name+".txt")
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
			require.NoError(t, os.WriteFile(golden, []byte(help), 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "golden file of %q (go test ./cmd/arkive -run TestHelpGolden -update)", name)
		require.Equal(t, string(want), help, "%s --help changed; review and rerun with -update", name)
		if cmd == "" {
			for _, c := range commands[1:] {
				require.Contains(t, help, "arkive "+c, "the command list names %s", c)
			}
			continue
		}
		lines := strings.Split(help, "\n")
		for i, l := range lines {
			m := flagLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			require.True(t, i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" && !flagLine.MatchString(lines[i+1]), "%s -%s has no description", cmd, m[1])
			require.True(t, slices.ContainsFunc(strings.Split(string(docs), "\n"), func(d string) bool {
				return (strings.Contains(d, "`--"+m[1]) || strings.Contains(d, "`-"+m[1]+" ") || strings.Contains(d, "`-"+m[1]+"`")) && strings.Contains(d, "|")
			}), "docs/cli.md documents %s --%s in a flag table", cmd, m[1])
		}
		require.Contains(t, string(docs), "## arkive "+cmd, "docs/cli.md has a section for %s", cmd)
	}
}

// The worker's capture caps: bad values are named before anything is dialled, and
// --max-memory gives the partition cap unless --max-partitions does.
func TestWorkerCaptureCapFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--max-memory lots":      `--max-memory: "lots" is not a quantity such as 1Gi or 768Mi`,
		"--max-memory 64Mi":      "--max-memory: 64Mi is below the 128 MiB a worker needs",
		"--max-partitions -1":    "--max-partitions: -1 is negative (0 means no cap)",
		"--max-memory 1.5Gi --x": "flag provided but not defined: -x",
	} {
		_, _, err := runCLI(append([]string{"worker"}, strings.Fields(args)...)...)
		require.ErrorContains(t, err, want, args)
	}
	for _, tc := range []struct {
		partitions int
		memory     string
		want       int
	}{{0, "", 0}, {0, "1Gi", 512}, {300, "1Gi", 300}, {0, "200Mi", 100}} {
		f := workerFlags{maxPartitions: tc.partitions, maxMemory: tc.memory, restoreMiB: 64}
		require.NoError(t, f.validate())
		require.Equal(t, tc.want, f.capturePartitions(), "%+v", tc)
	}
}
