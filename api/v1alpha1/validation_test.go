package v1alpha1_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/testenv"
)

// startAPIServer runs a real kube-apiserver and etcd with the generated CRDs installed.
func startAPIServer(t *testing.T) client.Client {
	t.Helper()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "deploy", "crd")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: testenv.KubeAssets(t),
	}
	cfg, err := env.Start()
	require.NoError(t, err, "start kube-apiserver and etcd")
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	require.NoError(t, arkivev1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	return c
}

func meta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "default"} }

func validBackup(name string) *arkivev1.KafkaBackup {
	return &arkivev1.KafkaBackup{ObjectMeta: meta(name), Spec: arkivev1.KafkaBackupSpec{
		Source: "kafka", Sink: "bucket", Streams: []arkivev1.BackupStream{{Topic: "orders.*"}},
	}}
}

func TestCRDsAcceptValidSpecsAndApplyDefaults(t *testing.T) {
	c := startAPIServer(t)
	ctx := context.Background()

	kb := validBackup("good")
	require.NoError(t, c.Create(ctx, kb))
	require.Equal(t, arkivev1.ModeContinuous, kb.Spec.Mode)
	require.Equal(t, arkivev1.CompressionCodec("zstd"), kb.Spec.Compression.Codec)
	require.Equal(t, int64(64<<20), *kb.Spec.MaxSegmentBytes)
	require.True(t, *kb.Spec.Enabled)
	require.True(t, *kb.Spec.Streams[0].Enabled)
	require.Equal(t, arkivev1.StartEarliest, kb.Spec.StartFrom)

	scheduled := validBackup("nightly")
	scheduled.Spec.Mode, scheduled.Spec.Schedule = arkivev1.ModeScheduled, "30 2 * * *"
	scheduled.Spec.Compression = &arkivev1.Compression{Codec: "gzip", Level: ptr.To[int32](9)}
	require.NoError(t, c.Create(ctx, scheduled))

	srb := &arkivev1.SchemaRegistryBackup{ObjectMeta: meta("schemas"), Spec: arkivev1.SchemaRegistryBackupSpec{Registry: "sr", Storage: "bucket"}}
	require.NoError(t, c.Create(ctx, srb))
	require.Equal(t, int64(3600), srb.Spec.BackupIntervalSecs)
	require.False(t, srb.Spec.Enabled, "a SchemaRegistryBackup starts Paused unless enabled, as in the seed")

	st := &arkivev1.Storage{ObjectMeta: meta("bucket"), Spec: arkivev1.StorageSpec{S3: &arkivev1.S3Storage{
		Bucket: "backups", Endpoint: "http://minio:9000", ForcePathStyle: true,
		CredentialsSecret: &arkivev1.S3Credentials{Name: "minio"},
	}}}
	require.NoError(t, c.Create(ctx, st))
	require.Equal(t, "AWS_ACCESS_KEY_ID", st.Spec.S3.CredentialsSecret.AccessKeyIDKey)
	require.NoError(t, c.Create(ctx, &arkivev1.Storage{ObjectMeta: meta("claim"), Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{
		Create: &arkivev1.VolumeClaimTemplate{Size: resource.MustParse("10Gi"), StorageClassName: ptr.To("fast")}}}}))

	kc := &arkivev1.KafkaCluster{ObjectMeta: meta("kafka"), Spec: arkivev1.KafkaClusterSpec{
		BootstrapServers: []string{"kafka-0.kafka:9092"}, SecurityProtocol: arkivev1.SecuritySASLSSL,
		SASL: &arkivev1.KafkaSASL{Mechanism: arkivev1.SASLScramSHA512, SecretName: "kafka-user"},
		TLS:  &arkivev1.TLSConfig{SecretName: "kafka-ca"},
	}}
	require.NoError(t, c.Create(ctx, kc))

	kr := &arkivev1.KafkaRestore{ObjectMeta: meta("restore"), Spec: arkivev1.KafkaRestoreSpec{
		Source: arkivev1.BackupSource{Storage: "bucket", Backup: "default/good"}, Target: "kafka",
		Window: &arkivev1.RestoreWindow{FromOffset: ptr.To[int64](10), ToOffset: ptr.To[int64](10)},
		// A pattern restores under the topics' own names; a name may be renamed beside it.
		Topics:         []arkivev1.TopicMapping{{Source: "orders-*"}, {Source: "payments", Target: "payments-restored"}},
		ConsumerGroups: []string{"billing", "etl-*"},
	}}
	require.NoError(t, c.Create(ctx, kr))
	require.Equal(t, arkivev1.PartitionSame, kr.Spec.PartitionMapping)
	require.True(t, *kr.Spec.CreateTopics)
}

