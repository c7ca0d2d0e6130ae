package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"arkive.io/arkive/api/status"
)

// ResourceType selects objects of one kind: every object of the kind, or only the named ones.
type ResourceType struct {
	// group is the API group ("" for the core group: Secret, ConfigMap, Service...).
	// +optional
	Group string `json:"group,omitempty"`
	// kind, as in YAML ("Secret", "Kafka").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	Kind string `json:"kind"`
	// names of the objects to select; empty selects every object of the kind.
	// +optional
	Names []string `json:"names,omitempty"`
}

// ResourceSelection says which objects a backup takes, or a restore brings back.
type ResourceSelection struct {
	// namespaces to take objects from; with namespaceSelector, objects of both are taken.
	// Empty (and no namespaceSelector) means the resource's own namespace for a backup, and
	// every namespace in the snapshot for a restore.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// namespaceSelector selects namespaces by their labels.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// resources are the kinds (and names) to take. A backup must name at least one; for a
	// restore, empty means every object of the snapshot.
	// +optional
	Resources []ResourceType `json:"resources,omitempty"`
	// labelSelectors select objects by their labels: an object is taken when it matches any
	// one selector (each selector's terms must all hold). Empty: labels do not matter.
	// +optional
	LabelSelectors []metav1.LabelSelector `json:"labelSelectors,omitempty"`
	// exclude leaves out objects that are otherwise selected.
	// +optional
	Exclude []ResourceType `json:"exclude,omitempty"`
}

// ResourceBackupSpec declares snapshots of Kubernetes objects: Secrets, ConfigMaps, custom
// resources (with their CRDs) and any other kind.
// +kubebuilder:validation:XValidation:rule="has(self.resources) && size(self.resources) > 0",message="name at least one kind in resources",fieldPath=".resources"
type ResourceBackupSpec struct {
	ResourceSelection `json:",inline"`
	// storage is the name of the Storage to write snapshots to. A backup that selects Secrets
	// needs a Storage with encryption (or allowUnencryptedSecrets).
	// +kubebuilder:validation:MinLength=1
	Storage string `json:"storage"`
	// schedule is a cron expression (5 fields, or @daily / @every 6h...). Without one the
	// backup takes one snapshot when created, and another on each trigger signal.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^((CRON_)?TZ=[^ ]+ +)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every +([0-9]+(ns|us|ms|s|m|h))+|[0-9A-Za-z*/,?-]+( +[0-9A-Za-z*/,?-]+){4})$')",message="schedule must be a cron expression with 5 fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily or @every 1h"
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// enabled: false pauses the backup (no snapshot is taken).
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// retention bounds how many snapshots are kept.
	// +optional
	Retention *Retention `json:"retention,omitempty"`
	// includeClusterScoped must be true to select cluster-scoped kinds (ClusterRole,
	// StorageClass...). The CRDs of selected custom resources are always taken.
	// +optional
	IncludeClusterScoped bool `json:"includeClusterScoped,omitempty"`
	// allowUnencryptedSecrets lets a backup store Secrets in a Storage without encryption.
	// Every run then reports a warning.
	// +optional
	AllowUnencryptedSecrets bool `json:"allowUnencryptedSecrets,omitempty"`
	// volumes are PersistentVolumeClaims whose files each snapshot copies too: a short-lived
	// mover Pod per claim mounts it read-only and stores its files as deduplicated chunks.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Volumes []VolumeSelection `json:"volumes,omitempty"`
}

