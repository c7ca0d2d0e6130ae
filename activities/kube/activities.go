package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.temporal.io/sdk/temporal"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows"
)

// The worker's access to the kinds a ResourceBackup or ResourceRestore selects; `make
// manifests` turns these markers into deploy/rbac/worker-resources (a ClusterRole for the
// Kafka platform's usual kinds; docs/resources/resourcebackup.md shows a namespaced Role).
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;create
// +kubebuilder:rbac:groups="",resources=secrets;configmaps;serviceaccounts;services;persistentvolumeclaims,verbs=get;list;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;create;update;patch;delete;bind;escalate
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;create;update;patch
// +kubebuilder:rbac:groups=kafka.strimzi.io,resources=*,verbs=get;list;create;update;patch;delete
// +kubebuilder:rbac:groups=kafka.strimzi.io,resources=*/status,verbs=get;update;patch

// Activities are the Kubernetes activities; the worker registers one value.
type Activities struct {
	// Config reaches the cluster (in-cluster or a kubeconfig); nil: this worker has no
	// Kubernetes access, and every activity says so.
	Config *rest.Config
	// Secrets returns the resolver for a resource's namespace (the storage's credentials).
	Secrets func(namespace string) secrets.Resolver
	// Mover is how this worker makes mover Pods for volumes.
	Mover MoverTemplate
}

// clients are a cluster's dynamic client and discovery.
type clients struct {
	dyn  dynamic.Interface
	disc discovery.DiscoveryInterface
}

func (a *Activities) clients() (*clients, error) {
	if a.Config == nil {
		return nil, backupstore.Invalid(errors.New("this worker has no Kubernetes access: start it in a cluster, or with --kubeconfig"))
	}
	cfg := rest.CopyConfig(a.Config)
	// A restore writes many small objects: client-go's default of 5 requests/s (or any limit
	// near the server's own pace) would be the bottleneck. The API server protects itself with
	// priority and fairness, and a restore writes at most spec.parallelism objects at once.
	cfg.QPS, cfg.Burst = 10_000, 20_000
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, backupstore.Invalid(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, backupstore.Invalid(err)
	}
	return &clients{dyn: dyn, disc: disc}, nil
}

// backupStore is where a backup's snapshots live.
type backupStore = backupstore.Backup[blobstore.ResourceLayout]

func (a *Activities) store(ctx context.Context, conn workflows.ResourceConnection) (*backupStore, error) {
	return backupstore.Open(ctx, conn.Storage, conn.Backup, blobstore.Resources, a.Secrets(conn.Namespace), true)
}

// readManifest reads the backup's manifest; a backup without one has an empty one.
func readManifest(ctx context.Context, s *backupStore, backup string) (*archive.ResourceManifest, bool, error) {
	m, err := backups.ResourceManifest(ctx, s.Store, s.Layout)
	if m == nil && err == nil {
		return &archive.ResourceManifest{Format: archive.ResourceSnapshotFormat, Backup: backup}, false, nil
	}
	return m, m != nil, err
}

func writeManifest(ctx context.Context, s *backupStore, m *archive.ResourceManifest) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return s.Put(ctx, s.Layout.Manifest(), b)
}

// classify turns causes into the stable error types the workflows act on:
//   - storage refusals and corrupt manifests as backupstore classifies them;
//   - a definitive answer of the API server (a 4xx other than 408, 409 and 429): not retried,
//     KubernetesError with the server's message (which names the object, never a value);
//   - anything else (5xx, timeouts, connection failures, storage outages) is retried.
func classify(err error) error {
	var appErr *temporal.ApplicationError
	var status apierrors.APIStatus
	switch {
	case err == nil, errors.As(err, &appErr), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &status):
		code := int(status.Status().Code)
		if code/100 == 4 && code != http.StatusRequestTimeout && code != http.StatusConflict && code != http.StatusTooManyRequests {
			return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrKubernetes, nil)
		}
		return temporal.NewApplicationError(err.Error(), workflows.ErrKubernetes)
	}
	if err = backupstore.Classify(err); errors.As(err, &appErr) {
		return err
	}
	if blobstore.IsStorageError(err) {
		return temporal.NewApplicationError(err.Error(), workflows.ErrStorage)
	}
	return temporal.NewApplicationError(err.Error(), workflows.ErrKubernetes)
}

// invalidf is a spec error naming the field.
func invalidf(format string, args ...any) error {
	return backupstore.Invalid(fmt.Errorf(format, args...))
}
