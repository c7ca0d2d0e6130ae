package kafkabackup

import (
	"encoding/json"
	"time"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows"
)

// Registered activity names: part of the contract with running histories, never rename.
const (
	ActivityCapture  = "arkive.kafka.Capture"
	ActivityDiscover = "arkive.kafka.Discover"
	ActivityCommit   = "arkive.kafka.Commit"
	ActivityRetain   = "arkive.kafka.ApplyRetention"
	ActivityFold     = "arkive.kafka.FoldCatalog"
)

// Error types of non-retryable failures, shown in the resource's status.
const (
	ErrInvalidSpec         = workflows.ErrInvalidSpec
	ErrTopicNotFound       = "TopicNotFound"
	ErrAuthentication      = workflows.ErrAuthentication
	ErrStorageAccessDenied = workflows.ErrStorageAccessDenied
	// ErrInconsistentCommit: a commit contradicts the manifest (a bug, never retried).
	ErrInconsistentCommit = "InconsistentCommit"
)

// RateLimit caps throughput (workflows.RateLimit).
type RateLimit = workflows.RateLimit

// Compression is the segment codec and level (level 0: the codec's default).
type Compression struct {
	Codec string `json:"codec"`
	Level int    `json:"level,omitempty"`
}

// CaptureInput asks an activity to stream one partition into segments. Kafka and Storage are
// the resources' specs as JSON: Secret references, never Secret values.
type CaptureInput struct {
	Namespace string          `json:"namespace"`
	Backup    string          `json:"backup"`
	Kafka     json.RawMessage `json:"kafka"`
	Storage   json.RawMessage `json:"storage"`
	Topic     string          `json:"topic"`
	Partition int32           `json:"partition"`
	// From is the first offset to capture; a log start offset past it is recorded as a
	// Retention gap.
	From int64 `json:"from"`
	// Until, when ≥ 0, ends the capture once every offset below it is covered (scheduled runs
	// capture up to the high watermark read at their start). -1 captures until MaxRunTime.
	Until              int64         `json:"until"`
	Compression        Compression   `json:"compression"`
	MaxSegmentBytes    int64         `json:"maxSegmentBytes"`
	MaxSegmentInterval time.Duration `json:"maxSegmentInterval"`
	// MaxRunTime bounds one activity, so the workflow commits what was written at a steady
	// pace and the work can move between workers.
	MaxRunTime time.Duration `json:"maxRunTime"`
	// RateLimit is this capture's share of the backup's limit.
	RateLimit RateLimit `json:"rateLimit,omitzero"`
}

// CaptureProgress is what the activity heartbeats after every uploaded segment; a retried
// attempt resumes from it instead of capturing those offsets again.
type CaptureProgress struct {
	Start    int64                `json:"start"`
	Next     int64                `json:"next"`
	Segments []archive.SegmentRef `json:"segments,omitempty"`
	Gaps     []archive.Gap        `json:"gaps,omitempty"`
}

// CaptureResult lists the segments written, in offset order. They are not part of the backup
// until a manifest names them.
type CaptureResult struct {
	CaptureProgress
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	HighWatermark int64  `json:"highWatermark"`
	// Done is true when Until was reached.
	Done    bool  `json:"done"`
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
}

// Connection is what every activity of one backup needs to reach Kafka and storage: specs
// as JSON holding Secret references only, and the namespace those references live in.
type Connection = workflows.KafkaConnection

// DiscoverInput selects topics: names or globs, minus exclusions.
type DiscoverInput struct {
	Connection
	Include []string `json:"include"`
	Exclude []string `json:"exclude,omitempty"`
	// Disabled are the patterns of disabled streams: a topic they match is skipped unless an
	// enabled stream names it exactly (Include holds it as it is).
	Disabled       []string `json:"disabled,omitempty"`
	CaptureConfigs bool     `json:"captureConfigs"`
	// CaptureGroups reads the committed offsets of the groups matching Groups (all if empty).
	CaptureGroups bool     `json:"captureGroups,omitempty"`
	Groups        []string `json:"groups,omitempty"`
}

// DiscoverResult is what the cluster holds for the selected topics, sorted by name, and the
// consumer groups' committed offsets on them (so a restore can move the groups too).
type DiscoverResult struct {
	Topics []TopicInfo           `json:"topics"`
	Groups []archive.GroupOffset `json:"groups,omitempty"`
}

// TopicInfo is one topic's metadata and, per partition, its offsets at discovery.
type TopicInfo struct {
	Name       string            `json:"name"`
	Configs    map[string]string `json:"configs,omitempty"`
	Partitions []PartitionInfo   `json:"partitions"`
}

// PartitionInfo is a partition's log start offset and high watermark.
type PartitionInfo struct {
	Partition     int32 `json:"partition"`
	LogStart      int64 `json:"logStart"`
	HighWatermark int64 `json:"highWatermark"`
}

// CommitInput merges capture results into the manifest. Time is the workflow's clock.
type CommitInput struct {
	Connection
	Time     time.Time       `json:"time"`
	Topics   []TopicInfo     `json:"topics,omitempty"`
	Captures []CaptureResult `json:"captures,omitempty"`
	Run      *archive.Run    `json:"run,omitempty"`
	// Groups, when set, is a new snapshot of consumer-group offsets.
	Groups *archive.GroupOffsetsSnapshot `json:"groups,omitempty"`
}

// CommitResult is the manifest generation written and every partition's next offset.
type CommitResult struct {
	Generation int64            `json:"generation"`
	Next       []PartitionState `json:"next"`
	// FoldDue says enough commits wait in the catalog to fold them into its indexes.
	FoldDue bool `json:"foldDue,omitempty"`
}

// FoldInput asks for the catalog's pending commits to be folded. Time is the workflow's clock.
type FoldInput struct {
	Connection
	Time time.Time `json:"time"`
	// Compaction, when enabled, merges small segments into new ones of up to MaxSegmentBytes,
	// written with Compression.
	Compaction      Compaction  `json:"compaction,omitzero"`
	MaxSegmentBytes int64       `json:"maxSegmentBytes,omitempty"`
	Compression     Compression `json:"compression,omitzero"`
}

// Compaction is the spec's segment compaction.
type Compaction struct {
	Enabled         bool  `json:"enabled,omitempty"`
	MinSegmentBytes int64 `json:"minSegmentBytes,omitempty"`
}

// PartitionState is where capture of one partition continues.
type PartitionState struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Next      int64  `json:"next"`
}

// RetentionInput says what the backup must keep; the activity drops the rest, oldest first.
type RetentionInput struct {
	Connection
	// KeepRuns, when not nil, lists the runs whose data stays; segments of other runs go.
	KeepRuns []string `json:"keepRuns,omitempty"`
	// Before, when set, lets segments whose newest record is older go.
	Before time.Time `json:"before,omitzero"`
	// Protect is a run whose data never goes (the newest successful one).
	Protect string    `json:"protect,omitempty"`
	Time    time.Time `json:"time"`
}

// RetentionResult counts what went.
type RetentionResult struct {
	DeletedSegments int   `json:"deletedSegments"`
	DeletedBytes    int64 `json:"deletedBytes"`
	// PinnedGeneration, when set, is the oldest catalog generation a running restore pinned:
	// the dropped segments stay stored until the next retention after the pin goes.
	PinnedGeneration int64 `json:"pinnedGeneration,omitempty"`
}
