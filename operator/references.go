package operator

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"arkive.io/arkive/internal/kinds"
)

// missingError names an object a resource refers to that does not exist (yet).
type missingError struct{ kind, namespace, name, field string }

func (e *missingError) Error() string {
	return fmt.Sprintf("%s: %s %s/%s not found", e.field, e.kind, e.namespace, e.name)
}

// resolveRefs reads the connection objects a work resource names, in order (a missing one is a
// missingError naming the field), and checks that every Secret those objects name exists.
func (d *driver) resolveRefs(ctx context.Context, namespace string, refs []kinds.Ref) ([]kinds.Object, error) {
	named := map[string]string{}
	var objs []kinds.Object
	for _, r := range refs {
		k := kinds.ConnectionKind(r.Kind)
		if k == nil {
			return nil, fmt.Errorf("%s: %s is not a connection kind", r.Field, r.Kind) // a table error, caught by the kind contract test
		}
		obj := k.New()
		err := d.Get(ctx, types.NamespacedName{Namespace: namespace, Name: r.Name}, obj)
		if apierrors.IsNotFound(err) {
			return nil, &missingError{kind: r.Kind, namespace: namespace, name: r.Name, field: r.Field}
		}
		if err != nil {
			return nil, err
		}
		for name, field := range k.Secrets(obj) {
			named[name] = field
		}
		objs = append(objs, obj)
	}
	return objs, checkSecrets(ctx, d.apiReader, namespace, named)
}

// checkSecrets makes sure every Secret the specs name exists. Only existence is checked, by
// reading the Secret's metadata straight from the API server (no cache, no watch on Secrets,
// no values): the operator never reads or passes on a value; workers read them when they connect.
func checkSecrets(ctx context.Context, r client.Reader, namespace string, refs map[string]string) error {
	for name, field := range refs {
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
