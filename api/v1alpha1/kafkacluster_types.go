package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SecurityProtocol is how Arkive talks to Kafka brokers.
// +kubebuilder:validation:Enum=PLAINTEXT;SSL;SASL_PLAINTEXT;SASL_SSL
type SecurityProtocol string

const (
	SecurityPlaintext     SecurityProtocol = "PLAINTEXT"
	SecuritySSL           SecurityProtocol = "SSL"
	SecuritySASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	SecuritySASLSSL       SecurityProtocol = "SASL_SSL"
)

// SASLMechanism is the SASL mechanism for Kafka authentication.
// +kubebuilder:validation:Enum=PLAIN;SCRAM-SHA-256;SCRAM-SHA-512
type SASLMechanism string

const (
	SASLPlain       SASLMechanism = "PLAIN"
	SASLScramSHA256 SASLMechanism = "SCRAM-SHA-256"
	SASLScramSHA512 SASLMechanism = "SCRAM-SHA-512"
)

// KafkaSASL is SASL authentication; the credentials come from a Secret.
type KafkaSASL struct {
	// mechanism is the SASL mechanism.
	Mechanism SASLMechanism `json:"mechanism"`
	// secretName is the Secret holding the username and password.
	// +kubebuilder:validation:MinLength=1
	SecretName string `json:"secretName"`
	// usernameKey is the key of the username in the Secret.
	// +kubebuilder:default="username"
	// +optional
	UsernameKey string `json:"usernameKey,omitempty"`
	// passwordKey is the key of the password in the Secret.
	// +kubebuilder:default="password"
	// +optional
	PasswordKey string `json:"passwordKey,omitempty"`
}

// KafkaClusterSpec is how to reach a Kafka cluster.
// +kubebuilder:validation:XValidation:rule="self.securityProtocol.startsWith('SASL') == has(self.sasl)",message="sasl must be set exactly when securityProtocol is SASL_PLAINTEXT or SASL_SSL",fieldPath=".sasl"
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || self.securityProtocol.endsWith('SSL')",message="tls is only used with securityProtocol SSL or SASL_SSL",fieldPath=".tls"
type KafkaClusterSpec struct {
	// bootstrapServers are host:port addresses of brokers.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:items:Pattern=`^[^\s:/]+:[0-9]{1,5}$`
	BootstrapServers []string `json:"bootstrapServers"`
	// securityProtocol selects plaintext, TLS, SASL, or SASL over TLS.
	// +kubebuilder:default=PLAINTEXT
	// +optional
	SecurityProtocol SecurityProtocol `json:"securityProtocol,omitempty"`
	// tls configures TLS for SSL and SASL_SSL.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`
	// sasl configures authentication for SASL_PLAINTEXT and SASL_SSL.
	// +optional
	SASL *KafkaSASL `json:"sasl,omitempty"`
	// clientOverrides are extra client settings (e.g. client.id).
	// +optional
	ClientOverrides map[string]string `json:"clientOverrides,omitempty"`
}

// KafkaCluster is a reusable connection to a Kafka cluster.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=kc,categories=arkive
// +kubebuilder:printcolumn:name="Bootstrap",type=string,JSONPath=`.spec.bootstrapServers[0]`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KafkaCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KafkaClusterSpec `json:"spec"`
	Status ConnectionStatus `json:"status,omitempty"`
}

// KafkaClusterList is a list of KafkaCluster.
// +kubebuilder:object:root=true
type KafkaClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KafkaCluster `json:"items"`
}

func init() { register(&KafkaCluster{}, &KafkaClusterList{}) }
