package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
)

// Faults end in a status that names the cause; permanent ones stop retrying.
func TestFaultsShowInStatus(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	endpoint, id, _ := testenv.MinIOBucket(t, "arkive-faults")
	ctx := context.Background()
	topic := testenv.Topic(t, "faults", 1, nil)
	p, err := sarama.NewSyncProducer([]string{bootstrap}, saramaConfig())
	require.NoError(t, err)
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")})
	require.NoError(t, err)
	_ = p.Close()

	c, queue := startWorker(t, secrets.Map{"minio#AWS_ACCESS_KEY_ID": id, "minio#AWS_SECRET_ACCESS_KEY": "wrong-secret"})
	start := func(name string, kafka arkivev1.KafkaClusterSpec, storage arkivev1.StorageSpec, stream string) string {
		kj, _ := json.Marshal(kafka)
		sj, _ := json.Marshal(storage)
		in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/" + name, Kafka: kj, Storage: sj},
			Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: stream, Enabled: true}}, Mode: kafkabackup.ModeContinuous,
				Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20, MaxSegmentInterval: time.Second, DiscoveryInterval: time.Minute}}
		wid := workflows.WorkflowID("KafkaBackup", "default", name)
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
		return wid
	}
	volume := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)

	unreachable := start("unreachable"+suffix, arkivev1.KafkaClusterSpec{BootstrapServers: []string{"127.0.0.1:1"}}, volume, topic)
	denied := start("denied"+suffix, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}},
		arkivev1.StorageSpec{S3: &arkivev1.S3Storage{Bucket: "arkive-faults", Endpoint: endpoint, ForcePathStyle: true,
			CredentialsSecret: &arkivev1.S3Credentials{Name: "minio"}}}, topic)
	missing := start("missing"+suffix, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}, volume, topic+"-does-not-exist")

	s := waitForStatus(t, c, denied, func(s kafkabackup.Status) bool { return s.Phase == kafkabackup.PhaseFailed })
	require.Equal(t, kafkabackup.ErrStorageAccessDenied, s.Reason, "wrong credentials are permanent: no retry loop")
	require.Contains(t, s.LastError, "SignatureDoesNotMatch")

	s = waitForStatus(t, c, missing, func(s kafkabackup.Status) bool { return s.Reason == "NoMatchingTopics" })
	require.Contains(t, s.LastError, topic+"-does-not-exist")

	s = waitForStatus(t, c, unreachable, func(s kafkabackup.Status) bool { return s.LastError != "" })
	require.Equal(t, "Retrying", s.Reason, "an unreachable broker may come back: retried, and said so")
	require.True(t, strings.Contains(s.LastError, "127.0.0.1:1"), "the message names the broker: %q", s.LastError)
	require.NotContains(t, s.LastError, "wrong-secret")
}

// A backup over SASL/SCRAM works, its password appears nowhere in the workflow history, and a
// wrong password ends as a permanent AuthenticationFailed without retrying.
func TestSASLBackupKeepsThePasswordOutOfHistory(t *testing.T) {
	saslBootstrap, user, password := testenv.KafkaSASL(t)
	bootstrap := testenv.Kafka(t)
	ctx := context.Background()
	topic := testenv.Topic(t, "sasl", 1, nil)
	p, err := sarama.NewSyncProducer([]string{bootstrap}, saramaConfig())
	require.NoError(t, err)
	for i := range 20 {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	_ = p.Close()

	c, queue := startWorker(t, secrets.Map{"good#username": user, "good#password": password, "bad#username": user, "bad#password": "wrong-" + password})
	run := func(name, secret string) string {
		kj, _ := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{saslBootstrap}, SecurityProtocol: arkivev1.SecuritySASLPlaintext,
			SASL: &arkivev1.KafkaSASL{Mechanism: arkivev1.SASLScramSHA512, SecretName: secret}})
		sj, _ := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}})
		in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/" + name, Kafka: kj, Storage: sj},
			Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}}, Mode: kafkabackup.ModeScheduled,
				Schedule: "@yearly", Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20,
				MaxSegmentInterval: 10 * time.Second, DiscoveryInterval: time.Minute}}
		wid := workflows.WorkflowID("KafkaBackup", "default", name)
		_, err := c.SignalWithStartWorkflow(ctx, wid, workflows.SignalTrigger, nil, client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
		return wid
	}
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	good := run("sasl-good"+suffix, "good")
	bad := run("sasl-bad"+suffix, "bad")

	s := waitForStatus(t, c, good, func(s kafkabackup.Status) bool { return len(s.Runs) == 1 })
	require.Equal(t, "Succeeded", s.Runs[0].Outcome)
	require.Equal(t, int64(20), s.Runs[0].Records)

	s = waitForStatus(t, c, bad, func(s kafkabackup.Status) bool { return s.Phase == kafkabackup.PhaseFailed })
	require.Equal(t, kafkabackup.ErrAuthentication, s.Reason)
	require.Contains(t, s.LastError, "SASL Authentication failed")

	for _, wid := range []string{good, bad} {
		requireNotInHistory(t, c, wid, "", password, `"secretName"`)
	}
}