// VolumeSelection selects PersistentVolumeClaims of one namespace and the files to take.
// +kubebuilder:validation:XValidation:rule="(has(self.claims) && size(self.claims) > 0) || has(self.selector)",message="name claims or give a selector"
type VolumeSelection struct {
	// namespace of the claims (default: the ResourceBackup's).
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// claims are PersistentVolumeClaim names.
	// +optional
	Claims []string `json:"claims,omitempty"`
	// selector selects claims by their labels.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// include and exclude are path globs relative to the volume's root, written from "/"
	// ("/data/**"); a path is taken when it or a parent matches an include (all without
	// includes) and neither it nor a parent matches an exclude.
	// +optional
	Include []string `json:"include,omitempty"`
	// exclude leaves out paths an include (or the whole volume) would take.
	// +optional
	Exclude []string `json:"exclude,omitempty"`
	// runAsUser runs the mover as this user (the files' owner), under the restricted Pod
	// Security profile. By default it runs as user 65532 and reads what that user may read.
	// +kubebuilder:validation:Minimum=0
	// +optional
	RunAsUser *int64 `json:"runAsUser,omitempty"`
	// fsGroup gives the mover this supplementary group (the volume's group), still restricted.
	// +kubebuilder:validation:Minimum=0
	// +optional
	FSGroup *int64 `json:"fsGroup,omitempty"`
	// readAllFiles runs the mover as root with only the capability DAC_OVERRIDE (on a read-only
	// mount): every file is read whatever its owner. Needs the baseline Pod Security profile,
	// which allows DAC_OVERRIDE but not DAC_READ_SEARCH; never privileged.
	// +optional
	ReadAllFiles bool `json:"readAllFiles,omitempty"`
}

// ResourceBackupPhase is the state of a ResourceBackup, as SchemaRegistryBackup's.
// +kubebuilder:validation:Enum=Paused;Initializing;Running;Error
type ResourceBackupPhase string

const (
	ResourceBackupPaused       ResourceBackupPhase = status.Paused
	ResourceBackupInitializing ResourceBackupPhase = status.Initializing
	ResourceBackupRunning      ResourceBackupPhase = status.Running
	ResourceBackupError        ResourceBackupPhase = status.Error
)

// ResourceBackupStatus is what the workflow reports.
type ResourceBackupStatus struct {
	WorkStatus `json:",inline"`
	// phase is Paused, Initializing, Running or Error.
	// +optional
	Phase ResourceBackupPhase `json:"phase,omitempty"`
	// lastBackupTime is when the newest snapshot was taken.
	// +optional
	LastBackupTime *metav1.Time `json:"lastBackupTime,omitempty"`
	// lastSnapshot is the id of the newest snapshot.
	// +optional
	LastSnapshot string `json:"lastSnapshot,omitempty"`
	// lastCompletionTime is when the newest snapshot was complete, its volumes and objects
	// stored (lastBackupTime is when it started).
	// +optional
	LastCompletionTime *metav1.Time `json:"lastCompletionTime,omitempty"`
	// storageClaim names the PersistentVolumeClaim that keeps the backups, when the Storage is
	// kept in one (volume.claim or volume.create).
	// +optional
	StorageClaim string `json:"storageClaim,omitempty"`
	// objects is how many objects the newest snapshot holds.
	// +optional
	Objects int32 `json:"objects,omitempty"`
	// volumes is how many volumes the newest snapshot copied.
	// +optional
	Volumes int32 `json:"volumes,omitempty"`
	// volumeBytes is the data of the files the newest snapshot copied from its volumes.
	// +optional
	VolumeBytes int64 `json:"volumeBytes,omitempty"`
	// snapshots is how many snapshots are kept.
	// +optional
	Snapshots int32 `json:"snapshots,omitempty"`
	// nextBackupTime is when the schedule takes the next snapshot.
	// +optional
	NextBackupTime *metav1.Time `json:"nextBackupTime,omitempty"`
	// warning is set while the backup stores Secrets without encryption.
	// +optional
	Warning string `json:"warning,omitempty"`
}

// ResourceBackup snapshots Kubernetes objects to a Storage, once or on a schedule.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rb,categories=arkive
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Objects",type=integer,JSONPath=`.status.objects`
// +kubebuilder:printcolumn:name="Last Backup",type=date,JSONPath=`.status.lastBackupTime`
// +kubebuilder:printcolumn:name="Next Run",type=date,JSONPath=`.status.nextBackupTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ResourceBackupSpec   `json:"spec"`
	Status ResourceBackupStatus `json:"status,omitempty"`
}

// ResourceBackupList is a list of ResourceBackup.
// +kubebuilder:object:root=true
type ResourceBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceBackup `json:"items"`
}

// ConflictPolicy says what a restore does with an object that exists with other content.
// +kubebuilder:validation:Enum=Skip;Update;Recreate;Fail
type ConflictPolicy string

