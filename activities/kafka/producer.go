package kafka

import (
	"fmt"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The restore writes with franz-go's producer, not sarama's: on the #20 dataset it costs its
// process a third of sarama's CPU per GiB produced (1.3–1.5 against 4.2–4.6 core-s/GiB, both
// idempotent, docs/benchmarks.md), and a restore on a busy worker is CPU-bound. Everything else
// (metadata, offsets, reading back what a dead attempt wrote, captures) stays on sarama, and
// the producer's settings are derived from the same validated sarama configuration, so a
// KafkaCluster spec means the same to both.

// producerRetries bounds a record's tries, as sarama's Producer.Retry.Max did: a broker that
// stays away fails the attempt (Temporal retries it from its checkpoint) instead of leaving it
// waiting unseen. With idempotence franz-go only gives up where that cannot break sequence
// numbers.
const producerRetries = 10

// newProducer opens an idempotent producer (acks from all in-sync replicas, one writer per
// partition sequence: retries within an attempt never duplicate) that writes each record to
// the partition it names, uncompressed, in batches of at most maxBatch bytes (the target's
// BatchBytes, within its max.message.bytes).
func newProducer(cfg *sarama.Config, brokers []string, maxBatch int32) (*kgo.Client, error) {
	opts, err := franzOpts(cfg, brokers)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(maxBatch),
		// A batch and its request header must fit one write (the default is Kafka's 100 MiB
		// socket.request.max.bytes; a topic may allow larger records).
		kgo.BrokerMaxWriteBytes(max(100<<20, min(maxBatch+1<<20, 1<<30))),
		kgo.RecordRetries(producerRetries),
	)
	return kgo.NewClient(opts...)
}

// franzOpts are a franz-go client's connection settings from the validated sarama
// configuration: the same brokers, timeouts, TLS and SASL.
func franzOpts(cfg *sarama.Config, brokers []string) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DialTimeout(cfg.Net.DialTimeout),
		kgo.RequestTimeoutOverhead(cfg.Net.ReadTimeout),
		kgo.MetadataMaxAge(cfg.Metadata.RefreshFrequency),
	}
	if cfg.Net.TLS.Enable {
		opts = append(opts, kgo.DialTLSConfig(cfg.Net.TLS.Config.Clone()))
	}
	if cfg.Net.SASL.Enable {
		user, pass := cfg.Net.SASL.User, cfg.Net.SASL.Password
		switch cfg.Net.SASL.Mechanism {
		case sarama.SASLTypePlaintext:
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
		case sarama.SASLTypeSCRAMSHA256:
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		case sarama.SASLTypeSCRAMSHA512:
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("spec.sasl.mechanism: %s is not supported for restores", cfg.Net.SASL.Mechanism)
		}
	}
	return opts, nil
}
