package operator

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"arkive.io/arkive/internal/kinds"
)

// Setup registers a reconciler with the manager for every kind in the table of kinds.
func Setup(mgr ctrl.Manager, opts Options) error {
	d := driver{Client: mgr.GetClient(), Options: opts, events: mgr.GetEventRecorder("arkive-operator"), apiReader: mgr.GetAPIReader(),
		metrics: newResourceMetrics(mgr.GetClient(), mgr.GetScheme())}
	reg := opts.Metrics
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	if err := mgr.Add(d.metrics.whileLeading(reg)); err != nil {
		return err
	}
	// Reconciles wait on Temporal and API round trips, not CPU: several at once keep hundreds of
	// resources in step.
	parallel := controller.Options{MaxConcurrentReconciles: 8}
	for _, k := range kinds.Works {
		if err := ctrl.NewControllerManagedBy(mgr).For(k.New()).Named(controllerName(k.Kind)).WithOptions(parallel).
			Complete(&WorkReconciler{driver: d, kind: k}); err != nil {
			return err
		}
	}
	for _, k := range kinds.Connections {
		if err := ctrl.NewControllerManagedBy(mgr).For(k.New()).Named("check-" + k.Kind).Complete(&ConnectionReconciler{driver: d, kind: k}); err != nil {
			return err
		}
	}
	return nil
}
