package kafkarestore

import (
	"fmt"
	"strings"
	"time"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows"
)

// Registered names: part of the contract with running histories, never rename.
const (
	WorkflowName      = "arkive.KafkaRestore"
	ActivityPlan      = "arkive.kafka.PlanRestore"
	ActivityPreflight = "arkive.kafka.PreflightRestore"
	ActivityRestore   = "arkive.kafka.Restore"
	ActivityGroups    = "arkive.kafka.RestoreGroupOffsets"
	// ActivityUnpin releases the catalog generation the plan pinned (see catalog.Pin).
	ActivityUnpin = "arkive.kafka.UnpinCatalog"
	// ActivityRemapSchemas registers a Schema Registry snapshot's schemas in the target
	// registry and returns the id map the streams rewrite records with.
	ActivityRemapSchemas = "arkive.schemaregistry.RemapSchemas"
	// ActivityReadPage and ActivitySavePage read and write a page of a large restore's plan or
	// progress in the backup's storage (see Page).
	ActivityReadPage = "arkive.kafka.ReadRestorePage"
	ActivitySavePage = "arkive.kafka.SaveRestorePage"
	// ActivityGroupsFromPages commits the translated group offsets held in pages of a large
	// restore's progress (a name of its own: a worker without it must not take the task and
	// commit nothing).
	ActivityGroupsFromPages = "arkive.kafka.RestoreGroupOffsetsFromPages"
)

// Phases, shared by every restore kind.
const (
	PhaseDraft     = status.Draft
	PhaseReady     = status.Ready
	PhaseRestoring = status.Restoring
	PhaseDone      = status.Done
	PhaseFailed    = status.Failed
)

// Partition mappings.
const (
	MappingSame       = "Same"
	MappingKeyHash    = "KeyHash"
	MappingRoundRobin = "RoundRobin"
)

// Error types of non-retryable failures, shown in the resource's status.
const (
	ErrInvalidSpec     = workflows.ErrInvalidSpec
	ErrBackupNotFound  = workflows.ErrBackupNotFound
	ErrCorruptManifest = workflows.ErrCorruptManifest
	ErrPreflight       = "PreflightFailed"
	ErrTargetChanged   = "TargetChanged"
	// ErrRemovedByRetention: the backup's retention removed records after the plan selected them.
	ErrRemovedByRetention = "RemovedByRetention"
	ErrGroupActive        = "ConsumerGroupActive"
	// ErrUnknownSchemaID: a record names a schema id the Schema Registry snapshot does not hold.
	ErrUnknownSchemaID     = "UnknownSchemaId"
	ErrAuthentication      = workflows.ErrAuthentication
	ErrStorageAccessDenied = workflows.ErrStorageAccessDenied
)

// Connection reaches the backup (Storage, Backup) and the target cluster (Kafka): specs as JSON
// holding Secret references only.
type Connection = workflows.KafkaConnection

// TopicMapping restores Source under Target (Target empty: the same name). A Source holding
// '*', '?' or '[' is a pattern (path.Match) that restores every topic of the backup it matches
// under its own name; it has no Target.
type TopicMapping struct {
	Source string `json:"source"`
	Target string `json:"target,omitempty"`
}

// Window bounds the restored records, inclusive; zero values do not bound.
type Window struct {
	FromTime   time.Time `json:"fromTime,omitzero"`
	ToTime     time.Time `json:"toTime,omitzero"`
	FromOffset *int64    `json:"fromOffset,omitempty"`
	ToOffset   *int64    `json:"toOffset,omitempty"`
}

// Contains reports whether a record at offset with timestamp ts (Unix ms) is restored.
func (w Window) Contains(offset, ts int64) bool {
	switch {
	case w.FromOffset != nil && offset < *w.FromOffset,
		w.ToOffset != nil && offset > *w.ToOffset,
		!w.FromTime.IsZero() && ts < w.FromTime.UnixMilli(),
		!w.ToTime.IsZero() && ts > w.ToTime.UnixMilli():
		return false
	}
	return true
}

