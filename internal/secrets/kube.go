package secrets

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
)

// Workers read the Secrets resources name, and nothing else (deploy/rbac/worker).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Kube resolves references from the Kubernetes Secrets of one namespace (the resource's), read
// at the moment a connection opens and never kept. Workers in a cluster use it.
func Kube(c kubernetes.Interface, namespace string) Resolver {
	return Func(func(ctx context.Context, ref arkivev1.SecretKeyRef) ([]byte, error) {
		s, err := c.CoreV1().Secrets(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret %s/%s: %w", namespace, ref.Name, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", namespace, ref.Name, err)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			return nil, fmt.Errorf("secret %s/%s has no key %q: %w", namespace, ref.Name, ref.Key, ErrNotFound)
		}
		return v, nil
	})
}
