package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// ResourceSnapshotFormat is the version of the resource snapshot objects (manifest, index,
// chunks), documented in docs/format.md.
const ResourceSnapshotFormat = 1

// A resource snapshot is stored as:
//
//	<snapshot>/index.json.zst      document: ResourceIndex (every object, its chunk and hash)
//	<snapshot>/<n:06d>.jsonl.zst   document: objects as JSON lines, as the API server returned them
//
// Chunks are written while the objects are listed (page by page), so a backup never holds more
// than a chunk's objects in memory; the index is written last and a snapshot exists only once
// the manifest names it. Both are documents (EncodeDocument): encrypted when the Storage has a
// key, and Secrets are only ever stored that way unless the backup says otherwise.

// ChunkTarget is the size at which a chunk is closed and a new one begun.
const ChunkTarget = 4 << 20

// ResourceManifest lists a resource backup's snapshots, oldest first. Only snapshots it names
// are part of the backup.
type ResourceManifest struct {
	Format    int                   `json:"format"`
	Backup    string                `json:"backup"`
	Snapshots []ResourceSnapshotRef `json:"snapshots"`
}

// ResourceSnapshotRef describes one stored snapshot. It holds no object's content.
type ResourceSnapshotRef struct {
	ID      string    `json:"id"`
	Prefix  string    `json:"prefix"`
	Time    time.Time `json:"time"`
	Objects int       `json:"objects"`
	Chunks  int       `json:"chunks"`
	Bytes   int64     `json:"bytes"`
	// Encrypted: the snapshot's objects were written with the Storage's key.
	Encrypted bool `json:"encrypted"`
	// Secrets counts the Secrets in the snapshot.
	Secrets int `json:"secrets,omitempty"`
}

// ResourceIndex is a snapshot's list of every object it holds, in the order they were listed.
type ResourceIndex struct {
	Format int       `json:"format"`
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	// Kinds are the kinds of the objects, as discovery reported them when the backup ran.
	Kinds   []KindInfo    `json:"kinds"`
	Objects []ObjectEntry `json:"objects"`
	Chunks  int           `json:"chunks"`
}

// KindInfo is one kind: its group, the version the objects were read in, its resource (plural)
// name, whether it is namespaced, and the CRD that defines it (empty for built-in kinds).
type KindInfo struct {
	Group      string `json:"group"`
	Version    string `json:"version"`
	Kind       string `json:"kind"`
	Resource   string `json:"resource"`
	Namespaced bool   `json:"namespaced"`
	CRD        string `json:"crd,omitempty"`
}

// APIVersion is the kind's group/version as objects carry it.
func (k KindInfo) APIVersion() string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// ObjectEntry is one object: its kind (index into Kinds), where it lives, which chunk and line
// hold it, and the SHA-256 of that line.
type ObjectEntry struct {
	Kind      int    `json:"k"`
	Namespace string `json:"ns,omitempty"`
	Name      string `json:"n"`
	Chunk     int    `json:"c"`
	Line      int    `json:"l"`
	Hash      string `json:"h"`
}

// ChunkName is the name of chunk n within its snapshot's prefix.
func ChunkName(n int) string { return fmt.Sprintf("%06d.jsonl.zst", n) }

// IndexName is the name of the index within a snapshot's prefix.
const IndexName = "index.json.zst"

// LineHash is the hash the index records for an object's stored line.
func LineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// ChunkWriter collects objects into chunks of about ChunkTarget bytes, handing each full chunk
// (as its stored document) to flush, and records every object in the index.
type ChunkWriter struct {
	Index *ResourceIndex
	key   []byte
	flush func(n int, doc []byte) error
	buf   bytes.Buffer
	lines int
	bytes int64
}

// NewChunkWriter starts the chunks of a snapshot's index; key encrypts (nil: plain).
func NewChunkWriter(index *ResourceIndex, key []byte, flush func(n int, doc []byte) error) *ChunkWriter {
	return &ChunkWriter{Index: index, key: key, flush: flush}
}

