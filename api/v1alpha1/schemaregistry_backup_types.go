package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"arkive.io/arkive/api/status"
)

// SchemaRegistryBackupSpec declares a periodic snapshot of a Schema Registry.
type SchemaRegistryBackupSpec struct {
	// registry is the name of the SchemaRegistry to back up.
	// +kubebuilder:validation:MinLength=1
	Registry string `json:"registry"`
	// storage is the name of the Storage to write snapshots to.
	// +kubebuilder:validation:MinLength=1
	Storage string `json:"storage"`
	// enabled must be true for the backup to run; as in the Kannika seed it defaults to false
	// (phase Paused), so a new backup starts only when asked to.
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// backupIntervalSecs is the time between snapshots.
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=1
	// +optional
	BackupIntervalSecs int64 `json:"backupIntervalSecs,omitempty"`
	// retention bounds how many snapshots are kept.
	// +optional
	Retention *Retention `json:"retention,omitempty"`
}

// SchemaRegistryBackupPhase follows the Kannika SchemaRegistryBackup seed.
// +kubebuilder:validation:Enum=Paused;Initializing;Running;Error
type SchemaRegistryBackupPhase string

const (
	SchemaBackupPaused       SchemaRegistryBackupPhase = status.Paused
	SchemaBackupInitializing SchemaRegistryBackupPhase = status.Initializing
	SchemaBackupRunning      SchemaRegistryBackupPhase = status.Running
	SchemaBackupError        SchemaRegistryBackupPhase = status.Error
)

// SchemaRegistryBackupStatus is what the workflow reports.
type SchemaRegistryBackupStatus struct {
	WorkStatus `json:",inline"`
	// phase is Paused, Initializing, Running or Error.
	// +optional
	Phase SchemaRegistryBackupPhase `json:"phase,omitempty"`
	// lastBackupTime is when the registry was last checked and its snapshot stored or found unchanged.
	// +optional
	LastBackupTime *metav1.Time `json:"lastBackupTime,omitempty"`
	// lastSnapshot is the id of the newest stored snapshot.
	// +optional
	LastSnapshot string `json:"lastSnapshot,omitempty"`
	// snapshots is how many snapshots are kept.
	// +optional
	Snapshots int32 `json:"snapshots,omitempty"`
}

// SchemaRegistryBackup snapshots a Schema Registry to a Storage at an interval.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=srb,categories=arkive
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Last Backup",type=date,JSONPath=`.status.lastBackupTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SchemaRegistryBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SchemaRegistryBackupSpec   `json:"spec"`
	Status SchemaRegistryBackupStatus `json:"status,omitempty"`
}

// SchemaRegistryBackupList is a list of SchemaRegistryBackup.
// +kubebuilder:object:root=true
type SchemaRegistryBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SchemaRegistryBackup `json:"items"`
}

func init() { register(&SchemaRegistryBackup{}, &SchemaRegistryBackupList{}) }