// Overlaps reports whether a segment's offset and time bounds may hold a restored record.
func (w Window) Overlaps(s archive.SegmentRef) bool {
	switch {
	case w.FromOffset != nil && s.LastOffset < *w.FromOffset,
		w.ToOffset != nil && s.FirstOffset > *w.ToOffset,
		!w.FromTime.IsZero() && s.MaxTimestamp < w.FromTime.UnixMilli(),
		!w.ToTime.IsZero() && s.MinTimestamp > w.ToTime.UnixMilli():
		return false
	}
	return true
}

// RateLimit caps a restore's throughput; 0 means no cap.
type RateLimit = workflows.RateLimit

// Spec is what the workflow acts on: the KafkaRestore spec in plain types.
type Spec struct {
	RunID            string         `json:"runID,omitempty"`
	Topics           []TopicMapping `json:"topics,omitempty"`
	PartitionMapping string         `json:"partitionMapping"`
	Window           Window         `json:"window,omitzero"`
	CreateTopics     bool           `json:"createTopics"`
	OriginHeaders    bool           `json:"originHeaders,omitempty"`
	// OnDamage is Fail (or empty) or SkipBlock.
	OnDamage       string    `json:"onDamage,omitempty"`
	ConsumerGroups []string  `json:"consumerGroups,omitempty"`
	AllowNonEmpty  bool      `json:"allowNonEmpty,omitempty"`
	DryRun         bool      `json:"dryRun,omitempty"`
	RateLimit      RateLimit `json:"rateLimit,omitzero"`
	// MaxInFlightBytes caps each stream's unacknowledged record bytes; 0: the default.
	MaxInFlightBytes int64 `json:"maxInFlightBytes,omitempty"`
}

// Input starts a KafkaRestore workflow.
type Input struct {
	Connection
	Spec Spec `json:"spec"`
	// Schemas, when set, rewrites the schema ids of records in the Confluent wire format to
	// the ids the target registry gives the snapshot's schemas.
	Schemas *SchemaRemap `json:"schemas,omitempty"`
	// Limits shape the restore's runs; the operator leaves them zero, and a new restore fixes
	// their defaults at its start.
	Limits Limits `json:"limits,omitzero"`
}

// Limits shape a restore's runs: when its plan goes to pages, how many streams a run reads,
// when its result stops carrying offset maps. A zero field takes its default when the restore
// starts, and they travel in every run's input from then on, so its later runs decide as its
// first did even if a release changes the defaults. A test (or a restore started by hand) sets
// them low to page and continue as new with a few partitions.
type Limits struct {
	// PageStreams is the most streams a plan holds inline and a page of it holds
	// (default PageStreams).
	PageStreams int `json:"pageStreams,omitempty"`
	// LoadStreams is about how many unfinished streams a run of a paged plan reads beyond
	// those under way (default loadStreams).
	LoadStreams int `json:"loadStreams,omitempty"`
	// ResultRanges is the most offset ranges a result carries (default maxResultRanges);
	// above it, group offsets of pages finished in earlier runs are committed from the pages.
	ResultRanges int `json:"resultRanges,omitempty"`
	// PackPartitions is the most small partitions of a topic one stream restores with Same
	// mapping (default PackPartitions; 1 gives every partition a stream of its own).
	PackPartitions int `json:"packPartitions,omitempty"`
	// TopicBytes is the most bytes a paged plan's topics, and its preflight's targets, take
	// inline, encoded (default InlineTopicBytes); past it they go to pages too.
	TopicBytes int `json:"topicBytes,omitempty"`
}

// check names the first limit that is negative.
func (l Limits) check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"pageStreams", l.PageStreams}, {"loadStreams", l.LoadStreams}, {"resultRanges", l.ResultRanges}, {"packPartitions", l.PackPartitions}, {"topicBytes", l.TopicBytes}} {
		if f.v < 0 {
			return fmt.Errorf("limits.%s: %d is negative (0 takes the default)", f.name, f.v)
		}
	}
	return nil
}

