package archive

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// ManifestVersion is the version of the manifest document that writers produce; readers
// refuse newer ones. Version 1 lists every segment inline; version 2 (the catalog) keeps
// segments in index objects and pending deltas that the manifest, then only a root, names.
const ManifestVersion = 2

// ManifestVersionInline is the first format: every segment of every partition in the manifest.
const ManifestVersionInline = 1

// Manifest is the checkpoint of one Kafka backup: the only list of data readers may trust. It
// is written after the segments it names (write data, then the manifest that makes it visible),
// so a segment that no manifest names is an unfinished write and is ignored.
type Manifest struct {
	Version int    `json:"version"`
	Backup  string `json:"backup"`
	// Generation increases by one with every committed manifest.
	Generation  int64     `json:"generation"`
	CommittedAt time.Time `json:"committedAt"`
	Topics      []Topic   `json:"topics,omitempty"`
	// GroupOffsets are snapshots of consumer-group offsets, oldest first.
	GroupOffsets []GroupOffsetsSnapshot `json:"groupOffsets,omitempty"`
	// Runs is the history of scheduled runs, oldest first (empty for continuous backups).
	Runs []Run `json:"runs,omitempty"`
	// Deltas (version 2) are the commits not yet folded into the partitions' indexes, oldest
	// first. Each names the segments and gaps one commit added.
	Deltas []DeltaRef `json:"deltas,omitempty"`
	// GroupSnapshots (version 2) name the consumer-group snapshots, oldest first, each stored
	// in its own object; a version 2 root keeps GroupOffsets empty (a view fills it in).
	GroupSnapshots []GroupSnapshotRef `json:"groupSnapshots,omitempty"`
	// Retired (version 2) are catalog objects no longer named, kept for a grace period so that
	// a reader that opened an older root can still finish reading, then deleted.
	Retired []Retired `json:"retired,omitempty"`
}

// Topic is the captured metadata and data of one topic.
type Topic struct {
	Name       string            `json:"name"`
	TopicID    string            `json:"topicId,omitempty"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	Data       []Partition       `json:"data,omitempty"`
}

// Partition lists a partition's committed segments and the known holes between them.
type Partition struct {
	Partition int32 `json:"partition"`
	// StartOffset is where the backup of this partition began.
	StartOffset int64 `json:"startOffset"`
	// NextOffset is the first offset not yet covered: capture resumes here.
	NextOffset int64 `json:"nextOffset"`
	// LeaderEpoch is the leader epoch of the source's record batch holding the record at
	// NextOffset-1, when a capture could read it (absent: not known). A capture asks the
	// source where that epoch ends in its log now: before NextOffset, the log was truncated
	// and took other records under offsets the backup holds (an unclean leader election).
	LeaderEpoch *int32       `json:"leaderEpoch,omitempty"`
	Segments    []SegmentRef `json:"segments,omitempty"`
	Gaps        []Gap        `json:"gaps,omitempty"`
	// Index (version 2) is the root of the partition's index tree: the segments and gaps
	// folded so far. A version 2 manifest holds no segments or gaps inline; a view read from
	// it (internal/catalog) has them filled in and Index kept for reference.
	Index *NodeRef `json:"index,omitempty"`
}

// SegmentRef names one committed segment object and what its footer holds. Offsets missing
// inside [FirstOffset, LastOffset] are offsets the broker did not return (compaction, control
// records, aborted transactions); Count says how many records are there.
type SegmentRef struct {
	Key          string `json:"key"`
	FirstOffset  int64  `json:"firstOffset"`
	LastOffset   int64  `json:"lastOffset"`
	Count        int64  `json:"count"`
	MinTimestamp int64  `json:"minTimestamp"`
	MaxTimestamp int64  `json:"maxTimestamp"`
	StoredBytes  int64  `json:"storedBytes"`
	PayloadBytes int64  `json:"payloadBytes"`
	// MaxRecordBytes is the largest record's key, value and header bytes (0: not recorded).
	MaxRecordBytes int64  `json:"maxRecordBytes,omitempty"`
	ContentCRC     uint32 `json:"contentCrc"`
	Codec          string `json:"codec"`
	Encrypted      bool   `json:"encrypted,omitempty"`
	// Run is the scheduled run that wrote the segment; empty in continuous mode.
	Run string `json:"run,omitempty"`
	// Missing counts the offsets in [FirstOffset, LastOffset] without a record in the
	// segment, and MissingReason says why: Compacted (the topic compacts, and the log no
	// longer held them when they were read) or Transaction (control records and aborted
	// transactional records, skipped under read_committed). Segments written before these
	// fields have neither; Absent still tells how many, not why.
	Missing       int64     `json:"missing,omitempty"`
	MissingReason GapReason `json:"missingReason,omitempty"`
}

// Absent is how many offsets of the segment's range hold no record in it.
func (s SegmentRef) Absent() int64 { return s.LastOffset - s.FirstOffset + 1 - s.Count }

// GapReason says why offsets between two segments are absent from the backup.
type GapReason string

const (
	// GapCompacted: offsets removed by log compaction before they were read.
	GapCompacted GapReason = "Compacted"
	// GapRetention: the log start offset moved past offsets not yet backed up (data lost at the
	// source before the backup could read it); surfaced as a warning.
	GapRetention GapReason = "Retention"
	// GapTransaction: control records or aborted transactional records, skipped under read_committed.
	GapTransaction GapReason = "Transaction"
)

// Gap is a range of offsets [From, To] known to hold no backed-up record.
type Gap struct {
	From   int64     `json:"from"`
	To     int64     `json:"to"`
	Reason GapReason `json:"reason"`
}

// GroupOffsetsSnapshot is the committed offsets of consumer groups at one moment.
type GroupOffsetsSnapshot struct {
	Time   time.Time     `json:"time"`
	Groups []GroupOffset `json:"groups"`
}

// GroupOffset is one committed offset of one group on one partition.
type GroupOffset struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Metadata  string `json:"metadata,omitempty"`
}

// Run is one scheduled backup run.
type Run struct {
	ID      string    `json:"id"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Records int64     `json:"records"`
	Bytes   int64     `json:"bytes"`
	Outcome string    `json:"outcome"`
	// Upto is the high watermark per topic/partition the run captured to ("topic/partition" keys).
	// A version 2 root keeps it in the object UptoKey names (a view fills it in).
	Upto    map[string]int64 `json:"upto,omitempty"`
	UptoKey string           `json:"uptoKey,omitempty"`
}

