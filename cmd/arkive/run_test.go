package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"arkive.io/arkive/activities/kafka"
	"arkive.io/arkive/activities/schemaregistry"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/registrytest"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/schemabackup"
)

const goodFile = `apiVersion: arkive.io/v1alpha1
kind: KafkaCluster
metadata: {name: local}
spec:
  bootstrapServers: ["%s"]
---
apiVersion: arkive.io/v1alpha1
kind: Storage
metadata: {name: disk}
spec:
  volume: {path: "%s"}
---
apiVersion: arkive.io/v1alpha1
kind: KafkaBackup
metadata: {name: %s, namespace: team-a}
spec:
  source: local
  sink: disk
  streams: [{topic: "%s"}]
  maxSegmentInterval: 1s
%s`

func TestRunFileErrorsNameTheField(t *testing.T) {
	tests := map[string]struct {
		extra, want string
	}{
		"bad cron":        {"  mode: Scheduled\n  schedule: \"61 * * * *\"\n", "spec.schedule"},
		"unknown field":   {"  compresion: {codec: zstd}\n", `unknown field "compresion"`},
		"gzip level":      {"  compression: {codec: gzip, level: 12}\n", "spec.compression.level"},
		"tiny segments":   {"  maxSegmentBytes: 10\n", "spec.maxSegmentBytes"},
		"unknown codec":   {"  compression: {codec: brotli}\n", "spec.compression.codec"},
		"missing storage": {"", "spec.sink"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc := fmt.Sprintf(goodFile, "k:9092", "/tmp/x", "b", "t", tc.extra)
			if name == "missing storage" {
				doc = strings.Replace(doc, "sink: disk", "sink: elsewhere", 1)
			}
			res, err := loadResources(strings.NewReader(doc))
			if err == nil {
				_, err = res.starts()
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := loadResources(strings.NewReader("apiVersion: v1\nkind: Secret\n"))
	require.ErrorContains(t, err, `apiVersion "v1" is not arkive.io/v1alpha1`)
}

// startRun runs `arkive run ARGS` (with its in-process worker) until the test ends, then
// terminates the workflow wid it started.
func startRun(t *testing.T, temporal, wid string, args []string) (out, errOut *bytes.Buffer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out, errOut = &bytes.Buffer{}, &bytes.Buffer{}
	go func() { done <- runCmd(ctx, args, out, errOut) }()
	t.Cleanup(func() {
		cancel()
		<-done
		c, err := (&temporalFlags{address: temporal, namespace: "default"}).dial(io.Discard)
		if err == nil {
			_ = c.TerminateWorkflow(context.Background(), wid, "", "test done")
			c.Close()
		}
	})
	return out, errOut
}

func TestRunStartsABackupAndStatusPrintsIt(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	temporal := testenv.Temporal(t)
	topic := fmt.Sprintf("cli-%d", time.Now().UnixNano())
	cfg := sarama.NewConfig()
	cfg.Version = kafka.ProtocolVersion
	cfg.Producer.Return.Successes = true
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, cfg)
	require.NoError(t, err)
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false))
	_ = admin.Close()
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	for i := range 100 {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	_ = p.Close()

	file := filepath.Join(t.TempDir(), "backup.yaml")
	name := strings.ReplaceAll(topic, "cli-", "b")
	require.NoError(t, os.WriteFile(file, fmt.Appendf(nil, goodFile, bootstrap, t.TempDir(), name, topic, ""), 0o600))
	queue := "cli-" + name
	common := []string{"--temporal-address", temporal, "--task-queue", queue}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	require.NoError(t, l.Close())
	out, errOut := startRun(t, temporal, "arkive/kafkabackup/team-a/"+name, append([]string{"-f", file, "--metrics-port", port}, common...))

	// Poll `arkive status` until the committed offset reaches the 100 records produced.
	deadline := time.Now().Add(90 * time.Second)
	var status bytes.Buffer
	for {
		status.Reset()
		err := statusCmd(context.Background(), append([]string{"kafkabackup/" + name, "-n", "team-a", "-o", "json"}, common...), &status, errOut)
		if err == nil && strings.Contains(status.String(), `"committed": 100`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "backup did not commit all records in time; last status:\n%s\n%s", status.String(), errOut.String())
		time.Sleep(250 * time.Millisecond) // polling interval, not synchronisation
	}
	require.Contains(t, out.String(), "arkive/kafkabackup/team-a/"+name+" started or updated")
	require.Contains(t, status.String(), `"phase": "`+kafkabackup.PhaseStreaming+`"`)

	// The worker's metrics port serves the Temporal SDK's metrics next to the process's.
	resp, err := http.Get("http://127.0.0.1:" + port + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `temporal_activity_execution_latency_seconds_bucket{activity_type="arkive.kafka.CaptureShard"`)
	require.Contains(t, string(body), `temporal_request{`)
	require.Contains(t, string(body), "go_goroutines")
}

const schemaFile = `apiVersion: arkive.io/v1alpha1
kind: SchemaRegistry
metadata: {name: registry}
spec:
  urls: ["%s"]
  basicAuth: {secretName: registry-creds}
---
apiVersion: arkive.io/v1alpha1
kind: Storage
metadata: {name: disk}
spec:
  volume: {path: "%s"}
---
apiVersion: arkive.io/v1alpha1
kind: SchemaRegistryBackup
metadata: {name: %s, namespace: team-a}
spec:
  registry: registry
  storage: disk
  enabled: true
  %s
`

// arkive run -f takes the Schema Registry kinds: the credentials come from --secrets-dir, the
// snapshot lands in the volume, and arkive status srb/NAME prints it.
func TestRunSchemaRegistryBackupFromAFile(t *testing.T) {
	temporal := testenv.Temporal(t)
	reg := registrytest.New()
	reg.Users = map[string]string{"svc": "file-pass"}
	base := reg.Start(t)
	_, err := reg.Add("orders-value", "AVRO", `"string"`)
	require.NoError(t, err)
	secretsDir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(secretsDir, "registry-creds"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(secretsDir, "registry-creds", "username"), []byte("svc\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(secretsDir, "registry-creds", "password"), []byte("file-pass\n"), 0o600))

	name := fmt.Sprintf("srb%d", time.Now().UnixNano())
	file := filepath.Join(t.TempDir(), "schemas.yaml")
	require.NoError(t, os.WriteFile(file, fmt.Appendf(nil, schemaFile, base, t.TempDir(), name, "backupIntervalSecs: 60"), 0o600))
	queue := "cli-" + name
	common := []string{"--temporal-address", temporal, "--task-queue", queue}
	out, errOut := startRun(t, temporal, "arkive/schemaregistrybackup/team-a/"+name, append([]string{"-f", file, "--secrets-dir", secretsDir}, common...))
	deadline := time.Now().Add(60 * time.Second)
	var status bytes.Buffer
	for {
		status.Reset()
		err := statusCmd(context.Background(), append([]string{"srb/" + name, "-n", "team-a", "-o", "json"}, common...), &status, errOut)
		if err == nil && strings.Contains(status.String(), `"phase": "Running"`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "no snapshot in time; last status:\n%s\n%s", status.String(), errOut.String())
		time.Sleep(250 * time.Millisecond) // polling interval, not synchronisation
	}
	require.Contains(t, out.String(), "arkive/schemaregistrybackup/team-a/"+name+" started or updated")
	require.Contains(t, status.String(), `"subjects": 1`)

	// A bad spec in the file is refused before anything starts, naming the field.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, fmt.Appendf(nil, schemaFile, base, t.TempDir(), "bad", "retention: {keepLast: 0}"), 0o600))
	err = runCmd(context.Background(), append([]string{"-f", bad, "--no-worker"}, common...), out, errOut)
	require.ErrorContains(t, err, "spec.retention.keepLast")
}

// arkive inspect lists a storage's Schema Registry backups with their snapshots, made here by
// the real Snapshot activity, whether asked for every backup or for that one; an unknown
// backup name is an error naming the flag.
func TestInspectListsSchemaSnapshots(t *testing.T) {
	reg := registrytest.New()
	base := reg.Start(t)
	for i := range 3 {
		_, err := reg.Add(fmt.Sprintf("orders-%d-value", i), "AVRO", fmt.Sprintf(`{"type":"record","name":"O%d","fields":[]}`, i))
		require.NoError(t, err)
	}
	dir := t.TempDir()
	a := &schemaregistry.Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	regSpec, _ := json.Marshal(arkivev1.SchemaRegistrySpec{URLs: []string{base}})
	stSpec, _ := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}})
	taken := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	res, err := a.Snapshot(context.Background(), schemabackup.SnapshotInput{Connection: schemabackup.Connection{Namespace: "team-a",
		Backup: "team-a/schemas", Registry: regSpec, Storage: stSpec}, ID: schemabackup.SnapshotID(taken, 1), Time: taken})
	require.NoError(t, err)
	require.True(t, res.Stored)

	for _, args := range [][]string{{"inspect", "--storage", "file://" + dir}, {"inspect", "--storage", "file://" + dir, "--backup", "team-a/schemas"}} {
		out, _, err := runCLI(args...)
		require.NoError(t, err)
		require.Contains(t, out, "schema backup team-a/schemas  (1 snapshots, last check 2026-12-01T02:00:00Z)")
		require.Regexp(t, `20261201T020000Z-000001\s+2026-12-01T02:00:00Z\s+3\s+3\s+\d+`, out)
	}
	_, _, err = runCLI("inspect", "--storage", "file://"+dir, "--backup", "team-a/nothing")
	require.ErrorContains(t, err, `--backup: no backup "team-a/nothing"`)
}
