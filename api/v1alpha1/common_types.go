package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"arkive.io/arkive/api/status"
)

// SecretKeyRef points at one key of a Secret in the resource's namespace. Arkive passes the
// reference, never the value, to its workflows; workers read the value when they need it.
type SecretKeyRef struct {
	// name of the Secret, in the same namespace as the resource.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// TLSConfig is client TLS for a connection. Every key is read from one Secret.
type TLSConfig struct {
	// secretName is the Secret holding the CA bundle and, for mutual TLS, the client
	// certificate and key. Empty means the system trust store and no client certificate.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// caKey is the key of the PEM CA bundle in the Secret.
	// +kubebuilder:default="ca.crt"
	// +optional
	CAKey string `json:"caKey,omitempty"`
	// certKey is the key of the PEM client certificate (mutual TLS); absent keys are skipped.
	// +kubebuilder:default="tls.crt"
	// +optional
	CertKey string `json:"certKey,omitempty"`
	// keyKey is the key of the PEM client private key (mutual TLS).
	// +kubebuilder:default="tls.key"
	// +optional
	KeyKey string `json:"keyKey,omitempty"`
	// serverName overrides the name checked against the server's certificate.
	// +optional
	ServerName string `json:"serverName,omitempty"`
	// insecureSkipVerify disables certificate verification. For tests only.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// Retention bounds how much backed-up data is kept. Data is deleted only after no manifest
// names it, and the newest successful backup is always kept.
// +kubebuilder:validation:XValidation:rule="has(self.maxAge) || has(self.keepLast)",message="retention: set maxAge, keepLast or both"
type Retention struct {
	// maxAge deletes data older than this (Go duration, e.g. "168h").
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="maxAge must be a positive duration such as 168h"
	// +optional
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
	// keepLast keeps at most this many runs (scheduled backups) or snapshots.
	// +kubebuilder:validation:Minimum=1
	// +optional
	KeepLast *int32 `json:"keepLast,omitempty"`
}

// RateLimit caps throughput. Unset fields are unlimited.
type RateLimit struct {
	// bytesPerSecond caps record bytes moved per second across the resource's activities.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BytesPerSecond *int64 `json:"bytesPerSecond,omitempty"`
	// recordsPerSecond caps records moved per second.
	// +kubebuilder:validation:Minimum=1
	// +optional
	RecordsPerSecond *int64 `json:"recordsPerSecond,omitempty"`
}

// Condition types and reasons shared by every kind.
const (
	// ConditionReady, in the Kubernetes convention: on connection kinds, the last connectivity
	// check; on backups, True while the backup does its work (running, or waiting for its next
	// run), False when paused, retrying, failed or not startable, Unknown when Temporal cannot
	// be asked.
	ConditionReady = "Ready"
	// ConditionWorkflowReady reports on the resource's Temporal workflow.
	ConditionWorkflowReady = "WorkflowReady"

	// ReasonRunning: the workflow runs (also while paused, with a PausedBy reason).
	ReasonRunning = "Running"
	// ReasonFailed: the workflow stopped on a cause a person must fix (the message says which).
	ReasonFailed = "Failed"
	// ReasonTerminated: someone terminated a restore's workflow in Temporal.
	ReasonTerminated = "Terminated"
	// ReasonUnknown: Temporal could not be asked.
	ReasonUnknown = "Unknown"
	// ReasonInvalidSpec: the spec cannot work; nothing was started.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonMissingReference: a resource or Secret the spec names does not exist (yet).
	ReasonMissingReference = "MissingReference"
	// ReasonRetrying: a backup's workflow retries a passing error (Ready is False meanwhile).
	ReasonRetrying = "Retrying"
	// ReasonPausedBySignal and ReasonPausedBySpec say what paused a running workflow.
	ReasonPausedBySignal = status.PausedBySignal
	ReasonPausedBySpec   = status.PausedBySpec
	// ReasonConnected and ReasonConnectionError are the Ready condition's reasons.
	ReasonConnected       = "Connected"
	ReasonConnectionError = "ConnectionError"
)

// ConnectionStatus is the status of a connection kind.
type ConnectionStatus struct {
	// observedGeneration is the generation the conditions were computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready reports the last connectivity check.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// lastCheckTime is when connectivity was last checked.
	// +optional
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`
}

// WorkStatus is what every work kind reports about its workflow.
type WorkStatus struct {
	// observedGeneration is the generation of the spec the workflow runs.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// workflowID is the Temporal workflow id: arkive/<kind>/<namespace>/<name>.
	// +optional
	WorkflowID string `json:"workflowID,omitempty"`
	// conditions: WorkflowReady says what the operator and Temporal know of the workflow; on
	// backups, Ready (the Kubernetes convention) is True while the backup does its work and False
	// (or Unknown) with the reason when it is paused, retrying, failed or not started.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// lastError is the last error the workflow reported, if any.
	// +optional
	LastError string `json:"lastError,omitempty"`
}
