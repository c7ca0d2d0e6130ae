package archive

import (
	"encoding/json"
	"fmt"
	"time"
)

// The catalog (manifest version 2) keeps what a Kafka backup holds in small immutable objects,
// so that neither a commit nor a reader of a recent window pays for the backup's age:
//
//   - a commit writes a Delta (the segments and gaps it added) and then the manifest, now a
//     root that names the pending deltas and, per partition, the root of an index tree;
//   - a fold merges the pending deltas into the trees: each tree is an append-only B+tree whose
//     leaves (level 0) list segments and gaps in offset order and whose inner nodes list their
//     children with offset, time and size bounds; a fold rewrites only each tree's rightmost
//     path, so its cost is bounded by the tree's height times a node's capacity;
//   - a reader descends only into the children whose bounds overlap the window it needs.

// NodeRef names one index node and summarises the subtree under it.
type NodeRef struct {
	Key   string `json:"key"`
	Level int    `json:"level"`
	// FirstOffset and LastOffset bound the segments and gaps under the node.
	FirstOffset int64 `json:"firstOffset"`
	LastOffset  int64 `json:"lastOffset"`
	// MinTimestamp and MaxTimestamp bound the records' timestamps (Unix ms); both zero when the
	// subtree holds only gaps.
	MinTimestamp int64 `json:"minTimestamp"`
	MaxTimestamp int64 `json:"maxTimestamp"`
	Segments     int64 `json:"segments"`
	Gaps         int64 `json:"gaps,omitempty"`
	Records      int64 `json:"records"`
	StoredBytes  int64 `json:"storedBytes"`
	PayloadBytes int64 `json:"payloadBytes"`
}

// Span is the node's bounds as a segment reference, for window tests written for segments.
func (r NodeRef) Span() SegmentRef {
	return SegmentRef{Key: r.Key, FirstOffset: r.FirstOffset, LastOffset: r.LastOffset, MinTimestamp: r.MinTimestamp, MaxTimestamp: r.MaxTimestamp}
}

// Add widens r's summary by child's.
func (r *NodeRef) Add(child NodeRef) {
	r.addBounds(child.FirstOffset, child.LastOffset)
	if child.Segments > 0 {
		r.addTimes(child.MinTimestamp, child.MaxTimestamp)
	}
	r.Segments += child.Segments
	r.Gaps += child.Gaps
	r.Records += child.Records
	r.StoredBytes += child.StoredBytes
	r.PayloadBytes += child.PayloadBytes
}

// AddSegment widens r's summary by one segment.
func (r *NodeRef) AddSegment(s SegmentRef) {
	r.addBounds(s.FirstOffset, s.LastOffset)
	r.addTimes(s.MinTimestamp, s.MaxTimestamp)
	r.Segments++
	r.Records += s.Count
	r.StoredBytes += s.StoredBytes
	r.PayloadBytes += s.PayloadBytes
}

// AddGap widens r's summary by one gap.
func (r *NodeRef) AddGap(g Gap) {
	r.addBounds(g.From, g.To)
	r.Gaps++
}

func (r *NodeRef) empty() bool { return r.Segments == 0 && r.Gaps == 0 }

func (r *NodeRef) addBounds(first, last int64) {
	if r.empty() {
		r.FirstOffset, r.LastOffset = first, last
		return
	}
	r.FirstOffset, r.LastOffset = min(r.FirstOffset, first), max(r.LastOffset, last)
}

func (r *NodeRef) addTimes(lo, hi int64) {
	if r.Segments == 0 {
		r.MinTimestamp, r.MaxTimestamp = lo, hi
		return
	}
	r.MinTimestamp, r.MaxTimestamp = min(r.MinTimestamp, lo), max(r.MaxTimestamp, hi)
}

// DeltaRef names a pending delta object; Generation is the root generation that first named it.
type DeltaRef struct {
	Key        string `json:"key"`
	Generation int64  `json:"generation"`
}

// Retired is a catalog object no longer named by the root, deletable after Since plus a grace.
type Retired struct {
	Key   string    `json:"key"`
	Since time.Time `json:"since"`
}

