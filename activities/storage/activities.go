package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/check"
)

// Activities are the storage activities; the worker registers one value.
type Activities struct {
	// Secrets returns the resolver for a resource's namespace.
	Secrets func(namespace string) secrets.Resolver
	// Claims finds (and, for volume.create, makes) the claim of a Storage kept in a
	// PersistentVolumeClaim; nil on a worker without Kubernetes access.
	Claims func(ctx context.Context, sc workflows.StorageClaim) (string, error)
}

// Check writes, reads back and deletes a small probe object: the cheapest proof that a backup
// could be written and restored.
func (a *Activities) Check(ctx context.Context, in check.Input) (check.Result, error) {
	var spec arkivev1.StorageSpec
	if err := json.Unmarshal(in.Spec, &spec); err != nil {
		return check.Result{}, temporal.NewNonRetryableApplicationError("spec: "+err.Error(), check.ErrInvalidSpec, nil)
	}
	now := time.Now().UTC()
	st := &arkivev1.Storage{ObjectMeta: metav1.ObjectMeta{Namespace: in.Namespace, Name: in.Name}, Spec: spec}
	if sc := specs.StorageClaim(st); sc != nil {
		// Workers do not mount it: the check finds the claim (making it for volume.create); the
		// mover Pods that mount it write the backups.
		if a.Claims == nil {
			return check.Result{Message: "storage claim " + sc.Name + ": this worker has no Kubernetes access to find it", CheckedAt: now}, nil
		}
		msg, err := a.Claims(ctx, *sc)
		if err != nil {
			return check.Result{Message: err.Error(), CheckedAt: now}, nil
		}
		return check.Result{OK: true, Message: msg, CheckedAt: now}, nil
	}
	store, err := blobstore.Open(ctx, spec, a.Secrets(in.Namespace))
	if err != nil {
		return check.Result{Message: err.Error(), CheckedAt: now}, nil
	}
	defer store.Close()
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	key := blobstore.ProbeKey(hex.EncodeToString(id))
	payload := []byte("arkive connectivity probe " + now.Format(time.RFC3339Nano))
	if err := store.Put(ctx, key, payload); err != nil {
		return check.Result{Message: err.Error(), CheckedAt: now}, nil
	}
	got, err := store.ReadAll(ctx, key)
	if err != nil {
		return check.Result{Message: fmt.Sprintf("read probe %s: %v", key, err), CheckedAt: now}, nil
	}
	if string(got) != string(payload) {
		return check.Result{Message: fmt.Sprintf("probe %s read back different bytes", key), CheckedAt: now}, nil
	}
	if err := store.Delete(ctx, key); err != nil {
		return check.Result{Message: fmt.Sprintf("delete probe %s: %v", key, err), CheckedAt: now}, nil
	}
	return check.Result{OK: true, Message: "wrote, read back and deleted a probe object", CheckedAt: now}, nil
}
