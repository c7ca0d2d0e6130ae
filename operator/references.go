package operator

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
)

// missingError names an object a resource refers to that does not exist (yet).
type missingError struct{ kind, namespace, name, field string }

func (e *missingError) Error() string {
	return fmt.Sprintf("%s: %s %s/%s not found", e.field, e.kind, e.namespace, e.name)
}

// getRef reads a referenced object of the resource's namespace.
func getRef(ctx context.Context, c client.Client, namespace, name, field string, obj client.Object) error {
	err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		kind := fmt.Sprintf("%T", obj)
		switch obj.(type) {
		case *arkivev1.KafkaCluster:
			kind = "KafkaCluster"
		case *arkivev1.Storage:
			kind = "Storage"
		case *arkivev1.SchemaRegistry:
			kind = "SchemaRegistry"
		}
		return &missingError{kind: kind, namespace: namespace, name: name, field: field}
	}
	return err
}

// ref is one object a work resource names: its name, the field naming it, and where to read it.
type ref struct {
	name, field string
	obj         client.Object
}

// resolveRefs reads the objects a work resource names (a missing one is a missingError naming
// the field) and checks that every Secret those objects name exists.
func (d *driver) resolveRefs(ctx context.Context, namespace string, refs ...ref) error {
	named := map[string]string{}
	for _, r := range refs {
		if err := getRef(ctx, d.Client, namespace, r.name, r.field, r.obj); err != nil {
			return err
		}
		switch o := r.obj.(type) {
		case *arkivev1.KafkaCluster:
			kafkaSecrets(o, named)
		case *arkivev1.Storage:
			storageSecrets(o, named)
		case *arkivev1.SchemaRegistry:
			registrySecrets(o, named)
		}
	}
	return checkSecrets(ctx, d.apiReader, namespace, named)
}

// checkSecrets makes sure every Secret the specs name exists. Only existence is checked, by
// reading the Secret's metadata straight from the API server (no cache, no watch on Secrets,
// no values): the operator never reads or passes on a value; workers read them when they connect.
func checkSecrets(ctx context.Context, r client.Reader, namespace string, refs map[string]string) error {
	for name, field := range refs {
		if name == "" {
			continue
		}
		m := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
		err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, m)
		if apierrors.IsNotFound(err) {
			return &missingError{kind: "Secret", namespace: namespace, name: name, field: field}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// kafkaSecrets are the Secrets a KafkaCluster names, with the field that names each.
func kafkaSecrets(kc *arkivev1.KafkaCluster, refs map[string]string) {
	prefix := "KafkaCluster " + kc.Name + " spec."
	if kc.Spec.TLS != nil && kc.Spec.TLS.SecretName != "" {
		refs[kc.Spec.TLS.SecretName] = prefix + "tls.secretName"
	}
	if kc.Spec.SASL != nil {
		refs[kc.Spec.SASL.SecretName] = prefix + "sasl.secretName"
	}
}

// storageSecrets are the Secrets a Storage names.
func storageSecrets(st *arkivev1.Storage, refs map[string]string) {
	prefix := "Storage " + st.Name + " spec."
	s := st.Spec
	if s.S3 != nil && s.S3.CredentialsSecret != nil {
		refs[s.S3.CredentialsSecret.Name] = prefix + "s3.credentialsSecret.name"
	}
	if s.GCS != nil && s.GCS.CredentialsSecret != nil {
		refs[s.GCS.CredentialsSecret.Name] = prefix + "gcs.credentialsSecret.name"
	}
	if s.Azure != nil {
		if s.Azure.AccountKeySecret != nil {
			refs[s.Azure.AccountKeySecret.Name] = prefix + "azure.accountKeySecret.name"
		}
		if s.Azure.SASTokenSecret != nil {
			refs[s.Azure.SASTokenSecret.Name] = prefix + "azure.sasTokenSecret.name"
		}
	}
	if s.Encryption != nil {
		refs[s.Encryption.KeySecret.Name] = prefix + "encryption.keySecret.name"
	}
}

// registrySecrets are the Secrets a SchemaRegistry names.
func registrySecrets(sr *arkivev1.SchemaRegistry, refs map[string]string) {
	prefix := "SchemaRegistry " + sr.Name + " spec."
	if sr.Spec.BasicAuth != nil {
		refs[sr.Spec.BasicAuth.SecretName] = prefix + "basicAuth.secretName"
	}
	if sr.Spec.BearerToken != nil {
		refs[sr.Spec.BearerToken.Name] = prefix + "bearerToken.name"
	}
	if sr.Spec.TLS != nil && sr.Spec.TLS.SecretName != "" {
		refs[sr.Spec.TLS.SecretName] = prefix + "tls.secretName"
	}
}
