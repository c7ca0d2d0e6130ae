package specs_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/kafkarestore"
)

// spec.schemaRegistry: parts default to Value, unknown ids to Fail; the names given must be
// the objects passed, and a value admission would refuse names its field.
func TestKafkaRestoreSchemasDefaultsAndErrors(t *testing.T) {
	sr := &arkivev1.SchemaRegistry{ObjectMeta: metav1.ObjectMeta{Name: "dr-registry"}, Spec: arkivev1.SchemaRegistrySpec{URLs: []string{"http://sr:8081"}}}
	st := &arkivev1.Storage{ObjectMeta: metav1.ObjectMeta{Name: "s3"}}
	kr := &arkivev1.KafkaRestore{ObjectMeta: metav1.ObjectMeta{Namespace: "kafka", Name: "r"}}

	got, err := specs.KafkaRestoreSchemas(kr, sr, st)
	require.NoError(t, err)
	require.Nil(t, got, "no spec.schemaRegistry: no remapping")

	kr.Spec.SchemaRegistry = &arkivev1.RestoreSchemaIDs{Source: arkivev1.SchemaSnapshotSource{Storage: "s3", Backup: "kafka/registry"}, Target: "dr-registry"}
	got, err = specs.KafkaRestoreSchemas(kr, sr, st)
	require.NoError(t, err)
	require.True(t, got.Values)
	require.False(t, got.Keys, "keys only when named")
	require.False(t, got.KeepUnknown)
	require.Equal(t, "kafka/registry", got.Backup)
	require.Equal(t, "kafka", got.Namespace)

	kr.Spec.SchemaRegistry.Parts = []arkivev1.RecordPart{arkivev1.RecordKey, arkivev1.RecordValue}
	kr.Spec.SchemaRegistry.UnknownSchemaIDs = arkivev1.UnknownSchemaIDsKeep
	got, err = specs.KafkaRestoreSchemas(kr, sr, st)
	require.NoError(t, err)
	require.True(t, got.Keys && got.Values && got.KeepUnknown)

	for field, mutate := range map[string]func(*arkivev1.RestoreSchemaIDs){
		"spec.schemaRegistry.parts[0]":         func(s *arkivev1.RestoreSchemaIDs) { s.Parts = []arkivev1.RecordPart{"Headers"} },
		"spec.schemaRegistry.unknownSchemaIds": func(s *arkivev1.RestoreSchemaIDs) { s.UnknownSchemaIDs = "Drop" },
		"spec.schemaRegistry.source.backup":    func(s *arkivev1.RestoreSchemaIDs) { s.Source.Backup = "" },
		"spec.schemaRegistry.target":           func(s *arkivev1.RestoreSchemaIDs) { s.Target = "other" },
	} {
		s := arkivev1.RestoreSchemaIDs{Source: arkivev1.SchemaSnapshotSource{Storage: "s3", Backup: "kafka/registry"}, Target: "dr-registry"}
		mutate(&s)
		kr.Spec.SchemaRegistry = &s
		_, err := specs.KafkaRestoreSchemas(kr, sr, st)
		require.ErrorContains(t, err, field+":")
	}
}

// spec.topics: a pattern source goes to the plan as it is and takes no target; a malformed
// pattern names its field.
func TestKafkaRestoreTopicPatterns(t *testing.T) {
	kc := &arkivev1.KafkaCluster{ObjectMeta: metav1.ObjectMeta{Name: "dr"}, Spec: arkivev1.KafkaClusterSpec{BootstrapServers: []string{"kafka:9092"}}}
	st := &arkivev1.Storage{ObjectMeta: metav1.ObjectMeta{Name: "s3"}}
	restore := func(topics ...arkivev1.TopicMapping) *arkivev1.KafkaRestore {
		return &arkivev1.KafkaRestore{ObjectMeta: metav1.ObjectMeta{Namespace: "kafka", Name: "r"},
			Spec: arkivev1.KafkaRestoreSpec{Source: arkivev1.BackupSource{Storage: "s3", Backup: "b"}, Target: "dr", Topics: topics}}
	}
	in, err := specs.KafkaRestoreInput(restore(arkivev1.TopicMapping{Source: "orders-*"}, arkivev1.TopicMapping{Source: "orders-eu", Target: "orders-eu-old"}), kc, st)
	require.NoError(t, err)
	require.Equal(t, []kafkarestore.TopicMapping{{Source: "orders-*"}, {Source: "orders-eu", Target: "orders-eu-old"}}, in.Spec.Topics)
	require.True(t, in.Spec.Topics[0].IsPattern())
	require.False(t, in.Spec.Topics[1].IsPattern())

	_, err = specs.KafkaRestoreInput(restore(arkivev1.TopicMapping{Source: "a"}, arkivev1.TopicMapping{Source: "orders-*", Target: "restored"}), kc, st)
	require.ErrorContains(t, err, "spec.topics[1].target: source \"orders-*\" is a pattern")
	_, err = specs.KafkaRestoreInput(restore(arkivev1.TopicMapping{Source: "orders-[eu"}), kc, st)
	require.ErrorContains(t, err, "spec.topics[0].source: pattern \"orders-[eu\"")
}
