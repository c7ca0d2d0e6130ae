// Package v1alpha1 is the arkive.io/v1alpha1 API: the resources users apply with kubectl to
// declare what Arkive backs up and restores. Connection kinds (KafkaCluster, SchemaRegistry,
// Storage) are referenced by name from work kinds (KafkaBackup, KafkaRestore,
// SchemaRegistryBackup, SchemaRegistryRestore), each of which runs as one Temporal workflow.
//
// +kubebuilder:object:generate=true
// +groupName=arkive.io
package v1alpha1
