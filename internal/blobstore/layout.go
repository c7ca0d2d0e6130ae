package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Layout is the one place object keys are made; nothing else builds storage paths. Keys are
// relative to the Storage's prefix:
//
//	kafka/<backup>/manifest.json
//	kafka/<backup>/topics/<topic>/<partition>/<first:020d>-<last:020d>.seg
//	kafka/<backup>/catalog/deltas/<generation:020d>.json
//	kafka/<backup>/catalog/index/<topic>/<partition>/<level>-<first:020d>-<generation:020d>-<seq>.json
//	kafka/<backup>/restores/<hash of a restore's workflow id>/schema-ids.json
//	kafka/<backup>/restores/<hash of a restore's workflow id>/<page>.json
//	kafka/<backup>/staging/<hash of a capture activity's id>.json
//	kafka/<backup>/shards/<hash of the list>.json
//	schemas/<backup>/manifest.json
//	schemas/<backup>/snapshots/<snapshot>.json.zst
//
// <backup> is one or more name segments joined by "/" (Arkive uses <namespace>/<name>).

var (
	backupSegment = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	topicName     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	snapshotID    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	pageName      = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
)

// ValidateBackupName checks a backup name: DNS-label-like segments joined by "/".
func ValidateBackupName(name string) error {
	if name == "" {
		return fmt.Errorf("backup name: must not be empty")
	}
	for _, seg := range strings.Split(name, "/") {
		if !backupSegment.MatchString(seg) || strings.Contains(seg, "..") {
			return fmt.Errorf("backup name %q: segment %q must be lower-case letters, digits, '.' and '-'", name, seg)
		}
	}
	return nil
}

// KafkaLayout is the key space of one Kafka backup.
type KafkaLayout struct{ root string }

// Kafka returns the key space of the named Kafka backup.
func Kafka(backup string) (KafkaLayout, error) {
	if err := ValidateBackupName(backup); err != nil {
		return KafkaLayout{}, err
	}
	return KafkaLayout{root: "kafka/" + backup + "/"}, nil
}

// Root is the prefix under which everything of this backup lives.
func (l KafkaLayout) Root() string { return l.root }

// Manifest is the key of the backup's manifest.
func (l KafkaLayout) Manifest() string { return l.root + "manifest.json" }

// PartitionPrefix is the prefix of one partition's segments.
func (l KafkaLayout) PartitionPrefix(topic string, partition int32) (string, error) {
	if !topicName.MatchString(topic) || topic == "." || topic == ".." {
		return "", fmt.Errorf("topic name %q is not a valid Kafka topic name", topic)
	}
	if partition < 0 {
		return "", fmt.Errorf("topic %s: partition %d is negative", topic, partition)
	}
	return fmt.Sprintf("%stopics/%s/%d/", l.root, topic, partition), nil
}

// Segment is the key of the segment holding offsets first..last of a partition. Keys sort by
// offset because offsets are zero-padded.
func (l KafkaLayout) Segment(topic string, partition int32, first, last int64) (string, error) {
	p, err := l.PartitionPrefix(topic, partition)
	if err != nil {
		return "", err
	}
	if first < 0 || last < first {
		return "", fmt.Errorf("segment offsets %d-%d are not an ordered range", first, last)
	}
	return fmt.Sprintf("%s%020d-%020d.seg", p, first, last), nil
}

// SchemaIDMap is where a running restore (named by its workflow id, hashed) keeps a schema id
// map too large to travel with every stream; the restore deletes it when it ends.
func (l KafkaLayout) SchemaIDMap(restore string) string {
	return l.RestorePrefix(restore) + "schema-ids.json"
}

// RestorePrefix holds what a running restore (named by its workflow id, hashed) keeps in the
// storage while it runs: the restore deletes it when it ends.
func (l KafkaLayout) RestorePrefix(restore string) string {
	sum := sha256.Sum256([]byte(restore))
	return l.root + "restores/" + hex.EncodeToString(sum[:16]) + "/"
}

// RestorePage is where a running restore keeps a page of its plan or progress; name is a few
// lower-case letters, digits and dashes.
func (l KafkaLayout) RestorePage(restore, name string) (string, error) {
	if !pageName.MatchString(name) || name == "schema-ids" {
		return "", fmt.Errorf("restore page name %q: must be 1-64 lower-case letters, digits and dashes", name)
	}
	return l.RestorePrefix(restore) + name + ".json", nil
}

// StagingPrefix holds what shard captures wrote and no commit has merged yet.
func (l KafkaLayout) StagingPrefix() string { return l.root + "staging/" }

