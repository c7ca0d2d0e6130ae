package archive

import (
	"encoding/json"
	"fmt"
	"time"
)

// ZooKeeperSnapshotFormat is the version of the ZooKeeper snapshot objects (manifest and
// chunks), documented in docs/format.md.
const ZooKeeperSnapshotFormat = 1

// A ZooKeeper snapshot is stored as:
//
//	<snapshot>/<n:06d>.jsonl.zst   document: nodes as JSON lines (ZNode), parents before children
//
// Chunks are written while the tree is walked, so a backup holds at most a chunk of nodes in
// memory; a snapshot exists only once the manifest names it, with each chunk's node count and
// SHA-256. Chunks are documents (EncodeDocument): encrypted when the Storage has a key.

// Node types as a snapshot records them.
const (
	ZNodePersistent = "persistent"
	ZNodeEphemeral  = "ephemeral"
	ZNodeContainer  = "container"
	ZNodeTTL        = "ttl"
)

// ZNode is one node: its path (relative to the ensemble's chroot), data (nil: null data, as
// opposed to empty), ACL, type and full Stat as the server reported them.
type ZNode struct {
	Path string `json:"path"`
	Data []byte `json:"data"`
	ACL  []ZACL `json:"acl"`
	Type string `json:"type"`
	// TTLMillis is a TTL node's time to live.
	TTLMillis int64 `json:"ttlMs,omitempty"`
	Stat      ZStat `json:"stat"`
}

// ZACL is one ACL entry.
type ZACL struct {
	Perms  int32  `json:"perms"`
	Scheme string `json:"scheme"`
	ID     string `json:"id"`
}

// ZStat is a node's Stat; Cversion of a parent is its sequence counter.
type ZStat struct {
	Czxid          int64 `json:"czxid"`
	Mzxid          int64 `json:"mzxid"`
	Ctime          int64 `json:"ctime"`
	Mtime          int64 `json:"mtime"`
	Version        int32 `json:"version"`
	Cversion       int32 `json:"cversion"`
	Aversion       int32 `json:"aversion"`
	EphemeralOwner int64 `json:"ephemeralOwner"`
	DataLength     int32 `json:"dataLength"`
	NumChildren    int32 `json:"numChildren"`
	Pzxid          int64 `json:"pzxid"`
}

// ZooKeeperManifest lists a ZooKeeper backup's snapshots, oldest first. Only snapshots it
// names are part of the backup.
type ZooKeeperManifest struct {
	Format    int                    `json:"format"`
	Backup    string                 `json:"backup"`
	Snapshots []ZooKeeperSnapshotRef `json:"snapshots"`
}

// ZooKeeperSnapshotRef describes one stored snapshot. It holds no node's data.
type ZooKeeperSnapshotRef struct {
	ID     string    `json:"id"`
	Prefix string    `json:"prefix"`
	Time   time.Time `json:"time"`
	Nodes  int       `json:"nodes"`
	// Ephemeral counts the ephemeral nodes among Nodes (stored only when the backup asked).
	Ephemeral int   `json:"ephemeral,omitempty"`
	Bytes     int64 `json:"bytes"`
	Encrypted bool  `json:"encrypted"`
	// StartZxid and EndZxid are the server's zxid after a sync before and after the walk.
	StartZxid int64 `json:"startZxid"`
	EndZxid   int64 `json:"endZxid"`
	// Consistency is "consistent" or "fuzzy"; Reason says why a snapshot is fuzzy.
	Consistency string   `json:"consistency"`
	Reason      string   `json:"reason,omitempty"`
	Chroot      string   `json:"chroot,omitempty"`
	Include     []string `json:"include,omitempty"`
	Exclude     []string `json:"exclude,omitempty"`
	Chunks      []ZChunk `json:"chunks"`
}

// ZChunk is one stored chunk: its name within the snapshot's prefix, how many nodes it holds,
// and the SHA-256 of its stored object.
type ZChunk struct {
	Name   string `json:"name"`
	Nodes  int    `json:"nodes"`
	SHA256 string `json:"sha256"`
}

// ZNodeWriter collects nodes into chunks of about ChunkTarget bytes.
type ZNodeWriter = LinesWriter

// NewZNodeWriter starts a snapshot's chunks; key encrypts (nil: plain).
func NewZNodeWriter(key []byte, flush func(name string, doc []byte) error) *ZNodeWriter {
	return NewLinesWriter(key, flush)
}

// DecodeZNodeChunk checks a stored chunk against its manifest entry and returns its nodes.
func DecodeZNodeChunk(name string, obj []byte, c ZChunk, key []byte) ([]ZNode, error) {
	lines, err := decodeListed(name, obj, c, key, "nodes")
	if err != nil {
		return nil, err
	}
	out := make([]ZNode, len(lines))
	for i, l := range lines {
		if !decodeZNodeLine(l, &out[i]) {
			out[i] = ZNode{}
			if err := json.Unmarshal(l, &out[i]); err != nil {
				return nil, &CorruptError{Object: name, Reason: fmt.Sprintf("line %d: %v", i+1, err)}
			}
		}
		if len(out[i].Path) == 0 || out[i].Path[0] != '/' {
			return nil, &CorruptError{Object: name, Reason: fmt.Sprintf("line %d: path %q is not absolute", i+1, out[i].Path)}
		}
	}
	return out, nil
}

// UnmarshalZooKeeperManifest parses and checks a manifest; name is used in errors.
func UnmarshalZooKeeperManifest(name string, b []byte) (*ZooKeeperManifest, error) {
	var m ZooKeeperManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("zookeeper manifest %s: %w", name, err)
	}
	if m.Format != ZooKeeperSnapshotFormat {
		return nil, fmt.Errorf("zookeeper manifest %s: unsupported format %d", name, m.Format)
	}
	seen := map[string]bool{}
	for _, s := range m.Snapshots {
		if s.ID == "" || s.Prefix == "" || seen[s.ID] {
			return nil, fmt.Errorf("zookeeper manifest %s: snapshot %q is unnamed or listed twice", name, s.ID)
		}
		seen[s.ID] = true
	}
	return &m, nil
}

// Newest is the newest snapshot, or nil.
func (m *ZooKeeperManifest) Newest() *ZooKeeperSnapshotRef {
	if len(m.Snapshots) == 0 {
		return nil
	}
	return &m.Snapshots[len(m.Snapshots)-1]
}

// Find returns the snapshot with the id, or nil.
func (m *ZooKeeperManifest) Find(id string) *ZooKeeperSnapshotRef {
	for i := range m.Snapshots {
		if m.Snapshots[i].ID == id {
			return &m.Snapshots[i]
		}
	}
	return nil
}
