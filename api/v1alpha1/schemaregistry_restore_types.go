package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SchemaSnapshotSource names a snapshot of a SchemaRegistryBackup in a Storage.
type SchemaSnapshotSource struct {
	// storage is the name of the Storage holding the snapshots.
	// +kubebuilder:validation:MinLength=1
	Storage string `json:"storage"`
	// backup is the backup's name in the storage (the SchemaRegistryBackup's namespace/name by default).
	// +kubebuilder:validation:MinLength=1
	Backup string `json:"backup"`
	// snapshot id; empty means the newest.
	// +optional
	Snapshot string `json:"snapshot,omitempty"`
}

// SubjectFilter selects subjects; empty selects every subject.
type SubjectFilter struct {
	// names of subjects.
	// +optional
	Names []string `json:"names,omitempty"`
	// prefixes of subject names.
	// +optional
	Prefixes []string `json:"prefixes,omitempty"`
}

// SubjectRename restores a subject under another name.
type SubjectRename struct {
	// from is the subject name in the snapshot.
	// +kubebuilder:validation:MinLength=1
	From string `json:"from"`
	// to is the subject name in the target registry.
	// +kubebuilder:validation:MinLength=1
	To string `json:"to"`
}

// SchemaRegistryRestoreSpec declares what to restore and where. Schemas keep their ids and
// versions (the registry is put in IMPORT mode while restoring), their metadata and rule sets;
// subjects keep their config and mode. A restore of the whole snapshot (no subjects, no
// renames) also restores the global config and the global mode, which it sets last.
type SchemaRegistryRestoreSpec struct {
	// source is the snapshot to restore.
	Source SchemaSnapshotSource `json:"source"`
	// target is the name of the SchemaRegistry to restore into.
	// +kubebuilder:validation:MinLength=1
	Target string `json:"target"`
	// subjects to restore; empty means all.
	// +optional
	Subjects *SubjectFilter `json:"subjects,omitempty"`
	// renames restore subjects under other names.
	// +listType=map
	// +listMapKey=from
	// +optional
	Renames []SubjectRename `json:"renames,omitempty"`
	// dryRun stops after preflight and shows the difference in the status.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// SchemaRegistryRestoreStatus is what the workflow reports.
type SchemaRegistryRestoreStatus struct {
	WorkStatus `json:",inline"`
	// phase is Draft, Ready, Restoring, Done or Failed.
	// +optional
	Phase RestorePhase `json:"phase,omitempty"`
	// subjectsRestored counts subjects written.
	// +optional
	SubjectsRestored int32 `json:"subjectsRestored,omitempty"`
	// versionsRestored counts schema versions written.
	// +optional
	VersionsRestored int32 `json:"versionsRestored,omitempty"`
	// diff summarises what a dry run would change.
	// +optional
	Diff []string `json:"diff,omitempty"`
	// startTime of the restore.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// completionTime of the restore.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// SchemaRegistryRestore restores subjects, versions and schema ids into a Schema Registry.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=srr,categories=arkive
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Subjects",type=integer,JSONPath=`.status.subjectsRestored`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SchemaRegistryRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SchemaRegistryRestoreSpec   `json:"spec"`
	Status SchemaRegistryRestoreStatus `json:"status,omitempty"`
}

// SchemaRegistryRestoreList is a list of SchemaRegistryRestore.
// +kubebuilder:object:root=true
type SchemaRegistryRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SchemaRegistryRestore `json:"items"`
}

func init() { register(&SchemaRegistryRestore{}, &SchemaRegistryRestoreList{}) }
