package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"arkive.io/arkive/activities/kafka"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
)

// Produce and consume through the configuration Arkive builds, on the real broker.
func TestConfigProducesAndConsumesOnRealBroker(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	ctx := context.Background()
	cfg, err := kafka.Config(ctx, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap},
		ClientOverrides: map[string]string{"client.id": "arkive-test"}}, secrets.Map{})
	require.NoError(t, err)
	cfg.Producer.Return.Successes = true
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1

	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer admin.Close()
	topic := fmt.Sprintf("config-test-%d", time.Now().UnixNano())
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false))

	producer, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer producer.Close()
	var sent []*sarama.ProducerMessage
	for i := range 50 {
		m := &sarama.ProducerMessage{Topic: topic, Partition: 1, Value: sarama.ByteEncoder(fmt.Sprintf("value-%d", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte("1")}, {Key: []byte("h"), Value: []byte("2")}}}
		if i%3 != 0 {
			m.Key = sarama.StringEncoder(fmt.Sprintf("key-%d", i))
		}
		sent = append(sent, m)
	}
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	producer2, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer producer2.Close()
	require.NoError(t, producer2.SendMessages(sent))

	consumer, err := sarama.NewConsumer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 1, sarama.OffsetOldest)
	require.NoError(t, err)
	defer pc.Close()
	deadline := time.After(30 * time.Second)
	for i := range sent {
		select {
		case msg := <-pc.Messages():
			require.Equal(t, int64(i), msg.Offset)
			require.Equal(t, fmt.Sprintf("value-%d", i), string(msg.Value))
			if i%3 == 0 {
				require.Nil(t, msg.Key, "a message sent without key must come back with a null key")
			} else {
				require.Equal(t, fmt.Sprintf("key-%d", i), string(msg.Key))
			}
			require.Len(t, msg.Headers, 2)
			require.Equal(t, "2", string(msg.Headers[1].Value))
		case err := <-pc.Errors():
			t.Fatalf("consume: %v", err)
		case <-deadline:
			t.Fatalf("consumed %d of %d messages before the deadline", i, len(sent))
		}
	}
}

func TestConfigSecurity(t *testing.T) {
	ctx := context.Background()
	caPEM := selfSignedCA(t)
	sr := secrets.Map{"kafka-tls#ca.crt": string(caPEM), "kafka-user#username": "alice\n", "kafka-user#password": "s3cret\n"}

	cfg, err := kafka.Config(ctx, arkivev1.KafkaClusterSpec{BootstrapServers: []string{"k:9093"},
		SecurityProtocol: arkivev1.SecuritySASLSSL, TLS: &arkivev1.TLSConfig{SecretName: "kafka-tls"},
		SASL: &arkivev1.KafkaSASL{Mechanism: arkivev1.SASLScramSHA512, SecretName: "kafka-user"}}, sr)
	require.NoError(t, err)
	require.True(t, cfg.Net.TLS.Enable)
	require.NotNil(t, cfg.Net.TLS.Config.RootCAs)
	require.Empty(t, cfg.Net.TLS.Config.Certificates, "no client certificate in the secret: no mutual TLS")
	require.True(t, cfg.Net.SASL.Enable)
	require.Equal(t, sarama.SASLMechanism(sarama.SASLTypeSCRAMSHA512), cfg.Net.SASL.Mechanism)
	require.Equal(t, "alice", cfg.Net.SASL.User)
	require.Equal(t, "s3cret", cfg.Net.SASL.Password)
	scram := cfg.Net.SASL.SCRAMClientGeneratorFunc()
	require.NoError(t, scram.Begin("alice", "s3cret", ""))
	first, err := scram.Step("")
	require.NoError(t, err)
	require.Contains(t, first, "n=alice", "SCRAM client-first message")

	tests := map[string]struct {
		spec arkivev1.KafkaClusterSpec
		want string
	}{
		"unknown override":       {arkivev1.KafkaClusterSpec{BootstrapServers: []string{"k:1"}, ClientOverrides: map[string]string{"linger.ms": "5"}}, "spec.clientOverrides[linger.ms]: unsupported setting"},
		"bad override value":     {arkivev1.KafkaClusterSpec{BootstrapServers: []string{"k:1"}, ClientOverrides: map[string]string{"request.timeout.ms": "soon"}}, "spec.clientOverrides[request.timeout.ms]"},
		"sasl without block":     {arkivev1.KafkaClusterSpec{BootstrapServers: []string{"k:1"}, SecurityProtocol: arkivev1.SecuritySASLPlaintext}, "spec.sasl: required"},
		"missing sasl secret":    {arkivev1.KafkaClusterSpec{BootstrapServers: []string{"k:1"}, SecurityProtocol: arkivev1.SecuritySASLPlaintext, SASL: &arkivev1.KafkaSASL{Mechanism: arkivev1.SASLPlain, SecretName: "nope"}}, "spec.sasl: secret nope#username: not found"},
		"ca that is not pem":     {arkivev1.KafkaClusterSpec{BootstrapServers: []string{"k:1"}, SecurityProtocol: arkivev1.SecuritySSL, TLS: &arkivev1.TLSConfig{SecretName: "junk"}}, "spec.tls.caKey"},
		"half a client cert":     {arkivev1.KafkaClusterSpec{BootstrapServers: []string{"k:1"}, SecurityProtocol: arkivev1.SecuritySSL, TLS: &arkivev1.TLSConfig{SecretName: "half"}}, "only one of the client certificate and key"},
		"unknown sasl mechanism": {arkivev1.KafkaClusterSpec{BootstrapServers: []string{"k:1"}, SecurityProtocol: arkivev1.SecuritySASLPlaintext, SASL: &arkivev1.KafkaSASL{Mechanism: "GSSAPI", SecretName: "kafka-user"}}, "spec.sasl.mechanism"},
	}
	sr["junk#ca.crt"] = "not a certificate"
	sr["half#ca.crt"] = string(caPEM)
	sr["half#tls.crt"] = string(caPEM)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := kafka.Config(ctx, tc.spec, sr)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func selfSignedCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "arkive test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// SASL PLAIN and SCRAM authenticate against the real broker through the configuration Arkive
// builds; a wrong password is reported as an authentication failure.
func TestConfigAuthenticatesWithSASLOnRealBroker(t *testing.T) {
	bootstrap, user, password := testenv.KafkaSASL(t)
	for _, mech := range []arkivev1.SASLMechanism{arkivev1.SASLPlain, arkivev1.SASLScramSHA256, arkivev1.SASLScramSHA512} {
		t.Run(string(mech), func(t *testing.T) {
			for _, tc := range []struct {
				password string
				ok       bool
			}{{password, true}, {"not-" + password, false}} {
				sr := secrets.Map{"kafka-user#username": user, "kafka-user#password": tc.password}
				cfg, err := kafka.Config(context.Background(), arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap},
					SecurityProtocol: arkivev1.SecuritySASLPlaintext, SASL: &arkivev1.KafkaSASL{Mechanism: mech, SecretName: "kafka-user"}}, sr)
				require.NoError(t, err)
				cfg.Metadata.Retry.Max = 0
				client, err := sarama.NewClient([]string{bootstrap}, cfg)
				if tc.ok {
					require.NoError(t, err)
					_, err = client.Controller()
					require.NoError(t, err)
					_ = client.Close()
					continue
				}
				require.Error(t, err)
				require.ErrorIs(t, err, sarama.ErrSASLAuthenticationFailed, "a wrong password must be classified as an authentication failure")
			}
		})
	}
}