// GroupSnapshotRef names one stored consumer-group snapshot.
type GroupSnapshotRef struct {
	Key  string    `json:"key"`
	Time time.Time `json:"time"`
	// Offsets is how many offsets it holds; Hash (SHA-256 of its groups) tells whether the
	// next snapshot changed anything.
	Offsets int    `json:"offsets"`
	Hash    string `json:"hash"`
}

// MarshalManifest validates m and encodes it.
func MarshalManifest(m *Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := m.checkRoot(); err != nil {
		return nil, err
	}
	if m.IsRoot() {
		return json.Marshal(m) // written every commit: compact
	}
	return json.MarshalIndent(m, "", "  ")
}

// checkRoot refuses a version 2 manifest that carries segments or gaps inline: a view must
// never be stored as the root.
func (m *Manifest) checkRoot() error {
	if !m.IsRoot() {
		return nil
	}
	for _, t := range m.Topics {
		for _, p := range t.Data {
			if len(p.Segments) > 0 || len(p.Gaps) > 0 {
				return fmt.Errorf("topic %s partition %d: a version %d manifest names segments through its index, not inline", t.Name, p.Partition, m.Version)
			}
		}
	}
	if len(m.GroupOffsets) > 0 {
		return fmt.Errorf("groupOffsets: a version %d manifest names group snapshots through groupSnapshots, not inline", m.Version)
	}
	for _, r := range m.Runs {
		if len(r.Upto) > 0 {
			return fmt.Errorf("run %s: a version %d manifest keeps upto in its own object", r.ID, m.Version)
		}
	}
	return nil
}

