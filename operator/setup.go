package operator

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/workflows/check"
)

// Leader election among operator replicas.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Setup registers every reconciler with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	d := driver{Client: mgr.GetClient(), Options: opts, events: mgr.GetEventRecorder("arkive-operator"), apiReader: mgr.GetAPIReader()}
	// Reconciles wait on Temporal and API round trips, not CPU: several at once keep hundreds of
	// resources in step.
	parallel := controller.Options{MaxConcurrentReconciles: 8}
	if err := ctrl.NewControllerManagedBy(mgr).For(&arkivev1.KafkaBackup{}).Named("kafkabackup").WithOptions(parallel).Complete(&KafkaBackupReconciler{d}); err != nil {
		return err
	}
	if err := ctrl.NewControllerManagedBy(mgr).For(&arkivev1.KafkaRestore{}).Named("kafkarestore").WithOptions(parallel).Complete(&KafkaRestoreReconciler{d}); err != nil {
		return err
	}
	if err := ctrl.NewControllerManagedBy(mgr).For(&arkivev1.SchemaRegistryBackup{}).Named("schemaregistrybackup").WithOptions(parallel).
		Complete(&SchemaRegistryBackupReconciler{d}); err != nil {
		return err
	}
	if err := ctrl.NewControllerManagedBy(mgr).For(&arkivev1.SchemaRegistryRestore{}).Named("schemaregistryrestore").WithOptions(parallel).
		Complete(&SchemaRegistryRestoreReconciler{d}); err != nil {
		return err
	}
	for kind, newObj := range map[string]func() client.Object{
		check.KindKafkaCluster:   func() client.Object { return &arkivev1.KafkaCluster{} },
		check.KindStorage:        func() client.Object { return &arkivev1.Storage{} },
		check.KindSchemaRegistry: func() client.Object { return &arkivev1.SchemaRegistry{} },
	} {
		r := &ConnectionReconciler{driver: d, kind: kind, newObj: newObj}
		if err := ctrl.NewControllerManagedBy(mgr).For(newObj()).Named("check-" + kind).Complete(r); err != nil {
			return err
		}
	}
	return nil
}