// IndexNode is one node of a partition's index tree. A leaf (Level 0) holds segments and gaps
// in offset order; an inner node holds its children in offset order.
type IndexNode struct {
	Version   int          `json:"version"`
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Level     int          `json:"level"`
	Children  []NodeRef    `json:"children,omitempty"`
	Segments  []SegmentRef `json:"segments,omitempty"`
	Gaps      []Gap        `json:"gaps,omitempty"`
}

// Entries is the number of entries the node holds (its size in the tree's terms).
func (n *IndexNode) Entries() int { return len(n.Children) + len(n.Segments) + len(n.Gaps) }

// Summary is the NodeRef a parent keeps for n stored under key.
func (n *IndexNode) Summary(key string) NodeRef {
	r := NodeRef{Key: key, Level: n.Level}
	for _, c := range n.Children {
		r.Add(c)
	}
	for _, s := range n.Segments {
		r.AddSegment(s)
	}
	for _, g := range n.Gaps {
		r.AddGap(g)
	}
	return r
}

// Validate checks what readers rely on: children, segments and gaps ordered and disjoint.
func (n *IndexNode) Validate() error {
	if n.Level < 0 || (n.Level == 0 && len(n.Children) > 0) || (n.Level > 0 && (len(n.Segments) > 0 || len(n.Gaps) > 0)) {
		return fmt.Errorf("level %d node mixes children and entries", n.Level)
	}
	prev := int64(-1)
	for _, c := range n.Children {
		if c.Level != n.Level-1 || c.FirstOffset > c.LastOffset || c.FirstOffset <= prev {
			return fmt.Errorf("child %s (level %d, offsets %d–%d) is out of order", c.Key, c.Level, c.FirstOffset, c.LastOffset)
		}
		prev = c.LastOffset
	}
	p := Partition{StartOffset: 0, NextOffset: 1 << 62, Segments: n.Segments, Gaps: n.Gaps}
	return p.validate()
}

// MarshalIndexNode validates and encodes an index node.
func MarshalIndexNode(n *IndexNode) ([]byte, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(n)
}

// UnmarshalIndexNode decodes and validates an index node; name is used in errors.
func UnmarshalIndexNode(name string, b []byte) (*IndexNode, error) {
	var n IndexNode
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("index node %s: %w", name, err)
	}
	if n.Version != ManifestVersion {
		return nil, fmt.Errorf("index node %s: unsupported version %d (this build reads %d)", name, n.Version, ManifestVersion)
	}
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("index node %s: %w", name, err)
	}
	return &n, nil
}

// Delta is what one commit added: per partition, the new segments and gaps and where the
// partition continues.
type Delta struct {
	Version    int              `json:"version"`
	Generation int64            `json:"generation"`
	Partitions []DeltaPartition `json:"partitions"`
}

// DeltaPartition is one partition's part of a delta.
type DeltaPartition struct {
	Topic      string       `json:"topic"`
	Partition  int32        `json:"partition"`
	NextOffset int64        `json:"nextOffset"`
	Segments   []SegmentRef `json:"segments,omitempty"`
	Gaps       []Gap        `json:"gaps,omitempty"`
}

// MarshalDelta validates and encodes a delta.
func MarshalDelta(d *Delta) ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

// UnmarshalDelta decodes and validates a delta; name is used in errors.
func UnmarshalDelta(name string, b []byte) (*Delta, error) {
	var d Delta
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("delta %s: %w", name, err)
	}
	if d.Version != ManifestVersion {
		return nil, fmt.Errorf("delta %s: unsupported version %d (this build reads %d)", name, d.Version, ManifestVersion)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("delta %s: %w", name, err)
	}
	return &d, nil
}

func (d *Delta) validate() error {
	for _, dp := range d.Partitions {
		p := Partition{StartOffset: 0, NextOffset: dp.NextOffset, Segments: dp.Segments, Gaps: dp.Gaps}
		if err := p.validate(); err != nil {
			return fmt.Errorf("topic %s partition %d: %w", dp.Topic, dp.Partition, err)
		}
	}
	return nil
}
