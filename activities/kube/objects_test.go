package kube

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"arkive.io/arkive/internal/archive"
)

// A field the existing object lacks or holds otherwise is a difference, named by its path; a
// field only the existing object has (a default, another manager's) is not; numbers compare by
// value whatever their Go type.
func TestDifferencesNamePathsNotValues(t *testing.T) {
	existing := map[string]any{"data": map[string]any{"a": "1", "extra": "x"}, "spec": map[string]any{"replicas": int64(3), "ports": []any{"a", "b"}}}
	require.Empty(t, differences(existing, map[string]any{"data": map[string]any{"a": "1"}, "spec": map[string]any{"replicas": float64(3)}}))
	require.Equal(t, []string{"data.a", "data.b", "spec.ports"}, differences(existing,
		map[string]any{"data": map[string]any{"a": "secret-value", "b": "2"}, "spec": map[string]any{"ports": []any{"a", "c"}}}))
}

// A Service keeps a headless "None" but not an allocated cluster IP or node port.
func TestStripKeepsWhatTheUserWrote(t *testing.T) {
	svc := archive.KindInfo{Version: "v1", Kind: "Service", Resource: "services", Namespaced: true}
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "s", "uid": "u", "resourceVersion": "7"},
		"spec":   map[string]any{"clusterIP": "10.0.0.3", "clusterIPs": []any{"10.0.0.3"}, "ports": []any{map[string]any{"port": int64(80), "nodePort": int64(30001)}}},
		"status": map[string]any{"loadBalancer": map[string]any{}}}}
	strip(u, svc, false)
	require.Equal(t, map[string]any{"metadata": map[string]any{"name": "s"}, "spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}}, u.Object)
	headless := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"clusterIP": "None"}}}
	strip(headless, svc, false)
	require.Equal(t, "None", headless.Object["spec"].(map[string]any)["clusterIP"])
}

// Steps: CRDs before RBAC before configuration before workloads before custom resources.
func TestCategoriesOrder(t *testing.T) {
	order := []archive.KindInfo{namespaceKind, crdKind, {Kind: "ServiceAccount"}, {Kind: "Secret"}, {Kind: "PersistentVolumeClaim"},
		{Group: "apps", Kind: "Deployment"}, {Group: "kafka.strimzi.io", Kind: "Kafka", CRD: "kafkas.kafka.strimzi.io"}}
	for i := 1; i < len(order); i++ {
		require.Less(t, category(order[i-1]), category(order[i]), "%s before %s", order[i-1].Kind, order[i].Kind)
	}
	require.Equal(t, "6-custom-resources-owned-1", stepName(category(order[6]), 1))
}
