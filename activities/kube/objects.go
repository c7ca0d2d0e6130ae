package kube

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"arkive.io/arkive/internal/archive"
)

// What a restore strips from a stored object before writing it (docs/resources/resourcerestore.md
// lists the same): what the API server assigns to every object, and what the cluster assigned to
// this one where a restored copy must get its own.
var (
	// strippedMetadata is assigned by the API server to every object.
	strippedMetadata = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
		"deletionTimestamp", "deletionGracePeriodSeconds"}
	// strippedAnnotations record a PVC's binding to a volume that the restored claim does not have.
	strippedAnnotations = []string{"pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
		"volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner", "volume.kubernetes.io/selected-node"}
	// jobLabels carry the uid of the Job controller that made them.
	jobLabels = []string{"controller-uid", "batch.kubernetes.io/controller-uid"}
)

// strip removes what the API server or the cluster assigned, in place. It is applied to the
// stored object before writing and to the existing object before comparing, so the two compare
// on what a user wrote. Status is kept only when keepStatus.
func strip(u *unstructured.Unstructured, info archive.KindInfo, keepStatus bool) {
	for _, f := range strippedMetadata {
		unstructured.RemoveNestedField(u.Object, "metadata", f)
	}
	if !keepStatus {
		unstructured.RemoveNestedField(u.Object, "status")
	}
	switch {
	case info.Group == "" && info.Kind == "Service":
		// Cluster IPs and node ports are allocated; a headless Service's "None" is the user's.
		if ip, _, _ := unstructured.NestedString(u.Object, "spec", "clusterIP"); ip != "None" {
			unstructured.RemoveNestedField(u.Object, "spec", "clusterIP")
			unstructured.RemoveNestedField(u.Object, "spec", "clusterIPs")
		}
		unstructured.RemoveNestedField(u.Object, "spec", "healthCheckNodePort")
		if ports, ok, _ := unstructured.NestedSlice(u.Object, "spec", "ports"); ok {
			for _, p := range ports {
				if m, ok := p.(map[string]any); ok {
					delete(m, "nodePort")
				}
			}
			_ = unstructured.SetNestedSlice(u.Object, ports, "spec", "ports")
		}
	case info.Group == "" && info.Kind == "PersistentVolumeClaim":
		unstructured.RemoveNestedField(u.Object, "spec", "volumeName")
		removeAnnotations(u, strippedAnnotations)
	case info.Group == "" && info.Kind == "Pod":
		unstructured.RemoveNestedField(u.Object, "spec", "nodeName")
	case info.Group == "batch" && info.Kind == "Job":
		removeLabels(u.Object, jobLabels, "metadata", "labels")
		removeLabels(u.Object, jobLabels, "spec", "template", "metadata", "labels")
		unstructured.RemoveNestedField(u.Object, "spec", "selector")
	}
}

func removeAnnotations(u *unstructured.Unstructured, keys []string) {
	a := u.GetAnnotations()
	for _, k := range keys {
		delete(a, k)
	}
	if len(a) == 0 {
		a = nil
	}
	u.SetAnnotations(a)
}

func removeLabels(obj map[string]any, keys []string, path ...string) {
	m, ok, _ := unstructured.NestedStringMap(obj, path...)
	if !ok {
		return
	}
	for _, k := range keys {
		delete(m, k)
	}
	if len(m) == 0 {
		unstructured.RemoveNestedField(obj, path...)
		return
	}
	_ = unstructured.SetNestedStringMap(obj, m, path...)
}

// mapNamespaces rewrites the namespaces Kubernetes stores in an object: its own, a Namespace's
// name, and the namespaces of (Cluster)RoleBinding subjects.
func mapNamespaces(u *unstructured.Unstructured, info archive.KindInfo, mapping map[string]string) {
	to := func(ns string) string {
		if m, ok := mapping[ns]; ok {
			return m
		}
		return ns
	}
	if u.GetNamespace() != "" {
		u.SetNamespace(to(u.GetNamespace()))
	}
	switch {
	case info == namespaceKind || (info.Group == "" && info.Kind == "Namespace"):
		u.SetName(to(u.GetName()))
		if labels := u.GetLabels(); labels["kubernetes.io/metadata.name"] != "" {
			labels["kubernetes.io/metadata.name"] = u.GetName()
			u.SetLabels(labels)
		}
	case info.Group == "rbac.authorization.k8s.io" && (info.Kind == "RoleBinding" || info.Kind == "ClusterRoleBinding"):
		subjects, ok, _ := unstructured.NestedSlice(u.Object, "subjects")
		if !ok {
			return
		}
		for _, s := range subjects {
			if m, ok := s.(map[string]any); ok {
				if ns, _ := m["namespace"].(string); ns != "" {
					m["namespace"] = to(ns)
				}
			}
		}
		_ = unstructured.SetNestedSlice(u.Object, subjects, "subjects")
	}
}

