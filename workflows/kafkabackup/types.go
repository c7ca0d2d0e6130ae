package kafkabackup

import (
	"encoding/json"
	"fmt"
	"strings"
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
	// Sharded backups (docs/scaling.md): one discovery that registers new partitions in the
	// catalog and splits the selection into shards, and one capture per shard.
	ActivityDiscoverShards = "arkive.kafka.DiscoverShards"
	ActivityCaptureShard   = "arkive.kafka.CaptureShard"
)

// Shard sizes. A shard is one CaptureShard activity: one Kafka client and consumer for all its
// partitions. ShardPartitions partitions make a shard until there would be more than
// MaxShards; beyond that shards grow, so a cycle's pending activities and history events stay
// bounded whatever the partition count (docs/scaling.md).
const (
	ShardPartitions = 128
	MaxShards       = 64
)

// MaxStatusPartitions bounds the partitions a status lists one by one (every one up to it, the
// most lagging beyond); the totals cover all of them.
const MaxStatusPartitions = 256

// Error types of non-retryable failures, shown in the resource's status.
const (
	ErrInvalidSpec   = workflows.ErrInvalidSpec
	ErrTopicNotFound = "TopicNotFound"
	// ErrTopicRecreated: a topic was deleted and created again under its name since the backup
	// began; its new records would mix with the old ones under the same offsets.
	ErrTopicRecreated = "TopicRecreated"
	// ErrLogTruncated: a partition's log now ends below offsets the backup already holds (an
	// unclean leader election, a broker restored from an older disk); the records the source
	// writes there next would take offsets the backup holds other records under.
	ErrLogTruncated        = "LogTruncated"
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
	// Done is true when Until was reached, or when the topic was deleted.
	Done    bool  `json:"done"`
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// Deleted says the topic was deleted from the source while it was captured: what was
	// uploaded before is kept, and nothing more can be read.
	Deleted bool `json:"deleted,omitempty"`
	// Truncated says the partition's log was cut back to LogEnd, below Next (it ends there, or
	// holds other records from there on): what was read before is uploaded and kept (the only
	// copy of what the source lost), and the capture stops there.
	Truncated bool  `json:"truncated,omitempty"`
	LogEnd    int64 `json:"logEnd,omitempty"`
	// Epoch is the leader epoch of the source's batch holding the record before Epoch.Next,
	// read when the capture ended; the commit keeps it only when Epoch.Next is the committed
	// next offset (archive.Partition.LeaderEpoch).
	Epoch *EpochMark `json:"epoch,omitempty"`
}

// EpochMark is the leader epoch of the record batch holding the record at Next-1.
type EpochMark struct {
	Next  int64 `json:"next"`
	Epoch int32 `json:"epoch"`
}

// Truncation describes a truncated partition for the status (CaptureResult.Truncated).
func (r CaptureResult) Truncation() string {
	return fmt.Sprintf("%s/%d: the source's log was truncated at offset %d, below offset %d up to which the backup holds its records", r.Topic, r.Partition, r.LogEnd, r.Next)
}

// Shard is the partitions one CaptureShard activity owns, by topic in name order, or, when
// Ref is set, a stand-in for a shard of a stored shard list (DiscoverShards stores the list
// when it would pass InlineShardBytes: thousands of topics). Topics is then empty.
type Shard struct {
	Topics []ShardTopic `json:"topics"`
	Ref    *ShardRef    `json:"ref,omitempty"`
}

// ShardRef names a shard in a stored shard list (StoredShards).
type ShardRef struct {
	// Key is the stored list, Index the shard's place in it.
	Key   string `json:"key"`
	Index int    `json:"index"`
	// Partitions is how many partitions the shard has; Summary is its Describe.
	Partitions int    `json:"partitions"`
	Summary    string `json:"summary"`
}

// InlineShardBytes is the most a discovery's shards take in its result, encoded. Shards name
// every selected topic, so without a bound the result would grow with the topics: about 80
// bytes a topic of 40 characters, past Temporal's 256 KB payload warning at about 3,300 such
// topics and its 2 MB limit at about 26,000. Past it, DiscoverShards stores the list and
// returns ShardRefs.
const InlineShardBytes = 128 << 10

// StoredShards is the object holding a discovery's shards when they pass InlineShardBytes.
type StoredShards struct {
	Version int     `json:"version"`
	Shards  []Shard `json:"shards"`
}

// StoredShardsVersion is the version of StoredShards objects.
const StoredShardsVersion = 1

// RefShards returns stand-ins for shards stored as the object key.
func RefShards(key string, shards []Shard) []Shard {
	refs := make([]Shard, len(shards))
	for i, sh := range shards {
		refs[i] = Shard{Ref: &ShardRef{Key: key, Index: i, Partitions: sh.Len(), Summary: sh.Describe()}}
	}
	return refs
}

// Describe names a shard's partitions for the Temporal UI, briefly.
func (s Shard) Describe() string {
	if s.Ref != nil {
		return s.Ref.Summary
	}
	var parts []string
	for _, t := range s.Topics {
		ps := t.Partitions
		switch {
		case len(ps) == 1:
			parts = append(parts, fmt.Sprintf("%s/%d", t.Topic, ps[0]))
		default:
			parts = append(parts, fmt.Sprintf("%s/%d-%d", t.Topic, ps[0], ps[len(ps)-1]))
		}
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more topics", len(parts)-3))
	}
	return fmt.Sprintf("%d partitions (%s)", s.Len(), strings.Join(parts, ", "))
}

