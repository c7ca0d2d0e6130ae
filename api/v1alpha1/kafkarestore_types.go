package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"arkive.io/arkive/api/status"
)

// BackupSource names a backup in a Storage.
type BackupSource struct {
	// storage is the name of the Storage holding the backup.
	// +kubebuilder:validation:MinLength=1
	Storage string `json:"storage"`
	// backup is the backup's name in the storage (the KafkaBackup's namespace/name by default).
	// +kubebuilder:validation:MinLength=1
	Backup string `json:"backup"`
	// runID selects one run of a scheduled backup; empty means everything backed up.
	// +optional
	RunID string `json:"runID,omitempty"`
}

// TopicMapping restores one source topic, optionally under another name, or every topic a
// pattern matches under its own name.
// +kubebuilder:validation:XValidation:rule="!has(self.target) || !(self.source.contains('*') || self.source.contains('?') || self.source.contains('['))",message="a pattern source restores each topic it matches under its own name; name the topics one by one to rename them",fieldPath=".target"
type TopicMapping struct {
	// source topic name in the backup, or a pattern (`*`, `?`, `[...]`, as in a KafkaBackup's
	// topics) restoring every topic of the backup it matches that no other entry names.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=249
	Source string `json:"source"`
	// target topic name; empty means the same name. Not with a pattern source.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]{1,249}$`
	// +optional
	Target string `json:"target,omitempty"`
}

// PartitionMapping says which target partition a record goes to.
// +kubebuilder:validation:Enum=Same;KeyHash;RoundRobin
type PartitionMapping string

const (
	// PartitionSame keeps each record's partition number.
	PartitionSame PartitionMapping = "Same"
	// PartitionKeyHash places keyed records as the Java producer's default partitioner would
	// (murmur2 of the key modulo the target's partition count).
	PartitionKeyHash PartitionMapping = "KeyHash"
	// PartitionRoundRobin spreads records over the target's partitions in turn.
	PartitionRoundRobin PartitionMapping = "RoundRobin"
)

// RestoreWindow restricts a restore to records within time and/or offset bounds (inclusive).
// +kubebuilder:validation:XValidation:rule="!has(self.fromTime) || !has(self.toTime) || self.fromTime <= self.toTime",message="fromTime must not be after toTime",fieldPath=".fromTime"
// +kubebuilder:validation:XValidation:rule="!has(self.fromOffset) || !has(self.toOffset) || self.fromOffset <= self.toOffset",message="fromOffset must not be greater than toOffset",fieldPath=".fromOffset"
type RestoreWindow struct {
	// fromTime: records with a timestamp before this are skipped.
	// +optional
	FromTime *metav1.Time `json:"fromTime,omitempty"`
	// toTime: records with a timestamp after this are skipped (point-in-time restore).
	// +optional
	ToTime *metav1.Time `json:"toTime,omitempty"`
	// fromOffset: records below this source offset are skipped, on every partition.
	// +kubebuilder:validation:Minimum=0
	// +optional
	FromOffset *int64 `json:"fromOffset,omitempty"`
	// toOffset: records above this source offset are skipped, on every partition.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ToOffset *int64 `json:"toOffset,omitempty"`
}

// KafkaRestoreSpec declares what to restore and where.
type KafkaRestoreSpec struct {
	// source is the backup to restore from.
	Source BackupSource `json:"source"`
	// target is the name of the KafkaCluster to restore into.
	// +kubebuilder:validation:MinLength=1
	Target string `json:"target"`
	// topics to restore, with optional renames; empty means every topic in the backup. At most
	// 10,000 entries: a pattern selects many topics in one.
	// +kubebuilder:validation:MaxItems=10000
	// +listType=map
	// +listMapKey=source
	// +optional
	Topics []TopicMapping `json:"topics,omitempty"`
	// partitionMapping is Same (default), KeyHash or RoundRobin. KeyHash picks a keyed
	// record's partition as the Java client's default partitioner does, from the key as
	// restored (with schemaRegistry remapping keys, its schema id is the target's); records
	// without a key go round robin.
	// +kubebuilder:default=Same
	// +optional
	PartitionMapping PartitionMapping `json:"partitionMapping,omitempty"`
	// window restricts the records restored.
	// +optional
	Window *RestoreWindow `json:"window,omitempty"`
	// createTopics creates missing target topics with the captured partition count and configs.
	// +kubebuilder:default=true
	// +optional
	CreateTopics *bool `json:"createTopics,omitempty"`
	// originHeaders adds headers carrying each record's original topic, partition, offset and timestamp.
	// +optional
	OriginHeaders bool `json:"originHeaders,omitempty"`
	// consumerGroups whose captured offsets are translated and restored: names, or patterns
	// (`*`, `?`, `[...]`, as in a KafkaBackup's consumerGroups) selecting every group of the
	// backup they match. A group the backup holds under the exact text is taken by its name.
	// +optional
	ConsumerGroups []string `json:"consumerGroups,omitempty"`
	// allowNonEmpty permits restoring into target partitions that already hold records.
	// +optional
	AllowNonEmpty bool `json:"allowNonEmpty,omitempty"`
	// dryRun stops after planning and shows the plan in the status.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// rateLimit caps throughput.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// maxInFlightBytes caps, per stream, the memory held by records read from the backup and
	// not yet acknowledged by the target, a record counting twice its size (the block it is
	// read into and the producer's request) (default 8 MiB), so a restore's memory does not
	// grow with the data; the worker's --restore-memory-mib caps all its streams together.
	// +kubebuilder:validation:Minimum=1048576
	// +optional
	MaxInFlightBytes *int64 `json:"maxInFlightBytes,omitempty"`
	// onDamage says what a restore does when a segment of the backup cannot be read (damaged,
	// truncated or missing): Fail (default) stops with the object and the first offset not
	// restored; SkipBlock skips the unreadable records (the rest of that segment: its
	// compressed stream cannot be resumed past the damage), goes on, and lists every skipped
	// range in status.skipped and in an event.
	// +kubebuilder:default=Fail
	// +optional
	OnDamage OnDamage `json:"onDamage,omitempty"`
	// schemaRegistry restores records that carry Confluent Schema Registry ids into a cluster
	// whose registry has other ids: the snapshot's schemas are registered in the target
	// registry, and the id in every record in the wire format (magic byte 0, then a 4-byte id)
	// is rewritten to the target's. Records not in the wire format are written unchanged.
	// +optional
	SchemaRegistry *RestoreSchemaIDs `json:"schemaRegistry,omitempty"`
}

