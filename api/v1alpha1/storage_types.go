package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// S3Storage is an S3 or S3-compatible bucket (MinIO, Ceph, R2, ...).
type S3Storage struct {
	// bucket name.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`
	// region of the bucket; defaults to us-east-1 when an endpoint is set.
	// +optional
	Region string `json:"region,omitempty"`
	// endpoint overrides the S3 endpoint URL, for S3-compatible stores.
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// forcePathStyle addresses the bucket as endpoint/bucket instead of bucket.endpoint.
	// +optional
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`
	// credentialsSecret holds static credentials. Absent means ambient credentials (IRSA,
	// instance profile, environment).
	// +optional
	CredentialsSecret *S3Credentials `json:"credentialsSecret,omitempty"`
}

// S3Credentials names the Secret keys of static S3 credentials.
type S3Credentials struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// accessKeyIDKey is the key of the access key id.
	// +kubebuilder:default="AWS_ACCESS_KEY_ID"
	// +optional
	AccessKeyIDKey string `json:"accessKeyIDKey,omitempty"`
	// secretAccessKeyKey is the key of the secret access key.
	// +kubebuilder:default="AWS_SECRET_ACCESS_KEY"
	// +optional
	SecretAccessKeyKey string `json:"secretAccessKeyKey,omitempty"`
	// sessionTokenKey is the key of a session token, if any.
	// +optional
	SessionTokenKey string `json:"sessionTokenKey,omitempty"`
}

// GCSStorage is a Google Cloud Storage bucket.
type GCSStorage struct {
	// bucket name.
	// +kubebuilder:validation:MinLength=3
	Bucket string `json:"bucket"`
	// endpoint overrides the JSON API endpoint, for emulators.
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// credentialsSecret holds a service-account JSON key. Absent means ambient credentials
	// (workload identity, GOOGLE_APPLICATION_CREDENTIALS).
	// +optional
	CredentialsSecret *SecretKeyRef `json:"credentialsSecret,omitempty"`
}

// AzureStorage is an Azure Blob Storage container.
// +kubebuilder:validation:XValidation:rule="!(has(self.accountKeySecret) && has(self.sasTokenSecret))",message="set at most one of accountKeySecret and sasTokenSecret",fieldPath=".sasTokenSecret"
type AzureStorage struct {
	// accountName is the storage account.
	// +kubebuilder:validation:MinLength=3
	AccountName string `json:"accountName"`
	// container name.
	// +kubebuilder:validation:MinLength=3
	Container string `json:"container"`
	// endpoint overrides the service URL (default https://<account>.blob.core.windows.net), for
	// sovereign clouds and emulators.
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// accountKeySecret holds the account's shared key.
	// +optional
	AccountKeySecret *SecretKeyRef `json:"accountKeySecret,omitempty"`
	// sasTokenSecret holds a SAS token for the container.
	// +optional
	SASTokenSecret *SecretKeyRef `json:"sasTokenSecret,omitempty"`
}

// VolumeStorage is a filesystem: a path on the workers (a mounted PVC or a host path), or a
// PersistentVolumeClaim of the Storage's namespace that Arkive's mover Pods mount (claim, or
// create to have one made), like the backup destination PVC of 3scale's APIManagerBackup.
// +kubebuilder:validation:XValidation:rule="(has(self.path) ? 1 : 0) + (has(self.claim) ? 1 : 0) + (has(self.create) ? 1 : 0) == 1",message="set exactly one of path, claim and create"
type VolumeStorage struct {
	// path where workers find the volume.
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	Path string `json:"path,omitempty"`
	// claimName is the PVC the worker Deployment mounts at path, for documentation and checks.
	// +optional
	ClaimName string `json:"claimName,omitempty"`
	// claim names an existing PersistentVolumeClaim of the Storage's namespace that keeps the
	// backups. Workers do not mount it: every activity that reads or writes it runs in a mover
	// Pod that does, so only ResourceBackup and ResourceRestore can use such a Storage.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Claim string `json:"claim,omitempty"`
	// create has the Storage's check make the claim arkive-<storage name> when it is missing,
	// and use it as claim does. Deleting the Storage leaves the claim and its backups.
	// +optional
	Create *VolumeClaimTemplate `json:"create,omitempty"`
}

// VolumeClaimTemplate is the PersistentVolumeClaim a Storage's volume.create makes.
type VolumeClaimTemplate struct {
	// size requested for the claim.
	Size resource.Quantity `json:"size"`
	// storageClassName of the claim; the cluster's default class when unset.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// volumeName binds the claim to this PersistentVolume.
	// +optional
	VolumeName string `json:"volumeName,omitempty"`
	// accessModes of the claim (default ReadWriteOnce: the mover Pods use it one at a time).
	// +optional
	AccessModes []corev1.PersistentVolumeAccessMode `json:"accessModes,omitempty"`
}

// StorageEncryption encrypts every object client-side with AES-256-GCM.
type StorageEncryption struct {
	// keySecret holds the 32-byte key, raw or base64-encoded.
	KeySecret SecretKeyRef `json:"keySecret"`
}

// StorageSpec is where backups are written. Exactly one backend is set.
// +kubebuilder:validation:XValidation:rule="(has(self.s3) ? 1 : 0) + (has(self.gcs) ? 1 : 0) + (has(self.azure) ? 1 : 0) + (has(self.volume) ? 1 : 0) == 1",message="set exactly one of s3, gcs, azure and volume"
type StorageSpec struct {
	// s3 is an S3 or S3-compatible bucket.
	// +optional
	S3 *S3Storage `json:"s3,omitempty"`
	// gcs is a Google Cloud Storage bucket.
	// +optional
	GCS *GCSStorage `json:"gcs,omitempty"`
	// azure is an Azure Blob Storage container.
	// +optional
	Azure *AzureStorage `json:"azure,omitempty"`
	// volume is a path on the workers.
	// +optional
	Volume *VolumeStorage `json:"volume,omitempty"`
	// prefix is prepended to every object key, so several installations can share a bucket.
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9._-]+/)*[A-Za-z0-9._-]*$`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// encryption, when set, encrypts every object Arkive writes.
	// +optional
	Encryption *StorageEncryption `json:"encryption,omitempty"`
}

// Storage is a reusable place to keep backups.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=st,categories=arkive
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Storage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageSpec      `json:"spec"`
	Status ConnectionStatus `json:"status,omitempty"`
}

// StorageList is a list of Storage.
// +kubebuilder:object:root=true
type StorageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Storage `json:"items"`
}

func init() { register(&Storage{}, &StorageList{}) }

// BackupClaim is the PersistentVolumeClaim (in the Storage's namespace) that keeps the
// backups of a Storage with volume.claim or volume.create, or "" for any other Storage.
func (s *Storage) BackupClaim() string {
	switch v := s.Spec.Volume; {
	case v == nil:
		return ""
	case v.Claim != "":
		return v.Claim
	case v.Create != nil:
		return StorageClaimName(s.Name)
	}
	return ""
}

// StorageClaimName is the claim volume.create makes for the Storage name.
func StorageClaimName(storage string) string { return "arkive-" + storage }