// ShardTopic is one topic's partitions in a shard.
type ShardTopic struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// Len is the number of partitions in the shard.
func (s Shard) Len() int {
	if s.Ref != nil {
		return s.Ref.Partitions
	}
	n := 0
	for _, t := range s.Topics {
		n += len(t.Partitions)
	}
	return n
}

// SplitShards splits topics' partitions, in name and partition order, into shards of
// ShardPartitions, or into MaxShards equal ones when there are more.
// Consecutive partitions of a topic stay together, so a shard's client talks to few leaders
// per topic; adding partitions moves the later ones to other shards at the next discovery.
func SplitShards(topics []TopicInfo) []Shard {
	n := 0
	for _, t := range topics {
		n += len(t.Partitions)
	}
	if n == 0 {
		return nil
	}
	size := ShardPartitions
	if shards := (n + size - 1) / size; shards > MaxShards {
		size = (n + MaxShards - 1) / MaxShards
	}
	var shards []Shard
	cur, fill := Shard{}, 0
	for _, t := range topics {
		for _, p := range t.Partitions {
			if fill == size {
				shards = append(shards, cur)
				cur, fill = Shard{}, 0
			}
			if k := len(cur.Topics); k == 0 || cur.Topics[k-1].Topic != t.Name {
				cur.Topics = append(cur.Topics, ShardTopic{Topic: t.Name})
			}
			last := &cur.Topics[len(cur.Topics)-1]
			last.Partitions = append(last.Partitions, p.Partition)
			fill++
		}
	}
	return append(shards, cur)
}

// DiscoverShardsInput selects topics like DiscoverInput. The activity records what it found in
// the catalog itself (new partitions from where the spec says, topic metadata, group offsets
// and, for a scheduled run, every partition's high watermark as the run's end), so no
// per-partition list travels through the workflow.
type DiscoverShardsInput struct {
	DiscoverInput
	Time            time.Time `json:"time"`
	StartFromLatest bool      `json:"startFromLatest,omitempty"`
	// Run, when set, is a scheduled run starting now: its Upto is recorded in the catalog.
	Run *archive.Run `json:"run,omitempty"`
}

// DiscoverShardsResult is the selection split into shards.
type DiscoverShardsResult struct {
	Shards     []Shard `json:"shards,omitempty"`
	Partitions int     `json:"partitions"`
	// Groups says a consumer-group snapshot was taken.
	Groups     bool  `json:"groups,omitempty"`
	Generation int64 `json:"generation,omitempty"`
	// UptoKey is the catalog object holding the run's high watermarks (with Run).
	UptoKey string `json:"uptoKey,omitempty"`
}

// CaptureShardInput asks one activity to capture every partition of a shard, each from the
// offset the catalog says it continues at, for MaxRunTime or, with Run, up to the high
// watermarks that run recorded.
type CaptureShardInput struct {
	Connection
	Shard              Shard         `json:"shard"`
	Run                string        `json:"run,omitempty"`
	Compression        Compression   `json:"compression"`
	MaxSegmentBytes    int64         `json:"maxSegmentBytes"`
	MaxSegmentInterval time.Duration `json:"maxSegmentInterval"`
	MaxRunTime         time.Duration `json:"maxRunTime"`
	// RateLimit is each partition's share of the backup's limit.
	RateLimit RateLimit `json:"rateLimit,omitzero"`
}

// CaptureShardResult names the stored object that lists every partition's captured segments
// (the commit reads it), so the result stays small however many partitions the shard has.
type CaptureShardResult struct {
	Staged  string `json:"staged"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	// Done is true when every partition reached the run's Upto.
	Done bool `json:"done"`
}

// StagedCaptures is the object a CaptureShard writes as it goes (a retried attempt resumes
// from it) and when it ends.
type StagedCaptures struct {
	Version  int             `json:"version"`
	Captures []CaptureResult `json:"captures"`
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
	Name string `json:"name"`
	// ID is the topic's id (Kafka 2.8 and later; "" from older brokers): a topic deleted and
	// created again under its name has a new one.
	ID         string            `json:"id,omitempty"`
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
	// Staged names CaptureShard results to merge; with Sharded the result carries totals and
	// at most MaxStatusPartitions partitions instead of every partition's next offset.
	Staged  []string `json:"staged,omitempty"`
	Sharded bool     `json:"sharded,omitempty"`
}

// CommitResult is the manifest generation written and every partition's next offset.
type CommitResult struct {
	Generation int64            `json:"generation"`
	Next       []PartitionState `json:"next"`
	// FoldDue says enough commits wait in the catalog to fold them into its indexes.
	FoldDue bool `json:"foldDue,omitempty"`
	// Sharded commits: the partitions for the status (all up to MaxStatusPartitions, else the
	// most lagging), how many there are, and their summed lag behind the high watermarks the
	// captures read.
	Partitions     []PartitionStatus `json:"partitions,omitempty"`
	PartitionCount int               `json:"partitionCount,omitempty"`
	Lag            int64             `json:"lag,omitempty"`
	// Warnings are the retention gaps and deleted topics the merged captures found, newest
	// last.
	Warnings []string `json:"warnings,omitempty"`
	// DeletedTopics were deleted from the source while they were captured: the workflow
	// discovers again before its next cycle, which leaves them out.
	DeletedTopics []string `json:"deletedTopics,omitempty"`
	// Truncated describes the partitions whose log the captures found truncated below what
	// the backup holds (CaptureResult.Truncation), at most 20 of them: the workflow
	// stops with LogTruncated once their records are committed.
	Truncated []string `json:"truncated,omitempty"`
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