// Add stores one object (its JSON, on one line) of kind (index into Kinds).
func (w *ChunkWriter) Add(kind int, namespace, name string, object []byte) error {
	if bytes.IndexByte(object, '\n') >= 0 {
		return fmt.Errorf("object %s/%s: JSON spans lines", namespace, name)
	}
	w.Index.Objects = append(w.Index.Objects, ObjectEntry{Kind: kind, Namespace: namespace, Name: name,
		Chunk: w.Index.Chunks, Line: w.lines, Hash: LineHash(object)})
	w.buf.Write(object)
	w.buf.WriteByte('\n')
	w.lines++
	if w.buf.Len() >= ChunkTarget {
		return w.Flush()
	}
	return nil
}

// Flush writes the open chunk, if it holds anything.
func (w *ChunkWriter) Flush() error {
	if w.lines == 0 {
		return nil
	}
	doc, err := EncodeDocument(w.buf.Bytes(), w.key)
	if err != nil {
		return err
	}
	if err := w.flush(w.Index.Chunks, doc); err != nil {
		return err
	}
	w.bytes += int64(len(doc))
	w.Index.Chunks++
	w.buf.Reset()
	w.lines = 0
	return nil
}

// Bytes is the stored size of the chunks flushed so far.
func (w *ChunkWriter) Bytes() int64 { return w.bytes }

// EncodeResourceIndex makes the stored object of an index.
func EncodeResourceIndex(ix *ResourceIndex, key []byte) ([]byte, error) {
	b, err := json.Marshal(ix)
	if err != nil {
		return nil, err
	}
	return EncodeDocument(b, key)
}

// DecodeResourceIndex opens a stored index and checks it names valid kinds and chunks.
func DecodeResourceIndex(name string, obj, key []byte) (*ResourceIndex, error) {
	b, err := DecodeDocument(name, obj, key)
	if err != nil {
		return nil, err
	}
	var ix ResourceIndex
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("resource index %s: %w", name, err)
	}
	if ix.Format != ResourceSnapshotFormat {
		return nil, fmt.Errorf("resource index %s: unsupported format %d", name, ix.Format)
	}
	for i, o := range ix.Objects {
		if o.Kind < 0 || o.Kind >= len(ix.Kinds) || o.Chunk < 0 || o.Chunk >= ix.Chunks || o.Name == "" {
			return nil, fmt.Errorf("resource index %s: object %d names no valid kind, chunk or name", name, i)
		}
	}
	return &ix, nil
}

// DecodeChunk opens a stored chunk and returns its lines (each an object's JSON).
func DecodeChunk(name string, obj, key []byte) ([][]byte, error) {
	b, err := DecodeDocument(name, obj, key)
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\n'})
	if len(b) == 0 {
		lines = nil
	}
	return lines, nil
}

// UnmarshalResourceManifest parses and checks a manifest; name is used in errors.
func UnmarshalResourceManifest(name string, b []byte) (*ResourceManifest, error) {
	var m ResourceManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("resource manifest %s: %w", name, err)
	}
	if m.Format != ResourceSnapshotFormat {
		return nil, fmt.Errorf("resource manifest %s: unsupported format %d", name, m.Format)
	}
	seen := map[string]bool{}
	for _, s := range m.Snapshots {
		if s.ID == "" || s.Prefix == "" || seen[s.ID] {
			return nil, fmt.Errorf("resource manifest %s: snapshot %q is unnamed or listed twice", name, s.ID)
		}
		seen[s.ID] = true
	}
	return &m, nil
}

// Newest is the newest snapshot, or nil.
func (m *ResourceManifest) Newest() *ResourceSnapshotRef {
	if len(m.Snapshots) == 0 {
		return nil
	}
	return &m.Snapshots[len(m.Snapshots)-1]
}

// Find returns the snapshot with the id, or nil.
func (m *ResourceManifest) Find(id string) *ResourceSnapshotRef {
	for i := range m.Snapshots {
		if m.Snapshots[i].ID == id {
			return &m.Snapshots[i]
		}
	}
	return nil
}
