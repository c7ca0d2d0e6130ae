package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MinIOBucket makes sure a bucket exists on MinIO and returns the endpoint and credentials.
func MinIOBucket(t testing.TB, bucket string) (endpoint, accessKey, secretKey string) {
	t.Helper()
	endpoint, accessKey, secretKey = MinIO(t)
	CreateBucket(t, endpoint, accessKey, secretKey, bucket)
	return endpoint, accessKey, secretKey
}

// CreateBucket creates a bucket on the S3 server at endpoint (a test's own MinIO) unless it
// exists.
func CreateBucket(t testing.TB, endpoint, accessKey, secretKey, bucket string) {
	t.Helper()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, nil
		})})
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned interface{ ErrorCode() string }
	if err != nil && !(errors.As(err, &owned) && (owned.ErrorCode() == "BucketAlreadyOwnedByYou" || owned.ErrorCode() == "BucketAlreadyExists")) {
		t.Fatalf("create MinIO bucket %s: %v", bucket, err)
	}
}

// Topic creates a topic with a unique name starting with prefix on the real broker, and
// returns once every partition has a leader.
func Topic(t testing.TB, prefix string, partitions int32, configs map[string]*string) string {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	admin, err := sarama.NewClusterAdmin([]string{Kafka(t)}, cfg)
	if err != nil {
		t.Fatalf("connect to Kafka: %v", err)
	}
	defer admin.Close()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs}, false); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	// A producer that starts before every partition has a leader can fail its whole batch
	// (CI at f860283: "Failed to deliver 459 messages" right after the topic was made).
	WaitForLeaders(t, Kafka(t), []string{name}, partitions)
	return name
}

// WaitForLeaders waits until every partition of new topics has a leader that knows it, so the
// first records meet neither LEADER_NOT_AVAILABLE nor UNKNOWN_TOPIC_OR_PARTITION: thousands of
// new partitions take a while, and a broker busy making them names a leader in its metadata
// before that leader takes writes (CI at 547f5b3: "does not exist on this broker" 17 s after
// CreateTopic). The leader answers a partition's newest offset only once it has the partition.
func WaitForLeaders(t testing.TB, bootstrap string, topics []string, partitions int32) {
	t.Helper()
	client, err := sarama.NewClient([]string{bootstrap}, ProducerConfig())
	if err != nil {
		t.Fatalf("connect to Kafka: %v", err)
	}
	defer client.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ready := client.RefreshMetadata(topics...) == nil
		for _, topic := range topics {
			for p := int32(0); ready && p < partitions; p++ {
				if _, err := client.Leader(topic, p); err != nil {
					ready = false
				} else if _, err := client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
					ready = false
				}
			}
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions of %v without a leader after 2 minutes", topics)
		}
		time.Sleep(500 * time.Millisecond) // polling interval
	}
}

// ProducerConfig is the producer the tests write with: idempotent (no duplicates, in order,
// even on retries), acknowledged by all replicas, records up to 8 MiB.
func ProducerConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.MaxMessageBytes = 8 << 20
	cfg.Net.MaxOpenRequests = 1
	// A broker shared by the suite's packages can be slow to answer for a moment (leader
	// moves of new topics, thousands of partitions of another test): sarama's default of
	// three retries 100 ms apart gave up within the test's first batch (CI at d937d0d,
	// "Failed to deliver 14 messages"). Its own retries keep the idempotent producer's
	// exactly-once order.
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	return cfg
}

// PeakRSSMiB is a process's peak resident set (VmHWM from /proc) in MiB, 0 if unreadable.
func PeakRSSMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// CPUSeconds is the user plus system CPU time a process has used so far (utime and stime from
// /proc/<pid>/stat), in seconds.
func CPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: count fields after its end.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(utime+stime) / clockTicks, nil
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc's tick counts on every architecture
// Go supports.
const clockTicks = 100

// KafkaBrokerPID finds the local Kafka broker's JVM (main class kafka.Kafka) among this
// machine's processes, for benchmarks that count the broker's CPU.
func KafkaBrokerPID() (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(cmd), "\x00") {
			if arg == "kafka.Kafka" {
				return pid, nil
			}
		}
	}
	return 0, errors.New("no local Kafka broker process (main class kafka.Kafka)")
}
