package testnode

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Provision is a stand-in for a dynamic volume provisioner (envtest runs no controller
// manager, so nothing binds a new claim): every claim without a volume gets a directory under
// dir, a hostPath PersistentVolume on it with the claim's size and access modes, and is bound
// to it (spec.volumeName, which Kubernetes lets a binder set once). A real provisioner would
// honour the storage class and create real storage.
func Provision(t *testing.T, cs kubernetes.Interface, dir string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // polled, as the node's Pods are
		defer close(done)
		for ctx.Err() == nil {
			if list, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{}); err == nil {
				for i := range list.Items {
					if pvc := &list.Items[i]; pvc.Spec.VolumeName == "" {
						if err := bind(ctx, cs, dir, pvc); err != nil && ctx.Err() == nil {
							t.Logf("provisioner: %s/%s: %v", pvc.Namespace, pvc.Name, err)
						}
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func bind(ctx context.Context, cs kubernetes.Interface, dir string, pvc *corev1.PersistentVolumeClaim) error {
	name := "pv-" + pvc.Namespace + "-" + pvc.Name
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
		Capacity: pvc.Spec.Resources.Requests, AccessModes: pvc.Spec.AccessModes,
		ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}}}
	if pvc.Spec.StorageClassName != nil {
		pv.Spec.StorageClassName = *pvc.Spec.StorageClassName
	}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	pvc.Spec.VolumeName = name
	_, err := cs.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, pvc, metav1.UpdateOptions{})
	return err
}
