package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"arkive.io/arkive/api/status"
)

// BackupMode says whether a KafkaBackup streams forever, takes scheduled snapshots, or takes one.
// +kubebuilder:validation:Enum=Continuous;Scheduled;Once
type BackupMode string

const (
	// ModeContinuous captures every enabled stream forever (phase Streaming).
	ModeContinuous BackupMode = "Continuous"
	// ModeScheduled captures, on each cron tick, up to the high watermarks read at its start.
	ModeScheduled BackupMode = "Scheduled"
	// ModeOnce captures once, up to the high watermarks read at its start, then is Completed;
	// a trigger runs it again.
	ModeOnce BackupMode = "Once"
)

// StartFrom is where a new partition's backup begins.
// +kubebuilder:validation:Enum=Earliest;Latest
type StartFrom string

const (
	StartEarliest StartFrom = "Earliest"
	StartLatest   StartFrom = "Latest"
)

// CompressionCodec names a segment compression codec.
// +kubebuilder:validation:Enum=zstd;s2;lz4;gzip;none
type CompressionCodec string

// Compression is the codec and level of backup segments.
// +kubebuilder:validation:XValidation:rule="!has(self.level) || (self.codec == 'zstd' ? self.level <= 22 : self.codec == 's2' ? self.level <= 3 : self.codec != 'none' && self.level <= 9)",message="level must be 1-22 for zstd, 1-3 for s2, 1-9 for lz4 and gzip, and unset for none",fieldPath=".level"
type Compression struct {
	// codec compresses segment bodies.
	// +kubebuilder:default=zstd
	// +optional
	Codec CompressionCodec `json:"codec,omitempty"`
	// level of the codec; unset means the codec's default.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Level *int32 `json:"level,omitempty"`
}

// SegmentCompaction merges a partition's small segments into larger ones.
type SegmentCompaction struct {
	// enabled turns compaction on (the default) or off.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// minSegmentBytes: a segment stored in fewer bytes is small, and is merged with small
	// neighbours into segments of up to maxSegmentBytes. Default: an eighth of maxSegmentBytes.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinSegmentBytes *int64 `json:"minSegmentBytes,omitempty"`
}

