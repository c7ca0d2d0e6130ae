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

// Topic creates a topic with a unique name starting with prefix on the real broker.
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
	return name
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