// UnmarshalManifest decodes and validates a manifest; name is used in errors.
func UnmarshalManifest(name string, b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	if m.Version > ManifestVersion || m.Version < 1 {
		return nil, fmt.Errorf("manifest %s: unsupported version %d (this build reads up to %d)", name, m.Version, ManifestVersion)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	if err := m.checkRoot(); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	return &m, nil
}

// IsRoot reports whether m is a stored version 2 root (no segments inline), as opposed to a
// version 1 manifest or a view.
func (m *Manifest) IsRoot() bool { return m.Version >= 2 }

// Validate checks the invariants readers rely on: topics unique, and per partition segments and
// gaps ordered, non-overlapping and within [StartOffset, NextOffset).
func (m *Manifest) Validate() error {
	if m.Backup == "" {
		return fmt.Errorf("backup: must not be empty")
	}
	if m.Version == ManifestVersionInline && (len(m.Deltas) > 0 || len(m.Retired) > 0) {
		return fmt.Errorf("deltas: a version 1 manifest has none")
	}
	seen := map[string]bool{}
	for _, t := range m.Topics {
		if t.Name == "" {
			return fmt.Errorf("topics: a topic has no name")
		}
		if seen[t.Name] {
			return fmt.Errorf("topics: %s appears twice", t.Name)
		}
		seen[t.Name] = true
		parts := map[int32]bool{}
		for _, p := range t.Data {
			if p.Partition < 0 || (t.Partitions > 0 && p.Partition >= t.Partitions) {
				return fmt.Errorf("topic %s: partition %d outside 0..%d", t.Name, p.Partition, t.Partitions-1)
			}
			if parts[p.Partition] {
				return fmt.Errorf("topic %s: partition %d appears twice", t.Name, p.Partition)
			}
			parts[p.Partition] = true
			if err := p.validate(); err != nil {
				return fmt.Errorf("topic %s partition %d: %w", t.Name, p.Partition, err)
			}
		}
	}
	return nil
}

// span is an offset range a segment or a gap covers.
type span struct {
	from, to int64
	segment  int // index into Segments, or -1 for a gap
	gap      int // index into Gaps, or -1 for a segment
}

// spans lists the segments and gaps of a partition in offset order.
func (p *Partition) spans() []span {
	spans := make([]span, 0, len(p.Segments)+len(p.Gaps))
	for i, s := range p.Segments {
		spans = append(spans, span{s.FirstOffset, s.LastOffset, i, -1})
	}
	for i, g := range p.Gaps {
		spans = append(spans, span{g.From, g.To, -1, i})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.from, b.from) })
	return spans
}

func (p *Partition) describe(s span) string {
	if s.segment >= 0 {
		return "segment " + p.Segments[s.segment].Key
	}
	return fmt.Sprintf("gap %d–%d", s.from, s.to)
}

func (p *Partition) validate() error {
	if p.StartOffset < 0 || p.NextOffset < p.StartOffset {
		return fmt.Errorf("offsets: start %d and next %d are not an ordered range", p.StartOffset, p.NextOffset)
	}
	for _, s := range p.Segments {
		if s.Key == "" || s.FirstOffset > s.LastOffset || s.Count < 1 || s.Count > s.LastOffset-s.FirstOffset+1 {
			return fmt.Errorf("segment %q: offsets %d–%d with %d records are inconsistent", s.Key, s.FirstOffset, s.LastOffset, s.Count)
		}
	}
	for _, g := range p.Gaps {
		if g.From > g.To {
			return fmt.Errorf("gap %d–%d is reversed", g.From, g.To)
		}
	}
	spans := p.spans()
	for i, s := range spans {
		if s.from < p.StartOffset || s.to >= p.NextOffset {
			return fmt.Errorf("%s lies outside the covered range %d–%d", p.describe(s), p.StartOffset, p.NextOffset-1)
		}
		if i > 0 && s.from <= spans[i-1].to {
			return fmt.Errorf("%s overlaps %s", p.describe(s), p.describe(spans[i-1]))
		}
	}
	return nil
}

// Holes returns the offset ranges in [StartOffset, NextOffset) covered neither by a segment nor
// by a recorded gap: data the manifest should have and does not. A valid, complete backup has none.
func (p *Partition) Holes() []Gap {
	var holes []Gap
	next := p.StartOffset
	for _, s := range p.spans() {
		if s.from > next {
			holes = append(holes, Gap{From: next, To: s.from - 1})
		}
		next = max(next, s.to+1)
	}
	if next < p.NextOffset {
		holes = append(holes, Gap{From: next, To: p.NextOffset - 1})
	}
	return holes
}

// TrimBefore drops the oldest segments for which drop says so, stopping at the first one it
// keeps, so what remains is still one contiguous range; StartOffset moves to the first kept
// segment (or to NextOffset when none is kept) and gaps below it go. It returns the dropped
// segments.
func (p *Partition) TrimBefore(drop func(SegmentRef) bool) []SegmentRef {
	n := 0
	for n < len(p.Segments) && drop(p.Segments[n]) {
		n++
	}
	if n == 0 {
		return nil
	}
	dropped := slices.Clone(p.Segments[:n])
	p.Segments = slices.Delete(p.Segments, 0, n)
	start := p.NextOffset
	if len(p.Segments) > 0 {
		start = p.Segments[0].FirstOffset
	}
	p.StartOffset = start
	kept := p.Gaps[:0]
	for _, g := range p.Gaps {
		if g.To >= start {
			g.From = max(g.From, start)
			kept = append(kept, g)
		}
	}
	p.Gaps = kept
	return dropped
}
