// Package v1alpha1 is the arkive.io/v1alpha1 API: the resources users apply with kubectl to
// declare what Arkive backs up and restores. Connection kinds (KafkaCluster, SchemaRegistry,
// Storage) are referenced by name from work kinds (KafkaBackup, KafkaRestore,
// SchemaRegistryBackup, SchemaRegistryRestore), each of which runs as one Temporal workflow.
//
// +kubebuilder:object:generate=true
// +groupName=arkive.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of every Arkive resource.
	GroupVersion = schema.GroupVersion{Group: "arkive.io", Version: "v1alpha1"}

	// SchemeBuilder registers the Arkive types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Arkive types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
