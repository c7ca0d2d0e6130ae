package testenv

import (
	"os"
	"testing"
	"time"
)

// Names of the variables hack/servers.sh writes to $ARKIVE_RUN/env.
const (
	EnvTemporal        = "ARKIVE_TEST_TEMPORAL"
	EnvKafka           = "ARKIVE_TEST_KAFKA"
	EnvKafkaSASL       = "ARKIVE_TEST_KAFKA_SASL"
	EnvKafkaSASLUser   = "ARKIVE_TEST_KAFKA_SASL_USER"
	EnvKafkaSASLPass   = "ARKIVE_TEST_KAFKA_SASL_PASSWORD"
	EnvKafkaTLS        = "ARKIVE_TEST_KAFKA_TLS"
	EnvKafkaTLSDir     = "ARKIVE_TEST_KAFKA_TLS_DIR"
	EnvKafkaSASLSSL    = "ARKIVE_TEST_KAFKA_SASL_SSL"
	EnvZooKeeper       = "ARKIVE_TEST_ZOOKEEPER"
	EnvZooKeeper38     = "ARKIVE_TEST_ZOOKEEPER38"
	EnvKazoo           = "ARKIVE_TEST_KAZOO"
	EnvKafkaLibs       = "ARKIVE_TEST_KAFKA_LIBS"
	EnvKafkaToolsLibs  = "ARKIVE_TEST_KAFKA_TOOLS_LIBS"
	EnvMinIO           = "ARKIVE_TEST_MINIO"
	EnvMinIOAccessKey  = "ARKIVE_TEST_MINIO_ACCESS_KEY"
	EnvMinIOSecretKey  = "ARKIVE_TEST_MINIO_SECRET_KEY"
	EnvAzurite         = "ARKIVE_TEST_AZURITE"
	EnvGCS             = "ARKIVE_TEST_GCS"
	EnvKubeAssets      = "KUBEBUILDER_ASSETS"
	EnvKcat            = "ARKIVE_TEST_KCAT"
	EnvTemporalCLI     = "ARKIVE_TEST_TEMPORAL_CLI"
	EnvPromtool        = "ARKIVE_TEST_PROMTOOL"
	EnvHelm            = "ARKIVE_TEST_HELM"
	EnvPrometheus      = "ARKIVE_TEST_PROMETHEUS"
	envRequireServers  = "ARKIVE_REQUIRE_SERVERS"
	azuriteAccountName = "devstoreaccount1"
	// AzuriteAccountKey is Azurite's published well-known development key, not a secret.
	AzuriteAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Require returns the value of an environment variable naming a test server, failing or
// skipping the test when it is unset.
func Require(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	msg := name + " is not set: start the real test servers with `hack/servers.sh start` and `. $ARKIVE_RUN/env`, or run `make test`"
	if os.Getenv("CI") != "" || os.Getenv(envRequireServers) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Temporal is the host:port of the Temporal dev server.
func Temporal(t testing.TB) string { return Require(t, EnvTemporal) }

// Kafka is the bootstrap address of the real Kafka broker.
func Kafka(t testing.TB) string { return Require(t, EnvKafka) }

// KafkaSASL is the SASL_PLAINTEXT listener of the real broker and its test user, who may
// authenticate with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
func KafkaSASL(t testing.TB) (bootstrap, user, password string) {
	return Require(t, EnvKafkaSASL), Require(t, EnvKafkaSASLUser), Require(t, EnvKafkaSASLPass)
}

// KafkaTLS is the mutual-TLS listener of the real broker and the folder with its test CA
// (ca.crt), a client certificate and key the broker accepts (tls.crt, tls.key), and a CA it
// does not trust (other-ca.crt).
func KafkaTLS(t testing.TB) (bootstrap, dir string) {
	return Require(t, EnvKafkaTLS), Require(t, EnvKafkaTLSDir)
}

// KafkaSASLSSL is the SASL_SSL listener of the real broker (PLAIN and SCRAM for the user of
// KafkaSASL; the broker's certificate is signed by ca.crt in the folder of KafkaTLS).
func KafkaSASLSSL(t testing.TB) (bootstrap, caDir string) {
	return Require(t, EnvKafkaSASLSSL), Require(t, EnvKafkaTLSDir)
}

// ZooKeeper is the host:port of the ZooKeeper 3.9 server.
func ZooKeeper(t testing.TB) string { return Require(t, EnvZooKeeper) }

// ZooKeeper38 is the host:port of the ZooKeeper 3.8 server (the version Kafka 3.x runs).
func ZooKeeper38(t testing.TB) string { return Require(t, EnvZooKeeper38) }

// Kazoo is the Python interpreter with the kazoo ZooKeeper client installed.
func Kazoo(t testing.TB) string { return Require(t, EnvKazoo) }

// KafkaJars is the classpath of Apache Kafka's broker and of its admin tools (kafka-tools),
// for tests that start a broker of their own.
func KafkaJars(t testing.TB) (broker, tools string) {
	return Require(t, EnvKafkaLibs) + "/*", Require(t, EnvKafkaToolsLibs) + "/*"
}

// KubeAssets is the folder with kube-apiserver, etcd and kubectl for envtest.
func KubeAssets(t testing.TB) string { return Require(t, EnvKubeAssets) }

// TemporalCLI is the path of the temporal command line, as users signal workflows with it.
func TemporalCLI(t testing.TB) string { return Require(t, EnvTemporalCLI) }

// Kcat is the path of kcat, the independent Kafka client used to check data.
func Kcat(t testing.TB) string { return Require(t, EnvKcat) }

// Helm is the path of the helm binary (built from helm.sh/helm/v4 by hack/install.sh).
func Helm(t testing.TB) string { return Require(t, EnvHelm) }

// Promtool is the path of Prometheus's promtool (Debian's prometheus package).
func Promtool(t testing.TB) string { return Require(t, EnvPromtool) }

// Prometheus is the path of the Prometheus server binary (Debian's prometheus package).
func Prometheus(t testing.TB) string { return Require(t, EnvPrometheus) }

// MinIO is the endpoint URL and static credentials of the MinIO server.
func MinIO(t testing.TB) (endpoint, accessKey, secretKey string) {
	return Require(t, EnvMinIO), Require(t, EnvMinIOAccessKey), Require(t, EnvMinIOSecretKey)
}

// Azurite is the blob service URL (including the account path) and account of Azurite.
func Azurite(t testing.TB) (serviceURL, account, key string) {
	return Require(t, EnvAzurite), azuriteAccountName, AzuriteAccountKey
}

// GCS is the JSON API endpoint of fake-gcs-server.
func GCS(t testing.TB) string { return Require(t, EnvGCS) }

// Eventually checks cond every 100 ms for up to d and fails the test with what and cond's last
// state if it never holds; the interval is polling, not synchronisation.
func Eventually(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last state: %s", what, d, last)
}