// Staged is the key of one shard capture's progress (id names the activity: workflow, run and
// activity id, the same for every attempt so a retry finds it).
func (l KafkaLayout) Staged(id string) string {
	sum := sha256.Sum256([]byte(id))
	return l.StagingPrefix() + hex.EncodeToString(sum[:16]) + ".json"
}

// ShardsPrefix holds the shard list of the backup's last discovery, when it is too large to
// travel in the workflow (kafkabackup.InlineShardBytes).
func (l KafkaLayout) ShardsPrefix() string { return l.root + "shards/" }

// Shards is the key of a stored shard list, named by the hash of its content.
func (l KafkaLayout) Shards(content []byte) string {
	sum := sha256.Sum256(content)
	return l.ShardsPrefix() + hex.EncodeToString(sum[:16]) + ".json"
}

// CatalogPrefix is the prefix of the catalog's deltas and index nodes (manifest version 2).
func (l KafkaLayout) CatalogPrefix() string { return l.root + "catalog/" }

// Delta is the key of the delta that the root of the given generation first names.
func (l KafkaLayout) Delta(generation int64) string {
	return fmt.Sprintf("%scatalog/deltas/%020d.json", l.root, generation)
}

// IndexNode is the key of an index node of a partition, written by the root of the given
// generation; seq tells apart the nodes one write makes.
func (l KafkaLayout) IndexNode(topic string, partition int32, level int, first, generation int64, seq int) (string, error) {
	if _, err := l.PartitionPrefix(topic, partition); err != nil {
		return "", err
	}
	return fmt.Sprintf("%scatalog/index/%s/%d/%d-%020d-%020d-%d.json", l.root, topic, partition, level, first, generation, seq), nil
}

// SegmentKey is what a segment key says about its content.
type SegmentKey struct {
	Topic       string
	Partition   int32
	First, Last int64
}