// RestoreSchemaIDs says which snapshot the records' schema ids come from and which registry
// gives them their new ids.
type RestoreSchemaIDs struct {
	// source is the SchemaRegistryBackup snapshot that holds the schemas the records name
	// (schemas of its default context: the ids records carry).
	Source SchemaSnapshotSource `json:"source"`
	// target is the name of the SchemaRegistry the restored records are read with. Every
	// schema version of the snapshot is registered there under its subject (its
	// compatibility rules apply), in dependency order; a schema it already holds keeps its id.
	// +kubebuilder:validation:MinLength=1
	Target string `json:"target"`
	// parts of a record that carry a schema id: Value (the default), Key, or both. Keys are
	// left alone unless named: a binary key such as a big-endian number often starts with a
	// zero byte and would be read as an id.
	// +kubebuilder:default={Value}
	// +kubebuilder:validation:MinItems=1
	// +listType=set
	// +optional
	Parts []RecordPart `json:"parts,omitempty"`
	// unknownSchemaIds: Fail (the default) stops the restore at the first record whose id the
	// snapshot does not hold, naming its topic, partition, offset and id; Keep writes such
	// records unchanged.
	// +kubebuilder:default=Fail
	// +optional
	UnknownSchemaIDs UnknownSchemaIDs `json:"unknownSchemaIds,omitempty"`
}

// RecordPart is the key or the value of a record.
// +kubebuilder:validation:Enum=Key;Value
type RecordPart string

const (
	RecordKey   RecordPart = "Key"
	RecordValue RecordPart = "Value"
)

// UnknownSchemaIDs is what a restore does with a record whose schema id the snapshot lacks.
// +kubebuilder:validation:Enum=Fail;Keep
type UnknownSchemaIDs string

const (
	UnknownSchemaIDsFail UnknownSchemaIDs = "Fail"
	UnknownSchemaIDsKeep UnknownSchemaIDs = "Keep"
)

// SchemaIDsStatus sums up a restore's schema id map.
type SchemaIDsStatus struct {
	// snapshot the ids come from.
	Snapshot string `json:"snapshot"`
	// ids the map holds (one per schema of the snapshot's default context).
	IDs int32 `json:"ids"`
	// versions of the snapshot registered in the target registry (or found there already); 0
	// in a dry run, which registers nothing.
	Versions int32 `json:"versions"`
}

// OnDamage is what a restore does with a backup segment it cannot read.
// +kubebuilder:validation:Enum=Fail;SkipBlock
type OnDamage string

const (
	OnDamageFail      OnDamage = "Fail"
	OnDamageSkipBlock OnDamage = "SkipBlock"
)

// RestorePhase is the state of a restore.
// +kubebuilder:validation:Enum=Draft;Ready;Restoring;Done;Failed
type RestorePhase string

const (
	RestoreDraft     RestorePhase = status.Draft
	RestoreReady     RestorePhase = status.Ready
	RestoreRestoring RestorePhase = status.Restoring
	RestoreDone      RestorePhase = status.Done
	RestoreFailed    RestorePhase = status.Failed
)

// RestoreProgress counts what a restore has written.
type RestoreProgress struct {
	// records written.
	Records int64 `json:"records"`
	// bytes of records written.
	Bytes int64 `json:"bytes"`
	// percent of the planned records written, 0-100.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`
}

// KafkaRestoreStatus is what the workflow reports.
type KafkaRestoreStatus struct {
	WorkStatus `json:",inline"`
	// phase is Draft, Ready, Restoring, Done or Failed.
	// +optional
	Phase RestorePhase `json:"phase,omitempty"`
	// progress of the restore.
	// +optional
	Progress *RestoreProgress `json:"progress,omitempty"`
	// startTime of the restore.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// completionTime of the restore.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// skipped lists the offset ranges a restore with onDamage SkipBlock could not read and
	// skipped: "topic/partition from-to (object: reason)".
	// +optional
	Skipped []string `json:"skipped,omitempty"`
	// schemaIds sums up the schema id map, when spec.schemaRegistry is set.
	// +optional
	SchemaIDs *SchemaIDsStatus `json:"schemaIds,omitempty"`
}

// KafkaRestore restores Kafka topics from a backup into a KafkaCluster.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=kr,categories=arkive
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Progress",type=integer,JSONPath=`.status.progress.percent`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KafkaRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KafkaRestoreSpec   `json:"spec"`
	Status KafkaRestoreStatus `json:"status,omitempty"`
}

// KafkaRestoreList is a list of KafkaRestore.
// +kubebuilder:object:root=true
type KafkaRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KafkaRestore `json:"items"`
}

func init() { register(&KafkaRestore{}, &KafkaRestoreList{}) }