// Mutual TLS against the real broker's SSL listener, which requires a client certificate:
// with the CA and client certificate from a Secret a record goes through and comes back; without
// the client certificate, or trusting another CA, the connection is refused.
func TestConfigConnectsWithMutualTLSOnRealBroker(t *testing.T) {
	bootstrap, dir := testenv.KafkaTLS(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	spec := arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}, SecurityProtocol: arkivev1.SecuritySSL,
		TLS: &arkivev1.TLSConfig{SecretName: "kafka-tls"}}
	connect := func(sr secrets.Map) (sarama.Client, error) {
		cfg, err := kafka.Config(context.Background(), spec, sr)
		require.NoError(t, err)
		cfg.Metadata.Retry.Max = 0
		cfg.Producer.Return.Successes = true
		c, err := sarama.NewClient([]string{bootstrap}, cfg)
		if err == nil {
			_, err = c.Controller()
		}
		return c, err
	}
	good := secrets.Map{"kafka-tls#ca.crt": read("ca.crt"), "kafka-tls#tls.crt": read("tls.crt"), "kafka-tls#tls.key": read("tls.key")}
	c, err := connect(good)
	require.NoError(t, err)
	defer c.Close()
	topic := fmt.Sprintf("tls-%d", time.Now().UnixNano())
	admin, err := sarama.NewClusterAdminFromClient(c)
	require.NoError(t, err)
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false))
	// CreateTopic returns before every listener's metadata has the topic, and this client does
	// not retry metadata (so the refusals below fail fast): wait until it sees the partition.
	testenv.Eventually(t, 30*time.Second, "topic "+topic+" in the metadata", func() (bool, string) {
		if err := c.RefreshMetadata(topic); err != nil {
			return false, err.Error()
		}
		_, err := c.Leader(topic, 0)
		return err == nil, fmt.Sprint(err)
	})
	p, err := sarama.NewSyncProducerFromClient(c)
	require.NoError(t, err)
	_, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("over tls")})
	require.NoError(t, err)
	cons, err := sarama.NewConsumerFromClient(c)
	require.NoError(t, err)
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, off)
	require.NoError(t, err)
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		require.Equal(t, "over tls", string(m.Value))
	case <-time.After(30 * time.Second):
		t.Fatal("the record did not come back over TLS")
	}

	_, err = connect(secrets.Map{"kafka-tls#ca.crt": read("ca.crt")})
	require.Error(t, err, "the broker requires a client certificate")
	_, err = connect(secrets.Map{"kafka-tls#ca.crt": read("other-ca.crt"), "kafka-tls#tls.crt": read("tls.crt"), "kafka-tls#tls.key": read("tls.key")})
	require.Error(t, err, "a broker certificate from a CA not trusted")
}
