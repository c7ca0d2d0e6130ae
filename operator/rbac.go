package operator

// What the reconcilers of the table's kinds (internal/kinds) need; `make manifests` turns these
// markers into deploy/rbac/operator. A new kind adds its resources here.
//
// Work kinds: followed, finalized, status written.
// +kubebuilder:rbac:groups=arkive.io,resources=kafkabackups;kafkarestores;schemaregistrybackups;schemaregistryrestores;resourcebackups;resourcerestores;zookeeperbackups;zookeeperrestores,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=kafkabackups/status;kafkarestores/status;schemaregistrybackups/status;schemaregistryrestores/status;resourcebackups/status;resourcerestores/status;zookeeperbackups/status;zookeeperrestores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=arkive.io,resources=kafkabackups/finalizers;kafkarestores/finalizers;schemaregistrybackups/finalizers;schemaregistryrestores/finalizers;resourcebackups/finalizers;resourcerestores/finalizers;zookeeperbackups/finalizers;zookeeperrestores/finalizers,verbs=update
//
// Connection kinds: read by the work kinds, Ready condition written.
// +kubebuilder:rbac:groups=arkive.io,resources=kafkaclusters;storages;schemaregistries;zookeeperensembles,verbs=get;list;watch
// +kubebuilder:rbac:groups=arkive.io,resources=kafkaclusters/status;storages/status;schemaregistries/status;zookeeperensembles/status,verbs=get;update;patch
//
// Secrets: only their existence is checked (metadata, read around the cache).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
//
// Events, and leader election among operator replicas.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