// differences lists the field paths where existing does not hold what want holds (both
// stripped). Fields existing has and want lacks are not differences: the API server adds
// defaults, and Update (server-side apply) leaves other managers' fields. Owner references
// compare by kind and name (their uids are the cluster's). Paths only, never values: a diff of
// a Secret names the keys that differ.
func differences(existing, want map[string]any) []string {
	var out []string
	var walk func(path string, have, w any)
	walk = func(path string, have, w any) {
		switch wv := w.(type) {
		case map[string]any:
			hv, ok := have.(map[string]any)
			if !ok {
				out = append(out, path)
				return
			}
			keys := make([]string, 0, len(wv))
			for k := range wv {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				hvk, present := hv[k]
				if !present {
					if !isEmpty(wv[k]) {
						out = append(out, p)
					}
					continue
				}
				walk(p, hvk, wv[k])
			}
		case []any:
			hv, ok := have.([]any)
			if !ok || len(hv) != len(wv) {
				out = append(out, path)
				return
			}
			before := len(out)
			for i := range wv {
				walk(fmt.Sprintf("%s[%d]", path, i), hv[i], wv[i])
			}
			if len(out) > before { // one line for a list, not one per element
				out = append(out[:before], path)
			}
		default:
			if !reflect.DeepEqual(normalizeNumber(have), normalizeNumber(w)) {
				out = append(out, path)
			}
		}
	}
	walk("", existing, want)
	return out
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	}
	return false
}

// normalizeNumber makes JSON numbers decoded as int64 or float64 compare equal.
func normalizeNumber(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case int32:
		return float64(x)
	}
	return v
}

// withoutOwnerUIDs is a copy of an object's map whose owner references carry no uid.
func withoutOwnerUIDs(obj map[string]any) map[string]any {
	refs, ok, _ := unstructured.NestedSlice(obj, "metadata", "ownerReferences")
	if !ok {
		return obj
	}
	c := runtimeDeepCopy(obj)
	for _, r := range refs {
		if m, ok := r.(map[string]any); ok {
			delete(m, "uid")
		}
	}
	_ = unstructured.SetNestedSlice(c, refs, "metadata", "ownerReferences")
	return c
}

func runtimeDeepCopy(obj map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: obj}).DeepCopy().Object
}

// describe names an object in results and errors: "Secret ns/name", "Namespace name".
func describe(info archive.KindInfo, ns, name string) string {
	k := kindName(info.Group, info.Kind)
	if ns == "" {
		return k + " " + name
	}
	return k + " " + ns + "/" + name
}

// Ordering steps: an object is written after every object of an earlier step. Namespaces hold
// everything; CRDs must be established before their resources; RBAC before what runs under it;
// configuration before what reads it; claims before workloads mount them; custom resources last,
// so their operators reconcile against restored configuration. Within a category, an object
// comes after its owners (its owner references point at their new uids).
var categories = []struct {
	name  string
	kinds []string // group/Kind
}{
	{"namespaces", []string{"/Namespace"}},
	{"crds", []string{"apiextensions.k8s.io/CustomResourceDefinition"}},
	{"rbac", []string{"/ServiceAccount", "rbac.authorization.k8s.io/ClusterRole", "rbac.authorization.k8s.io/Role",
		"rbac.authorization.k8s.io/ClusterRoleBinding", "rbac.authorization.k8s.io/RoleBinding"}},
	{"config", []string{"/Secret", "/ConfigMap"}},
	{"storage", []string{"storage.k8s.io/StorageClass", "/PersistentVolume", "/PersistentVolumeClaim"}},
	{"workloads", nil}, // every other built-in kind
	{"custom-resources", nil},
}

// category is the ordering category of a kind.
func category(info archive.KindInfo) int {
	if info.CRD != "" {
		return len(categories) - 1
	}
	for i, c := range categories {
		if slices.Contains(c.kinds, info.Group+"/"+info.Kind) {
			return i
		}
	}
	return len(categories) - 2
}

// stepName names a category's step at an owner depth ("3-config", "6-custom-resources-owned-1").
func stepName(cat, depth int) string {
	name := fmt.Sprintf("%d-%s", cat, categories[cat].name)
	if depth > 0 {
		name += fmt.Sprintf("-owned-%d", depth)
	}
	return name
}

// ownerKey identifies an object by group, kind, namespace and name.
func ownerKey(apiVersion, kind, ns, name string) string {
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	return group + "/" + kind + "/" + ns + "/" + name
}