const (
	// ConflictSkip leaves the existing object as it is.
	ConflictSkip ConflictPolicy = "Skip"
	// ConflictUpdate applies the stored object over it (server-side apply, forced).
	ConflictUpdate ConflictPolicy = "Update"
	// ConflictRecreate deletes it and creates the stored object.
	ConflictRecreate ConflictPolicy = "Recreate"
	// ConflictFail fails the restore in preflight, before anything is written.
	ConflictFail ConflictPolicy = "Fail"
)

// NamespaceMapping restores the objects of one namespace into another.
type NamespaceMapping struct {
	// from is the namespace in the snapshot.
	// +kubebuilder:validation:MinLength=1
	From string `json:"from"`
	// to is the namespace to restore into.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	To string `json:"to"`
}

// ResourceKind names a kind by group and kind.
type ResourceKind struct {
	// group is the API group ("" for the core group).
	// +optional
	Group string `json:"group,omitempty"`
	// kind, as in YAML.
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
}

// ResourceRestoreSpec declares which objects of a snapshot to restore, and how.
type ResourceRestoreSpec struct {
	// source is the snapshot to restore.
	Source SchemaSnapshotSource `json:"source"`
	// selection filters the snapshot's objects (empty: all of them). Namespaces are those in
	// the snapshot, before mapping.
	// +optional
	Selection ResourceSelection `json:"selection,omitempty"`
	// namespaceMapping restores a namespace's objects into another one. Namespace fields
	// Kubernetes keeps inside objects (RoleBinding subjects) are mapped too.
	// +listType=map
	// +listMapKey=from
	// +optional
	NamespaceMapping []NamespaceMapping `json:"namespaceMapping,omitempty"`
	// conflictPolicy is what to do with an object that exists with other content: Skip
	// (default), Update, Recreate or Fail. An object that exists with the stored content is
	// left alone whatever the policy.
	// +kubebuilder:default=Skip
	// +optional
	ConflictPolicy ConflictPolicy `json:"conflictPolicy,omitempty"`
	// dryRun plans and shows what would change in the status, and writes nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// restoreStatus lists kinds whose stored status is written back too (status is dropped
	// otherwise: the kind's controller sets it).
	// +optional
	RestoreStatus []ResourceKind `json:"restoreStatus,omitempty"`
	// parallelism is how many objects of one ordering step are written at once.
	// +kubebuilder:default=16
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	// +optional
	Parallelism int32 `json:"parallelism,omitempty"`
	// volumes restores the files of the snapshot's volumes, after its objects (so a claim the
	// restore creates exists first), each through a mover Pod that mounts the target claim.
	// Absent: no files are restored.
	// +optional
	Volumes *VolumeRestore `json:"volumes,omitempty"`
}

// VolumeRestore says which volumes of a snapshot to restore, and where. A file of the
// snapshot replaces the file of the same path; one with the snapshot's size, mtime and mode is
// left as it is; files the snapshot does not have are left alone.
type VolumeRestore struct {
	// claims are the snapshot's claims to restore, as "namespace/name" (empty: all).
	// +optional
	Claims []string `json:"claims,omitempty"`
	// claimMapping restores a claim's files into another claim ("namespace/name" both);
	// claims not mapped keep their name in the namespace spec.namespaceMapping gives.
	// +listType=map
	// +listMapKey=from
	// +optional
	ClaimMapping []ClaimMapping `json:"claimMapping,omitempty"`
	// createMissing creates a target claim that does not exist, with the captured size,
	// access modes and storage class; false fails the restore naming the claim.
	// +kubebuilder:default=true
	// +optional
	CreateMissing *bool `json:"createMissing,omitempty"`
	// overwrite says what happens to a file, symlink or hard link the target claim has where
	// the snapshot has one: Changed (default) replaces it unless its size, mtime and mode are
	// the snapshot's; Never leaves it as it is and writes only what is missing (directories
	// get the snapshot's owner, mode and mtime either way). Files the snapshot does not have
	// are never touched.
	// +kubebuilder:validation:Enum=Changed;Never
	// +kubebuilder:default=Changed
	// +optional
	Overwrite VolumeOverwrite `json:"overwrite,omitempty"`
	// runAsUser runs the mover as this user, under the restricted Pod Security profile.
	// +kubebuilder:validation:Minimum=0
	// +optional
	RunAsUser *int64 `json:"runAsUser,omitempty"`
	// fsGroup gives the mover this supplementary group, still restricted.
	// +kubebuilder:validation:Minimum=0
	// +optional
	FSGroup *int64 `json:"fsGroup,omitempty"`
	// readAllFiles runs the mover as root with the capabilities DAC_OVERRIDE, CHOWN and
	// FOWNER, so files get their stored owners back. Needs the baseline Pod Security profile;
	// never privileged. Without it files belong to the mover's user.
	// +optional
	ReadAllFiles bool `json:"readAllFiles,omitempty"`
}