// BackupStream selects topics to back up.
type BackupStream struct {
	// topic is a topic name or a glob (*, ?, [a-z]) matched against topic names.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=249
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._\-*?\[\]]+$`
	Topic string `json:"topic"`
	// enabled: false pauses this stream only: the topics it matches are not backed up, also
	// when another stream's glob matches them, unless another stream names the topic exactly.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// ConsumerGroupCapture selects consumer groups whose committed offsets are captured.
type ConsumerGroupCapture struct {
	// enabled: false turns capture off. Without a consumerGroups block, or in a block without
	// enabled, offsets are captured: of every group on the backed-up topics, or of the groups
	// listed in groups.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// groups are group names or globs; empty means every group.
	// +optional
	Groups []string `json:"groups,omitempty"`
	// interval between captures. Offsets are read with a topic discovery once interval has
	// passed since the last capture, so captures are at most as frequent as discoveryInterval
	// and as interval; a snapshot is stored only when offsets moved.
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="interval must be a positive duration such as 1m"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// KafkaBackupSpec declares what to back up, where to, and how.
// +kubebuilder:validation:XValidation:rule="(self.mode == 'Scheduled') == has(self.schedule)",message="schedule is required when mode is Scheduled and not allowed when mode is Continuous",fieldPath=".schedule"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Continuous' || !has(self.retention) || !has(self.retention.keepLast)",message="keepLast keeps the last runs of a Scheduled or Once backup; a Continuous backup has no runs: use retention.maxAge",fieldPath=".retention.keepLast"
type KafkaBackupSpec struct {
	// source is the name of the KafkaCluster to back up.
	// +kubebuilder:validation:MinLength=1
	Source string `json:"source"`
	// sink is the name of the Storage to write to.
	// +kubebuilder:validation:MinLength=1
	Sink string `json:"sink"`
	// enabled: false pauses the backup; true or absent runs it.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// streams select the topics. With no stream the backup is a Draft.
	// +listType=map
	// +listMapKey=topic
	// +optional
	Streams []BackupStream `json:"streams,omitempty"`
	// excludeTopics are names or globs removed from what streams select.
	// +optional
	ExcludeTopics []string `json:"excludeTopics,omitempty"`
	// mode is Continuous (default), Scheduled (on spec.schedule), or Once (one run up to the
	// high watermarks read at its start, then Completed; the trigger annotation runs it again).
	// +kubebuilder:default=Continuous
	// +optional
	Mode BackupMode `json:"mode,omitempty"`
	// schedule is a cron expression (5 fields, or @hourly/@daily/@every 1h...) for Scheduled mode.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^((CRON_)?TZ=[^ ]+ +)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every +([0-9]+(ns|us|ms|s|m|h))+|[0-9A-Za-z*/,?-]+( +[0-9A-Za-z*/,?-]+){4})$')",message="schedule must be a cron expression with 5 fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily or @every 1h"
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// startFrom is where a partition's backup begins the first time.
	// +kubebuilder:default=Earliest
	// +optional
	StartFrom StartFrom `json:"startFrom,omitempty"`
	// compression of segments.
	// +kubebuilder:default={codec: zstd}
	// +optional
	Compression *Compression `json:"compression,omitempty"`
	// maxSegmentBytes rolls a segment when its records reach this many bytes.
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=1073741824
	// +kubebuilder:default=67108864
	// +optional
	MaxSegmentBytes *int64 `json:"maxSegmentBytes,omitempty"`
	// compaction merges the small segments quiet partitions make (one every
	// maxSegmentInterval) into segments of up to maxSegmentBytes, as the backup's catalog folds
	// its commits; the small ones are deleted an hour later, so running restores finish.
	// +optional
	Compaction *SegmentCompaction `json:"compaction,omitempty"`
	// maxSegmentInterval rolls a segment when it has been open this long, so quiet topics
	// still reach storage.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="maxSegmentInterval must be a duration of at least 1s"
	// +optional
	MaxSegmentInterval *metav1.Duration `json:"maxSegmentInterval,omitempty"`
	// discoveryInterval is how often new topics and partitions are looked for.
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="discoveryInterval must be a duration of at least 1s"
	// +optional
	DiscoveryInterval *metav1.Duration `json:"discoveryInterval,omitempty"`
	// retention bounds what is kept: maxAge drops data whose newest record is older (checked
	// at most once per discoveryInterval in Continuous mode, after each run in Scheduled mode);
	// keepLast (Scheduled and Once modes) keeps the data of that many successful runs.
	// +optional
	Retention *Retention `json:"retention,omitempty"`
	// rateLimit caps throughput.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// consumerGroups selects the consumer groups whose committed offsets are captured, so a
	// restore can move them (default: every group).
	// +optional
	ConsumerGroups *ConsumerGroupCapture `json:"consumerGroups,omitempty"`
	// captureTopicConfigs records each topic's partition count and configs for restores.
	// +kubebuilder:default=true
	// +optional
	CaptureTopicConfigs *bool `json:"captureTopicConfigs,omitempty"`
}

// KafkaBackupPhase is the state of a KafkaBackup, as in the Kannika Backup seed.
// +kubebuilder:validation:Enum=Draft;Ready;Streaming;Paused;Failed;Completed
type KafkaBackupPhase string

const (
	KafkaBackupDraft     KafkaBackupPhase = status.Draft     // no streams defined
	KafkaBackupReady     KafkaBackupPhase = status.Ready     // streams defined, not started (or waiting for a schedule)
	KafkaBackupStreaming KafkaBackupPhase = status.Streaming // backing up
	KafkaBackupPaused    KafkaBackupPhase = status.Paused    // by spec.enabled=false or by the pause signal
	KafkaBackupFailed    KafkaBackupPhase = status.Failed    // stopped on an error that needs a person
	KafkaBackupCompleted KafkaBackupPhase = status.Completed // Scheduled or Once mode: the last run finished
)

// BackupRun is one run of a scheduled backup.
type BackupRun struct {
	// id of the run.
	ID string `json:"id"`
	// start of the run.
	Start metav1.Time `json:"start"`
	// end of the run.
	// +optional
	End *metav1.Time `json:"end,omitempty"`
	// records captured.
	Records int64 `json:"records"`
	// bytes of records captured.
	Bytes int64 `json:"bytes"`
	// outcome: Running, Succeeded, Failed, or Paused (a pause signal stopped the run before its end).
	Outcome string `json:"outcome"`
}

// KafkaBackupStatus is what the workflow reports.
type KafkaBackupStatus struct {
	WorkStatus `json:",inline"`
	// phase is Draft, Ready, Streaming, Paused, Failed or Completed.
	// +optional
	Phase KafkaBackupPhase `json:"phase,omitempty"`
	// lastBackupTime is when data was last committed to storage.
	// +optional
	LastBackupTime *metav1.Time `json:"lastBackupTime,omitempty"`
	// lag is the number of records not yet backed up, summed over partitions.
	// +optional
	Lag *int64 `json:"lag,omitempty"`
	// runs are the latest runs of a Scheduled or Once backup, newest last.
	// +optional
	Runs []BackupRun `json:"runs,omitempty"`
	// nextScheduledTime is the next cron tick of a Scheduled backup waiting for it.
	// +optional
	NextScheduledTime *metav1.Time `json:"nextScheduledTime,omitempty"`
	// lastRunId is the id of the newest run (Scheduled or Once mode).
	// +optional
	LastRunID string `json:"lastRunId,omitempty"`
	// lastRunOutcome is its outcome: Running, Succeeded, Failed or Paused.
	// +optional
	LastRunOutcome string `json:"lastRunOutcome,omitempty"`
	// lastRunRecords is how many records it captured.
	// +optional
	LastRunRecords *int64 `json:"lastRunRecords,omitempty"`
	// lastRunBytes is how many bytes of records it captured.
	// +optional
	LastRunBytes *int64 `json:"lastRunBytes,omitempty"`
	// warnings such as data lost to source retention before it was backed up.
	// +optional
	Warnings []string `json:"warnings,omitempty"`
}

// KafkaBackup backs up Kafka topics to a Storage, continuously or on a schedule.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=kb,categories=arkive
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Last Backup",type=date,JSONPath=`.status.lastBackupTime`
// +kubebuilder:printcolumn:name="Lag",type=integer,JSONPath=`.status.lag`
// +kubebuilder:printcolumn:name="Next Run",type=date,JSONPath=`.status.nextScheduledTime`
// +kubebuilder:printcolumn:name="Last Run",type=string,JSONPath=`.status.lastRunOutcome`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KafkaBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KafkaBackupSpec   `json:"spec"`
	Status KafkaBackupStatus `json:"status,omitempty"`
}

// KafkaBackupList is a list of KafkaBackup.
// +kubebuilder:object:root=true
type KafkaBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KafkaBackup `json:"items"`
}

func init() { register(&KafkaBackup{}, &KafkaBackupList{}) }
