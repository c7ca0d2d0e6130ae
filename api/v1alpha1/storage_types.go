package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// VolumeStorage is a filesystem path on the workers: a mounted PVC or a host path.
type VolumeStorage struct {
	// path where workers find the volume.
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path"`
	// claimName is the PVC the worker Deployment mounts at path, for documentation and checks.
	// +optional
	ClaimName string `json:"claimName,omitempty"`
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