// Bad specs are refused at admission with a message that names the field.
func TestCRDsRejectBadSpecsNamingTheField(t *testing.T) {
	c := startAPIServer(t)
	ctx := context.Background()
	t1, t2 := metav1.Unix(2000, 0), metav1.Unix(1000, 0)

	tests := map[string]struct {
		obj   client.Object
		field string // must appear in the error
		words string // and so must this part of the message
	}{
		"bad cron": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Mode, s.Schedule = arkivev1.ModeScheduled, "every day at noon"
		}), "spec.schedule", "cron expression"},
		"six-field cron": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Mode, s.Schedule = arkivev1.ModeScheduled, "0 0 1 * * *"
		}), "spec.schedule", "5 fields"},
		"schedule in continuous mode": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Schedule = "@daily"
		}), "spec.schedule", "not allowed when mode is Continuous"},
		"scheduled mode without schedule": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Mode = arkivev1.ModeScheduled
		}), "spec.schedule", "required when mode is Scheduled"},
		"zero segment size": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.MaxSegmentBytes = ptr.To[int64](0)
		}), "spec.maxSegmentBytes", "greater than or equal to 1024"},
		"negative segment interval": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.MaxSegmentInterval = &metav1.Duration{Duration: -1}
		}), "spec.maxSegmentInterval", "at least 1s"},
		"level for codec none": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Compression = &arkivev1.Compression{Codec: "none", Level: ptr.To[int32](3)}
		}), "spec.compression.level", "unset for none"},
		"gzip level 12": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Compression = &arkivev1.Compression{Codec: "gzip", Level: ptr.To[int32](12)}
		}), "spec.compression.level", "1-9 for lz4 and gzip"},
		"lz4 level 10": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Compression = &arkivev1.Compression{Codec: "lz4", Level: ptr.To[int32](10)}
		}), "spec.compression.level", "1-9 for lz4"},
		"unknown codec": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Compression = &arkivev1.Compression{Codec: "brotli"}
		}), "spec.compression.codec", "Unsupported value"},
		"bad stream topic": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Streams = []arkivev1.BackupStream{{Topic: "orders events"}}
		}), "spec.streams[0].topic", "should match"},
		"missing sink": {withBackup(func(s *arkivev1.KafkaBackupSpec) { s.Sink = "" }), "spec.sink", "at least 1 chars"},
		"zero keepLast": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Retention = &arkivev1.Retention{KeepLast: ptr.To[int32](0)}
		}), "spec.retention.keepLast", "greater than or equal to 1"},
		"keepLast on a continuous backup": {withBackup(func(s *arkivev1.KafkaBackupSpec) {
			s.Retention = &arkivev1.Retention{KeepLast: ptr.To[int32](3)}
		}), "spec.retention.keepLast", "use retention.maxAge"},
		"two storage backends": {&arkivev1.Storage{ObjectMeta: meta("two"), Spec: arkivev1.StorageSpec{
			S3: &arkivev1.S3Storage{Bucket: "abc"}, Volume: &arkivev1.VolumeStorage{Path: "/data"},
		}}, "spec", "exactly one of s3, gcs, azure and volume"},
		"no storage backend": {&arkivev1.Storage{ObjectMeta: meta("none")}, "spec", "exactly one of s3, gcs, azure and volume"},
		"azure key and sas": {&arkivev1.Storage{ObjectMeta: meta("az"), Spec: arkivev1.StorageSpec{Azure: &arkivev1.AzureStorage{
			AccountName: "acct", Container: "backups",
			AccountKeySecret: &arkivev1.SecretKeyRef{Name: "a", Key: "k"}, SASTokenSecret: &arkivev1.SecretKeyRef{Name: "a", Key: "s"},
		}}}, "spec.azure.sasTokenSecret", "at most one of accountKeySecret and sasTokenSecret"},
		"relative volume path": {&arkivev1.Storage{ObjectMeta: meta("vol"), Spec: arkivev1.StorageSpec{
			Volume: &arkivev1.VolumeStorage{Path: "data"},
		}}, "spec.volume.path", "should match"},
		"volume path and claim": {&arkivev1.Storage{ObjectMeta: meta("vol2"), Spec: arkivev1.StorageSpec{
			Volume: &arkivev1.VolumeStorage{Path: "/data", Claim: "backups"},
		}}, "spec.volume", "exactly one of path, claim and create"},
		"volume claim and create": {&arkivev1.Storage{ObjectMeta: meta("vol3"), Spec: arkivev1.StorageSpec{
			Volume: &arkivev1.VolumeStorage{Claim: "backups", Create: &arkivev1.VolumeClaimTemplate{Size: resource.MustParse("1Gi")}},
		}}, "spec.volume", "exactly one of path, claim and create"},
		"empty volume": {&arkivev1.Storage{ObjectMeta: meta("vol4"), Spec: arkivev1.StorageSpec{
			Volume: &arkivev1.VolumeStorage{},
		}}, "spec.volume", "exactly one of path, claim and create"},
		"bad claim name": {&arkivev1.Storage{ObjectMeta: meta("vol5"), Spec: arkivev1.StorageSpec{
			Volume: &arkivev1.VolumeStorage{Claim: "Backups_1"},
		}}, "spec.volume.claim", "should match"},
		"sasl protocol without sasl": {&arkivev1.KafkaCluster{ObjectMeta: meta("k1"), Spec: arkivev1.KafkaClusterSpec{
			BootstrapServers: []string{"kafka:9092"}, SecurityProtocol: arkivev1.SecuritySASLPlaintext,
		}}, "spec.sasl", "sasl must be set exactly when"},
		"bootstrap without port": {&arkivev1.KafkaCluster{ObjectMeta: meta("k2"), Spec: arkivev1.KafkaClusterSpec{
			BootstrapServers: []string{"kafka"},
		}}, "spec.bootstrapServers[0]", "should match"},
		"basic and bearer auth": {&arkivev1.SchemaRegistry{ObjectMeta: meta("sr"), Spec: arkivev1.SchemaRegistrySpec{
			URLs: []string{"http://sr:8081"}, BasicAuth: &arkivev1.BasicAuth{SecretName: "s"},
			BearerToken: &arkivev1.SecretKeyRef{Name: "t", Key: "token"},
		}}, "spec.bearerToken", "at most one of basicAuth and bearerToken"},
		"credentials in a registry URL": {&arkivev1.SchemaRegistry{ObjectMeta: meta("sr2"), Spec: arkivev1.SchemaRegistrySpec{
			URLs: []string{"https://svc:hunter2@sr:8081"},
		}}, "spec.urls", "must not carry credentials"},
		"zero backup interval": {&arkivev1.SchemaRegistryBackup{ObjectMeta: meta("srb"), Spec: arkivev1.SchemaRegistryBackupSpec{
			Registry: "sr", Storage: "st", BackupIntervalSecs: -5,
		}}, "spec.backupIntervalSecs", "greater than or equal to 1"},
		"reversed time window": {&arkivev1.KafkaRestore{ObjectMeta: meta("kr1"), Spec: arkivev1.KafkaRestoreSpec{
			Source: arkivev1.BackupSource{Storage: "st", Backup: "b"}, Target: "kafka",
			Window: &arkivev1.RestoreWindow{FromTime: &t1, ToTime: &t2},
		}}, "spec.window.fromTime", "must not be after toTime"},
		"negative offset window": {&arkivev1.KafkaRestore{ObjectMeta: meta("kr2"), Spec: arkivev1.KafkaRestoreSpec{
			Source: arkivev1.BackupSource{Storage: "st", Backup: "b"}, Target: "kafka",
			Window: &arkivev1.RestoreWindow{FromOffset: ptr.To[int64](-3)},
		}}, "spec.window.fromOffset", "greater than or equal to 0"},
		"unknown partition mapping": {&arkivev1.KafkaRestore{ObjectMeta: meta("kr3"), Spec: arkivev1.KafkaRestoreSpec{
			Source: arkivev1.BackupSource{Storage: "st", Backup: "b"}, Target: "kafka", PartitionMapping: "Random",
		}}, "spec.partitionMapping", "Unsupported value"},
		"renamed pattern": {&arkivev1.KafkaRestore{ObjectMeta: meta("kr4"), Spec: arkivev1.KafkaRestoreSpec{
			Source: arkivev1.BackupSource{Storage: "st", Backup: "b"}, Target: "kafka",
			Topics: []arkivev1.TopicMapping{{Source: "payments"}, {Source: "orders-*", Target: "restored-orders"}},
		}}, "spec.topics[1].target", "a pattern source restores each topic it matches under its own name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := c.Create(ctx, tc.obj)
			require.Error(t, err, "the API server accepted a bad spec")
			require.True(t, apierrors.IsInvalid(err), "want an Invalid error, got %v", err)
			require.ErrorContains(t, err, tc.field)
			require.ErrorContains(t, err, tc.words)
		})
	}
}

var backupSeq int

func withBackup(edit func(*arkivev1.KafkaBackupSpec)) *arkivev1.KafkaBackup {
	backupSeq++
	kb := validBackup("bad-" + string(rune('a'+backupSeq)))
	edit(&kb.Spec)
	return kb
}
