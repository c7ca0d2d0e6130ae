package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// SchemaSnapshotFormat is the version of the Schema Registry snapshot document that writers
// produce; readers take every version up to it. Version 2 added idRank; version 3 the config
// fields beside the compatibility level and every field of a version beside the ones named here.
const SchemaSnapshotFormat = 3

// SchemaManifestFormat is the version of the Schema Registry backup's manifest.
const SchemaManifestFormat = 1

// SchemaSnapshot is everything a Schema Registry holds that a restore needs to bring it back
// with the same ids: stored as a document object (EncodeDocument) of its JSON.
type SchemaSnapshot struct {
	Format int       `json:"format"`
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	SchemaContent
}

// SchemaContent is what a snapshot holds, apart from when and under which id it was taken: its
// hash tells whether the registry changed.
type SchemaContent struct {
	// Compatibility and Mode are the registry's global settings.
	Compatibility string `json:"compatibility,omitempty"`
	Mode          string `json:"mode,omitempty"`
	// Config (format 3) is the rest of the global config answer (GET /config), verbatim:
	// normalize, compatibilityGroup, default and override metadata and rule sets, and whatever
	// a newer registry adds. Null fields are left out.
	Config map[string]json.RawMessage `json:"config,omitempty"`
	// Contexts the registry reported ("." is the default one).
	Contexts []string `json:"contexts,omitempty"`
	// Subjects, sorted by name; subjects of other contexts under their qualified name
	// (":.ctx:subject").
	Subjects []SubjectSnapshot `json:"subjects"`
}

// SubjectSnapshot is one subject: its own settings (empty: none, the global one applies) and
// every version, soft-deleted ones included, in version order.
type SubjectSnapshot struct {
	Name          string `json:"name"`
	Compatibility string `json:"compatibility,omitempty"`
	Mode          string `json:"mode,omitempty"`
	// Config (format 3): the rest of the subject's own config answer, as SchemaContent.Config.
	Config   map[string]json.RawMessage `json:"config,omitempty"`
	Versions []SchemaVersion            `json:"versions"`
}

// SchemaVersion is one registered version of a subject.
type SchemaVersion struct {
	Version    int               `json:"version"`
	ID         int               `json:"id"`
	Type       string            `json:"type"` // AVRO, PROTOBUF or JSON
	Schema     string            `json:"schema"`
	References []SchemaReference `json:"references,omitempty"`
	Deleted    bool              `json:"deleted,omitempty"`
	// IDRank (format 2) is the version's 1-based place in the registry's listing of the
	// subject versions that share its id (GET /schemas/ids/{id}/versions), when several do; 0
	// when the id is its own or the snapshot is older. A restore registers sharers in this
	// order, so the target lists them as the source did.
	IDRank int `json:"idRank,omitempty"`
	// Fields (format 3) are the version answer's other fields, verbatim: metadata, ruleSet and
	// whatever a newer registry adds. A restore sends them back with the registration.
	Fields map[string]json.RawMessage `json:"fields,omitempty"`
}

// SchemaReference names a version of another subject that a schema imports.
type SchemaReference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Counts returns how many subjects and versions the snapshot holds.
func (s *SchemaSnapshot) Counts() (subjects, versions int) {
	for _, sub := range s.Subjects {
		versions += len(sub.Versions)
	}
	return len(s.Subjects), versions
}

// ContentHash identifies what the registry held, leaving out when and under which id it was
// read: two snapshots of an unchanged registry have the same hash.
func (s *SchemaSnapshot) ContentHash() (string, error) {
	_, hash, err := s.Marshal()
	return hash, err
}

// Marshal returns the snapshot's JSON and its content hash from one encoding of the content
// (a large registry's snapshot is megabytes): the JSON is the header fields spliced onto it.
func (s *SchemaSnapshot) Marshal() ([]byte, string, error) {
	content, err := json.Marshal(&s.SchemaContent)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(content)
	head, err := json.Marshal(struct {
		Format int       `json:"format"`
		ID     string    `json:"id"`
		Time   time.Time `json:"time"`
	}{s.Format, s.ID, s.Time})
	if err != nil {
		return nil, "", err
	}
	doc := append(head[:len(head)-1:len(head)-1], ',')
	doc = append(doc, content[1:]...) // content is an object with at least "subjects"
	return doc, hex.EncodeToString(sum[:]), nil
}

// SchemaManifest lists a Schema Registry backup's snapshots, oldest first. Only snapshots it
// names are part of the backup: objects are written before the manifest names them, and
// removed from it before they are deleted.
type SchemaManifest struct {
	Format    int           `json:"format"`
	Backup    string        `json:"backup"`
	Snapshots []SnapshotRef `json:"snapshots"`
	// LastCheck is when the registry was last read, whether or not that stored a snapshot.
	LastCheck time.Time `json:"lastCheck,omitzero"`
}

// SnapshotRef describes one stored snapshot.
type SnapshotRef struct {
	ID       string    `json:"id"`
	Key      string    `json:"key"`
	Time     time.Time `json:"time"`
	Hash     string    `json:"hash"`
	Subjects int       `json:"subjects"`
	Versions int       `json:"versions"`
	Bytes    int64     `json:"bytes"`
}

// UnmarshalSchemaManifest parses and checks a manifest; name is used in errors.
func UnmarshalSchemaManifest(name string, b []byte) (*SchemaManifest, error) {
	var m SchemaManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("schema manifest %s: %w", name, err)
	}
	if m.Format != SchemaManifestFormat {
		return nil, fmt.Errorf("schema manifest %s: unsupported format %d", name, m.Format)
	}
	seen := map[string]bool{}
	for _, s := range m.Snapshots {
		if s.ID == "" || s.Key == "" || seen[s.ID] {
			return nil, fmt.Errorf("schema manifest %s: snapshot %q is unnamed or listed twice", name, s.ID)
		}
		seen[s.ID] = true
	}
	return &m, nil
}

// Newest is the newest snapshot, or nil.
func (m *SchemaManifest) Newest() *SnapshotRef {
	if len(m.Snapshots) == 0 {
		return nil
	}
	return &m.Snapshots[len(m.Snapshots)-1]
}

// Find returns the snapshot with the id, or nil.
func (m *SchemaManifest) Find(id string) *SnapshotRef {
	for i := range m.Snapshots {
		if m.Snapshots[i].ID == id {
			return &m.Snapshots[i]
		}
	}
	return nil
}

// EncodeSchemaSnapshot makes the stored object of a snapshot and returns its content hash.
func EncodeSchemaSnapshot(s *SchemaSnapshot, key []byte) (obj []byte, hash string, err error) {
	b, hash, err := s.Marshal()
	if err != nil {
		return nil, "", err
	}
	obj, err = EncodeDocument(b, key)
	return obj, hash, err
}

// DecodeSchemaSnapshot opens a stored snapshot object.
func DecodeSchemaSnapshot(name string, obj, key []byte) (*SchemaSnapshot, error) {
	b, err := DecodeDocument(name, obj, key)
	if err != nil {
		return nil, err
	}
	var s SchemaSnapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("schema snapshot %s: %w", name, err)
	}
	if s.Format < 1 || s.Format > SchemaSnapshotFormat {
		return nil, fmt.Errorf("schema snapshot %s: unsupported format %d (this build reads up to %d)", name, s.Format, SchemaSnapshotFormat)
	}
	return &s, nil
}