// VolumeOverwrite is a volume restore's overwrite policy.
type VolumeOverwrite string

// Volume restore overwrite policies.
const (
	OverwriteChanged VolumeOverwrite = "Changed"
	OverwriteNever   VolumeOverwrite = "Never"
)

// ClaimMapping maps one claim onto another.
type ClaimMapping struct {
	// from is the snapshot's claim, "namespace/name".
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	From string `json:"from"`
	// to is the target claim, "namespace/name".
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	To string `json:"to"`
}

// VolumeRestoreResult is what a restore did with one volume.
type VolumeRestoreResult struct {
	// volume is the snapshot's claim, target the claim written into ("namespace/name").
	Volume string `json:"volume"`
	Target string `json:"target"`
	// created says the restore created the target claim.
	// +optional
	Created bool `json:"created,omitempty"`
	// files and bytes the volume snapshot holds; skipped files were in place already.
	Files int32 `json:"files"`
	Bytes int64 `json:"bytes"`
	// +optional
	Skipped int32 `json:"skipped,omitempty"`
	// kept counts entries the target had and overwrite Never left as they were.
	// +optional
	Kept int32 `json:"kept,omitempty"`
}

// ObjectResult is what a restore did with one object.
type ObjectResult struct {
	// object is "Kind namespace/name" (as restored, after namespace mapping).
	Object string `json:"object"`
	// result is Created, Updated, Recreated, Unchanged, Skipped or Failed.
	Result string `json:"result"`
	// reason says why an object was skipped or failed.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// RestoreCounts counts objects by what a restore did with them.
type RestoreCounts struct {
	Total     int32 `json:"total"`
	Created   int32 `json:"created,omitempty"`
	Updated   int32 `json:"updated,omitempty"`
	Unchanged int32 `json:"unchanged,omitempty"`
	Skipped   int32 `json:"skipped,omitempty"`
	Failed    int32 `json:"failed,omitempty"`
}

// ResourceRestoreStatus is what the workflow reports.
type ResourceRestoreStatus struct {
	WorkStatus `json:",inline"`
	// phase is Draft, Ready, Restoring, Done or Failed.
	// +optional
	Phase RestorePhase `json:"phase,omitempty"`
	// snapshot is the id of the snapshot restored.
	// +optional
	Snapshot string `json:"snapshot,omitempty"`
	// counts of objects by result.
	// +optional
	Counts RestoreCounts `json:"counts,omitempty"`
	// objects lists per-object results: failed and skipped ones first, at most 100.
	// +optional
	Objects []ObjectResult `json:"objects,omitempty"`
	// diff is what a dry run would change, per object (field paths only, never values).
	// +optional
	Diff []string `json:"diff,omitempty"`
	// volumes lists the volumes restored (for a dry run: those that would be, and where).
	// +optional
	Volumes []VolumeRestoreResult `json:"volumes,omitempty"`
	// startTime of the restore.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// completionTime of the restore.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// ResourceRestore restores Kubernetes objects from a ResourceBackup snapshot.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rr,categories=arkive
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Objects",type=integer,JSONPath=`.status.counts.total`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ResourceRestoreSpec   `json:"spec"`
	Status ResourceRestoreStatus `json:"status,omitempty"`
}

// ResourceRestoreList is a list of ResourceRestore.
// +kubebuilder:object:root=true
type ResourceRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceRestore `json:"items"`
}

// Results of one object in a restore (ObjectResult.result).
const (
	ResultCreated   = "Created"
	ResultUpdated   = "Updated"
	ResultRecreated = "Recreated"
	ResultUnchanged = "Unchanged"
	ResultSkipped   = "Skipped"
	ResultFailed    = "Failed"
)

func init() {
	register(&ResourceBackup{}, &ResourceBackupList{})
	register(&ResourceRestore{}, &ResourceRestoreList{})
}