// withDefaults is l with every zero field at its default.
func (l Limits) withDefaults() Limits {
	return Limits{PageStreams: l.pageStreams(), LoadStreams: l.loadStreams(), ResultRanges: l.resultRanges(), PackPartitions: l.packPartitions(), TopicBytes: l.topicBytes()}
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// A restore that began before its limits were fixed at its start has them zero in every run:
// the defaults apply.
func (l Limits) pageStreams() int    { return orDefault(l.PageStreams, PageStreams) }
func (l Limits) loadStreams() int    { return orDefault(l.LoadStreams, loadStreams) }
func (l Limits) resultRanges() int   { return orDefault(l.ResultRanges, maxResultRanges) }
func (l Limits) packPartitions() int { return orDefault(l.PackPartitions, PackPartitions) }
func (l Limits) topicBytes() int     { return orDefault(l.TopicBytes, InlineTopicBytes) }

// Record parts that may carry a schema id.
const (
	PartKey   = "Key"
	PartValue = "Value"
)

// SchemaRemap says where the schemas of the restored records come from and go to: the
// connection's Backup and Storage are the SchemaRegistryBackup's, its Registry the target.
type SchemaRemap struct {
	workflows.RegistryConnection
	// Snapshot is the snapshot id; empty means the newest.
	Snapshot string `json:"snapshot,omitempty"`
	// Keys and Values say which parts of a record carry a schema id.
	Keys   bool `json:"keys,omitempty"`
	Values bool `json:"values,omitempty"`
	// KeepUnknown copies a record whose id the snapshot lacks unchanged instead of failing.
	KeepUnknown bool `json:"keepUnknown,omitempty"`
}

// RemapInput asks for the id map: the snapshot's schemas are registered in the target registry
// (a dry run only reads), and a large map is stored in the Kafka backup's storage (Kafka).
type RemapInput struct {
	Remap  SchemaRemap `json:"remap"`
	Kafka  Connection  `json:"kafka"`
	DryRun bool        `json:"dryRun,omitempty"`
}

// SchemaIDs is a restore's schema id map, computed once: inline when small, else the storage
// key of the object holding it (a workflow's history carries it with every stream start).
type SchemaIDs struct {
	Snapshot string `json:"snapshot"`
	// Pairs maps a source id to its target id, sorted by source id.
	Pairs [][2]int32 `json:"pairs,omitempty"`
	Key   string     `json:"key,omitempty"`
	// Count is the number of pairs (a dry run: of ids in the snapshot); Versions the schema
	// versions registered in the target or found there already (a dry run: none).
	Count    int `json:"count"`
	Versions int `json:"versions"`
}

// StreamRemap is what a stream needs to rewrite ids.
type StreamRemap struct {
	IDs         SchemaIDs `json:"ids"`
	Keys        bool      `json:"keys,omitempty"`
	Values      bool      `json:"values,omitempty"`
	KeepUnknown bool      `json:"keepUnknown,omitempty"`
}

// PlanInput asks which data a restore writes.
type PlanInput struct {
	Connection
	Spec Spec `json:"spec"`
	// PageStreams, when set, is the most streams the plan holds inline: a larger plan goes to
	// pages (Plan.Pages). Unset, as workflows from before pages send it: always inline.
	PageStreams int `json:"pageStreams,omitempty"`
	// PackPartitions is the most small partitions of a topic a stream takes with Same mapping;
	// unset, PackPartitions.
	PackPartitions int `json:"packPartitions,omitempty"`
	// TopicBytes is the most bytes a paged plan's topics take inline; unset, InlineTopicBytes.
	TopicBytes int `json:"topicBytes,omitempty"`
}

// Plan is what the restore will write. Segments are not listed (a large backup has too many
// for a workflow's history): each stream reads the manifest again and restores offsets below
// the Upto fixed here, so data a running backup adds later is not part of this restore.
type Plan struct {
	Generation int64          `json:"generation"`
	Topics     []PlannedTopic `json:"topics"`
	Streams    []Stream       `json:"streams"`
	// Records and Bytes are upper bounds: whole segments overlapping the window.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// Groups are the selected groups' captured offsets on the planned partitions.
	Groups   []archive.GroupOffset `json:"groups,omitempty"`
	Warnings []string              `json:"warnings,omitempty"`
	// Pages, when set, are the storage keys of the pages holding the streams and the groups'
	// offsets (Streams and Groups are then empty): a plan of more than PageStreams streams
	// would make payloads grow with the partitions. StreamCount and GroupNames say what the
	// pages hold.
	Pages       []string `json:"pages,omitempty"`
	StreamCount int      `json:"streamCount,omitempty"`
	GroupNames  []string `json:"groupNames,omitempty"`
	// PageSize is how many streams each page but the last holds (0 in plans paged before it
	// was recorded: their runs read every unfinished page, not knowing where each begins).
	PageSize int `json:"pageSize,omitempty"`
	// TopicsPage, when set, is the storage key of the page holding the planned topics (Topics
	// is then empty): in a paged plan whose topics would pass InlineTopicBytes (thousands of
	// topics; Limits.TopicBytes), so that the plan, the preflight's input and the state
	// carried from run to run do not grow with them. TopicCount counts them.
	TopicsPage string `json:"topicsPage,omitempty"`
	TopicCount int    `json:"topicCount,omitempty"`
}

// InlineTopicBytes is the default of Limits.TopicBytes: the most a paged plan's topics, and its
// preflight's targets, take inline, encoded. A topic takes about 100 to 300 bytes (its names,
// configs, and a baseline offset per partition), so that is about a thousand topics.
const InlineTopicBytes = 128 << 10

// PageStreams is the most streams a plan holds inline, and the most a page of it holds.
const PageStreams = 500

// PackPartitions is the most small partitions of a topic that share a stream with Same mapping:
// a restore of thousands of small partitions would otherwise run an activity for each, and
// the Temporal server's work per activity would bound it (docs/scaling.md). The plan decides
// which partitions are small (activities/kafka, packStreams).
const PackPartitions = 16

// pageBytes is about the most a page of progress holds, encoded.
const pageBytes = 128 << 10

// NumStreams is how many streams the plan has, inline or in pages.
func (p *Plan) NumStreams() int {
	if len(p.Pages) > 0 {
		return p.StreamCount
	}
	return len(p.Streams)
}

// Page is part of a large restore's plan or progress, kept in the backup's storage (under the
// restore's own prefix, deleted when it ends) so that no workflow payload grows with the
// number of streams: the plan's streams from First on with the groups' offsets on their
// partitions, or the progress of the streams from First on.
type Page struct {
	First    int                   `json:"first"`
	Streams  []Stream              `json:"streams,omitempty"`
	Groups   []archive.GroupOffset `json:"groups,omitempty"`
	Progress []*Progress           `json:"progress,omitempty"`
	// Topics and Targets are the pages of a plan's topics (Plan.TopicsPage) and of its
	// preflight's targets (PreflightResult.TargetsPage).
	Topics  []PlannedTopic `json:"topics,omitempty"`
	Targets []TargetTopic  `json:"targets,omitempty"`
}

// PageState is what a restore keeps between runs of one page of a paged plan: where its
// streams' progress is stored and, once they have all finished, their totals, so that later
// runs neither read nor write the page until the restore ends.
type PageState struct {
	// First and Streams are the page's streams: the plan's from First on.
	First   int `json:"first"`
	Streams int `json:"streams"`
	// Progress are the keys of the pages holding the progress of those streams (none: none
	// has started).
	Progress []string `json:"progress,omitempty"`
	// Done says every stream of the page finished; the totals below are then theirs.
	Done    bool  `json:"done,omitempty"`
	Records int64 `json:"records,omitempty"`
	Bytes   int64 `json:"bytes,omitempty"`
	// Groups and Ranges count the streams' translated group offsets and offset-map ranges.
	Groups  int            `json:"groups,omitempty"`
	Ranges  int            `json:"ranges,omitempty"`
	Skipped []SkippedRange `json:"skipped,omitempty"`
}

// PageInput reads the page at Key, or writes Page under Name (a few letters, digits and
// dashes) and returns its key.
type PageInput struct {
	Connection
	Key  string `json:"key,omitempty"`
	Name string `json:"name,omitempty"`
	Page *Page  `json:"page,omitempty"`
}

// GroupIndex is group offsets by source topic and partition.
type GroupIndex map[topicPartition][]GroupOffset

type topicPartition struct {
	topic     string
	partition int32
}

// IndexGroups indexes group offsets by their topic and partition.
func IndexGroups(groups []GroupOffset) GroupIndex {
	x := GroupIndex{}
	for _, g := range groups {
		k := topicPartition{g.Topic, g.Partition}
		x[k] = append(x[k], g)
	}
	return x
}

// Of is the offsets on a stream's source partitions, partition by partition.
func (x GroupIndex) Of(s Stream) []GroupOffset {
	var out []GroupOffset
	for _, p := range s.Partitions {
		out = append(out, x[topicPartition{s.Source, p.Partition}]...)
	}
	return out
}

// PlannedTopic is one source topic, where it goes, and what the backup captured of it.
type PlannedTopic struct {
	Source     string            `json:"source"`
	Target     string            `json:"target"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	// MaxRecordBytes is the largest planned record (key, value and headers).
	MaxRecordBytes int64 `json:"maxRecordBytes"`
}

// Stream is the unit of one restore activity: source partitions of one topic written in
// order. With Same mapping a stream is one partition (streams run in parallel, on any worker);
// with KeyHash and RoundRobin it is a whole topic, so each target partition has one writer and
// its content is a prefix of a known sequence, which is what makes resuming exact.
type Stream struct {
	Source     string            `json:"source"`
	Target     string            `json:"target"`
	Partitions []StreamPartition `json:"partitions"`
	Records    int64             `json:"records"`
	Bytes      int64             `json:"bytes"`
}

// StreamPartition is one source partition and the first offset this restore does not read.
type StreamPartition struct {
	Partition int32 `json:"partition"`
	Upto      int64 `json:"upto"`
	// First is where the first segment the plan selected begins (Upto when it selected none;
	// nil in plans made before it was recorded). Retention that later moves the backup's start
	// past it has removed planned records: the restore fails instead of writing fewer.
	First *int64 `json:"first,omitempty"`
}

// PreflightInput checks the target against the plan before anything is written.
type PreflightInput struct {
	Connection
	Spec Spec `json:"spec"`
	Plan Plan `json:"plan"`
}

// PreflightResult is the state of the target topics every stream starts from.
type PreflightResult struct {
	Targets []TargetTopic `json:"targets"`
	Created []string      `json:"created,omitempty"`
	// TargetsPage, when set, is the storage key of the page holding Targets (then empty), for
	// a plan whose topics are in a page; each Restore activity takes its stream's target from
	// it. Created then lists at most MaxListedCreated topics, and CreatedCount counts them all.
	TargetsPage  string `json:"targetsPage,omitempty"`
	CreatedCount int    `json:"createdCount,omitempty"`
}

// MaxListedCreated is the most created topics a preflight result with a TargetsPage lists.
const MaxListedCreated = 100

// TargetTopic is a target topic's partition count, record size limit, and each partition's
// end offset before the restore wrote anything.
type TargetTopic struct {
	Name            string `json:"name"`
	Partitions      int32  `json:"partitions"`
	MaxMessageBytes int64  `json:"maxMessageBytes"`
	// BatchBytes is the largest batch the restore's producer builds: 1 MiB where the planned
	// records are small, else MaxMessageBytes. 0 in preflight results recorded before it: the
	// producer then batches up to MaxMessageBytes.
	BatchBytes int64   `json:"batchBytes,omitempty"`
	Baseline   Offsets `json:"baseline"`
}

// RestoreInput asks an activity to write one stream. Resume, when set, is the last progress
// the workflow holds; the activity checks the target against it before writing more.
type RestoreInput struct {
	Connection
	Stream Stream      `json:"stream"`
	Target TargetTopic `json:"target"`
	// TargetsPage, when set, is the page of the preflight's targets (Target is then empty): the
	// activity takes the stream's target from it, as StreamTarget makes it.
	TargetsPage   string                `json:"targetsPage,omitempty"`
	Mapping       string                `json:"mapping"`
	Window        Window                `json:"window,omitzero"`
	OriginHeaders bool                  `json:"originHeaders,omitempty"`
	OnDamage      string                `json:"onDamage,omitempty"`
	RateLimit     RateLimit             `json:"rateLimit,omitzero"`
	Generation    int64                 `json:"generation"`
	Groups        []archive.GroupOffset `json:"groups,omitempty"`
	Resume        *Progress             `json:"resume,omitempty"`
	// Remap, when set, rewrites schema ids (see SchemaRemap).
	Remap *StreamRemap `json:"remap,omitempty"`
	// MaxInFlightBytes caps the record bytes the stream has read and the target has not yet
	// acknowledged; 0 means the worker's default.
	MaxInFlightBytes int64 `json:"maxInFlightBytes,omitempty"`
	// MaxRunTime bounds the activity: it then stops at a checkpoint and returns (Done false).
	MaxRunTime time.Duration `json:"maxRunTime,omitempty"`
}

// Progress is a consistent checkpoint of a stream: every record before (Part, Next) in stream
// order is in the target, and Target holds each target partition's offset after them.
type Progress struct {
	Part   int     `json:"part"` // index into Stream.Partitions
	Next   int64   `json:"next"` // next source offset to read in that partition
	Index  int64   `json:"index"`
	Target Offsets `json:"target"`
	// Records and Bytes written so far.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// OffsetMap is the source → target offset map so far, run-length encoded.
	OffsetMap []OffsetRange `json:"offsetMap,omitempty"`
	// Groups are the translated offsets found so far.
	Groups []TranslatedGroup `json:"groups,omitempty"`
	// Verified counts records found already in the target on resume (written before a crash).
	Verified int64 `json:"verified,omitempty"`
	// OffsetMapTruncated says the map stopped at maxOffsetRanges ranges.
	OffsetMapTruncated bool `json:"offsetMapTruncated,omitempty"`
	Done               bool `json:"done,omitempty"`
	// HandedBack says the activity stopped at this checkpoint because its worker was shutting
	// down, not at its run time: the workflow starts the stream again at once, on another
	// worker, rather than in its next round.
	HandedBack bool `json:"handedBack,omitempty"`
	// Skipped are the ranges this stream could not read and skipped (onDamage SkipBlock).
	Skipped []SkippedRange `json:"skipped,omitempty"`
}

// OnDamageSkipBlock skips what a restore cannot read; anything else fails it.
const OnDamageSkipBlock = "SkipBlock"

// ErrDamagedBackup: a segment of the backup cannot be read (damaged, truncated, missing).
const ErrDamagedBackup = "DamagedBackup"

// SkippedRange is a range of source offsets a restore could not read, and why.
type SkippedRange struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
	Object    string `json:"object"`
	Reason    string `json:"reason"`
}

// String is how the status lists it.
func (s SkippedRange) String() string {
	return fmt.Sprintf("%s/%d %d-%d (%s: %s)", s.Topic, s.Partition, s.From, s.To, s.Object, s.Reason)
}

// OffsetRange maps Count consecutive source offsets from SourceFrom of Partition to
// consecutive target offsets from TargetFrom of TargetPartition.
type OffsetRange struct {
	Partition       int32 `json:"partition"`
	SourceFrom      int64 `json:"sourceFrom"`
	TargetPartition int32 `json:"targetPartition"`
	TargetFrom      int64 `json:"targetFrom"`
	Count           int64 `json:"count"`
}

// GroupOffset is a consumer group's committed offset on a source partition.
type GroupOffset = archive.GroupOffset

// TranslatedGroup is a group's offset on the target: where a consumer of the target resumes.
type TranslatedGroup struct {
	Group           string `json:"group"`
	SourcePartition int32  `json:"sourcePartition"`
	SourceOffset    int64  `json:"sourceOffset"`
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	Offset          int64  `json:"offset"`
	Metadata        string `json:"metadata,omitempty"`
}

// GroupsInput commits translated group offsets on the target.
type GroupsInput struct {
	Connection
	Groups []TranslatedGroup `json:"groups"`
}

// GroupPagesInput commits the translated group offsets in pages of the restore's progress (the
// streams of a plan page that finished in an earlier run), so they never travel inline.
type GroupPagesInput struct {
	Connection
	Pages []string `json:"pages"`
}

// Status answers the status query.
type Status struct {
	Phase          string            `json:"phase"`
	Reason         string            `json:"reason,omitempty"`
	Plan           *Plan             `json:"plan,omitempty"`
	Records        int64             `json:"records"`
	Bytes          int64             `json:"bytes"`
	Percent        int32             `json:"percent"`
	Partitions     []PartitionStatus `json:"partitions,omitempty"`
	Groups         []TranslatedGroup `json:"groups,omitempty"`
	StartTime      time.Time         `json:"startTime,omitzero"`
	CompletionTime time.Time         `json:"completionTime,omitzero"`
	LastError      string            `json:"lastError,omitempty"`
	Warnings       []string          `json:"warnings,omitempty"`
	// Skipped lists every range skipped as unreadable (onDamage SkipBlock).
	Skipped []SkippedRange `json:"skipped,omitempty"`
	// SchemaIDs is the schema id map's summary (pairs left out), when ids are remapped.
	SchemaIDs *SchemaIDs `json:"schemaIds,omitempty"`
	// Streams and StreamsDone count every stream. Partitions lists at most
	// maxStatusStreams of them (the unfinished first) and Groups at most maxStatusGroups
	// translated offsets (GroupsTotal counts them all), so the status stays small.
	Streams     int `json:"streams,omitempty"`
	StreamsDone int `json:"streamsDone,omitempty"`
	GroupsTotal int `json:"groupsTotal,omitempty"`
}

// The most streams and translated group offsets the status lists.
const (
	maxStatusStreams = 256
	maxStatusGroups  = 256
)

// PartitionStatus is one stream's progress.
type PartitionStatus struct {
	Source     string  `json:"source"`
	Partitions []int32 `json:"partitions"`
	Target     string  `json:"target"`
	Records    int64   `json:"records"`
	Planned    int64   `json:"planned"`
	Done       bool    `json:"done"`
}

// Result is what a finished restore returns: the status and every stream's offset map, when
// they hold at most maxResultRanges ranges in all (else OffsetRanges counts them).
type Result struct {
	Status       Status          `json:"status"`
	OffsetMaps   [][]OffsetRange `json:"offsetMaps,omitempty"`
	OffsetRanges int             `json:"offsetRanges,omitempty"`
}

// maxResultRanges bounds the offset ranges a result carries (about 100 bytes each).
const maxResultRanges = 2000

// UnpinInput releases the restore's pin on the backup's catalog.
type UnpinInput struct {
	Connection
}

// IsPattern reports a Source that is a pattern: Kafka topic names hold none of these
// characters, so a name is never taken for a pattern.
func (m TopicMapping) IsPattern() bool { return IsPattern(m.Source) }

// IsPattern reports a name or a pattern (path.Match) that holds '*', '?' or '['.
func IsPattern(s string) bool { return strings.ContainsAny(s, "*?[") }
