package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	"arkive.io/arkive/workflows/kafkarestore"
)

// Issue 22, point 7: TLS together with SASL (SASL_SSL) against the real broker, as PLAIN and as
// SCRAM-SHA-512, into encrypted storage; neither the SASL password nor the storage encryption
// key appears in the workflow history. The backup is then restored through the same listener
// into a new topic, record for record.
func TestSASLSSLBackupIntoEncryptedStorage(t *testing.T) {
	bootstrap, caDir := testenv.KafkaSASLSSL(t)
	_, user, password := testenv.KafkaSASL(t)
	ca, err := os.ReadFile(filepath.Join(caDir, "ca.crt"))
	require.NoError(t, err)
	raw := make([]byte, 32)
	_, err = rand.Read(raw)
	require.NoError(t, err)
	key := base64.StdEncoding.EncodeToString(raw)

	topic := testenv.Topic(t, "saslssl", 1, nil)
	p, err := sarama.NewSyncProducer([]string{testenv.Kafka(t)}, saramaConfig())
	require.NoError(t, err)
	for i := range 20 {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	require.NoError(t, p.Close())

	c, queue := startWorker(t, secrets.Map{"kafka-ca#ca.crt": string(ca), "user#username": user, "user#password": password, "backup-key#key": key})
	for _, mech := range []arkivev1.SASLMechanism{arkivev1.SASLPlain, arkivev1.SASLScramSHA512} {
		t.Run(string(mech), func(t *testing.T) {
			kj, _ := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}, SecurityProtocol: arkivev1.SecuritySASLSSL,
				TLS: &arkivev1.TLSConfig{SecretName: "kafka-ca"}, SASL: &arkivev1.KafkaSASL{Mechanism: mech, SecretName: "user"}})
			sj, _ := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()},
				Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "backup-key", Key: "key"}}})
			name := fmt.Sprintf("saslssl-%d", time.Now().UnixNano()%1e9)
			in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/" + name, Kafka: kj, Storage: sj},
				Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}}, Mode: kafkabackup.ModeScheduled,
					Schedule: "@yearly", Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20,
					MaxSegmentInterval: 10 * time.Second, DiscoveryInterval: time.Minute}}
			wid := workflows.WorkflowID("KafkaBackup", "default", name)
			_, err := c.SignalWithStartWorkflow(context.Background(), wid, workflows.SignalTrigger, nil,
				client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
			s := waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return len(s.Runs) == 1 || s.Phase == kafkabackup.PhaseFailed })
			require.NotEmpty(t, s.Runs, "%s: %s", s.Reason, s.LastError)
			require.Equal(t, "Succeeded", s.Runs[0].Outcome, s.LastError)
			require.Equal(t, int64(20), s.Runs[0].Records)
			requireNotInHistory(t, c, wid, "", password, `"secretName"`)
			requireNotInHistory(t, c, wid, "", key, `"keySecret"`)
			requireNotInHistory(t, c, wid, "", string(raw), `"keySecret"`)

			// The restore reads the metadata with sarama and writes with franz-go: both through
			// the same listener, CA and mechanism, from the same spec.
			target := topic + "-restored-" + strings.ToLower(string(mech))
			rin := kafkarestore.RunInput{Input: kafkarestore.Input{Connection: kafkarestore.Connection{Namespace: "default", Backup: "default/" + name, Kafka: kj, Storage: sj},
				Spec: kafkarestore.Spec{PartitionMapping: kafkarestore.MappingSame, CreateTopics: true,
					Topics: []kafkarestore.TopicMapping{{Source: topic, Target: target}}}}}
			rid := workflows.WorkflowID("KafkaRestore", "default", name)
			_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: rid, TaskQueue: queue}, kafkarestore.WorkflowName, rin)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), rid, "", "test done") })
			rs := restoreStatus(t, c, rid)
			require.Equal(t, kafkarestore.PhaseDone, rs.Phase, "restore: %s %s", rs.Reason, rs.LastError)
			requireSameRecords(t, kcatRead(t, testenv.Kafka(t), topic), kcatRead(t, testenv.Kafka(t), target), target)
			requireNotInHistory(t, c, rid, "", password, `"secretName"`)
		})
	}
}
