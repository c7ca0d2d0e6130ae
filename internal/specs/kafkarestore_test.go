package specs_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
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