// ParseSegment reads a segment key made by Segment; ok is false for any other key.
func (l KafkaLayout) ParseSegment(key string) (SegmentKey, bool) {
	rest, found := strings.CutPrefix(key, l.root+"topics/")
	if !found {
		return SegmentKey{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || !topicName.MatchString(parts[0]) {
		return SegmentKey{}, false
	}
	p, err := strconv.ParseInt(parts[1], 10, 32)
	if err != nil || p < 0 {
		return SegmentKey{}, false
	}
	name, found := strings.CutSuffix(parts[2], ".seg")
	first, last, found2 := strings.Cut(name, "-")
	if !found || !found2 || len(first) != 20 || len(last) != 20 {
		return SegmentKey{}, false
	}
	f, err1 := strconv.ParseInt(first, 10, 64)
	t, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || t < f {
		return SegmentKey{}, false
	}
	return SegmentKey{Topic: parts[0], Partition: int32(p), First: f, Last: t}, true
}

// SchemaLayout is the key space of one Schema Registry backup.
type SchemaLayout struct{ root string }

// Schemas returns the key space of the named Schema Registry backup.
func Schemas(backup string) (SchemaLayout, error) {
	if err := ValidateBackupName(backup); err != nil {
		return SchemaLayout{}, err
	}
	return SchemaLayout{root: "schemas/" + backup + "/"}, nil
}

// Root is the prefix under which everything of this backup lives.
func (l SchemaLayout) Root() string { return l.root }

// Manifest is the key of the list of snapshots.
func (l SchemaLayout) Manifest() string { return l.root + "manifest.json" }

// Snapshot is the key of one snapshot object.
func (l SchemaLayout) Snapshot(id string) (string, error) {
	if !snapshotID.MatchString(id) || id == "." || id == ".." {
		return "", fmt.Errorf("snapshot id %q: must be 1-128 letters, digits, '.', '_' or '-'", id)
	}
	return l.root + "snapshots/" + id + ".json.zst", nil
}

// KafkaBackupFromManifestKey returns the backup name a manifest key belongs to.
func KafkaBackupFromManifestKey(key string) (string, bool) {
	return backupFromManifestKey(key, KafkaBackupsPrefix())
}

// backupFromManifestKey returns the backup whose manifest key is prefix<name>/manifest.json.
func backupFromManifestKey(key, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/manifest.json")
	if !ok || ValidateBackupName(name) != nil {
		return "", false
	}
	return name, true
}

// ProbeKey is the key of a connectivity-check object; checks delete it again.
func ProbeKey(id string) string { return ".arkive/probe/" + id }

// KafkaBackupsPrefix is the prefix under which every Kafka backup of a storage lives.
func KafkaBackupsPrefix() string { return "kafka/" }

// SchemaBackupsPrefix is the prefix under which every Schema Registry backup of a storage lives.
func SchemaBackupsPrefix() string { return "schemas/" }

// SchemaBackupFromManifestKey returns the Schema Registry backup a manifest key belongs to.
func SchemaBackupFromManifestKey(key string) (string, bool) {
	return backupFromManifestKey(key, SchemaBackupsPrefix())
}

// SnapshotLayout is the key space of one backup that takes whole snapshots stored as chunks
// (Kubernetes resources, ZooKeeper trees): a manifest and a prefix per snapshot.
type SnapshotLayout struct{ root string }

// ResourceLayout is the key space of one Kubernetes resource backup.
type ResourceLayout = SnapshotLayout

// ZooKeeperLayout is the key space of one ZooKeeper backup.
type ZooKeeperLayout = SnapshotLayout

// Resources returns the key space of the named resource backup.
func Resources(backup string) (ResourceLayout, error) {
	return snapshots(ResourceBackupsPrefix(), backup)
}

// ZooKeeper returns the key space of the named ZooKeeper backup.
func ZooKeeper(backup string) (ZooKeeperLayout, error) {
	return snapshots(ZooKeeperBackupsPrefix(), backup)
}

func snapshots(prefix, backup string) (SnapshotLayout, error) {
	if err := ValidateBackupName(backup); err != nil {
		return SnapshotLayout{}, err
	}
	return SnapshotLayout{root: prefix + backup + "/"}, nil
}

// Root is the prefix under which everything of this backup lives.
func (l SnapshotLayout) Root() string { return l.root }

// Manifest is the key of the list of snapshots.
func (l SnapshotLayout) Manifest() string { return l.root + "manifest.json" }

// Snapshot is the prefix of one snapshot's objects: its index and its chunks.
func (l SnapshotLayout) Snapshot(id string) (string, error) {
	if !snapshotID.MatchString(id) || id == "." || id == ".." {
		return "", fmt.Errorf("snapshot id %q: must be 1-128 letters, digits, '.', '_' or '-'", id)
	}
	return l.root + "snapshots/" + id + "/", nil
}

// ResourceBackupsPrefix is the prefix under which every resource backup of a storage lives.
func ResourceBackupsPrefix() string { return "resources/" }

// ZooKeeperBackupsPrefix is the prefix under which every ZooKeeper backup of a storage lives.
func ZooKeeperBackupsPrefix() string { return "zookeeper/" }

// ZooKeeperBackupFromManifestKey returns the ZooKeeper backup a manifest key belongs to.
func ZooKeeperBackupFromManifestKey(key string) (string, bool) {
	return backupFromManifestKey(key, ZooKeeperBackupsPrefix())
}

// ResourceBackupFromManifestKey returns the resource backup a manifest key belongs to.
func ResourceBackupFromManifestKey(key string) (string, bool) {
	return backupFromManifestKey(key, ResourceBackupsPrefix())
}

// VolumeLayout is the key space of one volume backup: a repository of packs shared by its
// snapshots, an index per snapshot that added packs, and a tree per snapshot.
type VolumeLayout struct{ SnapshotLayout }

// Volumes returns the key space of the named volume backup.
func Volumes(backup string) (VolumeLayout, error) {
	l, err := snapshots(VolumeBackupsPrefix(), backup)
	return VolumeLayout{l}, err
}

// PacksPrefix is the prefix of every pack.
func (l VolumeLayout) PacksPrefix() string { return l.root + "packs/" }

// Pack is the key of the pack with this name (the SHA-256 of its bytes in hex).
func (l VolumeLayout) Pack(name string) string {
	return l.root + "packs/" + name[:2] + "/" + name
}

// IndexPrefix is the prefix of every index document.
func (l VolumeLayout) IndexPrefix() string { return l.root + "index/" }

// Index is the key of the index document a snapshot wrote.
func (l VolumeLayout) Index(snapshot string) string { return l.root + "index/" + snapshot }

// VolumeBackupsPrefix is the prefix under which every volume backup of a storage lives.
func VolumeBackupsPrefix() string { return "volumes/" }

// VolumeBackupFromManifestKey returns the volume backup a manifest key belongs to.
func VolumeBackupFromManifestKey(key string) (string, bool) {
	return backupFromManifestKey(key, VolumeBackupsPrefix())
}
