package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BasicAuth is a username and password from a Secret.
type BasicAuth struct {
	// secretName is the Secret holding the credentials.
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

// SchemaRegistrySpec is how to reach a Confluent-compatible Schema Registry.
// +kubebuilder:validation:XValidation:rule="!(has(self.basicAuth) && has(self.bearerToken))",message="set at most one of basicAuth and bearerToken",fieldPath=".bearerToken"
// +kubebuilder:validation:XValidation:rule="self.urls.all(u, !u.matches('^https?://[^/]*@'))",message="urls must not carry credentials (user:password@host): they would be stored in the spec; use basicAuth or bearerToken",fieldPath=".urls"
type SchemaRegistrySpec struct {
	// urls of the registry; the first that answers is used.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=2048
	// +kubebuilder:validation:items:Pattern=`^https?://[^\s]+$`
	URLs []string `json:"urls"`
	// basicAuth authenticates with a username and password.
	// +optional
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`
	// bearerToken authenticates with a token read from a Secret key.
	// +optional
	BearerToken *SecretKeyRef `json:"bearerToken,omitempty"`
	// tls configures TLS for https URLs.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`
}

// SchemaRegistry is a reusable connection to a Schema Registry.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sr,categories=arkive
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.urls[0]`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SchemaRegistry struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SchemaRegistrySpec `json:"spec"`
	Status ConnectionStatus   `json:"status,omitempty"`
}

// SchemaRegistryList is a list of SchemaRegistry.
// +kubebuilder:object:root=true
type SchemaRegistryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SchemaRegistry `json:"items"`
}

func init() { register(&SchemaRegistry{}, &SchemaRegistryList{}) }
