package workflows

import "encoding/json"

// Error types of non-retryable failures that more than one kind reports, shown in the
// resource's status. Kind packages re-export the ones they use.
const (
	// ErrInvalidSpec is a spec that cannot work; never retried.
	ErrInvalidSpec = "InvalidSpec"
	// ErrStorageAccessDenied: the storage refused the credentials or the operation.
	ErrStorageAccessDenied = "StorageAccessDenied"
	// ErrAuthentication: a Kafka cluster refused the credentials or the operation.
	ErrAuthentication = "AuthenticationFailed"
	// ErrUnauthorized: a Schema Registry refused the credentials.
	ErrUnauthorized = "Unauthorized"
	// ErrBackupNotFound: a restore names a backup (or snapshot) the storage does not hold.
	ErrBackupNotFound = "BackupNotFound"
	// ErrConflict: the target holds something the restore would have to overwrite.
	ErrConflict = "Conflict"
	// ErrCorruptManifest: a backup's manifest cannot be read as what it claims to be.
	ErrCorruptManifest = "CorruptManifest"
	// ErrUnsupported: the source or target lacks an endpoint or method Arkive needs.
	ErrUnsupported = "Unsupported"
	// ErrRegistry: a Schema Registry answered with an error (definitive, with its message, or
	// passing, and retried).
	ErrRegistry = "RegistryError"
	// ErrKubernetes: the Kubernetes API answered with an error (definitive, with its message,
	// or passing, and retried).
	ErrKubernetes = "KubernetesError"
	// ErrZooKeeper: a ZooKeeper ensemble answered with an error (definitive, with its
	// message, or passing, and retried).
	ErrZooKeeper = "ZooKeeperError"
	// ErrCorruptSnapshot: a stored snapshot does not match the hashes recorded for it, or
	// cannot be opened (the wrong encryption key).
	ErrCorruptSnapshot = "CorruptSnapshot"
	// ErrStorage: the storage failed on a cause that may pass; retried.
	ErrStorage = "StorageError"
)

// KafkaConnection reaches a Kafka cluster and a backup's storage: the resources' specs as JSON
// (Secret references only, never values), the namespace those references live in, and the
// backup's name in storage (<namespace>/<name>).
type KafkaConnection struct {
	Namespace string          `json:"namespace"`
	Backup    string          `json:"backup"`
	Kafka     json.RawMessage `json:"kafka"`
	Storage   json.RawMessage `json:"storage"`
}

// RegistryConnection reaches a Schema Registry and a backup's storage, like KafkaConnection.
type RegistryConnection struct {
	Namespace string          `json:"namespace"`
	Backup    string          `json:"backup"`
	Registry  json.RawMessage `json:"registry"`
	Storage   json.RawMessage `json:"storage"`
}

// RateLimit caps throughput; 0 means no cap. The workflow shares a resource's limit among the
// activities that run at once.
type RateLimit struct {
	BytesPerSecond   int64 `json:"bytesPerSecond,omitempty"`
	RecordsPerSecond int64 `json:"recordsPerSecond,omitempty"`
}

// Share is one of n concurrent activities' part of the limit (at least 1 of each unit set).
func (l RateLimit) Share(n int) RateLimit {
	if n <= 1 {
		return l
	}
	if l.BytesPerSecond > 0 {
		l.BytesPerSecond = max(1, l.BytesPerSecond/int64(n))
	}
	if l.RecordsPerSecond > 0 {
		l.RecordsPerSecond = max(1, l.RecordsPerSecond/int64(n))
	}
	return l
}

// ResourceConnection reaches a resource backup's storage; the Kubernetes API is the worker's
// own (its service account, or the kubeconfig it was started with).
type ResourceConnection struct {
	Namespace string          `json:"namespace"`
	Backup    string          `json:"backup"`
	Storage   json.RawMessage `json:"storage"`
	// StorageName names the Storage in errors.
	StorageName string `json:"storageName"`
	// StorageClaim is set when the Storage keeps its backups in a PersistentVolumeClaim
	// (volume.claim or volume.create): workers do not mount it, so every activity that reads or
	// writes the storage runs in a mover Pod that does (WithStorage).
	StorageClaim *StorageClaim `json:"storageClaim,omitempty"`
}

// StorageClaim is the PersistentVolumeClaim of a Storage with volume.claim or volume.create.
type StorageClaim struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Create makes the claim when it is missing (volume.create).
	Create *ClaimTemplate `json:"create,omitempty"`
}

// ClaimTemplate is what a claim is made with.
type ClaimTemplate struct {
	Size         string   `json:"size"`
	StorageClass *string  `json:"storageClass,omitempty"`
	VolumeName   string   `json:"volumeName,omitempty"`
	AccessModes  []string `json:"accessModes,omitempty"`
}

// ResourceType selects objects of one kind (all, or the named ones).
type ResourceType struct {
	Group string   `json:"group,omitempty"`
	Kind  string   `json:"kind"`
	Names []string `json:"names,omitempty"`
}

// ResourceSelection says which Kubernetes objects a backup takes or a restore brings back.
// Label selectors are in their string form ("app=x,tier in (a,b)").
type ResourceSelection struct {
	Namespaces        []string       `json:"namespaces,omitempty"`
	NamespaceSelector string         `json:"namespaceSelector,omitempty"`
	Resources         []ResourceType `json:"resources,omitempty"`
	LabelSelectors    []string       `json:"labelSelectors,omitempty"`
	Exclude           []ResourceType `json:"exclude,omitempty"`
}

// ZooKeeperConnection reaches a ZooKeeper ensemble and a backup's storage, like
// KafkaConnection: specs as JSON (Secret references only), their namespace, the backup's name.
type ZooKeeperConnection struct {
	Namespace   string          `json:"namespace"`
	Backup      string          `json:"backup"`
	Ensemble    json.RawMessage `json:"ensemble"`
	Storage     json.RawMessage `json:"storage"`
	StorageName string          `json:"storageName"`
}

// VolumeProgress is heartbeated while a volume is backed up or restored (the volume activities
// of ResourceBackup and ResourceRestore).
type VolumeProgress struct {
	Entries int   `json:"entries"`
	Files   int   `json:"files"`
	Bytes   int64 `json:"bytes"`
	Added   int64 `json:"added,omitempty"`
	// Position (restores) is how many leading entries of the tree are in place: a retry
	// starts there.
	Position int `json:"position,omitempty"`
}
